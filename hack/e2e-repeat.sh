#!/usr/bin/env bash
# Run the e2e suite N times in a row against the same cluster (each pass as `make e2e`
# runs it: hack/e2e.sh) and print a table of failures per test. A test that fails in
# some passes and not in others is flaky: README, "Flaky tests", says what to do.
# Usage: hack/e2e-repeat.sh N [extra pytest args]. Exit code non-zero if any pass failed.
# The JUnit files stay in E2E_REPEAT_DIR (default: a new directory under /tmp).
set -uo pipefail
cd "$(dirname "$0")/.."

runs="${1:-3}"
shift || true
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 N [pytest args]  (N >= 1)" >&2
  exit 2
fi
python=python3
[[ -x .venv/bin/python ]] && python=.venv/bin/python
dir="${E2E_REPEAT_DIR:-$(mktemp -d /tmp/e2e-repeat.XXXXXX)}"
mkdir -p "$dir"

failed=0
walls=()
for ((i = 1; i <= runs; i++)); do
  echo "======== e2e pass ${i} of ${runs} ========"
  started=$SECONDS
  E2E_JUNIT_PREFIX="${dir}/run${i}" hack/e2e.sh "$@" || failed=$((failed + 1))
  walls+=("$((SECONDS - started))s")
done

echo
echo "======== e2e-repeat: ${runs} passes, ${failed} with failures; wall per pass: ${walls[*]} ========"
"$python" -m tests.support.flakes "$dir"
echo "(JUnit files in ${dir})"
[[ $failed -eq 0 ]]
