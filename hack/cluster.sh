#!/usr/bin/env bash
# The local cluster: a real control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, etcd) run by `kwokctl --runtime binary` with KWOK-simulated nodes,
# plus a Prometheus server. Everything listens on 127.0.0.1 only. No Docker needed.
#
#   hack/cluster.sh up                 build binaries (once), start what is not running;
#                                      the last line printed is the kubeconfig path
#   hack/cluster.sh down               stop the cluster and Prometheus
#   hack/cluster.sh env                export lines for eval: KUBECONFIG, PATH, SHOWTIME_*
#   hack/cluster.sh status             say what runs; exit 1 unless everything is healthy
#   hack/cluster.sh prometheus-stop    stop Prometheus only (simulate a metrics outage)
#   hack/cluster.sh prometheus-start   start Prometheus only
#
# Settings (environment): SHOWTIME_APISERVER_PORT (default 31443),
# SHOWTIME_PROMETHEUS_PORT (default 9090), SHOWTIME_CACHE and versions (hack/versions.sh),
# KWOK_WORKDIR (kwokctl's state, default ~/.kwok).
# Progress goes to stderr; stdout carries only the kubeconfig path (up) or exports (env).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"
# shellcheck source=hack/lib/common.sh
source "${HERE}/lib/common.sh"
LOG_PREFIX="cluster"
KC_TIMEOUT=10s

CLUSTER_NAME="showtime"
export KWOK_WORKDIR="${KWOK_WORKDIR:-${HOME}/.kwok}"
KWOK_DIR="${KWOK_WORKDIR}/clusters/${CLUSTER_NAME}"
KUBECONFIG_PATH="${KWOK_DIR}/kubeconfig.yaml"
KWOK_CONFIG="${HERE}/cluster/kwok.yaml"
NODES_MANIFEST="${HERE}/cluster/nodes.yaml"
STATE_DIR="${SHOWTIME_CACHE}/clusters/${CLUSTER_NAME}"
# Fixed so the kubeconfig stays the same across restarts. Not 32xxx: kwokctl hands
# out the other components' ports counting down from 32767 and would collide.
APISERVER_PORT="${SHOWTIME_APISERVER_PORT:-31443}"
PROM_DIR="${SHOWTIME_CACHE}/prometheus"
PROM_TARGETS_DIR="${PROM_DIR}/targets"
PROM_PID_FILE="${PROM_DIR}/prometheus.pid"
PROM_PORT_FILE="${PROM_DIR}/port"
PROM_PORT="${SHOWTIME_PROMETHEUS_PORT:-9090}"
PROM_URL="http://127.0.0.1:${PROM_PORT}"

# Prints who listens on TCP port $1 (any address); fails when nobody does.
port_listeners() {
  local out
  out="$(ss -ltnpH "sport = :$1" 2>/dev/null || true)"
  [[ -n "${out}" ]] && echo "${out}"
}

# Serialise up/down/prometheus-* between concurrent callers (e.g. two `make e2e`).
# Daemons are started with fd 9 closed so that they do not inherit the lock.
take_lock() {
  mkdir -p "${STATE_DIR}"
  exec 9>"${STATE_DIR}/lock"
  flock -w 900 9 || die "another 'hack/cluster.sh' has held ${STATE_DIR}/lock for 15 minutes; if none runs (ps aux | grep cluster.sh), remove that file and retry."
}

# ---------------------------------------------------------------- kwok cluster

# Identifies what the running cluster was created from: config, binaries, port.
fingerprint() {
  { cat "${KWOK_CONFIG}" "${NODES_MANIFEST}"; echo "${BIN_DIR} ${APISERVER_PORT} ${KUBE_VERSION}"; } | sha256sum | cut -d' ' -f1
}

# none: no cluster; running: every component process alive; stale: leftovers.
cluster_state() {
  [[ -d "${KWOK_DIR}" ]] || { echo none; return; }
  local f n=0
  for f in "${KWOK_DIR}"/pids/*.pid; do
    [[ -e "$f" ]] || continue
    alive "$(cat "$f")" || { echo stale; return; }
    n=$((n + 1))
  done
  # etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok controller
  if ((n >= 5)); then echo running; else echo stale; fi
}

cluster_healthy() {
  [[ "$(cluster_state)" == running ]] || return 1
  [[ "$(cat "${STATE_DIR}/fingerprint" 2>/dev/null)" == "$(fingerprint)" ]] || return 1
  kc get --raw=/readyz >/dev/null 2>&1
}

cluster_delete() {
  [[ -d "${KWOK_DIR}" ]] || return 0
  log "deleting cluster ${CLUSTER_NAME} (${KWOK_DIR})"
  "${BIN_DIR}/kwokctl" --name "${CLUSTER_NAME}" delete cluster --kubeconfig "${KUBECONFIG_PATH}" >&2 ||
    die "'kwokctl delete cluster' failed. Kill the processes listed by 'hack/cluster.sh status', remove ${KWOK_DIR} and retry."
  rm -f "${STATE_DIR}/fingerprint"
}

cluster_create() {
  local owner
  if owner="$(port_listeners "${APISERVER_PORT}")"; then
    die "port ${APISERVER_PORT} (kube-apiserver) is already in use:
${owner}
Stop that process (kill <pid>), or choose another port: SHOWTIME_APISERVER_PORT=<port> make cluster"
  fi
  log "creating cluster ${CLUSTER_NAME} (kwokctl --runtime binary, kube-apiserver on 127.0.0.1:${APISERVER_PORT})"
  local rc=0
  kwok_create_cluster "${KWOK_CONFIG}" 100s || rc=$?
  if ((rc != 0)); then
    show_component_logs
    die "'kwokctl create cluster' failed (exit ${rc}); see above. Retry 'make cluster' (it cleans up first); 'make cluster-down' removes everything."
  fi
  fingerprint >"${STATE_DIR}/fingerprint"
}

# The last log lines of every component that is not running.
show_component_logs() {
  local f name
  for f in "${KWOK_DIR}"/pids/*.pid; do
    [[ -e "$f" ]] || continue
    name="$(basename "$f" .pid)"
    alive "$(cat "$f")" && continue
    log "${name} is not running; last lines of ${KWOK_DIR}/logs/${name}.log:"
    tail -n 8 "${KWOK_DIR}/logs/${name}.log" >&2 2>/dev/null || true
  done
}

wait_for_apiserver() {
  local deadline=$((SECONDS + 90))
  until kc get --raw=/readyz >/dev/null 2>&1; do
    if [[ "$(cluster_state)" != running ]] || ((SECONDS >= deadline)); then
      show_component_logs
      die "the control plane did not come up (see above and ${KWOK_DIR}/logs). Fix the cause, then run 'make cluster' again: it starts over from scratch."
    fi
    sleep 1
  done
}

ensure_nodes() {
  kc apply -f "${NODES_MANIFEST}" >/dev/null || die "could not create the kwok nodes from ${NODES_MANIFEST}"
  kc wait --for=condition=Ready node --all --timeout=60s >/dev/null ||
    die "the kwok nodes did not become Ready within 60s; see ${KWOK_DIR}/logs/kwok-controller.log"
  # Pods need the namespace's default ServiceAccount (admission is on).
  local deadline=$((SECONDS + 60))
  until kc -n default get serviceaccount default >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "the default ServiceAccount did not appear within 60s; see ${KWOK_DIR}/logs/kube-controller-manager.log"
    sleep 1
  done
}

# ------------------------------------------------------------------ prometheus

prom_pid() {
  local pid
  pid="$(cat "${PROM_PID_FILE}" 2>/dev/null || true)"
  # Only our own process counts: its command line names our config file.
  if alive "${pid}" && tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -qF -- "${PROM_DIR}/prometheus.yml"; then
    echo "${pid}"
  fi
}

prom_ready() { curl -fsS --max-time 2 "${PROM_URL}/-/ready" >/dev/null 2>&1; }

ensure_prometheus_installed() {
  command -v prometheus >/dev/null 2>&1 && return 0
  local how="apt-get install --no-install-recommends prometheus"
  command -v apt-get >/dev/null 2>&1 || die "'prometheus' is not on PATH and this is not a Debian/Ubuntu system. Install Prometheus 2.x so that 'prometheus' is on PATH, then retry."
  ((EUID == 0)) || die "'prometheus' is not on PATH. Install it ('sudo ${how}'), then retry."
  log "installing Debian's prometheus package (once)"
  # Keep the package's own service from starting (it would take port 9090 on all
  # addresses): policy-rc.d answering 101 forbids service starts during install.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [[ ! -e "${policy}" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"${policy}" && chmod +x "${policy}" && made_policy=1
  fi
  local rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } >&2 || rc=$?
  if ((made_policy)); then rm -f "${policy}"; fi
  ((rc == 0)) || die "'apt-get install prometheus' failed (exit ${rc}); fix apt (network, sources) or install it by hand ('${how}'), then retry."
  command -v prometheus >/dev/null 2>&1 || die "prometheus was installed but is not on PATH"
}

prom_write_config() {
  mkdir -p "${PROM_DIR}/data" "${PROM_TARGETS_DIR}"
  cat >"${PROM_DIR}/prometheus.yml" <<EOF
# Generated by hack/cluster.sh; edits are overwritten.
global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:${PROM_PORT}"]
  # Tests drop <name>.json files here: [{"targets": ["127.0.0.1:PORT"], "labels": {...}}]
  - job_name: showtime-load
    file_sd_configs:
      - files: ["${PROM_TARGETS_DIR}/*.json"]
        refresh_interval: 2s
EOF
}

prom_running() { [[ -n "$(prom_pid)" ]] && prom_ready; }

prom_check_port() {
  local owner
  if owner="$(port_listeners "${PROM_PORT}")"; then
    die "port ${PROM_PORT} (Prometheus) is already in use:
${owner}
Stop that process (for Debian's service: systemctl disable --now prometheus; otherwise kill <pid>),
or choose another port: SHOWTIME_PROMETHEUS_PORT=<port> make cluster"
  fi
}

prom_start() {
  if prom_running; then
    log "prometheus already running on ${PROM_URL}"
    return 0
  fi
  prom_stop
  prom_check_port
  prom_write_config
  log "starting prometheus on ${PROM_URL} (data and log in ${PROM_DIR})"
  setsid prometheus \
    --config.file="${PROM_DIR}/prometheus.yml" \
    --storage.tsdb.path="${PROM_DIR}/data" \
    --storage.tsdb.retention.time=2d \
    --web.listen-address="127.0.0.1:${PROM_PORT}" \
    --web.enable-lifecycle \
    >"${PROM_DIR}/prometheus.log" 2>&1 </dev/null 9>&- &
  local pid=$!
  echo "${pid}" >"${PROM_PID_FILE}"
  echo "${PROM_PORT}" >"${PROM_PORT_FILE}"
  local deadline=$((SECONDS + 60))
  until prom_ready; do
    if ! alive "${pid}"; then
      tail -n 10 "${PROM_DIR}/prometheus.log" >&2 || true
      die "prometheus exited at start; see ${PROM_DIR}/prometheus.log (above)"
    fi
    ((SECONDS < deadline)) || die "prometheus did not become ready within 60s; see ${PROM_DIR}/prometheus.log"
    sleep 0.5
  done
}

prom_stop() {
  local pid
  pid="$(prom_pid)"
  if [[ -n "${pid}" ]]; then
    log "stopping prometheus (pid ${pid})"
    kill "${pid}" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while alive "${pid}" && ((SECONDS < deadline)); do sleep 0.2; done
    if alive "${pid}"; then
      kill -9 "${pid}" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "${PROM_PID_FILE}"
}

# -------------------------------------------------------------------- commands

cmd_up() {
  take_lock
  "${HERE}/build-binaries.sh" >&2 || die "building the cluster binaries failed (see above)."
  ensure_prometheus_installed
  # Fail before touching the cluster when Prometheus cannot start.
  prom_running || [[ -n "$(prom_pid)" ]] || prom_check_port

  if cluster_healthy; then
    log "cluster ${CLUSTER_NAME} already up"
  else
    case "$(cluster_state)" in
      running) log "cluster ${CLUSTER_NAME} runs but is unhealthy or from another configuration; recreating" ;;
      stale) log "cluster ${CLUSTER_NAME} has dead processes (stale state from an earlier run); recreating" ;;
      none) ;;
    esac
    cluster_delete
    cluster_create
  fi
  wait_for_apiserver
  ensure_nodes
  prom_start
  log "ready: kube-apiserver https://127.0.0.1:${APISERVER_PORT}, prometheus ${PROM_URL}; use: eval \"\$(make -s env)\""
  echo "${KUBECONFIG_PATH}"
}

cmd_down() {
  take_lock
  if [[ -x "${BIN_DIR}/kwokctl" ]]; then
    cluster_delete
  elif [[ -d "${KWOK_DIR}" ]]; then
    die "${BIN_DIR}/kwokctl is missing, cannot delete ${KWOK_DIR}; run 'make cluster' once (builds it) or kill the processes in ${KWOK_DIR}/pids by hand."
  fi
  prom_stop
  log "cluster ${CLUSTER_NAME} and prometheus stopped"
}

cmd_env() {
  local port="${PROM_PORT}"
  if [[ -z "${SHOWTIME_PROMETHEUS_PORT:-}" && -s "${PROM_PORT_FILE}" ]]; then
    port="$(cat "${PROM_PORT_FILE}")"
  fi
  printf 'export KUBECONFIG=%q\n' "${KUBECONFIG_PATH}"
  printf 'export PATH=%q:"$PATH"\n' "${BIN_DIR}"
  printf 'export SHOWTIME_PROMETHEUS_URL=%q\n' "http://127.0.0.1:${port}"
  printf 'export SHOWTIME_PROM_TARGETS_DIR=%q\n' "${PROM_TARGETS_DIR}"
}

cmd_status() {
  local ok=0 f
  echo "kwok cluster ${CLUSTER_NAME}: $(cluster_state) (${KWOK_DIR})"
  for f in "${KWOK_DIR}"/pids/*.pid; do
    [[ -e "$f" ]] || continue
    if alive "$(cat "$f")"; then
      echo "  $(basename "$f" .pid): pid $(cat "$f") running"
    else
      echo "  $(basename "$f" .pid): pid $(cat "$f") DEAD"
    fi
  done
  if [[ -x "${BIN_DIR}/kubectl" ]] && kc get --raw=/readyz >/dev/null 2>&1; then
    echo "kube-apiserver: ready (https://127.0.0.1:${APISERVER_PORT})"
    kc get nodes --no-headers 2>/dev/null | sed 's/^/  node /' || true
  else
    echo "kube-apiserver: NOT ready"
    ok=1
  fi
  if prom_running; then
    echo "prometheus: ready (${PROM_URL}, pid $(prom_pid))"
  else
    echo "prometheus: NOT running"
    ok=1
  fi
  [[ "$(cluster_state)" == running ]] || ok=1
  return "${ok}"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status ;;
  prometheus-start)
    take_lock
    ensure_prometheus_installed
    prom_start
    ;;
  prometheus-stop)
    take_lock
    prom_stop
    ;;
  *)
    echo "usage: $0 up|down|env|status|prometheus-start|prometheus-stop" >&2
    exit 2
    ;;
esac
