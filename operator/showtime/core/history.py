"""Sizing from history: what past occurrences of a recurring event really saw, and advice.

Pure functions over plain data. Given a TrafficEvent's spec and, per target, the metric
series and the Ready-replica series over one past occurrence (fetched by
``showtime.sources.history``), ``record_occurrence`` keeps what an SRE sizes with: the
observed peak, the Ready replicas at that peak, the load each Ready replica actually
served there, and whether the floor's capacity (``floor × capacityPerReplica``) was
exceeded. ``status.history`` keeps the last ``KEEP`` such records (newest first).

``recommend`` turns records into a suggested ``expectedPeak`` (the highest peak of the
kept occurrences, converted from the target's share of the event back to the event's
load) and, per target, a suggested ``capacityPerReplica`` (the median load per Ready
replica served at the peaks). ``resolve_expected_peak`` is what ``expectedPeak: auto``
means to the planner: that highest peak, or ``expectedPeakFallback`` with no history;
the floor formula then adds ``headroom`` as for a stated peak.

What does not live here: Prometheus (``sources.history``), when to fetch and the status
write (``shell.history``), printing (``cli``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from showtime.core.schedule import Occurrence, latest_start_at_or_before, occurrence_at
from showtime.core.spec import Target, TrafficEventSpec
from showtime.core.timestamps import parse_timestamp, rfc3339

KEEP = 5  # occurrences kept in status.history, and the N of expectedPeak: auto
_SECOND = timedelta(seconds=1)

Series = Sequence[tuple[datetime, float]]  # (instant, value), oldest first


@dataclass(frozen=True)
class TargetRecord:
    kind: str
    name: str
    peak: float | None  # highest metric value over the occurrence; None: no data
    peak_at: datetime | None
    ready_at_peak: int | None  # Ready replicas at the peak; None: not recorded
    per_ready_replica: float | None  # peak / ready_at_peak
    floor: int  # the floor in force (replicas)
    floor_capacity: float | None  # floor × capacityPerReplica; None without capacity
    floor_exceeded: bool | None  # peak > floor_capacity; None when unknown


@dataclass(frozen=True)
class OccurrenceRecord:
    start: datetime
    end: datetime
    targets: tuple[TargetRecord, ...]


@dataclass(frozen=True)
class TargetAdvice:
    kind: str
    name: str
    declared_capacity: float | None
    capacity_per_replica: float | None  # median load per Ready replica at the peaks
    exceeded: int  # occurrences whose peak was above the floor's capacity


@dataclass(frozen=True)
class Recommendation:
    expected_peak: float | None  # None: no occurrence had data
    from_occurrences: int
    targets: tuple[TargetAdvice, ...]


def past_occurrences(spec: TrafficEventSpec, now: datetime, count: int = KEEP) -> list[Occurrence]:
    """The last ``count`` occurrences of a recurring event that have ended, newest first."""
    if spec.schedule.cron is None:
        return []
    found: list[Occurrence] = []
    instant = now
    for _ in range(count * 4 + 8):  # bounded: occurrences still running are skipped
        start = latest_start_at_or_before(spec.schedule, instant)
        if start is None:
            break
        occurrence = occurrence_at(spec.schedule, start)
        if occurrence.end <= now:
            found.append(occurrence)
            if len(found) == count:
                break
        instant = start - _SECOND
    return found


def value_at(series: Series, instant: datetime) -> float | None:
    """The last value at or before ``instant`` (the series' first one if none is)."""
    before = [v for t, v in series if t <= instant]
    if before:
        return before[-1]
    return series[0][1] if series else None


def record_target(
    spec: TrafficEventSpec, target: Target, load: Series, ready: Series
) -> TargetRecord:
    """One target's record for one occurrence, from its load and Ready-replica series."""
    floor = spec.floor_of(target)
    capacity = floor * target.capacity_per_replica if target.capacity_per_replica else None
    finite = [(t, v) for t, v in load if math.isfinite(v)]
    if not finite:
        return TargetRecord(target.kind, target.name, None, None, None, None, floor, capacity, None)
    peak_at, peak = max(finite, key=lambda p: (p[1], -p[0].timestamp()))
    ready_value = value_at([(t, v) for t, v in ready if math.isfinite(v)], peak_at)
    ready_at_peak = round(ready_value) if ready_value is not None else None
    per_replica = peak / ready_at_peak if ready_at_peak else None
    exceeded = peak > capacity if capacity is not None else None
    return TargetRecord(
        target.kind, target.name, peak, peak_at, ready_at_peak, per_replica, floor, capacity,
        exceeded,
    )  # fmt: skip


def record_occurrence(
    spec: TrafficEventSpec,
    occurrence: Occurrence,
    loads: Mapping[tuple[str, str], Series],
    ready: Mapping[tuple[str, str], Series],
) -> OccurrenceRecord:
    """The record of one occurrence, for every target with a metric."""
    targets = tuple(
        record_target(spec, t, loads.get(t.key, ()), ready.get(t.key, ()))
        for t in spec.targets
        if t.metric is not None
    )
    return OccurrenceRecord(occurrence.start, occurrence.end, targets)


def recommend(spec: TrafficEventSpec, records: Iterable[OccurrenceRecord]) -> Recommendation:
    """A suggested expectedPeak and capacityPerReplica per target, from the records."""
    kept = list(records)[:KEEP]
    shares = {t.key: t.share for t in spec.targets}
    peaks = [
        r.peak / shares.get((r.kind, r.name), 1.0)
        for occurrence in kept
        for r in occurrence.targets
        if r.peak is not None
    ]
    with_data = sum(1 for o in kept if any(r.peak is not None for r in o.targets))
    advice = []
    for target in spec.targets:
        if target.metric is None:
            continue
        mine = [r for o in kept for r in o.targets if (r.kind, r.name) == target.key]
        served = [r.per_ready_replica for r in mine if r.per_ready_replica is not None]
        advice.append(
            TargetAdvice(
                target.kind,
                target.name,
                target.capacity_per_replica,
                median(served) if served else None,
                sum(1 for r in mine if r.floor_exceeded),
            )
        )
    return Recommendation(max(peaks) if peaks else None, with_data, tuple(advice))


def resolve_expected_peak(spec: TrafficEventSpec, status: Mapping[str, Any]) -> TrafficEventSpec:
    """The spec the planner uses: ``expectedPeak: auto`` replaced by a number."""
    if not spec.expected_peak_auto:
        return spec
    try:
        advice = recommend(spec, records_from_status(status))
    except Exception:  # a hand-edited status.history: the stated fallback, never a crash
        return spec
    peak = advice.expected_peak if advice.expected_peak is not None else spec.expected_peak
    return spec.model_copy(update={"expected_peak": peak})


# -- status.history ----------------------------------------------------------------------


def to_status(record: OccurrenceRecord) -> dict[str, Any]:
    """One entry of ``status.history``."""
    targets = []
    for r in record.targets:
        entry: dict[str, Any] = {"kind": r.kind, "name": r.name, "floor": r.floor}
        if r.peak is not None and r.peak_at is not None:
            entry["peak"] = r.peak
            entry["peakAt"] = rfc3339(r.peak_at)
        if r.ready_at_peak is not None:
            entry["readyAtPeak"] = r.ready_at_peak
        if r.per_ready_replica is not None:
            entry["perReadyReplica"] = r.per_ready_replica
        if r.floor_exceeded is not None:
            entry["floorExceeded"] = r.floor_exceeded
        targets.append(entry)
    return {"start": rfc3339(record.start), "end": rfc3339(record.end), "targets": targets}


def records_from_status(status: Mapping[str, Any]) -> list[OccurrenceRecord]:
    """``status.history`` read back (newest first); unreadable entries are skipped."""
    found = []
    for entry in status.get("history") or []:
        try:
            start, end = parse_timestamp(entry.get("start")), parse_timestamp(entry.get("end"))
            if start is None or end is None:
                continue
            found.append(OccurrenceRecord(start, end, tuple(_target(t) for t in entry["targets"])))
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
    return sorted(found, key=lambda r: r.start, reverse=True)


def _target(raw: Mapping[str, Any]) -> TargetRecord:
    peak = raw.get("peak")
    ready = raw.get("readyAtPeak")
    per = raw.get("perReadyReplica")
    exceeded = raw.get("floorExceeded")
    return TargetRecord(
        kind=str(raw["kind"]),
        name=str(raw["name"]),
        peak=float(peak) if peak is not None else None,
        peak_at=parse_timestamp(raw.get("peakAt")),
        ready_at_peak=int(ready) if ready is not None else None,
        per_ready_replica=float(per) if per is not None else None,
        floor=int(raw.get("floor") or 0),
        floor_capacity=None,
        floor_exceeded=bool(exceeded) if exceeded is not None else None,
    )


def merged_history(
    status: Mapping[str, Any], new: Iterable[OccurrenceRecord]
) -> list[dict[str, Any]]:
    """``status.history`` with ``new`` records added: the last ``KEEP`` by start, newest first."""
    by_start = {rfc3339(r.start): r for r in records_from_status(status)}
    by_start.update({rfc3339(r.start): r for r in new})
    newest = sorted(by_start.values(), key=lambda r: r.start, reverse=True)[:KEEP]
    return [to_status(r) for r in newest]


def missing_occurrences(
    spec: TrafficEventSpec, status: Mapping[str, Any], now: datetime
) -> list[Occurrence]:
    """Ended occurrences among the last ``KEEP`` that ``status.history`` has no record of."""
    known = {rfc3339(r.start) for r in records_from_status(status)}
    return [o for o in past_occurrences(spec, now) if rfc3339(o.start) not in known]
