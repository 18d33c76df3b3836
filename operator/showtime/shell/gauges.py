"""What the dashboard and the alerts read about one TrafficEvent, set from its status.

What lives here: ``record_event``, which turns one event's status (as this tick writes
it) and its spec into the event's row of per-event gauges (``telemetry.EVENT_SERIES``):
stage, desired and ready replicas, the floor at now (recomputed with the planner from the
status's lead time and pre-warm instant), the replicas the metric asks for,
``targetPerReplica``, the lead time and the measured start-up time, the conditions,
PreWarmLate and the next start.

What does not: the metric families and how rows become samples (``showtime.eventseries``),
deciding anything, or talking to the cluster (the reconciler calls this once per event
and tick).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from showtime import telemetry
from showtime.core.observed import ObservedEvent
from showtime.core.planner import plan_event, reactive_replicas
from showtime.core.spec import Target
from showtime.core.timestamps import parse_timestamp
from showtime.eventseries import CONDITIONS, EventRow, TargetRow

__all__ = ["CONDITIONS", "event_row", "record_event"]

_CONDITION_VALUES: Final[Mapping[str, float]] = {"True": 1.0, "False": 0.0}


def record_event(event: ObservedEvent, status: Mapping[str, Any], now: datetime) -> None:
    """Set every per-event gauge of ``event`` from ``status`` (never raises on odd status)."""
    telemetry.EVENT_SERIES.put(event.namespace, event.name, event_row(event, status, now))


def event_row(event: ObservedEvent, status: Mapping[str, Any], now: datetime) -> EventRow:
    """The gauges' row of ``event``: what its series show until the next one replaces it."""
    spec = event.spec or event.held_spec
    specs: dict[tuple[str, str], Target] = {t.key: t for t in spec.targets} if spec else {}
    floors = _floors(event, status, now)
    event_lead = _number(status.get("leadTimeSeconds"))
    targets: dict[tuple[str, str], TargetRow] = {}  # a repeated target: the last one shows
    for target in status.get("targets") or []:
        kind, tname = sys.intern(str(target.get("kind"))), str(target.get("name"))
        metric = target.get("metric")
        value = _number(metric.get("value")) if isinstance(metric, Mapping) else None
        wanted = specs.get((kind, tname))
        per_replica = wanted.metric.target_per_replica if wanted and wanted.metric else None
        lead = target.get("leadTime")
        learned = _number(lead.get("seconds")) if isinstance(lead, Mapping) else None
        targets[(kind, tname)] = TargetRow(
            kind=kind,
            name=tname,
            desired=int(target.get("desiredReplicas") or 0),
            ready=int(target.get("readyReplicas") or 0),
            sample=value,
            per_replica=per_replica,
            metric_replicas=(
                reactive_replicas(value, per_replica)
                if value is not None and per_replica is not None
                else None
            ),
            floor=floors.get((kind, tname), 0) if floors is not None else None,
            lead=learned if learned is not None else event_lead,
            startup=_number(lead.get("p90Seconds")) if isinstance(lead, Mapping) else None,
        )
    start = parse_timestamp(status.get("nextStart"))
    conditions, late = _conditions(status)
    return EventRow(
        stage=sys.intern(str(status.get("phase"))),
        next_start=start.timestamp() if start is not None else None,
        prewarm_late=late,
        conditions=conditions,
        targets=tuple(targets.values()),
    )


def _conditions(status: Mapping[str, Any]) -> tuple[tuple[float | None, ...], bool]:
    """The value of each of ``CONDITIONS`` (None while Unknown or not set), and PreWarmLate."""
    by_type = {
        str(c.get("type")): c for c in status.get("conditions") or [] if isinstance(c, Mapping)
    }
    values = tuple(
        _CONDITION_VALUES.get(str((by_type.get(condition) or {}).get("status")))
        for condition in CONDITIONS
    )
    prewarmed = by_type.get("PreWarmed") or {}
    late = prewarmed.get("status") == "False" and prewarmed.get("reason") == "PreWarmLate"
    return _SHARED_CONDITIONS.setdefault(values, values), late


#: Condition tuples seen so far (at most 3**4): every row holding one shares one object.
_SHARED_CONDITIONS: Final[dict[tuple[float | None, ...], tuple[float | None, ...]]] = {}


def _floors(
    event: ObservedEvent, status: Mapping[str, Any], now: datetime
) -> dict[tuple[str, str], int] | None:
    """floor(now) per target, as the planner has it; None when it cannot be told."""
    spec = event.spec or event.held_spec
    lead = _number(status.get("leadTimeSeconds"))
    if spec is None or lead is None:
        return None
    start = parse_timestamp(status.get("nextStart"))
    prewarm_at = parse_timestamp(status.get("prewarmAt"))
    started = (start, prewarm_at) if start is not None and prewarm_at is not None else None
    try:
        plan = plan_event(spec, now=now, lead_time=timedelta(seconds=lead), prewarm_started=started)
    except (ValueError, OverflowError):
        return None
    return dict(plan.floors)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
