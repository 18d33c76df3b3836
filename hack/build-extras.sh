#!/usr/bin/env bash
# Builds the extra binaries only `make bench-burst` needs into a version-keyed cache
# outside the repository (EXTRAS_BIN_DIR, hack/versions.sh): metrics-server
# (sigs.k8s.io/metrics-server, go install: its go.mod has no replace directive) and
# KEDA's operator and metrics apiserver (github.com/kedacore/keda/v2 cmd/operator and
# cmd/adapter, in a scratch module that requires KEDA and carries its one replace
# directive, the way hack/build-binaries.sh builds Kubernetes). Re-running with the
# binaries present does nothing. Prints the KEDA module directory (its config/ holds
# the CRDs and RBAC) on stdout; progress and build times go to stderr.
#
#   hack/build-extras.sh                  both
#   hack/build-extras.sh metrics-server   metrics-server only (for BENCH_KEDA=0)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"

die() { echo "build-extras: $*" >&2; exit 1; }
command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH (Go 1.26+ is needed for KEDA ${KEDA_VERSION})."
mkdir -p "${EXTRAS_BIN_DIR}"
export GOFLAGS="-buildvcs=false -mod=mod"
export CGO_ENABLED=0

goget() {
  if ! "$@"; then
    die "'$*' failed. Check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and retry."
  fi
}

SCRATCH="$(mktemp -d "${SHOWTIME_CACHE}/build-extras.XXXXXX")"
trap 'rm -rf "${SCRATCH}"' EXIT

if [[ ! -x "${EXTRAS_BIN_DIR}/metrics-server" ]]; then
  start=${SECONDS}
  echo "build-extras: go install metrics-server ${METRICS_SERVER_VERSION}" >&2
  GOBIN="${SCRATCH}/gobin" goget go install -trimpath \
    -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=${METRICS_SERVER_VERSION}" \
    "sigs.k8s.io/metrics-server/cmd/metrics-server@${METRICS_SERVER_VERSION}"
  mv "${SCRATCH}/gobin/metrics-server" "${EXTRAS_BIN_DIR}/metrics-server"
  echo "build-extras: metrics-server built in $((SECONDS - start))s" >&2
fi

[[ "${1:-}" == metrics-server ]] && exit 0

mkdir -p "${SCRATCH}/keda" && cd "${SCRATCH}/keda"
goget go mod download -json "github.com/kedacore/keda/v2@${KEDA_VERSION}" >dl.json
keda_gomod="$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' dl.json)"
keda_dir="$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' dl.json)"
[[ -d "${keda_dir}/config/crd" ]] || die "KEDA's module has no config/crd in ${keda_dir}"

if [[ ! -x "${EXTRAS_BIN_DIR}/keda-operator" || ! -x "${EXTRAS_BIN_DIR}/keda-adapter" ]]; then
  start=${SECONDS}
  goversion="$(sed -n 's/^go \(.*\)/\1/p' "${keda_gomod}")"
  {
    echo "module showtime.local/kedabuild"
    echo "go ${goversion}"
    echo "require github.com/kedacore/keda/v2 ${KEDA_VERSION}"
    grep -E '^replace ' "${keda_gomod}"
  } >go.mod
  goget go get "github.com/kedacore/keda/v2/cmd/operator@${KEDA_VERSION}" "github.com/kedacore/keda/v2/cmd/adapter@${KEDA_VERSION}"
  ld="-s -w -X=github.com/kedacore/keda/v2/version.Version=${KEDA_VERSION#v} -X=github.com/kedacore/keda/v2/version.GitCommit=module-${KEDA_VERSION}"
  for cmd in operator adapter; do
    echo "build-extras: go build keda ${cmd} ${KEDA_VERSION}" >&2
    go build -trimpath -ldflags "${ld}" -o "${EXTRAS_BIN_DIR}/keda-${cmd}.tmp" "github.com/kedacore/keda/v2/cmd/${cmd}"
    mv "${EXTRAS_BIN_DIR}/keda-${cmd}.tmp" "${EXTRAS_BIN_DIR}/keda-${cmd}"
  done
  echo "build-extras: keda operator and adapter built in $((SECONDS - start))s" >&2
fi
echo "${keda_dir}"
