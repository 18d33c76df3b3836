"""Keeping ``status.history`` of recurring events, beside the tick and never inside it.

``HistoryKeeper.after_tick`` is called by the reconciler once a tick has been applied. For
each recurring TrafficEvent with a metric it checks, at most once per ``interval``, whether
``status.history`` lacks one of the last ``core.history.KEEP`` occurrences that ended (at
least ``settle`` ago, so Prometheus has scraped their last minute); if so it starts a
background task that reads them with ``sources.history.HistorySource`` (range queries, in a
worker thread, within ``budget``) and merge-patches ``status.history`` on its own. The tick
never waits for Prometheus here; at most ``concurrency`` events are read at once. What is
in status survives a restart, so a restarted operator does not read it again; an
occurrence without data is recorded as such and not asked for again. A failed read is
logged and retried after ``interval``.

What does not live here: the records and the arithmetic (``core.history``), the queries
(``sources.history``), using the history (``core.history.resolve_expected_peak`` in
``core.decide``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from showtime.cluster.kube import Gateway
from showtime.core.history import (
    OccurrenceRecord,
    merged_history,
    missing_occurrences,
    resolve_expected_peak,
)
from showtime.core.observed import EventKey, Observed, ObservedEvent
from showtime.core.schedule import Occurrence
from showtime.core.spec import TrafficEventSpec

log = structlog.get_logger("showtime.shell.history")


class OccurrenceReader(Protocol):
    def occurrence(
        self, spec: TrafficEventSpec, namespace: str, event: str, occurrence: Occurrence
    ) -> OccurrenceRecord: ...


class HistoryKeeper:
    def __init__(
        self,
        gateway: Gateway,
        reader: OccurrenceReader,
        clock: Callable[[], datetime],
        *,
        interval: timedelta = timedelta(minutes=5),
        settle: timedelta = timedelta(minutes=1),
        budget: timedelta = timedelta(seconds=30),
        concurrency: int = 2,
    ) -> None:
        self._gateway = gateway
        self._reader = reader
        self._clock = clock
        self._interval = interval
        self._settle = settle
        self._budget = budget
        self._concurrency = concurrency
        self._checked: dict[EventKey, datetime] = {}
        self._running: dict[EventKey, asyncio.Task[None]] = {}

    def after_tick(self, observed: Observed) -> None:
        """Start reading what some event's history lacks; returns at once."""
        now = self._clock()
        present = set()
        for event in observed.events:
            present.add(event.key)
            spec = event.spec
            if event.releasing or spec is None or not wants_history(spec):
                continue
            if event.key in self._running or len(self._running) >= self._concurrency:
                continue
            checked = self._checked.get(event.key)
            if checked is not None and now - checked < self._interval:
                continue
            self._checked[event.key] = now
            missing = missing_occurrences(spec, event.status, now - self._settle)
            if missing:
                spec = resolve_expected_peak(spec, event.status)  # the floor in force now
                task = asyncio.get_running_loop().create_task(self._read(event, spec, missing))
                self._running[event.key] = task
                task.add_done_callback(self._forget_task(event.key))
        for key in [k for k in self._checked if k not in present]:
            del self._checked[key]

    def _forget_task(self, key: EventKey) -> Callable[[asyncio.Task[None]], None]:
        def forget(_: asyncio.Task[None]) -> None:
            self._running.pop(key, None)

        return forget

    async def wait(self) -> None:
        """Until the reads under way have ended (for tests and shutdown)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _read(
        self, event: ObservedEvent, spec: TrafficEventSpec, missing: list[Occurrence]
    ) -> None:
        def read_all() -> list[OccurrenceRecord]:
            return [self._reader.occurrence(spec, event.namespace, event.name, o) for o in missing]

        where = f"{event.namespace}/{event.name}"
        try:
            records = await asyncio.wait_for(
                asyncio.to_thread(read_all), self._budget.total_seconds()
            )
        except TimeoutError:
            log.warning("history not read", event=where, error=f"over {self._budget}")
            return
        except Exception as exc:  # Prometheus down or refusing: the next interval retries
            log.warning("history not read", event=where, error=str(exc))
            return
        patch: Mapping[str, Any] = {"history": merged_history(event.status, records)}
        try:
            await self._gateway.patch_status(event.namespace, event.name, patch)
        except Exception as exc:  # deleted meanwhile, or the API refused: retry later
            log.warning("history not written", event=where, error=str(exc))
            return
        log.info("history recorded", event=where, occurrences=len(records))


def wants_history(spec: TrafficEventSpec) -> bool:
    """A recurring event with at least one target read from a metric."""
    return spec.schedule.cron is not None and any(t.metric for t in spec.targets)
