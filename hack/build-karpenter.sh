#!/usr/bin/env bash
# Builds Karpenter's KWOK provider (sigs.k8s.io/karpenter/kwok, the `kwok` package of the
# Karpenter module: a real Karpenter controller whose "cloud" creates KWOK nodes) into a
# version-keyed cache outside the repository (KARPENTER_BIN_DIR, hack/versions.sh).
# Karpenter's go.mod has no replace directive, so a plain `go build` of the module works;
# its go directive may ask for a newer toolchain than the machine's, which GOTOOLCHAIN
# fetches through the Go module proxy. Re-running with the binary present does nothing.
# Karpenter's manager binds its metrics and health ports on every interface (":PORT" in
# pkg/operator/operator.go); the build compiles a scratch copy of the module with those two
# addresses bound to 127.0.0.1 instead (the local cluster listens on loopback only).
# Prints the module directory (its kwok/charts/crds hold the CRDs) on stdout; progress
# and the build time go to stderr.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"

die() { echo "build-karpenter: $*" >&2; exit 1; }
command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH."
mkdir -p "${KARPENTER_BIN_DIR}"
export GOFLAGS="-buildvcs=false -mod=mod"
export CGO_ENABLED=0
export GOTOOLCHAIN="${KARPENTER_GOTOOLCHAIN}"

SCRATCH="$(mktemp -d "${SHOWTIME_CACHE}/build-karpenter.XXXXXX")"
trap 'rm -rf "${SCRATCH}"' EXIT
cd "${SCRATCH}"
if ! go mod download -json "sigs.k8s.io/karpenter@${KARPENTER_VERSION}" >dl.json; then
  cat dl.json >&2 || true
  die "could not download sigs.k8s.io/karpenter@${KARPENTER_VERSION}; check the Go module proxy ($(go env GOPROXY))."
fi
module_dir="$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' dl.json)"
[[ -d "${module_dir}/kwok/charts/crds" ]] || die "Karpenter's module has no kwok/charts/crds in ${module_dir}"

# One build at a time: `make test` starts one in the background (nice'd) while lint and
# unit tests run; the e2e fixture's `hack/karpenter-cluster.sh up` then waits for it here.
exec 8>"${KARPENTER_BIN_DIR}/.build.lock"
flock 8
if [[ ! -x "${KARPENTER_BIN_DIR}/karpenter-kwok" ]]; then
  start=${SECONDS}
  echo "build-karpenter: go build sigs.k8s.io/karpenter/kwok ${KARPENTER_VERSION} (${GOTOOLCHAIN})" >&2
  cp -r "${module_dir}" "${SCRATCH}/src" && chmod -R u+w "${SCRATCH}/src"
  sed -i 's/fmt.Sprintf(":%d", options.FromContext(ctx)/fmt.Sprintf("127.0.0.1:%d", options.FromContext(ctx)/' \
    "${SCRATCH}/src/pkg/operator/operator.go"
  [[ "$(grep -c '"127.0.0.1:%d"' "${SCRATCH}/src/pkg/operator/operator.go")" == 2 ]] ||
    die "pkg/operator/operator.go no longer binds \":PORT\" twice; update the loopback edit for ${KARPENTER_VERSION}"
  (cd "${SCRATCH}/src" && go build -trimpath -ldflags "-s -w" \
      -o "${KARPENTER_BIN_DIR}/karpenter-kwok.tmp" ./kwok) \
    || die "go build of the KWOK provider failed"
  mv "${KARPENTER_BIN_DIR}/karpenter-kwok.tmp" "${KARPENTER_BIN_DIR}/karpenter-kwok"
  echo "build-karpenter: built in $((SECONDS - start))s" >&2
fi
echo "${module_dir}"
