#!/usr/bin/env bash
# A throw-away local cluster for the scale drill R6 (`make drill-scale`), next to the shared
# one of hack/cluster.sh (which it never touches): kwokctl cluster "showtime-scale" sized for
# 50,000 KWOK pods and what events add (56 nodes of 1,100 pods each, no client QPS limits, more controller and
# KWOK workers), and its own Prometheus scraping itself. 127.0.0.1 only.
#
#   hack/scale-cluster.sh up     create the cluster and nodes, start Prometheus; the last line
#                                printed is the kubeconfig. A cluster already up is kept (its
#                                pods take half an hour to create); SCALE_FRESH=1 starts over
#   hack/scale-cluster.sh down   stop Prometheus, delete the cluster (idempotent)
#   hack/scale-cluster.sh env    export lines for eval: KUBECONFIG, PATH, SHOWTIME_PROMETHEUS_URL
#
# Settings: SCALE_APISERVER_PORT (31743), SCALE_PROMETHEUS_PORT (9390), SCALE_NODES (56),
# SCALE_PODS_PER_NODE (1100). State and Prometheus' log: ${SHOWTIME_CACHE}/scale.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/.." && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"

CLUSTER_NAME="showtime-scale"
export KWOK_WORKDIR="${KWOK_WORKDIR:-${HOME}/.kwok}"
KWOK_DIR="${KWOK_WORKDIR}/clusters/${CLUSTER_NAME}"
KUBECONFIG_PATH="${KWOK_DIR}/kubeconfig.yaml"
STATE="${SHOWTIME_CACHE}/scale"
APISERVER_PORT="${SCALE_APISERVER_PORT:-31743}"
PROM_PORT="${SCALE_PROMETHEUS_PORT:-9390}"
PROM_DIR="${STATE}/prometheus"
NODES="${SCALE_NODES:-56}"
PODS_PER_NODE="${SCALE_PODS_PER_NODE:-1100}"

LOG_PREFIX="scale-cluster"
KC_TIMEOUT=30s
# shellcheck source=hack/lib/common.sh
source "${HERE}/lib/common.sh"

# The shared cluster's stages (hack/cluster/kwok.yaml, which gives a pod only the first of
# the IPs KWOK hands out: under this load KWOK sometimes hands out two, and the API server
# refuses the status) plus KWOK's own worker counts: the defaults play a few dozen pod
# stages a second, too few for 50,000 pods.
write_config() {
  cp "${HERE}/cluster/kwok.yaml" "${STATE}/kwok.yaml"
  cat >>"${STATE}/kwok.yaml" <<'EOF'
---
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  # A KwokConfiguration replaces kwok's defaults: every parallelism must be given.
  podPlayStageParallelism: 32
  nodePlayStageParallelism: 8
  nodeLeaseParallelism: 8
  podsOnNodeSyncParallelism: 8
EOF
}

nodes_manifest() {
  local i cidr
  for ((i = 0; i < NODES; i++)); do
    # a /21 (2,048 addresses) per node, 10.64.0.0/21, 10.64.8.0/21, ...
    cidr="10.$((64 + i / 32)).$(((i % 32) * 8)).0/21"
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: scale-node-${i}
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: scale-node-${i}, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
spec:
  podCIDR: ${cidr}
  podCIDRs: [${cidr}]
status:
  allocatable: {cpu: "1000", memory: 4Ti, pods: "${PODS_PER_NODE}"}
  capacity: {cpu: "1000", memory: 4Ti, pods: "${PODS_PER_NODE}"}
EOF
  done
}

prom_ready() { curl -fsS --max-time 2 "http://127.0.0.1:${PROM_PORT}/-/ready"; }

cmd_up() {
  mkdir -p "${STATE}"
  if [[ "${SCALE_FRESH:-0}" != 1 ]] && kc get --raw=/readyz >/dev/null 2>&1; then
    log "cluster ${CLUSTER_NAME} is up already; keeping it (SCALE_FRESH=1 starts over)"
    prom_ready >/dev/null 2>&1 || prom_start
    echo "${KUBECONFIG_PATH}"
    return
  fi
  "${HERE}/build-binaries.sh" >&2 || die "building the cluster binaries failed"
  cmd_down
  write_config
  log "creating cluster ${CLUSTER_NAME} (apiserver 127.0.0.1:${APISERVER_PORT}, ${NODES} nodes x ${PODS_PER_NODE} pods)"
  local start=${SECONDS}
  kwok_create_cluster "${STATE}/kwok.yaml" 120s \
    --extra-args kube-controller-manager=concurrent-deployment-syncs=20 \
    --extra-args kube-controller-manager=concurrent-replicaset-syncs=20 ||
    die "kwokctl create cluster failed; logs in ${KWOK_DIR}/logs"
  wait_until 90 "kube-apiserver ready" kc get --raw=/readyz
  nodes_manifest | kc apply -f - >/dev/null || die "could not create the nodes"
  wait_until 120 "nodes Ready" kc wait --for=condition=Ready node --all --timeout=10s
  wait_until 60 "default ServiceAccount" kc -n default get serviceaccount default
  kc apply -f "${REPO}/crds/trafficevent.yaml" >/dev/null || die "could not install the TrafficEvent CRD"
  wait_until 60 "TrafficEvent CRD established" kc wait --for=condition=Established crd/trafficevents.showtime.dev --timeout=10s
  log "cluster up in $((SECONDS - start))s"
  prom_start
  echo "${KUBECONFIG_PATH}"
}

prom_start() {
  command -v prometheus >/dev/null 2>&1 || die "prometheus is not on PATH (make cluster installs Debian's package)"
  rm -rf "${PROM_DIR}"
  mkdir -p "${PROM_DIR}/data"
  cat >"${PROM_DIR}/prometheus.yml" <<EOF
global: {scrape_interval: 5s, evaluation_interval: 5s}
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ["127.0.0.1:${PROM_PORT}"]}]
EOF
  log "starting prometheus on 127.0.0.1:${PROM_PORT}"
  setsid prometheus --config.file="${PROM_DIR}/prometheus.yml" --storage.tsdb.path="${PROM_DIR}/data" \
    --web.listen-address="127.0.0.1:${PROM_PORT}" >"${PROM_DIR}/prometheus.log" 2>&1 </dev/null &
  echo $! >"${STATE}/prometheus.pid"
  wait_until 60 "prometheus ready" prom_ready
}

cmd_down() {
  stop_pidfile "${STATE}/prometheus.pid" "${PROM_DIR}/prometheus.yml"
  kwok_delete_cluster
}

cmd_env() {
  printf 'export KUBECONFIG=%q\n' "${KUBECONFIG_PATH}"
  printf 'export PATH=%q:"$PATH"\n' "${BIN_DIR}"
  printf 'export SHOWTIME_PROMETHEUS_URL=%q\n' "http://127.0.0.1:${PROM_PORT}"
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
