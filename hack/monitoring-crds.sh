#!/usr/bin/env bash
# Prints the directory holding prometheus-operator's CRDs (monitoring.coreos.com) at
# PROMETHEUS_OPERATOR_VERSION (hack/versions.sh), taken from its Go module through the Go
# module proxy (the module cache keeps it; nothing is built). The chart tests install the
# ServiceMonitor, PodMonitor and PrometheusRule CRDs from there so that
# `kubectl apply --dry-run=server` can check the chart's monitoring objects.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"

die() { echo "monitoring-crds: $*" >&2; exit 1; }
command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH. Install Go 1.25 or newer, then retry."
module="github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR_VERSION}"
if ! json="$(GOFLAGS=-mod=mod go mod download -json "${module}")"; then
  die "'go mod download ${module}' failed. Check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and retry."
fi
dir="$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"${json}")"
crds="${dir}/example/prometheus-operator-crd"
[[ -d "${crds}" ]] || die "no CRDs at ${crds}"
echo "${crds}"
