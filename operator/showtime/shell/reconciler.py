"""The reconcile loop: gather, query, decide, apply — every tick, from what the cluster says.

A tick reads the watch-fed snapshot (``gather``), evaluates each distinct metric query
once within a time budget, calls the pure ``core.decide.decide`` and carries out its
decisions (``apply``). In the loop, a tick's status patches and Events are written while
the loop waits for the next tick, which waits for them before it reads the cluster. The
loop holds no state a restart would need: parsed specs, learned start-up times and posted
Events are caches rebuilt from the cluster. A poke (a
TrafficEvent changed, a write met a conflict) brings the next tick forward; it is safe
from any thread, since kopf runs sync handlers in worker threads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from showtime import telemetry
from showtime.cluster.kube import Gateway
from showtime.cluster.mergepatch import apply_merge_patch
from showtime.core.decide import decide, plan_events, queries_for
from showtime.core.decide_status import StatusMemo
from showtime.core.observed import Decisions, EventKey, Observed
from showtime.core.samples import FailureReason, MetricFailure, MetricResult
from showtime.shell import gauges
from showtime.shell.apply import Applier, ApplyReport
from showtime.shell.collector import Collector
from showtime.shell.events import EventRecorder
from showtime.shell.gather import Gatherer
from showtime.shell.history import HistoryKeeper
from showtime.shell.leadership import AlwaysLeader, Leadership
from showtime.sources.metricsource import MetricSource

log = structlog.get_logger("showtime.shell.reconciler")
SLOW_TICK_SECONDS = 1.0  # a tick this long is logged at INFO with the time of each step


@dataclass
class TickReport:
    events: int = 0
    queries: int = 0
    writes: int = 0
    status_writes: int = 0
    errors: int = 0
    conflicts: int = 0
    events_posted: int = 0
    seconds: float = 0.0
    standby: bool = False  # not the leader: read the caches, nothing else
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step, in order

    def timed(self, phase: str, began: float) -> float:
        """Book the time since ``began`` to ``phase``; the clock reading to time the next from."""
        now = time.perf_counter()
        self.phases[phase] = round(now - began, 3)
        return now


class Reconciler:
    def __init__(
        self,
        gateway: Gateway,
        metrics: MetricSource,
        *,
        default_lead_time: timedelta,
        clock: Callable[[], datetime],
        write_concurrency: int = 16,
        query_budget: timedelta = timedelta(seconds=8),
        history: HistoryKeeper | None = None,
        node_capacity: Mapping[str, Any] | None = None,  # Gatherer's node capacity options
        leadership: Leadership | None = None,
    ) -> None:
        self._gateway = gateway
        self._leadership = leadership or AlwaysLeader()  # a standby's ticks write nothing
        self._metrics = metrics
        self._clock = clock
        self._query_budget = query_budget
        self._gatherer = Gatherer(default_lead_time, **(node_capacity or {}))
        self._applier = Applier(
            gateway, EventRecorder(gateway, clock, concurrency=write_concurrency), write_concurrency
        )
        self._lock = asyncio.Lock()
        self._poke: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gauged: dict[EventKey, Any] = {}  # what the gauges show, to skip no-op updates
        self._history = history  # status.history of recurring events, read beside the tick
        self._collector = Collector()
        self._status_memo = StatusMemo()  # what steady events' statuses were built from

    # -- driving ---------------------------------------------------------------------------

    def poke(self) -> None:
        """Ask for a tick now. Safe from any thread."""
        loop, event = self._loop, self._poke
        if loop is None or event is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    async def run_forever(self, interval: timedelta) -> None:
        self._loop = asyncio.get_running_loop()
        self._poke = asyncio.Event()
        # Status patches and Events are written while the loop waits for the next tick: a
        # tick's time is its decisions and its target writes (the next tick waits for them).
        self._applier.report_behind = True
        try:
            while True:
                try:
                    report = await self.tick()
                    if report.seconds >= SLOW_TICK_SECONDS:  # where the time went, for the SRE
                        log.info("slow tick", **report.__dict__)
                    else:
                        log.debug("tick", **report.__dict__)
                    if report.conflicts:
                        self._poke.set()  # decide again at once from what the cluster now says
                except Exception:  # the loop must survive anything one tick runs into
                    log.exception("tick failed")
                self._collector.after_tick()  # between ticks: a tick never walks the caches
                try:
                    await asyncio.wait_for(self._poke.wait(), timeout=interval.total_seconds())
                    await asyncio.sleep(0.2)  # gather a burst of changes into one tick
                except TimeoutError:
                    pass
                self._poke.clear()
        finally:
            self._applier.abandon()
            self._applier.report_behind = False
            self._collector.stop()  # objects frozen between ticks go back to the collector

    async def release(self, namespace: str, name: str) -> TickReport:
        """Tick as if the event were gone: hand-back of its targets starts now."""
        return await self.tick(releasing={(namespace, name)})

    async def tick(self, releasing: Iterable[EventKey] = ()) -> TickReport:
        async with self._lock:
            started = time.perf_counter()
            report = TickReport()
            await self._tick(report, set(releasing))
            report.seconds = time.perf_counter() - started
            if not report.standby:  # a standby's near-empty ticks would flatter the histogram
                telemetry.TICK_DURATION.observe(report.seconds)
            return report

    # -- one tick --------------------------------------------------------------------------

    async def _tick(self, report: TickReport, releasing: set[EventKey]) -> None:
        began = time.perf_counter()
        await self._applier.reported()  # the last tick's status patches: in the cache now
        began = report.timed("reported", began)
        snap = await self._gateway.snapshot()  # a standby too: its caches stay warm
        if not self._leadership.is_leader():
            self._standing_by(report)
            return
        began = report.timed("snapshot", began)
        observed = self._gatherer.observe(snap, self._clock(), releasing)
        report.events = len(observed.events)
        plans = plan_events(observed)  # once a tick: the queries and the decisions use it
        queries = queries_for(plans)
        report.queries = len(queries)
        began = report.timed("gather", began)
        results = await self._query(queries)
        began = report.timed("query", began)
        decisions = decide(observed, results, plans, self._status_memo)
        for failure in decisions.failures:
            log.error("decision failed", failure=failure)
        applied = ApplyReport()
        if not self._leadership.is_leader():  # fencing: the Lease lapsed while deciding
            self._standing_by(report)
            return
        began = report.timed("decide", began)
        await self._applier.apply(decisions, applied)
        began = report.timed("apply", began)
        report.writes = applied.writes
        report.status_writes = applied.status_writes
        report.errors = applied.errors + len(decisions.failures)
        report.conflicts = applied.conflicts
        report.events_posted = applied.events_posted
        self._record_gauges(observed, decisions)
        if self._history is not None:
            self._history.after_tick(observed)  # starts background reads; never waits
        report.timed("gauges", began)

    async def _query(self, queries: set[str]) -> Mapping[str, MetricResult]:
        if not queries:
            return {}
        try:
            return await asyncio.wait_for(
                self._metrics.query(sorted(queries)), self._query_budget.total_seconds()
            )
        except TimeoutError:
            # A hanging Prometheus must not stall the tick: every query counts as timed out.
            failure = MetricFailure(
                FailureReason.TIMEOUT,
                f"no answer within the tick's budget of {self._query_budget.total_seconds():g}s",
            )
            return dict.fromkeys(queries, failure)
        except Exception as exc:  # a broken source is missing data, never zero
            failure = MetricFailure(FailureReason.UNREACHABLE, f"{type(exc).__name__}: {exc}")
            return dict.fromkeys(queries, failure)

    def _record_gauges(self, observed: Observed, decisions: Decisions) -> None:
        patches = {(w.namespace, w.name): w.patch for w in decisions.statuses}
        for event in observed.events:
            if event.releasing:
                continue
            patch = patches.get(event.key)
            status = apply_merge_patch(dict(event.status), patch) if patch else event.status
            shown = tuple(
                status.get(k) for k in ("phase", "targets", "conditions", "nextStart", "prewarmAt")
            )
            if self._gauged.get(event.key) == shown:
                continue
            self._gauged[event.key] = shown
            gauges.record_event(event, status, observed.now)

    def _standing_by(self, report: TickReport) -> None:
        """A standby neither queries, decides nor writes, and shows no per-event series."""
        report.standby = True
        for namespace, name in list(self._gauged):
            self.forget(namespace, name)

    def forget(self, namespace: str, name: str) -> None:
        """Drop what the gauges show for a deleted event."""
        self._gauged.pop((namespace, name), None)
        telemetry.forget_event(namespace, name)
