"""From one tick's decisions to a TrafficEvent's status: per-target reports and the status.

``status_write`` gives an event's status as a merge patch (nulls for fields that no longer
apply); ``stage_targets`` turns what ``decide`` found for one event (its wishes, the
decisions for its targets, the metric results) into ``status.TargetReport`` rows;
``event_status`` builds the status with ``status.build_status`` and keeps the metric sample
steady between refreshes; ``StatusMemo`` skips building it again from the same inputs.
The rules for conditions and Events live in ``status``; this
module only gathers their inputs. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from showtime.core.handback import Mode
from showtime.core.nodecapacity import NodeCapacityReport
from showtime.core.nodecapacity_status import with_node_capacity
from showtime.core.observed import Observed, ObservedWorkload, StatusWrite, WorkloadKey
from showtime.core.planner import EventPlan, Reason
from showtime.core.samples import MetricFailure, MetricResult, Sample
from showtime.core.status import (
    MetricReport,
    Notice,
    StatusInput,
    TargetReport,
    build_status,
    metric_refresh_due,
    refresh_phase,
    settle_status,
)
from showtime.core.targets import TargetDecision

if TYPE_CHECKING:
    from showtime.core.decide import EventDecision


def metric_report(query: str, result: MetricResult | None) -> MetricReport:
    if isinstance(result, Sample):
        return MetricReport(query, value=result.value, timestamp=result.timestamp)
    if isinstance(result, MetricFailure):
        return MetricReport(
            query, failure_reason=result.reason.value, failure_message=result.message
        )
    return MetricReport(query)


def stage_targets(
    decision: EventDecision,
    observed: Observed,
    targets: Mapping[WorkloadKey, TargetDecision],
    results: Mapping[str, MetricResult],
) -> tuple[TargetReport, ...]:
    """One report per target of the event: what it wants of it, and why."""
    spec, event = decision.spec, decision.event
    assert spec is not None
    reports = []
    for target in spec.targets:
        key = (event.namespace, target.kind, target.name)
        workload = observed.workloads.get(key)
        found = targets.get(key)
        wish = decision.wishes.get(target.key)
        desired, reason = 0, Reason.NONE
        if wish is not None:
            desired, reason = wish.desired, wish.reason
            if found is not None and found.capped_by_hpa:
                desired, reason = found.heading_to, Reason.CAP
        elif target.key in decision.frozen:
            desired, reason = decision.frozen[target.key], Reason.FLOOR
        elif (
            found is not None
            and found.reason is Reason.HAND_BACK
            and not found.held
            and found.state is not None
        ):
            desired, reason = found.desired, Reason.HAND_BACK  # still stepping down after this
        metric = None
        if target.metric is not None:
            metric = metric_report(target.metric.query, results.get(target.metric.query))
        hpa = workload.hpa if workload is not None else None
        estimate = decision.lead_times.get(target.key)
        record = observed.startup.to_record(key, estimate) if estimate is not None else None
        reports.append(
            TargetReport(
                kind=target.kind,
                name=target.name,
                found=workload is not None,
                mode=(Mode.HPA if hpa is not None else Mode.REPLICAS).value,
                desired=desired,
                ready=workload.ready if workload is not None else 0,
                reason=reason,
                floor=spec.floor_of(target),
                metric=metric,
                lead_time=record,
                current=_current(workload, found),
            )
        )
    return tuple(reports)


def _current(workload: ObservedWorkload | None, decided: TargetDecision | None) -> int | None:
    """The target's replicas once this tick's write (if any) is done."""
    if decided is not None and decided.replicas is not None:
        return decided.replicas
    return workload.replicas if workload is not None else None


def event_status(
    previous: Mapping[str, Any],
    *,
    generation: int,
    plan: EventPlan | None,
    error: str | None,
    reports: Sequence[TargetReport],
    held_spec: Mapping[str, Any] | None,
    now: datetime,
    refresh_at: float = 0,
) -> tuple[dict[str, Any], list[Notice]]:
    """The event's whole new status (the caller diffs it into a merge patch) and its Events.

    ``refresh_at``: the event's ``refresh_phase``, when in each period its sample is shown anew.
    """
    new, notices = build_status(
        previous, StatusInput(generation, plan, error, tuple(reports)), now=now
    )
    new = settle_status(previous, new, now=now, phase=refresh_at)
    if held_spec is not None:
        new["heldSpec"] = dict(held_spec)
    if previous.get("history"):  # written by shell.history, kept as it is
        new["history"] = previous["history"]
    return new, notices


@dataclass
class StatusMemo:
    """Per event (uid), the inputs of its last status that needed no write.

    A steady event's status is built from the same inputs tick after tick (the same cached
    status object, plan, target reports and node capacity report) and then needs no write
    again; it is not built again. Only a metric sample due for its refresh (the one input
    the clock changes) makes it built anyway. Kept by the caller between ticks; pure data.
    """

    inputs: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def unchanged(self, uid: str, inputs: tuple[Any, ...]) -> bool:
        before = self.inputs.get(uid)
        return (
            before is not None
            and before[0] is inputs[0]  # the cache replaces a status object, never edits it
            and before[1:] == inputs[1:]
        )

    def keep_only(self, uids: set[str]) -> None:
        for uid in [u for u in self.inputs if u not in uids]:
            del self.inputs[uid]


def status_write(
    decision: EventDecision,
    observed: Observed,
    targets: Mapping[WorkloadKey, TargetDecision],
    results: Mapping[str, MetricResult],
    node_capacity: NodeCapacityReport | None = None,
    memo: StatusMemo | None = None,
) -> tuple[StatusWrite | None, list[Any]]:
    """The event's status as a merge patch (None: nothing changed), and its notices."""
    event = decision.event
    reports = stage_targets(decision, observed, targets, results) if decision.spec else ()
    held_raw = None
    if decision.plan is not None and decision.plan.holding:
        held_raw = event.raw_spec if event.spec is not None else event.status.get("heldSpec")
    inputs = (
        event.status,
        event.generation,
        decision.plan,
        decision.error,
        reports,
        held_raw,
        node_capacity,
    )
    steady = memo is not None and memo.unchanged(event.uid, inputs)
    phase = refresh_phase(event.uid)
    if steady and not metric_refresh_due(event.status, now=observed.now, phase=phase):
        return None, []
    new, said = event_status(
        event.status,
        generation=event.generation,
        plan=decision.plan,
        error=decision.error,
        reports=reports,
        held_spec=held_raw,
        now=observed.now,
        refresh_at=phase,
    )
    new = with_node_capacity(new, node_capacity, generation=event.generation, now=observed.now)
    patch = {k: v for k, v in new.items() if event.status.get(k) != v}
    patch.update({k: None for k in event.status if k not in new})
    write = StatusWrite(event.namespace, event.name, patch) if patch else None
    if memo is not None:
        if write is None and not said:
            memo.inputs[event.uid] = inputs
        else:
            memo.inputs.pop(event.uid, None)
    return write, said
