#!/usr/bin/env bash
# A throw-away cluster for `make drills` (benchmarks/drills), next to the shared one of
# hack/cluster.sh, which it never touches: the drills kill kube-apiserver, etcd and
# Prometheus, so they get their own. kwokctl cluster "showtime-drills" (binary runtime,
# binaries from the cache of hack/build-binaries.sh), the kube-apiserver audit log on
# (write verbs at Metadata level, so a drill can count writes per user agent), one KWOK
# node, and its own Prometheus scraping the drills' load sources. 127.0.0.1 only.
#
#   hack/drill-cluster.sh up                create the cluster and start Prometheus; the
#                                           last line printed is the kubeconfig
#   hack/drill-cluster.sh down              stop Prometheus, delete the cluster (idempotent)
#   hack/drill-cluster.sh env               export lines for eval: KUBECONFIG, PATH, SHOWTIME_*,
#                                           DRILL_* (audit log, pid directory)
#   hack/drill-cluster.sh prometheus-stop   stop Prometheus (kept data; R2 outage)
#   hack/drill-cluster.sh prometheus-start  start it again on the same data
#
# R4 kills kube-apiserver and etcd and starts them again itself, from the command lines
# kwokctl recorded in ${KWOK_DIR}/kwok.yaml (benchmarks/drills/controlplane.py):
# `kwokctl start cluster` does not bring back one killed component of a running cluster.
#
# Pods become Ready 20 s after they start: the drills' pod templates carry the annotation
# pod-ready.stage.kwok.x-k8s.io/delay that the KWOK stage of hack/cluster/kwok.yaml reads.
# Settings: DRILL_APISERVER_PORT (31643), DRILL_PROMETHEUS_PORT (9290).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"
# shellcheck source=hack/lib/common.sh
source "${HERE}/lib/common.sh"
LOG_PREFIX="drill-cluster"
STOP_GRACE_SECONDS=20

CLUSTER_NAME="showtime-drills"
export KWOK_WORKDIR="${KWOK_WORKDIR:-${HOME}/.kwok}"
KWOK_DIR="${KWOK_WORKDIR}/clusters/${CLUSTER_NAME}"
KUBECONFIG_PATH="${KWOK_DIR}/kubeconfig.yaml"
STATE="${SHOWTIME_CACHE}/drills"
APISERVER_PORT="${DRILL_APISERVER_PORT:-31643}"
PROM_PORT="${DRILL_PROMETHEUS_PORT:-9290}"
PROM_DIR="${STATE}/prometheus"
AUDIT_LOG="${KWOK_DIR}/logs/audit.log"

cmd_up() {
  mkdir -p "${STATE}"
  "${HERE}/build-binaries.sh" >&2 || die "building the cluster binaries failed"
  cmd_down
  # Writes only, without bodies: who changed what, and when (R5, R7 count them).
  cat >"${STATE}/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    resources: [{group: coordination.k8s.io, resources: [leases]}]
    users: [system:kube-controller-manager, system:kube-scheduler, system:apiserver]
  - level: Metadata
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
EOF
  log "creating cluster ${CLUSTER_NAME} (apiserver 127.0.0.1:${APISERVER_PORT}, audit log ${AUDIT_LOG})"
  local start=${SECONDS}
  kwok_create_cluster "${HERE}/cluster/kwok.yaml" 120s --kube-audit-policy "${STATE}/audit-policy.yaml" ||
    die "kwokctl create cluster failed; logs in ${KWOK_DIR}/logs"
  wait_until 90 "kube-apiserver ready" kc get --raw=/readyz
  kc apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: drill-node-0
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels: {kubernetes.io/hostname: drill-node-0, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
spec:
  podCIDR: 10.246.0.0/20
  podCIDRs: [10.246.0.0/20]
status:
  allocatable: {cpu: "1000", memory: 2Ti, pods: "1000"}
  capacity: {cpu: "1000", memory: 2Ti, pods: "1000"}
EOF
  wait_until 60 "node Ready" kc wait --for=condition=Ready node --all --timeout=5s
  wait_until 60 "default ServiceAccount" kc -n default get serviceaccount default
  log "cluster up in $((SECONDS - start))s"
  rm -rf "${PROM_DIR}"
  prom_start
  echo "${KUBECONFIG_PATH}"
}

prom_start() {
  command -v prometheus >/dev/null 2>&1 || die "prometheus is not on PATH (make cluster installs Debian's package)"
  mkdir -p "${PROM_DIR}/data" "${PROM_DIR}/targets"
  cat >"${PROM_DIR}/prometheus.yml" <<EOF
global: {scrape_interval: 2s, evaluation_interval: 2s}
scrape_configs:
  - job_name: showtime-load
    file_sd_configs: [{files: ["${PROM_DIR}/targets/*.json"], refresh_interval: 2s}]
EOF
  log "starting prometheus on 127.0.0.1:${PROM_PORT}"
  setsid prometheus --config.file="${PROM_DIR}/prometheus.yml" --storage.tsdb.path="${PROM_DIR}/data" \
    --web.listen-address="127.0.0.1:${PROM_PORT}" >>"${PROM_DIR}/prometheus.log" 2>&1 </dev/null &
  echo $! >"${STATE}/prometheus.pid"
  wait_until 60 "prometheus ready" curl -fsS --max-time 2 "http://127.0.0.1:${PROM_PORT}/-/ready"
}

prom_stop() {
  stop_pidfile "${STATE}/prometheus.pid" "${PROM_DIR}/prometheus.yml"
}

cmd_down() {
  prom_stop
  if [[ -d "${KWOK_DIR}" ]]; then
    local pids pid
    pids="$(cat "${KWOK_DIR}"/pids/*.pid 2>/dev/null || true)"
    kwok_delete_cluster
    # A component a drill started again itself (R4) is not kwokctl's child: kwokctl
    # leaves it running. Stop whatever of this cluster is left.
    for pid in ${pids}; do
      if alive "${pid}" && tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -qF -- "${KWOK_DIR}/"; then
        log "stopping left-over pid ${pid}"
        kill -9 "${pid}" 2>/dev/null || true
      fi
    done
  fi
}

cmd_env() {
  printf 'export KUBECONFIG=%q\n' "${KUBECONFIG_PATH}"
  printf 'export PATH=%q:"$PATH"\n' "${BIN_DIR}"
  printf 'export SHOWTIME_PROMETHEUS_URL=%q\n' "http://127.0.0.1:${PROM_PORT}"
  printf 'export SHOWTIME_PROM_TARGETS_DIR=%q\n' "${PROM_DIR}/targets"
  printf 'export DRILL_AUDIT_LOG=%q\n' "${AUDIT_LOG}"
  printf 'export DRILL_PIDS_DIR=%q\n' "${KWOK_DIR}/pids"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  prometheus-stop) prom_stop ;;
  prometheus-start) prom_start ;;
  *)
    echo "usage: $0 up|down|env|prometheus-stop|prometheus-start" >&2
    exit 2
    ;;
esac
