# shellcheck shell=bash
# Shell helpers shared by the local-cluster scripts (hack/cluster.sh, hack/bench-cluster.sh,
# hack/drill-cluster.sh, hack/karpenter-cluster.sh, hack/scale-cluster.sh), sourced after
# hack/versions.sh:
# messages to stderr (log, die), kubectl against the script's cluster (kc), process checks
# and stops (alive, stop_pidfile), polling with a deadline (wait_until), and the one
# `kwokctl create cluster --runtime binary` call (kwok_create_cluster).
# Not here: anything one script alone does (Prometheus, KEDA, Karpenter, nodes, locks).
#
# What differs comes from the sourcing script's variables:
#   LOG_PREFIX       the name messages start with, e.g. "drill-cluster"
#   KUBECONFIG_PATH  the cluster's kubeconfig; KC_TIMEOUT kubectl's --request-timeout (20s)
#   CLUSTER_NAME     the kwokctl cluster name; BIN_DIR, KUBE_VERSION, ETCD_VERSION (versions.sh)
#   STOP_GRACE_SECONDS  how long stop_pidfile waits after SIGTERM before SIGKILL (15)

log() { echo "${LOG_PREFIX}: $*" >&2; }
die() {
  echo "${LOG_PREFIX}: ERROR: $*" >&2
  exit 1
}

kc() { "${BIN_DIR}/kubectl" --kubeconfig "${KUBECONFIG_PATH}" --request-timeout="${KC_TIMEOUT:-20s}" "$@"; }

# A process runs when it exists and is not a zombie (a killed daemon stays a
# zombie where PID 1 does not reap, e.g. in containers).
alive() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat:0:1}" != Z ]]
}

wait_until() { # wait_until <seconds> <what> <command...>
  local deadline=$((SECONDS + $1)) what="$2"
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "${what} not within the deadline"
    sleep 1
  done
}

# Stops the process whose pid is in file $1 (only if its command line contains $2).
stop_pidfile() {
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  if alive "${pid}" && tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -qF -- "$2"; then
    kill "${pid}" 2>/dev/null || true
    local deadline=$((SECONDS + ${STOP_GRACE_SECONDS:-15}))
    while alive "${pid}" && ((SECONDS < deadline)); do sleep 0.2; done
    alive "${pid}" && kill -9 "${pid}" 2>/dev/null || true
  fi
  rm -f "$1"
}

# kwok_create_cluster <kwok config> <timeout, e.g. 120s> [more kwokctl flags...]
# Creates cluster CLUSTER_NAME (binary runtime, kube-apiserver on APISERVER_PORT) from
# the cached binaries; kwokctl's output goes to stderr, and fd 9 (a lock) is not passed
# on to the daemons. Returns kwokctl's exit code.
kwok_create_cluster() {
  local config="$1" timeout="$2"
  shift 2
  # kwokctl runs the first kubectl on PATH: make it ours.
  PATH="${BIN_DIR}:${PATH}" \
    KWOK_KUBE_VERSION="${KUBE_VERSION}" \
    KWOK_ETCD_VERSION="${ETCD_VERSION}" \
    KWOK_KUBECTL_BINARY="${BIN_DIR}/kubectl" \
    "${BIN_DIR}/kwokctl" --name "${CLUSTER_NAME}" --config "${config}" create cluster \
    --runtime binary \
    --kubeconfig= \
    --kube-apiserver-port "${APISERVER_PORT}" \
    --kube-apiserver-binary "${BIN_DIR}/kube-apiserver" \
    --kube-controller-manager-binary "${BIN_DIR}/kube-controller-manager" \
    --kube-scheduler-binary "${BIN_DIR}/kube-scheduler" \
    --etcd-binary "${BIN_DIR}/etcd" \
    --kwok-controller-binary "${BIN_DIR}/kwok" \
    "$@" \
    --timeout "${timeout}" >&2 9>&-
}

# kwok_delete_cluster: deletes cluster CLUSTER_NAME if its state (KWOK_DIR) exists; dies
# saying what to clean by hand if kwokctl cannot. fd 9 (a lock) is not passed on.
kwok_delete_cluster() {
  [[ -d "${KWOK_DIR}" ]] || return 0
  log "deleting cluster ${CLUSTER_NAME}"
  "${BIN_DIR}/kwokctl" --name "${CLUSTER_NAME}" delete cluster --kubeconfig "${KUBECONFIG_PATH}" >&2 9>&- ||
    die "kwokctl delete cluster ${CLUSTER_NAME} failed; kill the pids in ${KWOK_DIR}/pids and remove ${KWOK_DIR}"
}
