#!/usr/bin/env bash
# A second, throw-away local cluster for `make bench-burst`, next to the shared one of
# hack/cluster.sh (which it never touches): kwokctl cluster "showtime-bench" with the
# metrics-server component (KWOK emulates pods' CPU from the annotation
# kwok.x-k8s.io/usage-cpu), its own Prometheus, and KEDA's operator and metrics apiserver
# run as local processes, their external.metrics.k8s.io APIService served on 127.0.0.1
# through an ExternalName Service (the way kwokctl wires metrics-server). 127.0.0.1 only.
#
#   hack/bench-cluster.sh up     build the extras (once), create the cluster, start
#                                Prometheus and KEDA; the last line printed is the kubeconfig
#   hack/bench-cluster.sh down   stop KEDA and Prometheus, delete the cluster (idempotent)
#   hack/bench-cluster.sh env    export lines for eval: KUBECONFIG, PATH, SHOWTIME_*, BENCH_*
#   hack/bench-cluster.sh keda-up  (re)start KEDA alone on the cluster already up
#
# Settings: BENCH_APISERVER_PORT (31543), BENCH_PROMETHEUS_PORT (9190), BENCH_KEDA=0 skips
# KEDA. State and logs: ${SHOWTIME_CACHE}/bench (KEDA's and Prometheus' logs are there).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/.." && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"
# shellcheck source=hack/lib/common.sh
source "${HERE}/lib/common.sh"
LOG_PREFIX="bench-cluster"

CLUSTER_NAME="showtime-bench"
export KWOK_WORKDIR="${KWOK_WORKDIR:-${HOME}/.kwok}"
KWOK_DIR="${KWOK_WORKDIR}/clusters/${CLUSTER_NAME}"
KUBECONFIG_PATH="${KWOK_DIR}/kubeconfig.yaml"
STATE="${SHOWTIME_CACHE}/bench"
APISERVER_PORT="${BENCH_APISERVER_PORT:-31543}"
PROM_PORT="${BENCH_PROMETHEUS_PORT:-9190}"
PROM_DIR="${STATE}/prometheus"
KEDA_DIR="${STATE}/keda"
# KEDA operator: metrics, health probe, gRPC metrics service; adapter: https, its metrics.
KEDA_OP_METRICS=31580 KEDA_OP_PROBE=31581 KEDA_GRPC=31582 KEDA_ADAPTER=31583 KEDA_ADAPTER_METRICS=31584
BENCH_KEDA="${BENCH_KEDA:-1}"
PY="${REPO}/.venv/bin/python"

cmd_up() {
  mkdir -p "${STATE}"
  "${HERE}/build-binaries.sh" >&2 || die "building the cluster binaries failed"
  local keda_dir=""
  if [[ "${BENCH_KEDA}" == 1 ]]; then
    keda_dir="$("${HERE}/build-extras.sh")" || die "building metrics-server/KEDA failed (see above)"
  else
    "${HERE}/build-extras.sh" metrics-server >/dev/null || die "building metrics-server failed (see above)"
  fi
  local ms_dir
  ms_dir="$(cd "${SHOWTIME_CACHE}" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/metrics-server@${METRICS_SERVER_VERSION}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [[ -d "${ms_dir}/manifests/base" ]] || die "metrics-server's manifests/base not found in the module cache"

  cmd_down
  log "creating cluster ${CLUSTER_NAME} (apiserver 127.0.0.1:${APISERVER_PORT}, metrics-server ${METRICS_SERVER_VERSION})"
  local start=${SECONDS}
  # The metrics-server manifest (APIService, RBAC) is the module's kustomize base: kwokctl
  # runs `kubectl kustomize` on a local path, so nothing is downloaded. Stages as in
  # hack/cluster/kwok.yaml; that option added.
  sed "s#^options:#options:\n  metricsServerManifests: [\"${ms_dir}/manifests/base\"]#" \
    "${HERE}/cluster/kwok.yaml" >"${STATE}/kwok.yaml"
  kwok_create_cluster "${STATE}/kwok.yaml" 120s \
    --enable metrics-server --metrics-server-binary "${EXTRAS_BIN_DIR}/metrics-server" ||
    die "kwokctl create cluster failed; logs in ${KWOK_DIR}/logs"
  wait_until 90 "kube-apiserver ready" kc get --raw=/readyz
  # One node, no addresses: KWOK fills in its own IP and port, where metrics-server scrapes
  # /metrics/resource (hack/cluster/nodes.yaml pins fake IPs, which would not answer).
  kc apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: bench-node-0
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
    # where KWOK serves this node's kubelet /metrics/resource (kustomize/metrics/resource)
    metrics.k8s.io/resource-metrics-path: /metrics/nodes/bench-node-0/metrics/resource
  labels: {kubernetes.io/hostname: bench-node-0, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
spec:
  podCIDR: 10.245.0.0/20
  podCIDRs: [10.245.0.0/20]
status:
  allocatable: {cpu: "1000", memory: 2Ti, pods: "1000"}
  capacity: {cpu: "1000", memory: 2Ti, pods: "1000"}
EOF
  wait_until 60 "node Ready" kc wait --for=condition=Ready node --all --timeout=5s
  wait_until 60 "default ServiceAccount" kc -n default get serviceaccount default
  log "cluster up in $((SECONDS - start))s"
  prom_start
  if [[ "${BENCH_KEDA}" == 1 ]]; then keda_start "${keda_dir}"; fi
  echo "${KUBECONFIG_PATH}"
}

prom_start() {
  command -v prometheus >/dev/null 2>&1 || die "prometheus is not on PATH (make cluster installs Debian's package)"
  rm -rf "${PROM_DIR}"
  mkdir -p "${PROM_DIR}/data" "${PROM_DIR}/targets"
  cat >"${PROM_DIR}/prometheus.yml" <<EOF
global: {scrape_interval: 2s, evaluation_interval: 2s}
scrape_configs:
  - job_name: showtime-load
    file_sd_configs: [{files: ["${PROM_DIR}/targets/*.json"], refresh_interval: 2s}]
EOF
  log "starting prometheus on 127.0.0.1:${PROM_PORT}"
  setsid prometheus --config.file="${PROM_DIR}/prometheus.yml" --storage.tsdb.path="${PROM_DIR}/data" \
    --web.listen-address="127.0.0.1:${PROM_PORT}" >"${PROM_DIR}/prometheus.log" 2>&1 </dev/null &
  echo $! >"${STATE}/prometheus.pid"
  wait_until 60 "prometheus ready" curl -fsS --max-time 2 "http://127.0.0.1:${PROM_PORT}/-/ready"
}

# Certificates for KEDA's gRPC (operator <-> adapter, mutual TLS) and the adapter's HTTPS,
# valid for the Service names the APIService uses and for 127.0.0.1.
keda_certs() {
  local d="${KEDA_DIR}/certs"
  mkdir -p "${d}"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bench-keda-ca" \
    -keyout "${d}/ca.key" -out "${d}/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=keda" -keyout "${d}/tls.key" -out "${d}/tls.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:keda-operator.keda.svc,DNS:keda-operator.keda.svc.cluster.local,DNS:keda-metrics-apiserver.keda.svc,DNS:keda-metrics-apiserver.keda.svc.cluster.local\nextendedKeyUsage=serverAuth,clientAuth\n' >"${d}/ext.cnf"
  openssl x509 -req -in "${d}/tls.csr" -CA "${d}/ca.crt" -CAkey "${d}/ca.key" -CAcreateserial \
    -days 2 -extfile "${d}/ext.cnf" -out "${d}/tls.crt" 2>/dev/null
}

keda_start() {
  local module="$1" start=${SECONDS}
  rm -rf "${KEDA_DIR}" && mkdir -p "${KEDA_DIR}"
  keda_certs
  log "applying KEDA ${KEDA_VERSION} CRDs and RBAC from ${module}/config"
  kc create namespace keda --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc apply --server-side -f "${module}/config/crd/bases" >/dev/null
  kc apply --server-side -f "${module}/config/rbac/role.yaml" >/dev/null
  "${PY}" -m benchmarks.burst.keda_manifests "${module}" "${KEDA_DIR}/certs/ca.crt" "${KEDA_ADAPTER}" |
    kc apply --server-side -f - >/dev/null
  wait_until 60 "KEDA CRDs established" kc wait --for=condition=Established crd/scaledobjects.keda.sh --timeout=5s
  log "starting keda-operator and keda-adapter (logs in ${KEDA_DIR})"
  (
    cd "${KEDA_DIR}"
    KUBECONFIG="${KUBECONFIG_PATH}" POD_NAMESPACE=keda KEDA_CLUSTER_OBJECT_NAMESPACE=keda WATCH_NAMESPACE="" \
      setsid "${EXTRAS_BIN_DIR}/keda-operator" --zap-log-level=info --zap-encoder=console \
      --enable-cert-rotation=false --cert-dir="${KEDA_DIR}/certs" \
      --metrics-bind-address="127.0.0.1:${KEDA_OP_METRICS}" \
      --health-probe-bind-address="127.0.0.1:${KEDA_OP_PROBE}" \
      --metrics-service-bind-address="127.0.0.1:${KEDA_GRPC}" \
      --enable-webhook-patching=false --enable-apiservice-patching=false \
      >"${KEDA_DIR}/operator.log" 2>&1 </dev/null &
    echo $! >"${STATE}/keda-operator.pid"
    KUBECONFIG="${KUBECONFIG_PATH}" POD_NAMESPACE=keda KEDA_CLUSTER_OBJECT_NAMESPACE=keda WATCH_NAMESPACE="" \
      setsid "${EXTRAS_BIN_DIR}/keda-adapter" --zap-log-level=info --zap-encoder=console \
      --secure-port="${KEDA_ADAPTER}" --bind-address=127.0.0.1 \
      --tls-cert-file="${KEDA_DIR}/certs/tls.crt" --tls-private-key-file="${KEDA_DIR}/certs/tls.key" \
      --cert-dir="${KEDA_DIR}/certs" \
      --lister-kubeconfig="${KUBECONFIG_PATH}" \
      --authentication-kubeconfig="${KUBECONFIG_PATH}" --authorization-kubeconfig="${KUBECONFIG_PATH}" \
      --metrics-service-address="127.0.0.1:${KEDA_GRPC}" \
      --port="${KEDA_ADAPTER_METRICS}" \
      >"${KEDA_DIR}/adapter.log" 2>&1 </dev/null &
    echo $! >"${STATE}/keda-adapter.pid"
  )
  wait_until 120 "KEDA's external.metrics.k8s.io APIService Available (see ${KEDA_DIR}/*.log)" \
    kc wait --for=condition=Available apiservice/v1beta1.external.metrics.k8s.io --timeout=5s
  log "KEDA up in $((SECONDS - start))s"
}

cmd_down() {
  stop_pidfile "${STATE}/keda-adapter.pid" keda-adapter
  stop_pidfile "${STATE}/keda-operator.pid" keda-operator
  stop_pidfile "${STATE}/prometheus.pid" "${PROM_DIR}/prometheus.yml"
  kwok_delete_cluster
}

cmd_env() {
  printf 'export KUBECONFIG=%q\n' "${KUBECONFIG_PATH}"
  printf 'export PATH=%q:"$PATH"\n' "${BIN_DIR}"
  printf 'export SHOWTIME_PROMETHEUS_URL=%q\n' "http://127.0.0.1:${PROM_PORT}"
  printf 'export SHOWTIME_PROM_TARGETS_DIR=%q\n' "${PROM_DIR}/targets"
  printf 'export BENCH_KEDA=%q\n' "${BENCH_KEDA}"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  keda-up) keda_start "$("${HERE}/build-extras.sh")" ;; # KEDA only, on a cluster already up
  *)
    echo "usage: $0 up|down|env" >&2
    exit 2
    ;;
esac
