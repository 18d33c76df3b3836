"""Reactive scaling end to end: a load source, the real Prometheus, the real operator.

The load source serves ``http_requests_total`` whose rate follows a profile; the local
Prometheus scrapes it every 2 s; the operator (ticking every second) scales the target to
``ceil(rate / targetPerReplica)`` above the floor, and scale-down follows ``scaleDown``.
"""

from __future__ import annotations

import itertools
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
    event_count,
    event_reasons,
    iso,
    make_deployment,
    replicas,
    soon,
    status,
    wait_condition,
)
from tests.support.wait import wait_for, wait_settled

pytestmark = pytest.mark.e2e

TICK, SCRAPE, WINDOW = 1.0, 2.0, 10.0
BASELINE = 80  # requests/s: 1.6 replicas at 50 per replica, well inside the floor of 2
# Burst rates sit mid-way between replica counts: a rate on the edge (800/s = 16.0
# replicas) flips between 16 and 17 with the jitter of scrape timestamps.
BURST, BURST_REPLICAS = 775, 16  # 15.5 replicas
OUTAGE_LOAD, OUTAGE_REPLICAS = 575, 12  # 11.5 replicas
SLACK = 20.0
SETTLE = 5 * TICK  # "settled": unchanged for five ticks (two and a half scrapes)
STABILIZATION = 10.0  # the events' scaleDown.stabilizationWindow, in seconds


def max_step(before: int, percent: int = 50) -> int:
    """The most one scale-down step may remove: the share (rounded down), at least one."""
    return max(1, before * percent // 100)


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
        "scaleDown": {"stabilizationWindow": f"{STABILIZATION:.0f}s", "maxPercentPerMinute": 50},
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
    load.set_profile({"rate": BURST})
    wait_for(
        lambda: replicas(apps_v1, namespace, "api") >= BURST_REPLICAS,
        interval=0.2,
        timeout=2 * TICK + SCRAPE + WINDOW + SLACK,
        message="scaled for the burst",
    )
    took = time.monotonic() - stepped
    print(
        f"load step -> scale write: {took:.1f}s (tick {TICK}s, scrape {SCRAPE}s, "
        f"rate window {WINDOW}s)"
    )
    # The rate window is still sliding: the count may go on rising. Judge the scale-down
    # only from a settled count, once the whole window holds the burst.
    wait_for(
        lambda: sample_near(custom, namespace, BURST),
        timeout=WINDOW + SCRAPE + SLACK,
        message="the burst visible in status",
    )
    top = wait_settled(
        lambda: replicas(apps_v1, namespace, "api"),
        quiet=SETTLE,
        timeout=WINDOW + SETTLE + SLACK,
        interval=0.2,
        message="the replica count under the burst",
    )
    assert top == BURST_REPLICAS, f"settled at {top}, not ceil({BURST}/50)"
    target = status(custom, namespace, "lecture")["targets"][0]
    assert target["reason"] == "Metric"

    # The load falls back: down only after the stabilization window, by at most 50 % a
    # minute. Only decreases are steps; the sequence is printed whole.
    load.set_profile({"rate": BASELINE})
    dropped_at = time.monotonic()
    seen: list[tuple[float, int]] = [(dropped_at, top)]  # (when, count) at each change

    def steps_down() -> list[tuple[float, int, int]]:
        now = replicas(apps_v1, namespace, "api")
        if now != seen[-1][1]:
            seen.append((time.monotonic(), now))
        return [
            (at, before, after)
            for (_, before), (at, after) in itertools.pairwise(seen)
            if after < before
        ]

    wait_for(
        lambda: len(steps_down()) >= 2,
        timeout=STABILIZATION + WINDOW + 60 + 3 * SLACK,
        interval=0.2,
        message="two scale-down steps",
    )
    downs = steps_down()
    sequence = " -> ".join(str(n) for _, n in seen)
    gaps = [f"{at - dropped_at:.1f}s" for at, _ in seen[1:]]
    print(f"after the drop: {sequence} (at {', '.join(gaps)} after it)")
    for _, before, after in downs[:2]:
        assert before - after <= max_step(before), f"{before} -> {after}: more than 50 %"
    (first_at, _, _), (second_at, _, _) = downs[:2]
    # Not before the stabilization window has passed (less a second: the operator's clock
    # counts whole seconds).
    assert first_at - dropped_at >= STABILIZATION - 1, sequence
    # One step a minute (less the whole-second clock and the 0.2 s poll).
    assert second_at - first_at >= 60 - 1.5, sequence


@pytest.mark.serial  # stops the Prometheus every other test reads
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
    load.set_profile({"rate": OUTAGE_LOAD})
    live_event(custom, namespace, query(service))
    wait_for(
        lambda: sample_near(custom, namespace, OUTAGE_LOAD),
        timeout=60,
        message="the load visible in status",
    )
    # "Unchanged during the outage" means something only from a count that had stopped
    # moving before it (the rate window slides for a while after the load step).
    held = wait_settled(
        lambda: replicas(apps_v1, namespace, "api"),
        quiet=SETTLE,
        timeout=WINDOW + SETTLE + SLACK,
        interval=0.2,
        message="the replica count on the metric",
    )
    assert held == OUTAGE_REPLICAS, f"settled at {held}, not ceil({OUTAGE_LOAD}/50)"
    warned_before = event_count(core_v1, namespace, "lecture", "MetricsUnavailable")
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
        warned = event_count(core_v1, namespace, "lecture", "MetricsUnavailable")
        assert warned == warned_before + 1
    finally:
        subprocess.run(
            [str(REPO_ROOT / "hack/cluster.sh"), "prometheus-start"], check=True, timeout=120
        )
    wait_condition(custom, namespace, "lecture", "MetricsAvailable", "True", timeout=60)


def test_invalid_query_shows_query_invalid_and_keeps_only_the_floor(
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
    # The operator posts its Events after the status write of the same tick.
    wait_for(
        lambda: "QueryInvalid" in event_reasons(core_v1, namespace, "lecture"),
        timeout=10,
        message="a QueryInvalid Event",
    )
    # Only the target's reactive part is off: the schedule's floor still happens.
    wait_for(lambda: replicas(apps_v1, namespace, "api") == 2, timeout=10, message="the floor")
    target = status(custom, namespace, "lecture")["targets"][0]
    assert target["reason"] == "Floor", target
