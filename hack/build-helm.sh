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
module="helm.sh/helm/${major}"
if ! dl="$(go mod download -json "${module}@${HELM_VERSION}")"; then
  die "'go mod download ${module}@${HELM_VERSION}' failed. Check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and retry."
fi
gomod="$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' <<<"${dl}")"
# The Kubernetes version helm assumes without a cluster (helm template, lint), from the
# client-go it is built with, as helm's own Makefile does: client-go v0.X.Y is Kubernetes 1.X.
kube_minor="$(sed -n 's#^\s*k8s.io/client-go v0\.\([0-9]*\)\..*#\1#p' "${gomod}" | head -1)"
[[ -n "${kube_minor}" ]] || die "cannot tell the client-go version from ${gomod}"
ld="-s -w -X ${module}/internal/version.version=${HELM_VERSION}"
for pkg in pkg/lint/rules pkg/chartutil; do
  ld+=" -X ${module}/${pkg}.k8sVersionMajor=1 -X ${module}/${pkg}.k8sVersionMinor=${kube_minor}"
done
if ! GOBIN="${SCRATCH}" go install -trimpath -ldflags "${ld}" "${module}/cmd/helm@${HELM_VERSION}"; then
  die "'go install ${module}/cmd/helm@${HELM_VERSION}' failed. Check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and retry."
fi
mv "${SCRATCH}/helm" "${HELM}"
echo "build-helm: done" >&2
echo "${HELM}"
