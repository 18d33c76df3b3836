"""A TrafficEvent's status and the Kubernetes Events that announce its changes.

Pure: given the previous status (what the cluster says), this tick's plan and what was
observed of the targets and metrics, build the new status and the list of Events to post.
Conditions follow the Kubernetes API conventions: ``lastTransitionTime`` moves only when
``status`` changes, and each condition carries the generation it was computed for. Events
are emitted on transitions only, so an outage or a missing target warns once.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from showtime.core.planner import EventPlan, Reason, Stage
from showtime.core.timestamps import parse_timestamp, rfc3339

READY = "Ready"
TARGETS_FOUND = "TargetsFound"
METRICS_AVAILABLE = "MetricsAvailable"
PREWARMED = "PreWarmed"
CONDITION_ORDER = (READY, TARGETS_FOUND, METRICS_AVAILABLE, PREWARMED)


@dataclass(frozen=True)
class Notice:
    """A Kubernetes Event to post on the TrafficEvent."""

    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class MetricReport:
    query: str
    value: float | None = None
    timestamp: datetime | None = None
    failure_reason: str | None = None  # a metricsource.FailureReason value
    failure_message: str | None = None


@dataclass(frozen=True)
class TargetReport:
    kind: str
    name: str
    found: bool
    mode: str  # Replicas | HPA
    desired: int
    ready: int
    reason: Reason
    floor: int = 0  # the full floor, for the PreWarmed check
    metric: MetricReport | None = None
    message: str = ""
    lead_time: Mapping[str, Any] | None = None  # leadtime.StartupMemory.to_record (auto only)
    current: int | None = None  # the workload's replicas now (None: not found)


@dataclass(frozen=True)
class StatusInput:
    generation: int
    plan: EventPlan | None  # None: the spec is invalid
    invalid_message: str | None = None
    targets: Sequence[TargetReport] = field(default_factory=tuple)


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    *,
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """Conditions with ``type_`` set; its transition time kept unless the status changed."""
    result: list[dict[str, Any]] = []
    previous = None
    for condition in conditions:
        if condition.get("type") == type_:
            previous = condition
        else:
            result.append(dict(condition))
    since = rfc3339(now)
    if previous is not None and previous.get("status") == status:
        since = str(previous.get("lastTransitionTime") or since)
    result.append(
        {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": since,
            "observedGeneration": generation,
        }
    )
    order = {name: index for index, name in enumerate(CONDITION_ORDER)}
    return sorted(result, key=lambda c: order.get(str(c.get("type")), len(order)))


def condition_of(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == type_:
            return condition  # type: ignore[no-any-return]
    return None


def _went_false(previous: Mapping[str, Any], type_: str, reason: str) -> bool:
    before = condition_of(previous, type_)
    return before is None or before.get("status") != "False" or before.get("reason") != reason


def build_status(
    previous: Mapping[str, Any], data: StatusInput, *, now: datetime
) -> tuple[dict[str, Any], list[Notice]]:
    """The new status and the Events announcing what changed since ``previous``."""
    notices: list[Notice] = []
    conditions: list[dict[str, Any]] = [dict(c) for c in previous.get("conditions") or []]
    gen = data.generation

    def cond(type_: str, status: str, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(
            conditions,
            type_=type_,
            status=status,
            reason=reason,
            message=message,
            generation=gen,
            now=now,
        )

    if data.plan is None:
        message = data.invalid_message or "the spec is invalid"
        if previous.get("phase") != Stage.INVALID or _went_false(previous, READY, "InvalidSpec"):
            notices.append(Notice("Warning", "InvalidSpec", message))
        cond(READY, "False", "InvalidSpec", message)
        # Targets an invalid event still holds (frozen when its plan failed) stay listed.
        held = [t for t in data.targets if t.desired > 0]
        status: dict[str, Any] = {
            "observedGeneration": gen,
            "phase": Stage.INVALID.value,
            "targets": [_target_status(t) for t in held],
            "desiredReplicas": sum(t.desired for t in held),
            "ready": f"{sum(min(t.ready, t.desired) for t in held)}/{sum(t.desired for t in held)}",
            "conditions": conditions,
        }
        return status, notices

    plan = data.plan
    phase = plan.stage
    if previous.get("phase") != phase.value:
        notices.append(Notice("Normal", phase.value, _stage_message(plan, data.targets)))

    # TargetsFound
    missing = [f"{t.kind}/{t.name}" for t in data.targets if not t.found]
    if missing:
        text = "not found in this namespace: " + ", ".join(missing)
        if _went_false(previous, TARGETS_FOUND, "TargetMissing"):
            notices.append(Notice("Warning", "TargetMissing", text))
        cond(TARGETS_FOUND, "False", "TargetMissing", text)
    else:
        cond(TARGETS_FOUND, "True", "AllTargetsFound", f"{len(data.targets)} target(s) found")

    # MetricsAvailable
    metric_targets = [t for t in data.targets if t.metric is not None]
    failures = [t for t in metric_targets if t.metric and t.metric.failure_reason]
    unqueried = [
        t
        for t in metric_targets
        if t.metric and t.metric.value is None and not t.metric.failure_reason
    ]
    query_invalid = any(t.metric and t.metric.failure_reason == "QueryInvalid" for t in failures)
    if failures:
        first = failures[0].metric
        assert first is not None
        reason = first.failure_reason or "MetricsUnavailable"
        text = "; ".join(
            f"{t.name}: {t.metric.failure_message}" for t in failures if t.metric is not None
        )
        if _went_false(previous, METRICS_AVAILABLE, reason):
            was_false = (condition_of(previous, METRICS_AVAILABLE) or {}).get("status") == "False"
            if not was_false or reason == "QueryInvalid":
                kind = "QueryInvalid" if reason == "QueryInvalid" else "MetricsUnavailable"
                notices.append(Notice("Warning", kind, text))
        cond(METRICS_AVAILABLE, "False", reason, text)
    elif unqueried:
        cond(
            METRICS_AVAILABLE,
            "Unknown",
            "NotQueried",
            "no query ran yet: metrics are read from pre-warm to the end of cooldown",
        )
    elif metric_targets:
        cond(METRICS_AVAILABLE, "True", "SamplesReceived", "every metric query returned a sample")
    else:
        cond(METRICS_AVAILABLE, "True", "NoMetrics", "no target has a metric")

    # PreWarmed: judged once per occurrence, at the first tick at or after its start.
    checked_for = previous.get("preWarmCheckedFor")
    timeline = plan.timeline
    if timeline is not None and phase is Stage.LIVE:
        start_text = rfc3339(timeline.occurrence.start)
        if checked_for != start_text:
            late = [t for t in data.targets if t.found and t.ready < t.floor]
            if late:
                text = f"at start {start_text} not every floor was Ready: " + ", ".join(
                    f"{t.kind}/{t.name} {t.ready}/{t.floor}" for t in late
                )
                notices.append(Notice("Warning", "PreWarmLate", text))
                cond(PREWARMED, "False", "PreWarmLate", text)
            else:
                cond(
                    PREWARMED, "True", "FloorReadyAtStart", f"every floor was Ready at {start_text}"
                )
            checked_for = start_text
    if condition_of({"conditions": conditions}, PREWARMED) is None:
        cond(PREWARMED, "Unknown", "NotStartedYet", "judged when the next occurrence starts")

    # Ready: the summary.
    desired_total = sum(t.desired for t in data.targets)
    ready_total = sum(min(t.ready, t.desired) for t in data.targets)
    handing_back = [t for t in data.targets if t.reason is Reason.HAND_BACK]
    if data.invalid_message:
        text = (
            f"generation {gen} is invalid ({data.invalid_message}); the last valid spec "
            "keeps holding the targets until it is fixed"
        )
        if _went_false(previous, READY, "InvalidSpec"):
            notices.append(Notice("Warning", "InvalidSpec", text))
        cond(READY, "False", "InvalidSpec", text)
    elif query_invalid:
        cond(
            READY,
            "False",
            "QueryInvalid",
            "a metric query does not parse: reactive scaling is off for its target; "
            "the schedule's floor still applies",
        )
    elif handing_back:
        cond(
            READY,
            "False",
            "HandBackInProgress",
            "handing back: " + ", ".join(f"{t.kind}/{t.name} to {t.desired}" for t in handing_back),
        )
    elif missing:
        cond(READY, "False", "TargetMissing", "some targets do not exist")
    elif plan.holding and ready_total < desired_total:
        cond(READY, "False", "WaitingForReplicas", f"{ready_total}/{desired_total} replicas Ready")
    else:
        cond(READY, "True", phase.value, f"{phase.value}; {ready_total}/{desired_total} Ready")

    status = {
        "observedGeneration": gen,
        "phase": phase.value,
        "leadTimeSeconds": int(plan.lead_time.total_seconds()),
        "desiredReplicas": desired_total,
        **_columns(data.targets, plan.holding, ready_total, desired_total),
        "targets": [_target_status(t) for t in data.targets],
        "conditions": conditions,
    }
    if timeline is not None:
        status["nextStart"] = rfc3339(timeline.occurrence.start)
        status["prewarmAt"] = rfc3339(timeline.prewarm_at)
        status["endsAt"] = rfc3339(timeline.occurrence.end)
    if checked_for:
        status["preWarmCheckedFor"] = checked_for
    return status, notices


def _columns(
    targets: Sequence[TargetReport], holding: bool, ready: int, desired: int
) -> dict[str, str]:
    """``ready`` and ``desired`` for ``kubectl get te``: ready/desired while the event holds
    (or hands back) its targets; otherwise what the targets have now and ``-``."""
    if holding or desired > 0:
        return {"ready": f"{ready}/{desired}", "desired": str(desired)}
    known = [t for t in targets if t.found and t.current is not None]
    if not known:
        return {"ready": "-", "desired": "-"}
    have = sum(t.current or 0 for t in known)
    return {"ready": f"{sum(min(t.ready, t.current or 0) for t in known)}/{have}", "desired": "-"}


METRIC_REFRESH_SECONDS = 300  # 400 events with a metric: ~7 status writes a second at 60 s


def refresh_phase(uid: str) -> int:
    """An event's own offset (seconds) into the refresh period: events created together
    would otherwise refresh their samples in the same tick, every period."""
    return zlib.crc32(uid.encode()) % METRIC_REFRESH_SECONDS


def _still_fresh(shown_at: datetime | None, now: datetime, phase: float) -> bool:
    """Shown less than a period ago, and no boundary of the event's periods passed since."""
    if shown_at is None or (now - shown_at).total_seconds() >= METRIC_REFRESH_SECONDS:
        return False
    window = METRIC_REFRESH_SECONDS
    return (now.timestamp() + phase) // window == (shown_at.timestamp() + phase) // window


def settle_status(
    previous: Mapping[str, Any], new: dict[str, Any], *, now: datetime, phase: float = 0
) -> dict[str, Any]:
    """Keep the previous metric sample in status while it is fresh and close to the new one.

    A sample changes every tick; writing each one would turn every tick into a status
    write per event. The sample shown is refreshed once per 5-minute period (periods
    shifted by ``phase``, the event's ``refresh_phase``, so that events spread their
    refreshes over the period), or at once when it moves by more than 5 % or the desired
    count changes (the live value is on /metrics).
    """
    before = {(t.get("kind"), t.get("name")): t for t in previous.get("targets") or []}
    settled = []
    for target in new.get("targets") or []:
        old = before.get((target.get("kind"), target.get("name")))
        metric, old_metric = target.get("metric"), (old or {}).get("metric")
        if (
            old is not None
            and metric is not None
            and old_metric is not None
            and old.get("desiredReplicas") == target.get("desiredReplicas")
            and old_metric.get("query") == metric.get("query")
        ):
            old_at = parse_timestamp(old_metric.get("timestamp"))
            old_value, value = float(old_metric.get("value") or 0), float(metric["value"])
            close = abs(value - old_value) <= 0.05 * max(abs(old_value), 1e-9)
            if close and _still_fresh(old_at, now, phase):
                target = {**target, "metric": old_metric}
        settled.append(target)
    return {**new, "targets": settled}


def metric_refresh_due(status: Mapping[str, Any], *, now: datetime, phase: float = 0) -> bool:
    """Whether ``settle_status`` would refresh a metric sample shown in ``status`` at ``now``."""
    shown = [t.get("metric") for t in status.get("targets") or [] if isinstance(t, Mapping)]
    return any(
        not _still_fresh(parse_timestamp(metric.get("timestamp")), now, phase)
        for metric in shown
        if isinstance(metric, Mapping)
    )


def _target_status(report: TargetReport) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": report.kind,
        "name": report.name,
        "mode": report.mode,
        "desiredReplicas": report.desired,
        "readyReplicas": report.ready,
        "reason": report.reason.value,
    }
    if report.message:
        entry["message"] = report.message
    if report.lead_time is not None:
        entry["leadTime"] = dict(report.lead_time)
    metric = report.metric
    if metric is not None and metric.value is not None and metric.timestamp is not None:
        entry["metric"] = {
            "query": metric.query,
            "value": metric.value,
            "timestamp": rfc3339(metric.timestamp),
        }
    return entry


def _stage_message(plan: EventPlan, targets: Sequence[TargetReport]) -> str:
    timeline = plan.timeline
    wants = ", ".join(f"{t.kind}/{t.name}={t.desired}" for t in targets)
    if plan.stage is Stage.SCHEDULED and timeline is not None:
        return (
            f"next occurrence starts {rfc3339(timeline.occurrence.start)}; pre-warm at "
            f"{rfc3339(timeline.prewarm_at)}"
        )
    if plan.stage is Stage.PREWARMING and timeline is not None:
        return (
            f"pre-warming for the start at {rfc3339(timeline.occurrence.start)} "
            f"(lead time {int(plan.lead_time.total_seconds())}s): {wants}"
        )
    if plan.stage is Stage.LIVE and timeline is not None:
        return f"live until {rfc3339(timeline.occurrence.end)}: {wants}"
    if plan.stage is Stage.COOLING_DOWN and timeline is not None:
        return f"ended; the floor decays until {rfc3339(timeline.released_at)}"
    if plan.stage is Stage.SUSPENDED:
        return "suspended: targets are handed back"
    return "completed: targets are handed back"
