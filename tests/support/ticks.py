"""Driving the reconciler over the in-memory cluster: a base spec, a reconciler, one tick.

Shared by the unit tests that run whole ticks (``test_reconciler``, ``test_promises``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from showtime.shell.reconciler import Reconciler
from tests.support.fakes import Clock, FakeCluster, FakeMetrics

START = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)


def event_spec(**overrides: Any) -> dict[str, Any]:
    """A one-hour event at ``START``: floor 10 of ``api``, lead 5m, quick scale-down."""
    spec: dict[str, Any] = {
        "schedule": {"start": "2026-12-31T12:00:00Z", "duration": "1h"},
        "leadTime": "5m",
        "cooldown": "0s",
        "scaleDown": {"stabilizationWindow": "0s", "maxPercentPerMinute": 100},
        "targets": [{"name": "api", "replicas": 10, "maxReplicas": 20}],
    }
    spec.update(overrides)
    return spec


def make(cluster: FakeCluster, clock: Clock, metrics: FakeMetrics | None = None) -> Reconciler:
    return Reconciler(
        cluster, metrics or FakeMetrics(), default_lead_time=timedelta(minutes=5), clock=clock
    )


def tick(reconciler: Reconciler, **kw: Any) -> Any:
    return asyncio.run(reconciler.tick(**kw))
