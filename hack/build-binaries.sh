#!/usr/bin/env bash
# Builds the local cluster's binaries from Go modules into a version-keyed cache
# outside the repository: kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3), kwok and kwokctl.
# Re-running with the binaries present does nothing.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"

die() { echo "build-binaries: $*" >&2; exit 1; }

mkdir -p "${BIN_DIR}"
WANT=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok kwokctl)
missing=()
for b in "${WANT[@]}"; do [[ -x "${BIN_DIR}/${b}" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then exit 0; fi
# Go is needed only to build: a warm cache works without it.
command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH. Install Go 1.25 or newer (https://go.dev/doc/install, or 'apt-get install golang'), then run 'make cluster' again."
echo "build-binaries: building ${missing[*]} into ${BIN_DIR} (first run only; takes a while)" >&2

SCRATCH="$(mktemp -d "${SHOWTIME_CACHE}/build.XXXXXX")"
trap 'rm -rf "${SCRATCH}"' EXIT
export GOFLAGS="-buildvcs=false -mod=mod"
export CGO_ENABLED=0

goget() {
  # go commands that reach the module proxy; turn their failure into advice.
  if ! "$@"; then
    die "'$*' failed. Check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and retry 'make cluster'."
  fi
}

need() { for b in "$@"; do [[ " ${missing[*]} " == *" $b "* ]] && return 0; done; return 1; }

if need kube-apiserver kube-controller-manager kube-scheduler kubectl; then
  mkdir -p "${SCRATCH}/k8s" && cd "${SCRATCH}/k8s"
  minor_patch="${KUBE_VERSION#v1.}"
  staging_version="v0.${minor_patch}"
  goget go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" > dl.json
  gomod="$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' dl.json)"
  goversion="$(sed -n 's/^go \(.*\)/\1/p' "${gomod}")"
  {
    echo "module showtime.local/k8sbuild"
    echo "go ${goversion}"
    echo "require k8s.io/kubernetes ${KUBE_VERSION}"
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 '"${staging_version}"'#p' "${gomod}"
    echo ")"
  } > go.mod
  pkgs=()
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    need "$b" && pkgs+=("k8s.io/kubernetes/cmd/${b}")
  done
  goget go get $(printf "%s@${KUBE_VERSION} " "${pkgs[@]}")
  major=1; minor="${minor_patch%%.*}"
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  ld=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X ${p}.gitVersion=${KUBE_VERSION} -X ${p}.gitMajor=${major} -X ${p}.gitMinor=${minor}"
    ld+=" -X ${p}.gitTreeState=clean -X ${p}.buildDate=${date} -X ${p}.gitCommit=module-${KUBE_VERSION}"
  done
  for pkg in "${pkgs[@]}"; do
    b="${pkg##*/}"
    echo "build-binaries: go build ${b} ${KUBE_VERSION}" >&2
    go build -trimpath -ldflags "-s -w ${ld}" -o "${BIN_DIR}/${b}.tmp" "${pkg}"
    mv "${BIN_DIR}/${b}.tmp" "${BIN_DIR}/${b}"
  done
fi

if need etcd; then
  mkdir -p "${SCRATCH}/etcd" && cd "${SCRATCH}/etcd"
  {
    echo "module showtime.local/etcdbuild"
    echo "go 1.24"
    echo "require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}"
    echo "replace ("
    for m in api/v3 client/pkg/v3 client/v3 pkg/v3; do
      echo "	go.etcd.io/etcd/${m} => go.etcd.io/etcd/${m} ${ETCD_VERSION}"
    done
    echo ")"
  } > go.mod
  goget go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
  echo "build-binaries: go build etcd ${ETCD_VERSION}" >&2
  go build -trimpath -ldflags "-s -w" -o "${BIN_DIR}/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "${BIN_DIR}/etcd.tmp" "${BIN_DIR}/etcd"
fi

if need kwok kwokctl; then
  for b in kwok kwokctl; do
    echo "build-binaries: go install ${b} ${KWOK_VERSION}" >&2
    GOBIN="${SCRATCH}/gobin" goget go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/${b}@${KWOK_VERSION}"
    mv "${SCRATCH}/gobin/${b}" "${BIN_DIR}/${b}"
  done
fi
echo "build-binaries: done" >&2
