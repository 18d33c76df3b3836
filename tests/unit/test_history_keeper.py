"""status.history kept beside the tick: read once per occurrence, kept across restarts,
and what ``expectedPeak: auto`` sizes the floor with."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from showtime.core.history import KEEP, OccurrenceRecord, record_occurrence
from showtime.core.schedule import Occurrence
from showtime.core.spec import TrafficEventSpec
from showtime.shell.history import HistoryKeeper
from showtime.shell.reconciler import Reconciler
from tests.support.fakes import Clock, FakeCluster, FakeMetrics

NOW = datetime(2026, 11, 21, 18, 57, tzinfo=UTC)  # pre-warming for today's 19:00


def auto_spec() -> dict[str, Any]:
    return {
        "schedule": {"cron": "0 19 * * *", "duration": "1h"},
        "leadTime": "5m",
        "expectedPeak": "auto",
        "expectedPeakFallback": 1000,
        "headroom": 0.2,
        "targets": [
            {
                "name": "api",
                "capacityPerReplica": 100,
                "maxReplicas": 100,
                "metric": {"query": "sum(rate(req[1m]))", "targetPerReplica": 1000},
            }
        ],
    }


class Reader:
    """Past occurrences peaking at 1500, and 2000 on the newest one."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.asked: list[datetime] = []
        self.gate = gate

    def occurrence(
        self, spec: TrafficEventSpec, namespace: str, event: str, occurrence: Occurrence
    ) -> OccurrenceRecord:
        if self.gate is not None:
            self.gate.wait(5)
        self.asked.append(occurrence.start)
        yesterday = NOW.replace(hour=19, minute=0) - timedelta(days=1)
        peak = 2000.0 if occurrence.start == yesterday else 1500.0
        load = [(occurrence.start + timedelta(minutes=10), peak)]
        ready = [(occurrence.start, 20.0)]
        return record_occurrence(spec, occurrence, {("Deployment", "api"): load},
                                 {("Deployment", "api"): ready})  # fmt: skip


def make(cluster: FakeCluster, clock: Clock, reader: Reader) -> tuple[Reconciler, HistoryKeeper]:
    keeper = HistoryKeeper(cluster, reader, clock)
    reconciler = Reconciler(
        cluster, FakeMetrics(), default_lead_time=timedelta(minutes=5), clock=clock,
        history=keeper,
    )  # fmt: skip
    return reconciler, keeper


def test_history_is_read_once_and_sizes_the_auto_floor() -> None:
    cluster, clock, reader = FakeCluster(), Clock(NOW), Reader()
    cluster.add_deployment("api", 2)
    cluster.add_event("lecture", auto_spec())

    async def scenario() -> None:
        reconciler, keeper = make(cluster, clock, reader)
        await reconciler.tick()
        assert cluster.replicas("api") == 12  # no history yet: the fallback, 1000 x 1.2 / 100
        await keeper.wait()
        history = cluster.status("lecture")["history"]
        assert len(history) == KEEP
        assert history[0]["targets"][0]["peak"] == 2000
        assert history[0]["targets"][0]["readyAtPeak"] == 20
        clock.now += timedelta(seconds=10)
        await reconciler.tick()
        assert cluster.replicas("api") == 24  # the highest recorded peak, 2000 x 1.2 / 100
        assert cluster.status("lecture")["history"] == history  # the tick keeps it
        await keeper.wait()
        assert len(reader.asked) == KEEP
        # a restarted operator reads status, not Prometheus
        reconciler, keeper = make(cluster, clock, reader)
        clock.now += timedelta(minutes=10)
        await reconciler.tick()
        await keeper.wait()
        assert len(reader.asked) == KEEP

    asyncio.run(scenario())


def test_the_tick_does_not_wait_for_prometheus() -> None:
    cluster, clock = FakeCluster(), Clock(NOW)
    gate = threading.Event()
    reader = Reader(gate)
    cluster.add_deployment("api", 2)
    cluster.add_event("lecture", auto_spec())

    async def scenario() -> None:
        reconciler, keeper = make(cluster, clock, reader)
        await asyncio.wait_for(reconciler.tick(), 2)  # the reader is blocked meanwhile
        assert reader.asked == []
        assert "history" not in cluster.status("lecture")
        gate.set()
        await keeper.wait()
        assert len(cluster.status("lecture")["history"]) == KEEP

    asyncio.run(scenario())


def test_the_next_occurrence_is_read_once_it_has_ended() -> None:
    cluster, clock, reader = FakeCluster(), Clock(NOW), Reader()
    cluster.add_deployment("api", 2)
    cluster.add_event("lecture", auto_spec())

    async def scenario() -> None:
        reconciler, keeper = make(cluster, clock, reader)
        await reconciler.tick()
        await keeper.wait()
        clock.now = NOW.replace(hour=19, minute=0) + timedelta(hours=1, minutes=2)  # today's ended
        await reconciler.tick()
        await keeper.wait()
        history = cluster.status("lecture")["history"]
        assert history[0]["start"] == "2026-11-21T19:00:00Z"
        assert len(history) == KEEP
        assert len(reader.asked) == KEEP + 1

    asyncio.run(scenario())
