"""Node capacity pre-warm: when to reserve room on nodes, for how many pods, and with what.

Raising replicas early helps only if the cluster has room; otherwise the new pods wait for a
node autoscaler to boot nodes. With ``spec.nodeCapacity.prewarm`` an event reserves that
room ahead of its pod pre-warm, by the *node lead time*:

* node lead time: an explicit ``nodeCapacity.leadTime``; else (``auto``) learned from the
  nodes that became Ready in the last 7 days (creation to Ready, the newest 20): their 90th
  percentile plus the larger of 60 s and a quarter of it (a node's boot varies more than a
  pod's start), whole seconds up, at most 2 h; with no such node, the operator's default
  (``SHOWTIME_DEFAULT_NODE_LEAD_TIME``).
* the window opens at ``prewarmAt - node lead time`` and closes at the occurrence's start;
  inside it a target reserves ``max(0, floor - Ready pods)``: what the floor adds beyond
  what already runs, shrinking as the real pods become Ready, and nothing once the floor is
  Ready. From the pod pre-warm on, never more than the placeholders Ready now: the real
  pods take their room, and a preempted placeholder is not asked for again. Nothing for an
  event that is suspended, completed, invalid or being deleted.
* mechanism: a CapacityBuffer pointing at the target where the cluster serves
  ``autoscaling.x-k8s.io/v1beta1``, else (or with ``mechanism: Placeholders``) a
  Deployment of pause pods (``placeholders``).

``decide_node_capacity`` is level-based: every object carrying Showtime's placeholder labels
that no event wants now is deleted, so a restarted operator, a deleted event or a switched
mechanism leaves nothing behind. Each event is decided in its own guard; one that fails
keeps its objects as they are and changes nothing for the others. The status and the
``NodeCapacityReady`` condition are built in ``nodecapacity_status``. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from showtime.core.leadtime import percentile
from showtime.core.observed import (
    EventKey,
    NodeSeen,
    Notice,
    Observed,
    ObservedReservation,
    ReservationWrite,
)
from showtime.core.placeholders import (
    DEPLOYMENT,
    EVENT_LABEL,
    PLACEHOLDER_FOR,
    SHAPE_HASH,
    TARGET_KIND,
    Owner,
    capacity_buffer,
    label_value,
    object_name,
    placeholder_deployment,
)
from showtime.core.planner import EventPlan, Stage
from showtime.core.schedule import shifted
from showtime.core.spec import MAX_NODE_LEAD_TIME, TrafficEventSpec

if TYPE_CHECKING:
    from showtime.core.decide import EventDecision

LEARN_WINDOW = timedelta(days=7)  # nodes Ready within this long are learned from
LEARN_NODES = 20  # the newest this many
NODE_MARGIN = timedelta(seconds=60)  # at least this on top of the 90th percentile
NODE_MARGIN_SHARE = 0.25  # or this share of it, if more
PLACEHOLDERS = "Placeholders"
BUFFER = "CapacityBuffer"
ReservationKey = tuple[str, str, str]  # (kind, namespace, name)


@dataclass(frozen=True)
class NodeLeadTime:
    value: timedelta
    source: str  # Spec | Nodes | Default
    samples: int = 0


def learn_node_lead_time(
    nodes: Iterable[NodeSeen], now: datetime, default: timedelta
) -> NodeLeadTime:
    """How long a new node takes to join, from the nodes that joined recently.

    A node counts if its Ready condition turned True within ``LEARN_WINDOW`` and at most
    2 h after its creation (a later Ready is a node coming back, not a node booting).
    """
    joined = sorted(
        (n for n in nodes if n.ready_since is not None and n.ready_since <= now),
        key=lambda n: n.ready_since or now,
        reverse=True,
    )
    seconds: list[float] = []
    for node in joined:
        assert node.ready_since is not None
        took = node.ready_since - node.created
        if now - node.ready_since > LEARN_WINDOW or len(seconds) >= LEARN_NODES:
            break
        if timedelta(0) <= took <= MAX_NODE_LEAD_TIME:
            seconds.append(took.total_seconds())
    if not seconds:
        return NodeLeadTime(default, "Default")
    p90 = percentile(seconds, 0.9)
    margin = max(NODE_MARGIN.total_seconds(), NODE_MARGIN_SHARE * p90)
    learned = min(timedelta(seconds=math.ceil(p90 + margin)), MAX_NODE_LEAD_TIME)
    return NodeLeadTime(learned, "Nodes", len(seconds))


def node_lead_time(spec: TrafficEventSpec, learned: NodeLeadTime) -> NodeLeadTime:
    """An explicit ``nodeCapacity.leadTime`` wins over what was learned."""
    if spec.node_capacity.lead_time is not None:
        return NodeLeadTime(spec.node_capacity.lead_time, "Spec")
    return learned


def reserve_at(plan: EventPlan | None, lead: timedelta) -> datetime | None:
    """When room is reserved for the occurrence the plan reports: prewarmAt - lead."""
    if plan is None or plan.timeline is None:
        return None
    return shifted(plan.timeline.prewarm_at, -lead)


def pods_to_reserve(
    floor: int,
    ready: int,
    plan: EventPlan | None,
    now: datetime,
    lead: timedelta,
    holding: int = 0,
) -> int:
    """Pods' worth of room to hold now for one target: what the floor adds beyond Ready.

    From the pod pre-warm on, the real pods take the room the reservation made: they preempt
    the placeholders (or fill the nodes a CapacityBuffer brought). From then on a target
    keeps at most the ``holding`` placeholders that are Ready now, so a preempted placeholder
    is not asked for again (its ReplicaSet would recreate it Pending, and the node
    autoscaler would boot a node for it while the real pod already has one); a
    CapacityBuffer (``holding`` 0) ends there, or the autoscaler would keep spare room for
    the floor on top of the floor's own pods.
    """
    if plan is None or plan.timeline is None:
        return 0
    if plan.stage not in (Stage.SCHEDULED, Stage.PREWARMING):
        return 0
    opens = reserve_at(plan, lead)
    if opens is None or now < opens or now >= plan.timeline.occurrence.start:
        return 0
    wanted = max(0, floor - ready)
    if now >= plan.timeline.prewarm_at:
        return min(wanted, max(0, holding))
    return wanted


def mechanism_for(spec: TrafficEventSpec, buffers_served: bool) -> str | None:
    """The mechanism in use; None when the one asked for is not served here."""
    asked = spec.node_capacity.mechanism
    if asked == "Auto":
        return BUFFER if buffers_served else PLACEHOLDERS
    if asked == BUFFER and not buffers_served:
        return None
    return asked


@dataclass(frozen=True)
class TargetReservation:
    kind: str
    name: str
    pods: int  # reserved now
    ready_placeholders: int  # placeholder pods Ready (Placeholders only)
    object: str  # the Deployment or CapacityBuffer holding it ("" when nothing is reserved)
    created: bool = False  # the object exists on the cluster with this count


@dataclass(frozen=True)
class NodeCapacityReport:
    """What status shows of one event's node capacity pre-warm."""

    lead: NodeLeadTime
    reserve_at: datetime | None
    mechanism: str | None
    targets: tuple[TargetReservation, ...] = ()


@dataclass
class NodeCapacityDecisions:
    writes: list[ReservationWrite] = field(default_factory=list)
    reports: dict[EventKey, NodeCapacityReport] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def decide_node_capacity(
    plans: Sequence[EventDecision], observed: Observed
) -> NodeCapacityDecisions:
    """Every create, patch and delete of reservations this tick, and each event's report."""
    result = NodeCapacityDecisions()
    if not observed.reservations and not any(
        d.spec is not None and d.spec.node_capacity.prewarm for d in plans
    ):
        return result  # nothing pre-warms nodes and nothing is reserved: no cost per tick
    learned = learn_node_lead_time(observed.nodes, observed.now, observed.default_node_lead_time)
    wanted: dict[ReservationKey, tuple[dict[str, Any], EventDecision]] = {}
    kept: set[ReservationKey] = set()
    for decision in plans:
        try:
            report, objects = _event(decision, observed, learned)
        except Exception as exc:  # this event only: its objects stay as they are
            result.failures.append(f"{'/'.join(decision.event.key)}: nodeCapacity: {exc}")
            kept.update(_objects_of(decision, observed.reservations.values()))
            continue
        if report is not None:
            result.reports[decision.event.key] = report
        wanted.update({key: (body, decision) for key, body in objects.items()})
    for key, (body, decision) in sorted(wanted.items()):
        have = observed.reservations.get(key)
        kind, namespace, name = key
        replicas = int(body["spec"]["replicas"])
        meta = body["metadata"]
        target = f"{meta['annotations'].get(TARGET_KIND)}/{meta['labels'].get(PLACEHOLDER_FOR)}"
        what = f"{kind} {name} reserves room for {replicas} pods like {target}"
        if have is None:
            result.writes.append(ReservationWrite("create", kind, namespace, name, body))
            result.notices.append(Notice(decision.involved, "Normal", "NodeCapacityReserved", what))
        elif (patch := _patch(have, body, decision)) is not None:
            result.writes.append(ReservationWrite("patch", kind, namespace, name, patch))
    for key in sorted(observed.reservations):
        if key not in wanted and key not in kept:
            result.writes.append(ReservationWrite("delete", *key))
    return result


def _objects_of(
    decision: EventDecision, reservations: Iterable[ObservedReservation]
) -> set[ReservationKey]:
    event = decision.event
    return {
        r.key
        for r in reservations
        if r.namespace == event.namespace
        and (r.body.get("metadata") or {}).get("labels", {}).get(EVENT_LABEL)
        == label_value(event.name)
    }


def _event(
    decision: EventDecision, observed: Observed, learned: NodeLeadTime
) -> tuple[NodeCapacityReport | None, dict[ReservationKey, dict[str, Any]]]:
    """One event's report (None: it does not pre-warm nodes) and the objects it wants."""
    spec, plan, event = decision.spec, decision.plan, decision.event
    if spec is None or not spec.node_capacity.prewarm or event.releasing:
        return None, {}
    lead = node_lead_time(spec, learned)
    opens = reserve_at(plan, lead.value)
    mechanism = mechanism_for(spec, observed.buffers_served)
    owner = Owner(event.namespace, event.name, event.uid)
    objects: dict[ReservationKey, dict[str, Any]] = {}
    reservations = []
    for target in spec.targets:
        workload = observed.workloads.get((event.namespace, target.kind, target.name))
        if workload is None:
            continue
        kind = BUFFER if mechanism == BUFFER else DEPLOYMENT
        name = object_name(event.name, target.kind, target.name)
        have = observed.reservations.get((kind, event.namespace, name))
        holding = have.ready if have is not None and kind == DEPLOYMENT else 0
        pods = pods_to_reserve(
            spec.floor_of(target), workload.ready, plan, observed.now, lead.value, holding
        )
        if pods <= 0 or mechanism is None:
            reservations.append(TargetReservation(target.kind, target.name, 0, 0, ""))
            continue
        if mechanism == BUFFER:
            body = capacity_buffer(owner, target.kind, target.name, pods)
        else:
            body = placeholder_deployment(
                owner,
                target.kind,
                target.name,
                workload.template or {},
                pods,
                image=observed.placeholder_image,
            )
        key = (kind, event.namespace, name)
        objects[key] = body
        reservations.append(
            TargetReservation(
                target.kind,
                target.name,
                pods,
                min(pods, have.ready) if have is not None and kind == DEPLOYMENT else 0,
                f"{kind}/{key[2]}",
                created=have is not None and have.replicas == pods,
            )
        )
    return NodeCapacityReport(lead, opens, mechanism, tuple(reservations)), objects


def _patch(
    have: ObservedReservation, body: Mapping[str, Any], decision: EventDecision
) -> dict[str, Any] | None:
    """The merge patch bringing ``have`` to ``body``; None when it is there already."""
    meta = body["metadata"]
    stored_meta = have.body.get("metadata") or {}
    owners = [r.get("uid") for r in stored_meta.get("ownerReferences") or []]
    patch: dict[str, Any] = {}
    if have.shape_hash != meta["annotations"][SHAPE_HASH] or owners != [decision.event.uid]:
        # A changed shape (the target's template changed) or a new owner (the event was
        # deleted and created again under its name): everything but the immutable selector.
        spec = {k: v for k, v in body["spec"].items() if k != "selector"}
        stored_spec = {k: v for k, v in (have.body.get("spec") or {}).items() if k in spec}
        patch["metadata"] = {
            "labels": dict(meta["labels"]),
            "annotations": dict(meta["annotations"]),
            "ownerReferences": list(meta["ownerReferences"]),
        }
        patch["spec"] = _merge_diff(stored_spec, spec)
    elif have.replicas != body["spec"]["replicas"]:
        patch["spec"] = {"replicas": body["spec"]["replicas"]}
    # No resourceVersion precondition: the count is absolute, and the Deployment's own
    # controller changes its status (and so its version) all the time.
    return patch or None


def _merge_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch (RFC 7386) turning ``before`` into ``after``."""
    patch: dict[str, Any] = {key: None for key in before if key not in after}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            nested = _merge_diff(old, value)
            if nested:
                patch[key] = nested
        elif old != value:
            patch[key] = value
    return patch
