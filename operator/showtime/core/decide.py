"""The whole tick as one pure function: ``decide(observed, metric results) -> Decisions``.

Given what the cluster says (``Observed``: TrafficEvents, workloads with Showtime's
annotations, HPAs, learned lead times, the clock) and this tick's metric results, decide
every write, status patch and Event. Three passes:

1. each TrafficEvent: its effective spec (the current one, or while it holds its targets
   the last valid one when an edit is invalid), its plan and its wish for every target;
2. each target: the wishes of the events holding it, combined by ``targets.decide_target``
   into ordered writes (record the pre-event state before changing a count; forget it only
   after the count is back);
3. each TrafficEvent again: its status as a merge patch (fields that no longer apply are
   sent as null) and the Events announcing what changed.

Every object is decided inside its own guard: whatever one TrafficEvent or workload runs
into (an overflow, a date in year 9999, a bug) makes that one ``Invalid`` or leaves that
target alone, and changes nothing for the others. No I/O, no clock reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from showtime.core.decide_status import StatusMemo, metric_report, status_write
from showtime.core.handback import ALL_ANNOTATIONS, HELD_BY, read_annotations
from showtime.core.history import resolve_expected_peak
from showtime.core.leadtime import LeadTimeEstimate
from showtime.core.nodecapacity import NodeCapacityDecisions, decide_node_capacity
from showtime.core.observed import (
    Decisions,
    EventKey,
    HpaWrite,
    Involved,
    Notice,
    Observed,
    ObservedEvent,
    ObservedWorkload,
    StatusWrite,
    TargetAction,
    WorkloadKey,
    WorkloadWrite,
    Write,
)
from showtime.core.planner import (
    HOLDING_STAGES,
    EventPlan,
    Reason,
    Stage,
    TargetWish,
    effective_lead_time,
    plan_event,
    wish_for,
)
from showtime.core.samples import MetricResult, Sample
from showtime.core.spec import TrafficEventSpec
from showtime.core.targets import Claim, TargetDecision, TargetView, decide_target
from showtime.core.timestamps import parse_timestamp

QUERYING_STAGES = HOLDING_STAGES | {Stage.SCHEDULED}
EVENT_API_VERSION = "showtime.dev/v1alpha1"


@dataclass
class EventDecision:
    """What one TrafficEvent wants this tick (pass 1)."""

    event: ObservedEvent
    spec: TrafficEventSpec | None = None
    plan: EventPlan | None = None
    error: str | None = None  # the event is Invalid (or holds on its last valid spec)
    wishes: dict[tuple[str, str], TargetWish] = field(default_factory=dict)
    frozen: dict[tuple[str, str], int] = field(default_factory=dict)  # held, plan failed
    lead_times: dict[tuple[str, str], LeadTimeEstimate] = field(default_factory=dict)  # auto

    @property
    def involved(self) -> Involved:
        e = self.event
        return Involved(e.namespace, "TrafficEvent", e.name, e.uid, EVENT_API_VERSION)


def plan_events(observed: Observed) -> list[EventDecision]:
    """Pass 1 without the metrics: each event's effective spec and plan."""
    holders = holders_index(observed)
    return [_plan(event, observed, holders) for event in observed.events]


def queries_for(plans: Sequence[EventDecision]) -> set[str]:
    """The distinct metric queries this tick needs (evaluated once each by the shell)."""
    queries: set[str] = set()
    for decision in plans:
        if decision.spec is None or decision.plan is None or decision.event.releasing:
            continue
        if decision.plan.stage in QUERYING_STAGES:
            queries.update(t.metric.query for t in decision.spec.targets if t.metric)
    return queries


def decide(
    observed: Observed,
    results: Mapping[str, MetricResult],
    plans: list[EventDecision] | None = None,
    status_memo: StatusMemo | None = None,
) -> Decisions:
    """Every write, status patch and Event of this tick, from what was observed.

    ``plans`` is what ``plan_events`` gave for the same ``observed`` (planned once a tick:
    the queries come from it); without it, decide plans itself. ``status_memo``, kept by the
    caller from tick to tick, spares building the status of events whose inputs are unchanged.
    """
    failures: list[str] = []
    if plans is None:
        plans = plan_events(observed)
    try:  # node capacity pre-warm; each event in its own guard inside
        capacity = decide_node_capacity(plans, observed)
    except Exception as exc:  # then no reservation is created, changed or deleted
        capacity = NodeCapacityDecisions(failures=[f"nodeCapacity: {type(exc).__name__}: {exc}"])
    events = [_wishes(decision, observed, results) for decision in plans]
    claims = _claims(events)
    holding = {key: tuple(sorted(c.event for c in found)) for key, found in claims.items()}
    targets: dict[WorkloadKey, TargetDecision] = {}
    actions: list[TargetAction] = []
    notices: list[Notice] = []
    by_name = {(d.event.namespace, d.event.name): d for d in events}
    for key in _keys_to_decide(observed, claims):
        workload = observed.workloads[key]
        try:
            decision, action, said = _decide_target(workload, claims.get(key, []), observed)
        except Exception as exc:  # one target's trouble leaves that target alone
            failures.append(f"{'/'.join(key)}: {type(exc).__name__}: {exc}")
            continue
        targets[key] = decision
        if action is not None:
            actions.append(action)
        notices.extend(_addressed(said, workload, holding.get(key, ()), by_name))
    statuses: list[StatusWrite] = []
    for event_decision in events:
        if event_decision.event.releasing:
            continue
        try:
            write, said_status = status_write(
                event_decision,
                observed,
                targets,
                results,
                node_capacity=capacity.reports.get(event_decision.event.key),
                memo=status_memo,
            )
        except Exception as exc:
            failures.append(f"{'/'.join(event_decision.event.key)}: status: {exc}")
            continue
        if write is not None:
            statuses.append(write)
        notices.extend(
            Notice(event_decision.involved, n.type, n.reason, n.message) for n in said_status
        )
    if status_memo is not None:
        status_memo.keep_only({e.uid for e in observed.events})
    return Decisions(
        tuple(actions),
        tuple(statuses),
        (*notices, *capacity.notices),
        (*failures, *capacity.failures),
        tuple(capacity.writes),
    )


# -- pass 1: each TrafficEvent -----------------------------------------------------------


def _plan(event: ObservedEvent, observed: Observed, holders: frozenset[EventKey]) -> EventDecision:
    decision = EventDecision(event)
    spec, error = event.spec, event.spec_error
    if spec is None and event.held_spec is not None and _was_holding(event, holders):
        spec = event.held_spec  # an invalid edit mid-event: the last valid spec holds on
    decision.spec, decision.error = spec, error
    if spec is None:
        return decision
    try:
        spec = decision.spec = resolve_expected_peak(spec, event.status)  # expectedPeak: auto
        if spec.lead_time is None:
            decision.lead_times = _estimates(event.namespace, spec, observed)
        learned = {key: estimate.value for key, estimate in decision.lead_times.items()}
        lead = effective_lead_time(spec, learned, observed.default_lead_time)
        started = None
        start_at = parse_timestamp(event.status.get("nextStart"))
        prewarm_at = parse_timestamp(event.status.get("prewarmAt"))
        if start_at is not None and prewarm_at is not None:
            started = (start_at, prewarm_at)
        decision.plan = plan_event(spec, now=observed.now, lead_time=lead, prewarm_started=started)
        if event.spec is None and not decision.plan.holding:
            # The last valid spec has let go: from now on the invalid edit is what counts.
            decision.spec, decision.plan = None, None
    except Exception as exc:  # an overflow or a date out of range: this event only
        decision.plan = None
        decision.error = f"cannot be planned: {type(exc).__name__}: {exc}"
        if _was_holding(event, holders):
            decision.frozen = _last_desired(event)
    return decision


def _estimates(
    namespace: str, spec: TrafficEventSpec, observed: Observed
) -> dict[tuple[str, str], LeadTimeEstimate]:
    """Each target's lead time from its pods' start-up, for the pods its floor adds."""
    found = {}
    for target in spec.targets:
        key = (namespace, target.kind, target.name)
        workload = observed.workloads.get(key)
        current = workload.replicas if workload is not None else 0
        found[target.key] = observed.startup.estimate(
            key,
            default=observed.default_lead_time,
            pods_to_add=max(1, spec.floor_of(target) - current),
            ordered=workload is not None and workload.ordered_ready,
            under_hpa=workload is not None and workload.hpa is not None,
        )
    return found


def _was_holding(event: ObservedEvent, holders: frozenset[EventKey]) -> bool:
    """Its status says it holds, or a target's annotations name it among its holders."""
    return event.status.get("phase") in _HOLDING_PHASES or event.key in holders


_HOLDING_PHASES = frozenset(s.value for s in HOLDING_STAGES)


def holders_index(observed: Observed) -> frozenset[EventKey]:
    """Every TrafficEvent some target's ``held-by`` annotation names."""
    found: set[EventKey] = set()
    for workload in observed.workloads.values():
        held = workload.annotations.get(HELD_BY, "")
        found.update((workload.namespace, name) for name in held.split(",") if name)
    return frozenset(found)


def _last_desired(event: ObservedEvent) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for entry in event.status.get("targets") or []:
        value = entry.get("desiredReplicas")
        if isinstance(value, int) and value > 0:
            found[(str(entry.get("kind")), str(entry.get("name")))] = value
    return found


def _wishes(
    decision: EventDecision, observed: Observed, results: Mapping[str, MetricResult]
) -> EventDecision:
    spec, plan, event = decision.spec, decision.plan, decision.event
    if spec is None or plan is None or event.releasing or not plan.holding:
        return decision
    previous = _last_desired(event)
    for target in spec.targets:
        floor_now = plan.floors.get(target.key)
        if floor_now is None:
            continue
        try:
            result = results.get(target.metric.query) if target.metric else None
            decision.wishes[target.key] = wish_for(
                target,
                floor_now,
                sample_value=result.value if isinstance(result, Sample) else None,
                metric_failed=target.metric is not None and not isinstance(result, Sample),
                last_desired=previous.get(target.key),
            )
        except Exception:  # keep what it had: never lower on trouble
            if target.key in previous:
                decision.frozen[target.key] = previous[target.key]
    return decision


def _claims(events: Iterable[EventDecision]) -> dict[WorkloadKey, list[Claim]]:
    claims: dict[WorkloadKey, list[Claim]] = {}
    for decision in events:
        event, spec = decision.event, decision.spec
        if event.releasing:
            continue
        window = spec.scale_down.stabilization_window if spec else None
        percent = spec.scale_down.max_percent_per_minute if spec else 20
        for (kind, name), wish in decision.wishes.items():
            claims.setdefault((event.namespace, kind, name), []).append(
                Claim(event.name, wish.desired, wish.reason, window or timedelta(0), percent)
            )
        for (kind, name), value in decision.frozen.items():
            claims.setdefault((event.namespace, kind, name), []).append(
                Claim(event.name, value, Reason.FLOOR, window or timedelta(0), percent)
            )
    return claims


# -- pass 2: each target -----------------------------------------------------------------


def _keys_to_decide(observed: Observed, claims: Mapping[WorkloadKey, Any]) -> list[WorkloadKey]:
    keys = {key for key in claims if key in observed.workloads}
    keys.update(key for key, w in observed.workloads.items() if w.annotations)
    return sorted(keys)


@dataclass(frozen=True)
class _Said:
    type: str
    reason: str
    message: str


def _decide_target(
    workload: ObservedWorkload, claims: list[Claim], observed: Observed
) -> tuple[TargetDecision, TargetAction | None, list[_Said]]:
    said: list[_Said] = []
    read = read_annotations(dict(workload.annotations))
    what = f"{workload.kind}/{workload.name}"
    for problem in read.problems:
        said.append(
            _Said("Warning", "AnnotationUnreadable", f"{what}: {problem} is unreadable; dropped")
        )
    view = TargetView(workload.replicas, workload.hpa, read.state)
    decision = decide_target(view, claims, now=observed.now)
    said.extend(_Said(n.type, n.reason, f"{what}: {n.message}") for n in decision.notices)
    wanted: dict[str, str | None]
    if decision.state is not None:
        wanted = dict(decision.state.to_annotations())
    else:
        wanted = dict.fromkeys(ALL_ANNOTATIONS)
    diff = {
        k: v
        for k, v in wanted.items()
        if workload.annotations.get(k) != v and not (v is None and k not in workload.annotations)
    }
    hpa = workload.hpa
    before = hpa.effective_min if hpa is not None else workload.replicas
    workload_write = None
    if diff or decision.replicas is not None:
        workload_write = WorkloadWrite(
            workload.key, workload.resource_version, diff or None, decision.replicas
        )
    hpa_write = None
    if decision.hpa_min is not None and hpa is not None:
        hpa_write = HpaWrite(
            workload.namespace, hpa.name, workload.hpa_resource_version, decision.hpa_min.value
        )
    writes: list[Write] = []
    if decision.state is not None:  # record first, then change the count
        writes += [w for w in (workload_write, hpa_write) if w is not None]
    else:  # restore the count first, then forget
        writes += [w for w in (hpa_write, workload_write) if w is not None]
    if decision.capped_by_hpa and hpa is not None and hpa_write is not None:
        said.append(
            _Said(
                "Warning",
                "HPACapped",
                f"{what}: desired {decision.desired} is above HPA {hpa.name}'s maxReplicas "
                f"{hpa.max_replicas}; capped",
            )
        )
    if decision.reason is Reason.HAND_BACK and decision.writes:
        said.append(
            _Said(
                "Normal",
                "HandBack",
                f"{what}: {before} → {decision.heading_to}, handing back to {decision.desired}",
            )
        )
    elif decision.reason is Reason.METRIC and decision.writes:
        said.append(_Said("Normal", "ScaledByMetric", f"{what}: {before} → {decision.heading_to}"))
    if not writes:
        return decision, None, said
    action = TargetAction(
        workload.key,
        tuple(writes),
        before,
        decision.heading_to,
        decision.reason.value,
        tuple(sorted({c.event for c in claims})),
    )
    return decision, action, said


def _addressed(
    said: list[_Said],
    workload: ObservedWorkload,
    holders: tuple[str, ...],
    events: Mapping[EventKey, EventDecision],
) -> list[Notice]:
    """A target's notices go to the events holding it, else to the workload itself."""
    to = [
        events[(workload.namespace, h)].involved
        for h in holders
        if (workload.namespace, h) in events
    ]
    if not to:
        to = [Involved(workload.namespace, workload.kind, workload.name, workload.uid, "apps/v1")]
    return [Notice(i, s.type, s.reason, s.message) for s in said for i in to]


__all__ = ["EventDecision", "decide", "metric_report", "plan_events", "queries_for"]
