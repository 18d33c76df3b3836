# Pinned versions of the local cluster's components; sourced by the hack/ scripts.
# Changing a version here builds a new set into its own cache directory.
KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
SHOWTIME_CACHE="${SHOWTIME_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/showtime}"
BIN_DIR="${SHOWTIME_CACHE}/bin/k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
