"""What the dashboard and the alerts read about one TrafficEvent, set from its status.

What lives here: ``record_event``, which turns one event's status (as this tick writes
it) and its spec into the per-event gauges of ``telemetry``: stage, desired and ready
replicas, the floor at now (recomputed with the planner from the status's lead time and
pre-warm instant), the replicas the metric asks for, ``targetPerReplica``, the lead time
and the measured start-up time, the conditions, PreWarmLate and the next start.

What does not: the metric objects themselves (``telemetry``), deciding anything, or
talking to the cluster (the reconciler calls this once per event and tick).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from showtime import telemetry
from showtime.core.observed import ObservedEvent
from showtime.core.planner import plan_event, reactive_replicas
from showtime.core.spec import Target
from showtime.core.timestamps import parse_timestamp

CONDITIONS = ("Ready", "TargetsFound", "MetricsAvailable", "PreWarmed")


def record_event(event: ObservedEvent, status: Mapping[str, Any], now: datetime) -> None:
    """Set every per-event gauge of ``event`` from ``status`` (never raises on odd status)."""
    ns, name = event.namespace, event.name
    telemetry.set_event_stage(ns, name, str(status.get("phase")))
    spec = event.spec or event.held_spec
    specs: dict[tuple[str, str], Target] = {t.key: t for t in spec.targets} if spec else {}
    floors = _floors(event, status, now)
    event_lead = _number(status.get("leadTimeSeconds"))
    for target in status.get("targets") or []:
        kind, tname = str(target.get("kind")), str(target.get("name"))
        per_target = {"namespace": ns, "event": name, "target": tname}
        with_kind = {**per_target, "kind": kind}
        telemetry.set_target_replicas(
            ns,
            name,
            kind,
            tname,
            desired=int(target.get("desiredReplicas") or 0),
            ready=int(target.get("readyReplicas") or 0),
        )
        metric = target.get("metric")
        value = _number(metric.get("value")) if isinstance(metric, Mapping) else None
        telemetry.set_metric_sample(ns, name, tname, value)
        wanted = specs.get((kind, tname))
        per_replica = wanted.metric.target_per_replica if wanted and wanted.metric else None
        telemetry.set_or_remove(telemetry.TARGET_PER_REPLICA, per_target, per_replica)
        reactive = (
            reactive_replicas(value, per_replica)
            if value is not None and per_replica is not None
            else None
        )
        telemetry.set_or_remove(telemetry.TARGET_METRIC_REPLICAS, with_kind, reactive)
        floor = floors.get((kind, tname), 0) if floors is not None else None
        telemetry.set_or_remove(telemetry.TARGET_FLOOR_REPLICAS, with_kind, floor)
        lead = target.get("leadTime")
        learned = _number(lead.get("seconds")) if isinstance(lead, Mapping) else None
        startup = _number(lead.get("p90Seconds")) if isinstance(lead, Mapping) else None
        telemetry.set_or_remove(
            telemetry.TARGET_LEAD_TIME, per_target, learned if learned is not None else event_lead
        )
        telemetry.set_or_remove(telemetry.TARGET_STARTUP, per_target, startup)
    _record_conditions(event, status)
    start = parse_timestamp(status.get("nextStart"))
    telemetry.set_or_remove(
        telemetry.EVENT_NEXT_START,
        {"namespace": ns, "event": name},
        start.timestamp() if start is not None else None,
    )


def _record_conditions(event: ObservedEvent, status: Mapping[str, Any]) -> None:
    ns, name = event.namespace, event.name
    by_type = {
        str(c.get("type")): c for c in status.get("conditions") or [] if isinstance(c, Mapping)
    }
    for condition in CONDITIONS:
        state = (by_type.get(condition) or {}).get("status")
        value = {"True": 1.0, "False": 0.0}.get(str(state))
        telemetry.set_or_remove(
            telemetry.EVENT_CONDITION,
            {"namespace": ns, "event": name, "condition": condition},
            value,
        )
    prewarmed = by_type.get("PreWarmed") or {}
    late = prewarmed.get("status") == "False" and prewarmed.get("reason") == "PreWarmLate"
    telemetry.EVENT_PREWARM_LATE.labels(ns, name).set(1 if late else 0)


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
