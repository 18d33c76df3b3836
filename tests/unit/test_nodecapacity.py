"""Node capacity pre-warm, the pure core: when room is reserved, for how many pods, and how.

Issue 10: ahead of the pod pre-warm by the node lead time, reserve room for the pods the
floor will add; shrink as real pods become Ready; nothing once the floor is Ready, or when
the event is suspended, released, deleted, invalid or completed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from showtime.core.decide import decide, plan_events
from showtime.core.nodecapacity import (
    learn_node_lead_time,
    node_lead_time,
    pods_to_reserve,
    reserve_at,
)
from showtime.core.observed import (
    NodeSeen,
    Observed,
    ObservedEvent,
    ObservedReservation,
    ObservedWorkload,
)
from showtime.core.placeholders import SHAPE_HASH, is_reservation
from showtime.core.planner import plan_event
from showtime.core.spec import parse_spec
from tests.unit.test_crd_status_schema import undeclared

CRD = Path(__file__).resolve().parents[2] / "crds" / "trafficevent.yaml"
START = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
LEAD = timedelta(minutes=5)  # the pods' lead time: pre-warm at 11:55
NODE_LEAD = timedelta(minutes=8)  # room reserved from 11:47
TEMPLATE = {
    "metadata": {"labels": {"app": "api"}},
    "spec": {"containers": [{"name": "api", "resources": {"requests": {"cpu": "500m"}}}]},
}


def raw(**node_capacity: Any) -> dict[str, Any]:
    return {
        "schedule": {"start": "2026-12-31T12:00:00Z", "duration": "1h"},
        "leadTime": "5m",
        "nodeCapacity": {"prewarm": True, "leadTime": "8m", **node_capacity},
        "targets": [{"name": "api", "replicas": 30, "maxReplicas": 50}],
    }


def event(spec: dict[str, Any], *, name: str = "lecture", **kw: Any) -> ObservedEvent:
    return ObservedEvent("live", name, f"uid-{name}", 1, parse_spec(spec), raw_spec=spec, **kw)


def workload(ready: int, replicas: int | None = None, name: str = "api") -> ObservedWorkload:
    return ObservedWorkload(
        "live",
        "Deployment",
        name,
        f"uid-{name}",
        replicas if replicas is not None else ready,
        ready,
        "1",
        template=TEMPLATE,
    )


def observed(
    now: datetime,
    events: tuple[ObservedEvent, ...],
    ready: int = 10,
    **kw: Any,
) -> Observed:
    return Observed(
        now=now,
        events=events,
        workloads={("live", "Deployment", "api"): workload(ready)},
        default_lead_time=LEAD,
        **kw,
    )


def reservations(o: Observed) -> list[tuple[str, str, int | None]]:
    """(verb, kind, replicas) of each reservation write decide wants."""
    found = []
    for w in decide(o, {}).reservations:
        replicas = ((w.body or {}).get("spec") or {}).get("replicas")
        found.append((w.verb, w.kind, replicas))
    return found


def existing(o: Observed, replicas: int, ready: int = 0) -> Observed:
    """``o`` with the placeholder Deployment decide would create there, as the cluster has it."""
    (write,) = decide(o, {}).reservations
    assert write.body is not None
    have = ObservedReservation(
        write.kind,
        write.namespace,
        write.name,
        "7",
        replicas,
        ready,
        write.body["metadata"]["annotations"][SHAPE_HASH],
        write.body,
    )
    return Observed(**{**o.__dict__, "reservations": {have.key: have}})


# -- the window and the count -------------------------------------------------------------


def test_room_is_reserved_by_the_node_lead_time_ahead_of_the_pod_prewarm() -> None:
    spec = parse_spec(raw())
    plan = plan_event(spec, now=START - timedelta(minutes=30), lead_time=LEAD)
    assert reserve_at(plan, NODE_LEAD) == START - LEAD - NODE_LEAD
    before = START - LEAD - NODE_LEAD - timedelta(seconds=1)
    assert pods_to_reserve(30, 10, plan, before, NODE_LEAD) == 0
    assert pods_to_reserve(30, 10, plan, before + timedelta(seconds=1), NODE_LEAD) == 20


def test_placeholders_shrink_as_real_pods_become_ready_and_go_once_the_floor_is() -> None:
    spec = parse_spec(raw())
    now = START - timedelta(minutes=2)  # pre-warming
    plan = plan_event(spec, now=now, lead_time=LEAD)
    counts = [
        pods_to_reserve(30, ready, plan, now, NODE_LEAD, holding=20)
        for ready in (10, 18, 29, 30, 40)
    ]
    assert counts == [20, 12, 1, 0, 0]


def test_from_the_pod_prewarm_on_preempted_placeholders_are_not_asked_for_again() -> None:
    # 20 placeholders held the room; the floor's new pods preempted 15 of them. Their
    # ReplicaSet would recreate those Pending and a node autoscaler would boot nodes for
    # them while the real pods already sit in their room: keep only the 5 still Ready.
    spec = parse_spec(raw())
    prewarming = START - timedelta(minutes=2)
    plan = plan_event(spec, now=prewarming, lead_time=LEAD)
    assert plan.timeline is not None
    assert prewarming >= plan.timeline.prewarm_at
    assert pods_to_reserve(30, 10, plan, prewarming, NODE_LEAD, holding=5) == 5
    assert pods_to_reserve(30, 10, plan, prewarming, NODE_LEAD, holding=0) == 0  # a buffer
    # Before the pod pre-warm the reservation asks for all the room, Ready or not yet.
    early = plan.timeline.prewarm_at - timedelta(seconds=1)
    early_plan = plan_event(spec, now=early, lead_time=LEAD)
    assert pods_to_reserve(30, 10, early_plan, early, NODE_LEAD, holding=0) == 20


def test_nothing_is_reserved_once_the_event_has_started_or_is_suspended() -> None:
    live = plan_event(parse_spec(raw()), now=START + timedelta(seconds=1), lead_time=LEAD)
    assert pods_to_reserve(30, 0, live, START + timedelta(seconds=1), NODE_LEAD) == 0
    suspended = parse_spec({**raw(), "suspend": True})
    now = START - timedelta(minutes=2)
    plan = plan_event(suspended, now=now, lead_time=LEAD)
    assert pods_to_reserve(30, 0, plan, now, NODE_LEAD) == 0


# -- the node lead time ---------------------------------------------------------------------


def node(name: str, created: datetime, took: timedelta | None) -> NodeSeen:
    return NodeSeen(name, created, created + took if took is not None else None)


def test_node_lead_time_is_learned_from_recent_nodes_else_the_default() -> None:
    now = START
    recent = [node(f"n{i}", now - timedelta(hours=i + 1), timedelta(seconds=100)) for i in range(9)]
    slow = node("slow", now - timedelta(hours=3), timedelta(seconds=200))
    old = node("old", now - timedelta(days=30), timedelta(seconds=1000))  # joined a month ago
    flapped = node("flap", now - timedelta(days=3), timedelta(days=2))  # came back, not booted
    pending = node("booting", now - timedelta(minutes=1), None)
    learned = learn_node_lead_time([*recent, slow, old, flapped, pending], now, LEAD)
    assert (learned.source, learned.samples) == ("Nodes", 10)
    assert learned.value == timedelta(seconds=math_rule(100))  # p90 of 9x100 s and 200 s
    assert learn_node_lead_time([old, flapped, pending], now, LEAD).value == LEAD
    slow_nodes = [node(f"s{i}", now - timedelta(hours=1), timedelta(minutes=8)) for i in range(3)]
    assert learn_node_lead_time(slow_nodes, now, LEAD).value == timedelta(minutes=10)
    explicit = node_lead_time(parse_spec(raw(leadTime="2m")), learned)
    assert (explicit.value, explicit.source) == (timedelta(minutes=2), "Spec")
    auto = node_lead_time(parse_spec(raw(leadTime="auto")), learned)
    assert auto == learned


def math_rule(seconds: float) -> int:
    """p90 + max(60 s, 25 % of it)."""
    return int(seconds + max(60, seconds / 4))


# -- decide: what is created, patched, deleted -----------------------------------------------


def test_decide_creates_placeholders_in_the_window_and_patches_them_as_pods_get_ready() -> None:
    at = START - timedelta(minutes=10)  # inside the window (from 11:47), before the pre-warm
    lecture = (event(raw(mechanism="Placeholders")),)
    assert reservations(observed(START - timedelta(minutes=14), lecture)) == []
    first = observed(at, lecture)
    assert reservations(first) == [("create", "Deployment", 20)]
    there = existing(first, 20)
    assert reservations(there) == []  # nothing to change: no write
    fewer = Observed(
        **{**there.__dict__, "workloads": {("live", "Deployment", "api"): workload(25)}}
    )
    assert reservations(fewer) == [("patch", "Deployment", 5)]
    full = Observed(
        **{**there.__dict__, "workloads": {("live", "Deployment", "api"): workload(30)}}
    )
    assert reservations(full) == [("delete", "Deployment", None)]


def test_auto_uses_a_capacity_buffer_where_the_cluster_serves_one() -> None:
    at = START - timedelta(minutes=10)
    lecture = (event(raw()),)
    assert reservations(observed(at, lecture, buffers_served=True)) == [
        ("create", "CapacityBuffer", 20)
    ]
    assert reservations(observed(at, lecture)) == [("create", "Deployment", 20)]
    forced = (event(raw(mechanism="CapacityBuffer")),)
    o = observed(at, forced)
    assert reservations(o) == []
    (status,) = decide(o, {}).statuses
    condition = [c for c in status.patch["conditions"] if c["type"] == "NodeCapacityReady"]
    assert condition[0]["status"] == "False"
    assert condition[0]["reason"] == "CapacityBufferUnavailable"


def test_suspend_release_and_delete_remove_the_placeholders() -> None:
    at = START - timedelta(minutes=6)
    there = existing(observed(at, (event(raw()),)), 20)
    suspended = event({**raw(), "suspend": True})
    releasing = event(raw(), releasing=True)
    for events in [(suspended,), (releasing,), ()]:
        o = Observed(**{**there.__dict__, "events": events})
        assert reservations(o) == [("delete", "Deployment", None)], events


def test_prewarm_off_reserves_nothing_and_removes_the_status() -> None:
    spec = {**raw(), "nodeCapacity": {"prewarm": False}}
    at = START - timedelta(minutes=2)
    previous = {"nodeCapacity": {"reservedPods": 3}, "conditions": [{"type": "NodeCapacityReady"}]}
    o = observed(at, (event(spec, status=previous),))
    assert reservations(o) == []
    (status,) = decide(o, {}).statuses
    assert status.patch["nodeCapacity"] is None
    assert all(c["type"] != "NodeCapacityReady" for c in status.patch["conditions"])


def test_status_shows_lead_time_reserved_pods_and_the_condition() -> None:
    at = START - timedelta(minutes=6)
    o = observed(at, (event(raw()),))
    (status,) = decide(o, {}).statuses
    section = status.patch["nodeCapacity"]
    assert section["leadTimeSeconds"] == 480
    assert section["leadTimeFrom"] == "Spec"
    assert section["reserveAt"] == "2026-12-31T11:47:00Z"
    assert section["reservedPods"] == 20
    assert section["mechanism"] == "Placeholders"
    cond = {c["type"]: c for c in status.patch["conditions"]}["NodeCapacityReady"]
    assert (cond["status"], cond["reason"]) == ("False", "Reserving")
    pending = existing(o, 20, ready=12)
    (status,) = decide(pending, {}).statuses
    cond = {c["type"]: c for c in status.patch["conditions"]}["NodeCapacityReady"]
    assert (cond["status"], cond["reason"]) == ("False", "PlaceholdersPending")
    assert "12/20" in cond["message"]
    running = existing(o, 20, ready=20)
    (status,) = decide(running, {}).statuses
    cond = {c["type"]: c for c in status.patch["conditions"]}["NodeCapacityReady"]
    assert (cond["status"], cond["reason"]) == ("True", "Reserved")


# -- restarts and isolation ------------------------------------------------------------------


def test_a_restarted_operator_keeps_wanted_objects_and_deletes_orphans() -> None:
    """A fresh decide from the cluster's state: what an event wants stays, the rest goes."""
    at = START - timedelta(minutes=6)
    there = existing(observed(at, (event(raw()),)), 20)
    (kept,) = there.reservations.values()
    orphan = ObservedReservation(
        "Deployment", "live", "gone-api-0123abcd", "3", 4, 4, "x", kept.body
    )
    o = Observed(**{**there.__dict__, "reservations": {kept.key: kept, orphan.key: orphan}})
    writes = decide(o, {}).reservations
    assert [(w.verb, w.name) for w in writes] == [("delete", "gone-api-0123abcd")]
    assert is_reservation(kept.body)


def test_one_events_bad_node_capacity_never_affects_another() -> None:
    at = START - timedelta(minutes=10)
    good = event(raw())
    broken = event(
        {**raw(), "targets": [{"name": "api2", "replicas": 3, "maxReplicas": 5}]},
        name="broken",
    )
    workloads = {
        ("live", "Deployment", "api"): workload(10),
        # A template whose requests cannot be read: that event fails, and only that one.
        ("live", "Deployment", "api2"): ObservedWorkload(
            "live",
            "Deployment",
            "api2",
            "u",
            0,
            0,
            "1",
            template={"spec": {"containers": [{"resources": {"requests": {"cpu": "lots"}}}]}},
        ),
    }
    o = Observed(at, (good, broken), workloads, LEAD)
    decisions = decide(o, {})
    assert [(w.verb, w.name.startswith("lecture-api")) for w in decisions.reservations] == [
        ("create", True)
    ]
    assert any("broken" in f and "nodeCapacity" in f for f in decisions.failures)
    assert {s.name for s in decisions.statuses} == {"lecture", "broken"}


def test_plans_are_shared_with_the_rest_of_the_tick() -> None:
    o = observed(START - timedelta(minutes=6), (event(raw()),))
    assert decide(o, {}, plan_events(o)).reservations == decide(o, {}).reservations


def test_everything_status_shows_of_node_capacity_is_in_the_crd() -> None:
    """Nothing the operator writes under status.nodeCapacity is pruned by the API server."""
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    learned = tuple(
        NodeSeen(f"n{i}", START - timedelta(hours=1), START - timedelta(minutes=58))
        for i in range(3)
    )
    there = existing(observed(START - timedelta(minutes=6), (event(raw(leadTime="auto")),)), 20)
    o = Observed(**{**there.__dict__, "nodes": learned})
    (status,) = decide(o, {}).statuses
    section = status.patch["nodeCapacity"]
    assert {"nodeSamples", "reserveAt", "mechanism", "leadTimeFrom"} <= set(section)
    assert section["targets"][0]["object"].startswith("Deployment/")
    shown = {"nodeCapacity": section, "conditions": status.patch["conditions"]}
    assert undeclared(shown, schema, "status") == []
