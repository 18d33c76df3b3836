"""Deterministic kill points: an operator killed after its N-th write, for every N of a tick.

Each scenario runs a tick once uninterrupted to count its writes, then for every N builds
the same cluster, kills the operator after N writes, restarts it (a new reconciler over
the same cluster), and checks the end state equals the uninterrupted one: nothing of the
pre-event state is lost between the annotation write and the count write, and nothing is
written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from showtime.shell.reconciler import Reconciler
from tests.support.fakes import Clock, FakeCluster, FakeMetrics
from tests.support.faults import FailingGateway, OperatorKilled

START = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)


def spec(replicas: int, start: str = "2026-12-31T12:00:00Z") -> dict[str, Any]:
    return {
        "schedule": {"start": start, "duration": "1h"},
        "leadTime": "5m",
        "cooldown": "0s",
        "scaleDown": {"stabilizationWindow": "0s", "maxPercentPerMinute": 50},
        "targets": [
            {"name": "api", "replicas": replicas, "maxReplicas": 40},
            {"name": "web", "replicas": replicas, "maxReplicas": 40},
        ],
    }


def take_hold() -> FakeCluster:
    """Two events take hold at once; ``web`` is under an HPA (annotate, then raise its min)."""
    cluster = FakeCluster()
    cluster.add_deployment("api", 2)
    cluster.add_deployment("web", 3)
    cluster.add_hpa("web", 3, 30)
    cluster.add_event("speech", spec(10))
    cluster.add_event("lecture", spec(12))
    return cluster


def hand_back() -> FakeCluster:
    """The events are over: ``api`` steps down, ``web``'s HPA minimum is restored."""
    cluster = take_hold()
    tick(cluster, START + timedelta(minutes=1))
    cluster.events.clear()
    return cluster


def tick(cluster: Any, now: datetime) -> None:
    reconciler = Reconciler(
        cluster, FakeMetrics(), default_lead_time=timedelta(minutes=5), clock=Clock(now)
    )
    asyncio.run(reconciler.tick())


def state(cluster: FakeCluster) -> Any:
    return (
        {k: (w["spec"], w["metadata"].get("annotations")) for k, w in cluster.workloads.items()},
        {k: h["spec"] for k, h in cluster.hpas.items()},
        {k: e.get("status", {}).get("targets") for k, e in cluster.events.items()},
    )


@pytest.mark.parametrize(
    ("build", "now"),
    [
        (take_hold, START + timedelta(minutes=1)),
        (hand_back, START + timedelta(hours=2)),
    ],
    ids=["take-hold", "hand-back"],
)
def test_killed_after_any_write_a_restart_ends_where_an_uninterrupted_tick_does(
    build: Callable[[], FakeCluster], now: datetime
) -> None:
    reference = build()
    probe = FailingGateway(reference)
    tick(probe, now)
    writes = probe.passed
    assert writes >= 3  # annotation, HPA and status writes at least
    for n in range(writes):
        cluster = build()
        killed = FailingGateway(cluster, fail_after=n)
        with contextlib.suppress(OperatorKilled):
            tick(killed, now)
        assert killed.killed, n
        tick(cluster, now)  # the restarted operator, at the same instant
        assert state(cluster) == state(reference), f"killed after write {n} of {writes}"
