#!/usr/bin/env bash
# `make demo` / `make demo-down`: Showtime on the local cluster, with something to watch.
#
#   hack/demo.sh up     the local cluster (hack/cluster.sh up), the CRD, namespace demo with
#                       Deployment lecture-api (2 replicas, pods Ready after 15 s), a load
#                       source scraped by the local Prometheus, the operator (`showtime run`
#                       for namespace demo) in the background, and TrafficEvent lecture
#                       (examples/demo-event.yaml) starting about 3 minutes from now.
#                       Idempotent: what runs already is kept; a finished event is renewed.
#   hack/demo.sh down   delete the TrafficEvent (the operator hands lecture-api back),
#                       stop the operator and the load source, delete namespace demo.
#                       The cluster keeps running (make cluster-down stops it).
#
# Logs and pid files: ${SHOWTIME_CACHE}/demo/ (default ~/.cache/showtime/demo).
# Settings: SHOWTIME_DEMO_LEAD_IN (seconds until the event starts, default 180),
# SHOWTIME_DEMO_METRICS_PORT (the operator's metrics, default 9102).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/.." && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"

NS=demo
EVENT=lecture
DEMO_DIR="${SHOWTIME_CACHE}/demo"
PYTHON="${SHOWTIME_PYTHON:-${REPO}/.venv/bin/python}"
LEAD_IN="${SHOWTIME_DEMO_LEAD_IN:-180}"
METRICS_PORT="${SHOWTIME_DEMO_METRICS_PORT:-9102}"
OPERATOR_PID="${DEMO_DIR}/operator.pid"
LOAD_PID="${DEMO_DIR}/loadsource.pid"

log() { echo "demo: $*" >&2; }
die() {
  echo "demo: ERROR: $*" >&2
  exit 1
}
alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# The pid in file $1 if that process is alive and its command line contains $2.
running_pid() {
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  if alive "${pid}" && tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -qF -- "$2"; then
    echo "${pid}"
  fi
}

stop_pid_file() { # $1 pid file, $2 command-line marker, $3 what
  local pid
  pid="$(running_pid "$1" "$2")"
  if [[ -n "${pid}" ]]; then
    log "stopping the $3 (pid ${pid})"
    kill "${pid}" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while alive "${pid}" && ((SECONDS < deadline)); do sleep 0.2; done
    alive "${pid}" && kill -9 "${pid}" 2>/dev/null || true
  fi
  rm -f "$1"
}

use_cluster() {
  eval "$("${HERE}/cluster.sh" env)"
  kubectl get --raw=/readyz >/dev/null 2>&1 || die "the local cluster is not up; run 'make cluster' (or 'make demo')"
}

create_workload() {
  if [[ "$(kubectl get namespace "${NS}" -o jsonpath='{.status.phase}' 2>/dev/null)" == Terminating ]]; then
    log "namespace ${NS} is still being deleted (an earlier demo-down); waiting"
    kubectl wait --for=delete "namespace/${NS}" --timeout=120s >/dev/null ||
      die "namespace ${NS} was not deleted within 120s; see: kubectl get namespace ${NS} -o yaml"
  fi
  kubectl create namespace "${NS}" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  if ! kubectl -n "${NS}" get deployment lecture-api >/dev/null 2>&1; then
    log "creating Deployment ${NS}/lecture-api (2 replicas, pods Ready after 15 s)"
    # Created once, never re-applied: while Showtime holds it, its replicas are Showtime's.
    kubectl -n "${NS}" create -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: lecture-api
  labels: {app: lecture-api}
spec:
  replicas: 2
  selector:
    matchLabels: {app: lecture-api}
  template:
    metadata:
      labels: {app: lecture-api}
      annotations:
        pod-ready.stage.kwok.x-k8s.io/delay: "15000"
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: api
          image: registry.k8s.io/pause:3.10
YAML
  fi
  log "waiting for lecture-api to be Ready (its pods teach Showtime the lead time)"
  kubectl -n "${NS}" rollout status deployment/lecture-api --timeout=120s >/dev/null ||
    die "lecture-api did not become Ready within 120s; see: kubectl -n ${NS} describe deployment lecture-api"
}

start_load_source() { # $1: JSON profile
  if [[ -n "$(running_pid "${LOAD_PID}" tools.loadsource)" ]]; then
    log "load source already running (pid $(cat "${LOAD_PID}"))"
    return 0
  fi
  [[ -n "${SHOWTIME_PROM_TARGETS_DIR:-}" ]] || die "SHOWTIME_PROM_TARGETS_DIR is not set by hack/cluster.sh env"
  mkdir -p "${SHOWTIME_PROM_TARGETS_DIR}"
  log "starting the load source (http_requests_total{namespace=\"${NS}\",service=\"lecture-api\"})"
  setsid "${PYTHON}" -m tools.loadsource --port 0 \
    --labels "namespace=${NS},service=lecture-api" \
    --profile "$1" \
    --register "${SHOWTIME_PROM_TARGETS_DIR}" --name demo-lecture-api \
    >"${DEMO_DIR}/loadsource.out" 2>"${DEMO_DIR}/loadsource.log" </dev/null &
  local pid=$!
  echo "${pid}" >"${LOAD_PID}"
  local deadline=$((SECONDS + 20))
  until grep -q '^LISTENING ' "${DEMO_DIR}/loadsource.out" 2>/dev/null; do
    alive "${pid}" || die "the load source exited; see ${DEMO_DIR}/loadsource.log"
    ((SECONDS < deadline)) || die "the load source did not start within 20s; see ${DEMO_DIR}/loadsource.log"
    sleep 0.2
  done
}

# Prometheus has scraped the load source at least once (else the first tick would report
# MetricsAvailable=False, correctly but confusingly for a demo).
wait_for_series() {
  local url="${SHOWTIME_PROMETHEUS_URL}/api/v1/query" deadline=$((SECONDS + 60))
  until curl -fsS --max-time 2 -G "${url}" --data-urlencode "query=http_requests_total{namespace=\"${NS}\"}" 2>/dev/null |
    grep -q '"result":\[{'; do
    ((SECONDS < deadline)) || die "Prometheus (${SHOWTIME_PROMETHEUS_URL}) has not scraped the load source within 60s; see ${DEMO_DIR}/loadsource.log and hack/cluster.sh status"
    sleep 1
  done
}

start_operator() {
  if [[ -n "$(running_pid "${OPERATOR_PID}" "showtime.cli run")" ]]; then
    log "operator already running (pid $(cat "${OPERATOR_PID}"))"
    return 0
  fi
  log "starting the operator for namespace ${NS} (log: ${DEMO_DIR}/operator.log)"
  SHOWTIME_NAMESPACE="${NS}" \
    SHOWTIME_TICK=5s \
    SHOWTIME_LOG_FORMAT=console \
    SHOWTIME_METRICS_PORT="${METRICS_PORT}" \
    SHOWTIME_LIVENESS_PORT=0 \
    setsid "${PYTHON}" -m showtime.cli run >>"${DEMO_DIR}/operator.log" 2>&1 </dev/null &
  local pid=$!
  echo "${pid}" >"${OPERATOR_PID}"
  # Up once it serves its metrics; bounded.
  local deadline=$((SECONDS + 30))
  until curl -fsS --max-time 2 "http://127.0.0.1:${METRICS_PORT}/metrics" >/dev/null 2>&1; do
    if ! alive "${pid}"; then
      tail -n 20 "${DEMO_DIR}/operator.log" >&2 || true
      die "the operator exited at start; see ${DEMO_DIR}/operator.log (above)"
    fi
    ((SECONDS < deadline)) || die "the operator did not serve http://127.0.0.1:${METRICS_PORT}/metrics within 30s; see ${DEMO_DIR}/operator.log"
    sleep 0.5
  done
}

apply_event() {
  local phase
  if phase="$(kubectl -n "${NS}" get trafficevent "${EVENT}" -o jsonpath='{.status.phase}' 2>/dev/null)" &&
    [[ "${phase}" != "Completed" ]]; then
    log "TrafficEvent ${NS}/${EVENT} exists (phase ${phase:-not yet set}); keeping it"
    return 0
  fi
  local start
  start="$(date -u -d "@$(($(date +%s) + LEAD_IN))" +%Y-%m-%dT%H:%M:%SZ)"
  log "applying TrafficEvent ${NS}/${EVENT}, starting ${start}"
  sed "s/^\(    start: \)\"[^\"]*\"/\1\"${start}\"/" "${REPO}/examples/demo-event.yaml" |
    kubectl -n "${NS}" apply --server-side --force-conflicts -f - >/dev/null
}

cmd_up() {
  [[ -x "${PYTHON}" ]] || die "${PYTHON} not found; run 'make venv' (make demo does)"
  mkdir -p "${DEMO_DIR}"
  "${HERE}/cluster.sh" up >/dev/null
  use_cluster
  log "applying the CRD"
  kubectl apply --server-side -f "${REPO}/crds/trafficevent.yaml" >/dev/null
  kubectl wait --for=condition=Established crd/trafficevents.showtime.dev --timeout=60s >/dev/null
  create_workload
  # A modest 150 requests/s now; 1500/s (over a minute) when the event starts; back to
  # 150/s when it ends. Below the floor's 8 replicas until the start, then above it.
  local end=$((LEAD_IN + 300))
  start_load_source "[{\"at\": 0, \"rate\": 150}, {\"at\": ${LEAD_IN}, \"rate\": 1500, \"ramp\": 60}, {\"at\": ${end}, \"rate\": 150, \"ramp\": 60}]"
  wait_for_series
  start_operator
  apply_event
  cat <<EOF_HELP

Showtime demo is running: TrafficEvent ${NS}/${EVENT} pre-warms Deployment lecture-api.
Watch it:

  eval "\$(make -s env)"
  kubectl get te -n ${NS} -w                 # PHASE, NEXT START, READY (add -o wide: LEAD, DESIRED)
  kubectl describe te -n ${NS}               # status, conditions and events
  kubectl get deployment lecture-api -n ${NS} -w

Operator log: ${DEMO_DIR}/operator.log    metrics: http://127.0.0.1:${METRICS_PORT}/metrics
Stop it: make demo-down
EOF_HELP
}

cmd_down() {
  mkdir -p "${DEMO_DIR}"
  if "${HERE}/cluster.sh" status >/dev/null 2>&1; then
    eval "$("${HERE}/cluster.sh" env)"
    if kubectl -n "${NS}" get trafficevent "${EVENT}" >/dev/null 2>&1; then
      if [[ -n "$(running_pid "${OPERATOR_PID}" "showtime.cli run")" ]]; then
        log "deleting TrafficEvent ${NS}/${EVENT}; the operator hands lecture-api back"
        kubectl -n "${NS}" delete trafficevent "${EVENT}" --timeout=60s >/dev/null ||
          log "the TrafficEvent was not deleted within 60s (see ${DEMO_DIR}/operator.log)"
      else
        # No operator to release its finalizer: remove it so the delete completes.
        kubectl -n "${NS}" patch trafficevent "${EVENT}" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null || true
        kubectl -n "${NS}" delete trafficevent "${EVENT}" --timeout=60s >/dev/null || true
      fi
    fi
    kubectl delete namespace "${NS}" --ignore-not-found --wait=false >/dev/null || true
  fi
  stop_pid_file "${OPERATOR_PID}" "showtime.cli run" operator
  stop_pid_file "${LOAD_PID}" tools.loadsource "load source"
  log "demo stopped (the cluster keeps running; make cluster-down stops it)"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
