# Showtime developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help
help: ## list targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

$(BIN)/showtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

.PHONY: venv
venv: $(BIN)/showtime ## create .venv with showtime and its dev tools

.PHONY: lint
lint: venv ## ruff and mypy --strict
	$(BIN)/ruff check operator tests benchmarks tools
	$(BIN)/ruff format --check operator tests benchmarks tools
	$(BIN)/mypy

.PHONY: unit
unit: venv ## unit and property tests (no cluster)
	@# The chart tests need helm: build it (once, into the cache) outside pytest's timeouts.
	@hack/build-helm.sh >/dev/null
	$(BIN)/pytest tests/unit -q

E2E_WORKERS ?= 4
.PHONY: e2e
e2e: venv cluster ## e2e tests on the local cluster: E2E_WORKERS xdist workers, then the serial ones alone
	eval "$$(hack/cluster.sh env)" && E2E_WORKERS=$(E2E_WORKERS) hack/e2e.sh

N ?= 3
.PHONY: e2e-repeat
e2e-repeat: venv cluster ## the e2e suite N times (N=3) on the same cluster, then failures per test
	eval "$$(hack/cluster.sh env)" && E2E_WORKERS=$(E2E_WORKERS) hack/e2e-repeat.sh $(N)

.PHONY: image
image: ## build the operator image showtime:dev (Docker if its daemon runs, else buildah, no daemon; hack/image.sh)
	@hack/image.sh

.PHONY: test
test: karpenter-prebuild lint unit e2e ## the whole suite: lint, unit, then e2e on the local cluster

# Karpenter (for the node-capacity e2e test) builds in the background, nice'd, while lint
# and unit tests run; the test's `hack/karpenter-cluster.sh up` waits for it. Log:
# $(SHOWTIME_CACHE)/build-karpenter.log. Nothing to do once it is in the cache.
.PHONY: karpenter-prebuild
karpenter-prebuild:
	@cache="$${SHOWTIME_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/showtime}"; mkdir -p "$$cache"; \
	  nohup nice -n 19 hack/build-karpenter.sh >/dev/null 2>"$$cache/build-karpenter.log" </dev/null &

.PHONY: helm
helm: ## build helm from its Go module into the cache (hack/build-helm.sh; once, a few minutes); prints its path
	@hack/build-helm.sh

.PHONY: chart-sync
chart-sync: venv ## generate the chart's CRD, dashboard and alerts (and deploy/monitoring/prometheusrule.yaml) from their sources
	$(BIN)/python hack/sync-chart.py

.PHONY: chart-check
chart-check: venv ## helm lint and template of charts/showtime, promtool tests of the alerts and the dashboard's queries
	$(BIN)/pytest tests/unit/test_chart.py tests/unit/test_alerts.py tests/unit/test_alerts_dashboard.py -q

.PHONY: cluster
cluster: ## bring up the local control plane (kwok) and Prometheus; prints the kubeconfig path last
	@hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## stop the local cluster and Prometheus
	@hack/cluster.sh down

.PHONY: env
env: ## print export lines (KUBECONFIG, PATH with kubectl): eval "$$(make -s env)"
	@hack/cluster.sh env

.PHONY: kind
kind: ## create a kind cluster from kind-config.yaml (needs Docker and kind)
	kind create cluster --name showtime --config kind-config.yaml

.PHONY: demo
demo: venv cluster ## local cluster, Prometheus, the operator and a TrafficEvent starting in ~3 min to watch
	@hack/demo.sh up

.PHONY: demo-down
demo-down: ## stop the demo's operator and load source, delete namespace demo (the cluster stays up)
	@hack/demo.sh down

.PHONY: bench
bench: venv cluster ## benchmarks that print numbers: a tick over 1,000 events (in memory, then on the local cluster)
	$(BIN)/python -m benchmarks.tick_scale
	$(BIN)/python -m benchmarks.pod_cache
	eval "$$(hack/cluster.sh env)" && $(BIN)/python -m benchmarks.tick_scale --cluster

BENCH_BURST_ARGS ?=
.PHONY: bench-burst
bench-burst: venv ## HPA, KEDA and Showtime side by side on a second, throw-away kwok cluster (~30 min; not in make test)
	@$(BIN)/python -c 'import matplotlib' 2>/dev/null || $(BIN)/pip install -q matplotlib
	@trap 'hack/bench-cluster.sh down' EXIT INT TERM; \
	  hack/bench-cluster.sh up >/dev/null && \
	  eval "$$(hack/bench-cluster.sh env)" && \
	  $(BIN)/python -m benchmarks.burst --out $${SHOWTIME_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/showtime}/bench/result $(BENCH_BURST_ARGS)

DRILLS ?=
DRILLS_ARGS ?=
.PHONY: drills
drills: venv ## reliability drills R1-R5, R7 on a throw-away kwok cluster (~45 min; not in make test); DRILLS=R1,R3 runs some
	@trap 'hack/drill-cluster.sh down' EXIT INT TERM; \
	  hack/drill-cluster.sh up >/dev/null && \
	  eval "$$(hack/drill-cluster.sh env)" && \
	  $(BIN)/python -m benchmarks.drills --drills "$(DRILLS)" --out $${SHOWTIME_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/showtime}/drills/table.md $(DRILLS_ARGS)

.PHONY: drill-scale
drill-scale: venv ## scale drill R6 on its own kwok cluster: 2,000 events, 5,000 Deployments, 50,000 pods (~1 h the first time: 50,000 pods; SCALE_KEEP=1 keeps the cluster for reruns)
	@trap '[[ "$${SCALE_KEEP:-0}" == 1 ]] || hack/scale-cluster.sh down' EXIT INT TERM; \
	  hack/scale-cluster.sh up >/dev/null && \
	  eval "$$(hack/scale-cluster.sh env)" && \
	  $(BIN)/python -m benchmarks.scale_drill --out $${SHOWTIME_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/showtime}/scale/r6.md $(SCALE_ARGS)

.PHONY: karpenter-up
karpenter-up: venv ## a third kwok cluster with Karpenter's KWOK provider (hack/karpenter-cluster.sh; builds Karpenter once); prints its kubeconfig
	@hack/karpenter-cluster.sh up

.PHONY: karpenter-down
karpenter-down: ## stop Karpenter and delete its cluster
	@hack/karpenter-cluster.sh down

BENCH_NODECAPACITY_ARGS ?=
.PHONY: bench-nodecapacity
bench-nodecapacity: venv ## node pre-warm with and without, on the Karpenter cluster: the with/without table (~5 min; not in make test)
	$(BIN)/python -m benchmarks.nodecapacity $(BENCH_NODECAPACITY_ARGS)
