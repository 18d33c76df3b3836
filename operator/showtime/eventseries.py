"""The per-event gauges, held as one compact row per TrafficEvent and rendered at scrape time.

What lives here: the names, help texts and labels of the per-event and per-target series
(``showtime_event_stage``, ``showtime_target_desired_replicas`` ...), ``EventRow`` and
``TargetRow`` (immutable rows of plain values; ``None`` where a value is unknown), and
``EventSeries``: the store of rows keyed by (namespace, event) that is also the
prometheus_client collector turning them into samples on each scrape, the pattern of
kube-state-metrics. One row per event costs a few hundred bytes, where a labelled Gauge
child per series (a lock, a value, label tuples, dict entries) cost ~700 B per series.

Rows are replaced whole, under a lock, and ``collect`` renders a copy of the rows, so the
metrics server's thread never sees half an update.

What does not: computing a row from an event's status (``shell.gauges``), the registry and
the operator's other metrics (``telemetry``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

__all__ = ["CONDITIONS", "STAGES", "EventRow", "EventSeries", "TargetRow"]

#: The stages of a TrafficEvent (SPEC §1): the current one is 1, every other 0.
STAGES: Final[tuple[str, ...]] = (
    "Scheduled",
    "PreWarming",
    "Live",
    "CoolingDown",
    "Completed",
    "Suspended",
    "Invalid",
)

#: The conditions ``showtime_event_condition`` exports, in ``EventRow.conditions`` order.
CONDITIONS: Final[tuple[str, ...]] = ("Ready", "TargetsFound", "MetricsAvailable", "PreWarmed")


@dataclass(frozen=True, slots=True)
class TargetRow:
    """What the gauges show about one target of an event; ``None`` is a gap, never zero."""

    kind: str
    name: str
    desired: int
    ready: int
    sample: float | None  # the last metric sample
    per_replica: float | None  # metric.targetPerReplica
    metric_replicas: int | None  # ceil(sample / per_replica)
    floor: int | None  # the floor at now
    lead: float | None  # lead time used, seconds
    startup: float | None  # measured p90 start-up, seconds


@dataclass(frozen=True, slots=True)
class EventRow:
    """What the gauges show about one event; ``conditions`` follows ``CONDITIONS``
    (1.0 True, 0.0 False, ``None`` Unknown or not set)."""

    stage: str
    next_start: float | None  # Unix seconds
    prewarm_late: bool
    conditions: tuple[float | None, ...]
    targets: tuple[TargetRow, ...]


_NS_EVENT: Final = ("namespace", "event")
_WITH_KIND: Final = (*_NS_EVENT, "kind", "target")
_PER_TARGET: Final = (*_NS_EVENT, "target")

DESIRED: Final = "showtime_target_desired_replicas"
READY: Final = "showtime_target_ready_replicas"
STAGE: Final = "showtime_event_stage"
SAMPLE: Final = "showtime_metric_sample"
FLOOR: Final = "showtime_target_floor_replicas"
METRIC_REPLICAS: Final = "showtime_target_metric_replicas"
PER_REPLICA: Final = "showtime_target_per_replica"
LEAD_TIME: Final = "showtime_target_lead_time_seconds"
STARTUP: Final = "showtime_target_startup_seconds"
CONDITION: Final = "showtime_event_condition"
PREWARM_LATE: Final = "showtime_event_prewarm_late"
NEXT_START: Final = "showtime_event_next_start_timestamp_seconds"

#: (name, help, label names) of every family, in the order a scrape shows them.
_FAMILIES: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    (DESIRED, "Replicas Showtime wants for a target on behalf of an event.", _WITH_KIND),
    (READY, "Ready replicas of a target held by an event, as last observed.", _WITH_KIND),
    (STAGE, "1 for the current stage of a TrafficEvent, 0 for the others.", (*_NS_EVENT, "stage")),
    (SAMPLE, "Last metric sample read for a target of an event.", _PER_TARGET),
    (
        FLOOR,
        "The floor an event holds a target at now (the ramp included); 0 while it holds none.",
        _WITH_KIND,
    ),
    (
        METRIC_REPLICAS,
        "Replicas the metric asks for, ceil(sample / targetPerReplica); absent without a sample.",
        _WITH_KIND,
    ),
    (
        PER_REPLICA,
        "A target's metric.targetPerReplica: the sample one Ready replica is sized for.",
        _PER_TARGET,
    ),
    (
        LEAD_TIME,
        "The lead time used for a target: learned (leadTime auto) or the event's.",
        _PER_TARGET,
    ),
    (
        STARTUP,
        "Measured p90 time from pod creation to Ready of a target (leadTime auto only).",
        _PER_TARGET,
    ),
    (
        CONDITION,
        "A TrafficEvent condition: 1 True, 0 False; absent while Unknown or not set.",
        (*_NS_EVENT, "condition"),
    ),
    (
        PREWARM_LATE,
        "1 when not every floor was Ready at the start (condition PreWarmed, reason PreWarmLate).",
        _NS_EVENT,
    ),
    (
        NEXT_START,
        "Start of the occurrence an event acts on or waits for, in Unix seconds.",
        _NS_EVENT,
    ),
)


class EventSeries(Collector):
    """The rows of every event, and the collector rendering them into gauge families."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], EventRow] = {}
        self._lock = threading.Lock()

    def put(self, namespace: str, event: str, row: EventRow) -> None:
        """Make ``row`` the event's row (replacing every series of it); a no-op if unchanged."""
        key = (namespace, event)
        with self._lock:
            if self._rows.get(key) != row:
                self._rows[key] = row

    def forget(self, namespace: str, event: str) -> None:
        """Drop the event's row: none of its series shows on the next scrape."""
        with self._lock:
            self._rows.pop((namespace, event), None)

    def describe(self) -> Iterable[Metric]:
        """The families without samples, so registering never renders the rows."""
        return _empty_families()

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            rows = list(self._rows.items())
        families = _empty_families()
        by_name = {family.name: family.samples for family in families}
        for (namespace, event), row in rows:
            _render(namespace, event, row, by_name)
        return families


def _empty_families() -> list[GaugeMetricFamily]:
    return [GaugeMetricFamily(name, text, labels=labels) for name, text, labels in _FAMILIES]


def _render(namespace: str, event: str, row: EventRow, out: dict[str, list[Sample]]) -> None:
    """Append the samples of one event's row to ``out`` (name -> samples); an unknown value
    (``None``) adds no sample. Label dicts are shared between families (read-only)."""
    labels = {"namespace": namespace, "event": event}
    for known in _stages_of(row.stage):
        value = 1.0 if known == row.stage else 0.0
        out[STAGE].append(Sample(STAGE, {**labels, "stage": known}, value))
    for target in row.targets:
        with_kind = {**labels, "kind": target.kind, "target": target.name}
        _add(out, DESIRED, with_kind, target.desired)
        _add(out, READY, with_kind, target.ready)
        _add(out, FLOOR, with_kind, target.floor)
        _add(out, METRIC_REPLICAS, with_kind, target.metric_replicas)
    for target in _last_per_name(row.targets):
        per_target = {**labels, "target": target.name}
        _add(out, SAMPLE, per_target, target.sample)
        _add(out, PER_REPLICA, per_target, target.per_replica)
        _add(out, LEAD_TIME, per_target, target.lead)
        _add(out, STARTUP, per_target, target.startup)
    for condition, state in zip(CONDITIONS, row.conditions, strict=True):
        _add(out, CONDITION, {**labels, "condition": condition}, state)
    _add(out, PREWARM_LATE, labels, 1 if row.prewarm_late else 0)
    _add(out, NEXT_START, labels, row.next_start)


def _add(
    out: dict[str, list[Sample]], name: str, labels: dict[str, str], value: float | None
) -> None:
    if value is not None:
        out[name].append(Sample(name, labels, float(value)))


def _stages_of(stage: str) -> Iterator[str]:
    yield from STAGES
    if stage not in STAGES:
        yield stage


def _last_per_name(targets: tuple[TargetRow, ...]) -> Iterable[TargetRow]:
    """One target per name, the last: the series without a kind label hold one per name
    (two kinds sharing a name show the later one, as sequential sets did)."""
    if len(targets) < 2:  # a lone target cannot clash
        return targets
    return {target.name: target for target in targets}.values()
