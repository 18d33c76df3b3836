"""Reactive scaling end to end: a load source, the real Prometheus, the real operator.

The load source serves ``http_requests_total`` whose rate follows a profile; the local
Prometheus scrapes it every 2 s; the operator (ticking every second) scales the target to
``ceil(rate / targetPerReplica)`` above the floor, and scale-down follows ``scaleDown``.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.loadsource import LoadSourceProcess, load_source
from tests.support.operator import REPO_ROOT, OperatorProcess
from tests.support.trafficevents import (
    condition,
    create_event,
    event_reasons,
    iso,
    make_deployment,
    replicas,
    soon,
    status,
    wait_condition,
)
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

TICK, SCRAPE, WINDOW = 1.0, 2.0, 10.0
BASELINE = 80  # requests/s: 1.6 replicas at 50 per replica, well inside the floor of 2
SLACK = 20.0


@pytest.fixture
def service() -> str:
    return f"svc-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def load(service: str) -> Iterator[LoadSourceProcess]:
    with load_source(labels={"service": service}, profile={"rate": BASELINE}, register=True) as src:
        yield src


def query(service: str) -> str:
    return f'sum(rate(http_requests_total{{service="{service}"}}[{int(WINDOW)}s]))'


def live_event(custom: Any, namespace: str, metric_query: str, **overrides: Any) -> None:
    spec = {
        "schedule": {"start": iso(soon(2)), "duration": "30m"},
        "leadTime": "5s",
        "scaleDown": {"stabilizationWindow": "10s", "maxPercentPerMinute": 50},
        "targets": [
            {
                "name": "api",
                "replicas": 2,
                "maxReplicas": 30,
                "metric": {"query": metric_query, "targetPerReplica": 50},
            }
        ],
    }
    spec.update(overrides)
    create_event(custom, namespace, "lecture", spec)


def sample_near(custom: Any, namespace: str, value: float) -> bool:
    targets = status(custom, namespace, "lecture").get("targets") or []
    metric = targets[0].get("metric") if targets else None
    return metric is not None and abs(metric["value"] - value) <= 0.15 * value


def test_burst_scales_up_and_the_drop_scales_down_by_the_rules(
    operator: OperatorProcess,
    namespace: str,
    apps_v1: Any,
    custom: Any,
    load: LoadSourceProcess,
    service: str,
) -> None:
    make_deployment(apps_v1, namespace, "api", 1)
    live_event(custom, namespace, query(service))
    wait_for(
        lambda: sample_near(custom, namespace, BASELINE),
        timeout=60,
        message="the baseline visible in status",
    )
    assert replicas(apps_v1, namespace, "api") == 2  # the floor: the metric asks for less

    stepped = time.monotonic()
    load.set_profile({"rate": 10 * BASELINE})
    wait_for(
        lambda: replicas(apps_v1, namespace, "api") >= 16,
        interval=0.2,
        timeout=2 * TICK + SCRAPE + WINDOW + SLACK,
        message="scaled for the 10x burst",
    )
    took = time.monotonic() - stepped
    print(
        f"load step -> scale write: {took:.1f}s (tick {TICK}s, scrape {SCRAPE}s, "
        f"rate window {WINDOW}s)"
    )
    target = status(custom, namespace, "lecture")["targets"][0]
    assert target["reason"] == "Metric"

    # The load falls back: down only after the stabilization window, by at most 50 % a minute.
    load.set_profile({"rate": BASELINE})
    seen: list[tuple[float, int]] = [(time.monotonic(), replicas(apps_v1, namespace, "api"))]

    def two_steps_down() -> bool:
        now = replicas(apps_v1, namespace, "api")
        if now != seen[-1][1]:
            seen.append((time.monotonic(), now))
        return len(seen) >= 3

    wait_for(two_steps_down, timeout=150, interval=0.5, message="two scale-down steps")
    (dropped_at, top), (first_at, first), (second_at, second) = seen[:3]
    print(f"scale-down steps: {top} -> {first} -> {second}, {second_at - first_at:.0f}s apart")
    # The rate window slides, so the wish may fall gradually; each step still removes at
    # most 50 % of the current replicas, and steps are a minute apart.
    assert top > first >= top - (top + 1) // 2
    assert first_at - dropped_at >= 10  # not before the stabilization window has passed
    assert second >= first - (first + 1) // 2
    assert second_at - first_at >= 55  # one step a minute


def test_prometheus_outage_holds_replicas_and_recovers(
    operator: OperatorProcess,
    namespace: str,
    apps_v1: Any,
    core_v1: Any,
    custom: Any,
    load: LoadSourceProcess,
    service: str,
) -> None:
    make_deployment(apps_v1, namespace, "api", 1)
    load.set_profile({"rate": 600})
    live_event(custom, namespace, query(service))
    wait_for(
        lambda: replicas(apps_v1, namespace, "api") >= 12,
        timeout=60,
        message="scaled on the metric",
    )
    held = replicas(apps_v1, namespace, "api")
    warned_before = event_reasons(core_v1, namespace, "lecture").count("MetricsUnavailable")
    subprocess.run([str(REPO_ROOT / "hack/cluster.sh"), "prometheus-stop"], check=True, timeout=60)
    try:
        cond = wait_condition(custom, namespace, "lecture", "MetricsAvailable", "False", timeout=30)
        assert cond["reason"] in {"PrometheusUnreachable", "QueryTimeout"}
        # Missing data is not zero: several ticks later the replicas are unchanged.
        load.set_profile({"rate": 0})
        deadline = time.monotonic() + 5 * TICK
        while time.monotonic() < deadline:
            assert replicas(apps_v1, namespace, "api") == held
            time.sleep(0.5)
        # One Warning for this outage, however many ticks it lasts.
        warned = event_reasons(core_v1, namespace, "lecture").count("MetricsUnavailable")
        assert warned == warned_before + 1
    finally:
        subprocess.run(
            [str(REPO_ROOT / "hack/cluster.sh"), "prometheus-start"], check=True, timeout=120
        )
    wait_condition(custom, namespace, "lecture", "MetricsAvailable", "True", timeout=60)


def test_invalid_query_shows_query_invalid_and_scales_nothing(
    operator: OperatorProcess,
    namespace: str,
    apps_v1: Any,
    core_v1: Any,
    custom: Any,
) -> None:
    make_deployment(apps_v1, namespace, "api", 1)
    live_event(custom, namespace, "sum(rate(http_requests_total[1m]")
    cond = wait_condition(custom, namespace, "lecture", "MetricsAvailable", "False", timeout=30)
    assert cond["reason"] == "QueryInvalid"
    ready = condition(custom, namespace, "lecture", "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "QueryInvalid")
    assert "QueryInvalid" in event_reasons(core_v1, namespace, "lecture")
    assert replicas(apps_v1, namespace, "api") == 1
