# Pinned versions of the local cluster's components; sourced by the hack/ scripts.
# Changing a version here builds a new set into its own cache directory.
KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
SHOWTIME_CACHE="${SHOWTIME_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/showtime}"
BIN_DIR="${SHOWTIME_CACHE}/bin/k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
# The image's Python base where python:3.11-slim cannot be pulled (hack/image.sh):
# a Debian root filesystem with these packages; changing either builds a new base.
IMAGE_BASE_SUITE="${IMAGE_BASE_SUITE:-bookworm}"
IMAGE_BASE_PACKAGES="${IMAGE_BASE_PACKAGES:-python3,python3-venv,python3-pip,python-is-python3,ca-certificates}"
# Only `make bench-burst` (hack/build-extras.sh) builds these, never `make cluster`/`make test`:
# metrics-server (sigs.k8s.io/metrics-server) and KEDA (github.com/kedacore/keda/v2).
METRICS_SERVER_VERSION="${METRICS_SERVER_VERSION:-v0.9.0}"
KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
EXTRAS_BIN_DIR="${SHOWTIME_CACHE}/bin/metrics-server-${METRICS_SERVER_VERSION}_keda-${KEDA_VERSION}"
# Helm, built from its Go module by hack/build-helm.sh only when a chart test or target needs it.
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
HELM_BIN_DIR="${SHOWTIME_CACHE}/bin/helm-${HELM_VERSION}"
# prometheus-operator's CRDs (ServiceMonitor, PodMonitor, PrometheusRule) from its Go module,
# for checking the chart's monitoring objects against the API server (hack/monitoring-crds.sh).
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
# Karpenter with its KWOK cloud provider (sigs.k8s.io/karpenter/kwok), built by
# hack/build-karpenter.sh only for the node-capacity tests and benchmark. Its go directive
# asks for a newer Go than the machine's; the Go module proxy serves that toolchain.
KARPENTER_VERSION="${KARPENTER_VERSION:-v1.15.0}"
KARPENTER_GOTOOLCHAIN="${KARPENTER_GOTOOLCHAIN:-go1.26.9}"
KARPENTER_BIN_DIR="${SHOWTIME_CACHE}/bin/karpenter-${KARPENTER_VERSION}"
