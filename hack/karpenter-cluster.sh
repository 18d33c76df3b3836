#!/usr/bin/env bash
# A third, throw-away local cluster with a real node autoscaler, for the node-capacity
# test and benchmark: kwokctl cluster "showtime-karpenter" (never the shared one of
# hack/cluster.sh) with Karpenter's KWOK provider (sigs.k8s.io/karpenter/kwok, built by
# hack/build-karpenter.sh) run as a local process against it. 127.0.0.1 only.
#
#   hack/karpenter-cluster.sh up     build Karpenter (once), create the cluster (or keep the
#                                    one up, if it is healthy and from the same inputs),
#                                    start Karpenter; the last line printed is the kubeconfig
#   hack/karpenter-cluster.sh down   stop Karpenter, delete the cluster (idempotent)
#   hack/karpenter-cluster.sh env    export lines for eval: KUBECONFIG, PATH
#
# What is in it:
#   - two static 4-CPU nodes, filled by the Deployment filler/filler (hack/karpenter/static.yaml):
#     every further pod needs a node Karpenter makes;
#   - Karpenter's CRDs (NodePool, NodeClaim, NodeOverlay, KWOKNodeClass, and the
#     autoscaling.x-k8s.io CapacityBuffer), Showtime's TrafficEvent CRD and its
#     PriorityClass showtime-placeholder (deploy/priorityclass.yaml);
#   - karpenter-kwok with the CapacityBuffer feature gate, the small instance types of
#     hack/karpenter/instance-types.json, no leader election, metrics and health on
#     127.0.0.1:31880/31881, log in ${SHOWTIME_CACHE}/karpenter/karpenter.log;
#   - the KWOKNodeClass and NodePool "default" (hack/karpenter/nodepool.yaml);
#   - kwok stages (hack/karpenter/kwok-config.py): Karpenter's nodes become Ready
#     KWOK_NODE_READY_DELAY after they are created; pods Ready after their annotation
#     pod-ready.stage.kwok.x-k8s.io/delay, as on the shared cluster.
# No Prometheus: the node-capacity scenario is a floor-only event.
#
# Settings: KARPENTER_APISERVER_PORT (31843), KWOK_NODE_READY_DELAY (seconds, default 60:
# the default NodePool's node boot time; other NodePools set their own annotation).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/.." && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"
# shellcheck source=hack/lib/common.sh
source "${HERE}/lib/common.sh"
LOG_PREFIX="karpenter-cluster"

CLUSTER_NAME="showtime-karpenter"
export KWOK_WORKDIR="${KWOK_WORKDIR:-${HOME}/.kwok}"
KWOK_DIR="${KWOK_WORKDIR}/clusters/${CLUSTER_NAME}"
KUBECONFIG_PATH="${KWOK_DIR}/kubeconfig.yaml"
STATE="${SHOWTIME_CACHE}/karpenter"
APISERVER_PORT="${KARPENTER_APISERVER_PORT:-31843}"
KARPENTER_METRICS_PORT=31880 KARPENTER_HEALTH_PORT=31881
NODE_READY_DELAY="${KWOK_NODE_READY_DELAY:-60}"
NODE_READY_DELAY="${NODE_READY_DELAY%s}"
PY="${REPO}/.venv/bin/python"
[[ -x "${PY}" ]] || PY=python3

[[ "${NODE_READY_DELAY}" =~ ^[0-9]+$ ]] || die "KWOK_NODE_READY_DELAY must be whole seconds (e.g. 60 or 60s)"

# Identifies what a running cluster was made from; `up` keeps a cluster with the same one.
fingerprint() {
  {
    cat "${HERE}/cluster/kwok.yaml" "${HERE}/karpenter/"* "${BASH_SOURCE[0]}" "${HERE}/lib/common.sh"
    echo "${BIN_DIR} ${KARPENTER_BIN_DIR} ${APISERVER_PORT} ${NODE_READY_DELAY}"
  } | sha256sum | cut -d' ' -f1
}

healthy() {
  [[ "$(cat "${STATE}/fingerprint" 2>/dev/null)" == "$(fingerprint)" ]] &&
    kc get --raw=/readyz >/dev/null 2>&1 &&
    alive "$(cat "${STATE}/karpenter.pid" 2>/dev/null)" &&
    curl -fsS --max-time 2 "http://127.0.0.1:${KARPENTER_HEALTH_PORT}/readyz" >/dev/null 2>&1
}

cmd_up() {
  mkdir -p "${STATE}"
  # One `up` at a time (the e2e fixture of every xdist worker may call it).
  exec 9>"${STATE}/up.lock"
  flock 9
  if healthy; then
    log "cluster ${CLUSTER_NAME} and Karpenter already up"
    echo "${KUBECONFIG_PATH}"
    return
  fi
  "${HERE}/build-binaries.sh" >&2 || die "building the cluster binaries failed"
  local module
  module="$("${HERE}/build-karpenter.sh")" || die "building Karpenter failed (see above)"
  cmd_down
  log "creating cluster ${CLUSTER_NAME} (apiserver 127.0.0.1:${APISERVER_PORT}, nodes Ready ${NODE_READY_DELAY}s after Karpenter makes them)"
  local start=${SECONDS}
  "${PY}" "${HERE}/karpenter/kwok-config.py" "${HERE}/cluster/kwok.yaml" >"${STATE}/kwok.yaml" ||
    die "could not generate the kwok configuration"
  kwok_create_cluster "${STATE}/kwok.yaml" 120s ||
    die "kwokctl create cluster failed; logs in ${KWOK_DIR}/logs"
  wait_until 90 "kube-apiserver ready" kc get --raw=/readyz
  kc apply -f "${HERE}/karpenter/static.yaml" >/dev/null || die "could not apply hack/karpenter/static.yaml"
  log "applying Karpenter ${KARPENTER_VERSION}'s CRDs and the TrafficEvent CRD"
  kc apply --server-side -f "${module}/kwok/charts/crds" >/dev/null
  kc apply --server-side -f "${module}/kwok/apis/crds" >/dev/null
  kc apply --server-side -f "${REPO}/crds/trafficevent.yaml" >/dev/null
  # Showtime's placeholder pods' PriorityClass (nodeCapacity mechanism Placeholders).
  kc apply --server-side -f "${REPO}/deploy/priorityclass.yaml" >/dev/null
  wait_until 60 "CRDs established" kc wait --for=condition=Established --timeout=5s \
    crd/nodepools.karpenter.sh crd/nodeclaims.karpenter.sh crd/kwoknodeclasses.karpenter.kwok.sh \
    crd/capacitybuffers.autoscaling.x-k8s.io crd/trafficevents.showtime.dev
  wait_until 60 "static nodes Ready" kc wait --for=condition=Ready node/static-0 node/static-1 --timeout=5s
  wait_until 90 "filler pods Ready" kc -n filler wait --for=condition=Available deployment/filler --timeout=5s
  karpenter_start
  sed "s/NODE_READY_DELAY_MS/$((NODE_READY_DELAY * 1000))/" "${HERE}/karpenter/nodepool.yaml" |
    kc apply -f - >/dev/null || die "could not apply hack/karpenter/nodepool.yaml"
  fingerprint >"${STATE}/fingerprint"
  log "cluster and Karpenter up in $((SECONDS - start))s"
  echo "${KUBECONFIG_PATH}"
}

karpenter_start() {
  log "starting karpenter-kwok (log ${STATE}/karpenter.log)"
  (
    cd "${STATE}"
    KUBECONFIG="${KUBECONFIG_PATH}" \
      DISABLE_LEADER_ELECTION=true \
      METRICS_PORT="${KARPENTER_METRICS_PORT}" HEALTH_PROBE_PORT="${KARPENTER_HEALTH_PORT}" \
      FEATURE_GATES="CapacityBuffer=true" \
      INSTANCE_TYPES_FILE_PATH="${HERE}/karpenter/instance-types.json" \
      LOG_LEVEL=info \
      setsid "${KARPENTER_BIN_DIR}/karpenter-kwok" >"${STATE}/karpenter.log" 2>&1 </dev/null 9>&- &
    echo $! >"${STATE}/karpenter.pid"
  )
  wait_until 60 "Karpenter healthy (see ${STATE}/karpenter.log)" \
    curl -fsS --max-time 2 "http://127.0.0.1:${KARPENTER_HEALTH_PORT}/readyz"
}

cmd_down() {
  stop_pidfile "${STATE}/karpenter.pid" karpenter-kwok
  rm -f "${STATE}/fingerprint"
  kwok_delete_cluster
}

cmd_env() {
  printf 'export KUBECONFIG=%q\n' "${KUBECONFIG_PATH}"
  printf 'export PATH=%q:"$PATH"\n' "${BIN_DIR}"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  *)
    echo "usage: $0 up|down|env" >&2
    exit 2
    ;;
esac
