#!/usr/bin/env bash
# Builds helm (helm.sh/helm/v3 at HELM_VERSION, hack/versions.sh) from its Go module into
# a version-keyed cache outside the repository and prints the binary's path on stdout.
# Re-running with the binary present only prints the path. Used by the chart targets in
# the Makefile and by the tests that need helm (tests/support/helm.py).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"

die() { echo "build-helm: $*" >&2; exit 1; }

HELM="${HELM_BIN_DIR}/helm"
if [[ -x "${HELM}" ]]; then echo "${HELM}"; exit 0; fi
command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH. Install Go 1.25 or newer (https://go.dev/doc/install, or 'apt-get install golang'), then retry."
mkdir -p "${HELM_BIN_DIR}"
echo "build-helm: building helm ${HELM_VERSION} into ${HELM_BIN_DIR} (first run only; a few minutes)" >&2
SCRATCH="$(mktemp -d "${SHOWTIME_CACHE}/build-helm.XXXXXX")"
trap 'rm -rf "${SCRATCH}"' EXIT
export GOFLAGS="-buildvcs=false -mod=mod"
export CGO_ENABLED=0
major="${HELM_VERSION%%.*}"
ld="-s -w -X helm.sh/helm/${major}/internal/version.version=${HELM_VERSION}"
if ! GOBIN="${SCRATCH}" go install -trimpath -ldflags "${ld}" "helm.sh/helm/${major}/cmd/helm@${HELM_VERSION}"; then
  die "'go install helm.sh/helm/${major}/cmd/helm@${HELM_VERSION}' failed. Check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and retry."
fi
mv "${SCRATCH}/helm" "${HELM}"
echo "build-helm: done" >&2
echo "${HELM}"
