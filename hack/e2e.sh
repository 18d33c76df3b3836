#!/usr/bin/env bash
# One pass of the e2e suite, in two pytest invocations:
#   1. the tests that may run side by side (each has its own namespace and operator
#      process) on E2E_WORKERS pytest-xdist workers (default 4);
#   2. the tests marked `serial` (they stop the shared Prometheus, apply cluster-scoped
#      objects or run a cluster-wide operator) one after another, with nothing beside them.
# The second runs even when the first failed; the exit code is non-zero when either did.
# Each invocation ends with pytest's own summary line.
#
# Environment: KUBECONFIG etc. from `hack/cluster.sh env` (make e2e sets them);
# E2E_WORKERS (0 or 1: no xdist); E2E_JUNIT_PREFIX (write PREFIX-parallel.xml and
# PREFIX-serial.xml, for hack/e2e-repeat.sh). Extra arguments go to both pytest runs
# (e.g. -k "not local_cluster" on kind).
set -uo pipefail
cd "$(dirname "$0")/.."

workers="${E2E_WORKERS:-4}"
pytest=pytest
[[ -x .venv/bin/pytest ]] && pytest=.venv/bin/pytest

run() {  # run PHASE MARKEXPR [pytest args...]: prints the wall time, returns pytest's code
  local phase="$1" marks="$2"
  shift 2
  local args=(tests/e2e -q -p no:cacheprovider -m "$marks")
  [[ -n "${E2E_JUNIT_PREFIX:-}" ]] && args+=("--junitxml=${E2E_JUNIT_PREFIX}-${phase}.xml")
  echo "== e2e ${phase}: pytest -m '${marks}' $*"
  local started=$SECONDS rc=0
  "$pytest" "${args[@]}" "$@" || rc=$?
  echo "== e2e ${phase}: exit ${rc}, $((SECONDS - started)) s wall"
  # 5: nothing selected (e.g. -k left no serial test); not a failure.
  [[ $rc -eq 5 ]] && rc=0
  return "$rc"
}

started=$SECONDS
parallel=(-p no:xdist)
if [[ "$workers" -gt 1 ]]; then
  parallel=(-n "$workers" --dist load --maxschedchunk 1)
fi
rc_parallel=0
rc_serial=0
run parallel "e2e and not serial" "${parallel[@]}" "$@" || rc_parallel=$?
run serial "e2e and serial" -p no:xdist "$@" || rc_serial=$?
echo "== e2e: $((SECONDS - started)) s wall in all (parallel exit ${rc_parallel}, serial exit ${rc_serial})"
[[ $rc_parallel -eq 0 && $rc_serial -eq 0 ]]
