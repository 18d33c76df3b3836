"""Node capacity pre-warm through whole ticks over the in-memory API server.

Placeholders appear by the node lead time ahead of the pod pre-warm, shrink as real pods
become Ready, are gone once the floor is Ready; an operator killed after any write and
restarted ends in the same state; nothing is left behind by a deleted event.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import pytest

from showtime.cluster.capacity import slim_node
from showtime.core.timestamps import rfc3339 as iso
from showtime.shell.reconciler import Reconciler
from showtime.shell.settings import SettingsError, load_settings
from tests.support.fakes import Clock, FakeCluster, FakeMetrics
from tests.support.faults import FailingGateway, OperatorKilled
from tests.support.ticks import START, event_spec, tick

TEMPLATE = {
    "metadata": {"labels": {"app": "api"}},
    "spec": {
        "nodeSelector": {"pool": "lecture"},
        "containers": [{"name": "api", "resources": {"requests": {"cpu": "1"}}}],
    },
}


def spec(**node_capacity: Any) -> dict[str, Any]:
    """Floor 10 of ``api`` from 11:55 (lead 5m); node lead 8m: room reserved from 11:47."""
    return event_spec(nodeCapacity={"prewarm": True, "leadTime": "8m", **node_capacity})


def cluster_with(replicas: int = 2, buffers: bool = False) -> FakeCluster:
    cluster = FakeCluster()
    cluster.add_deployment("api", replicas)
    cluster.workloads[("live", "Deployment", "api")]["spec"]["template"] = TEMPLATE
    if buffers:
        cluster.capacity_buffers = {}
    return cluster


def make(cluster: Any, clock: Clock) -> Reconciler:
    return Reconciler(
        cluster,
        FakeMetrics(),
        default_lead_time=timedelta(minutes=5),
        clock=clock,
        node_capacity={"placeholder_image": "pause:test"},
    )


def placeholders(cluster: FakeCluster) -> dict[str, int]:
    return {n: int(o["spec"]["replicas"]) for n, o in cluster.reservations().items()}


def condition(cluster: FakeCluster, name: str = "speech") -> tuple[str, str]:
    for c in cluster.status(name).get("conditions") or []:
        if c["type"] == "NodeCapacityReady":
            return c["status"], c["reason"]
    raise AssertionError("no NodeCapacityReady condition")


def set_ready(cluster: FakeCluster, name: str, ready: int) -> None:
    for key, obj in cluster.workloads.items():
        if key[2] == name:
            cluster._change(obj, {"status": {"readyReplicas": ready}})


def test_placeholders_come_ahead_shrink_as_pods_get_ready_and_go_with_the_floor() -> None:
    cluster, clock = cluster_with(), Clock(START - timedelta(minutes=14))
    cluster.add_event("speech", spec())
    reconciler = make(cluster, clock)
    tick(reconciler)
    assert placeholders(cluster) == {}
    assert condition(cluster) == ("True", "NothingToReserve")
    clock.now = START - timedelta(minutes=12)  # the window opened at 11:47
    tick(reconciler)
    ((name, count),) = placeholders(cluster).items()
    assert count == 8  # floor 10 - 2 Ready
    body = cluster.reservations()[name]
    pod = body["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "lecture"}
    assert pod["containers"][0]["image"] == "pause:test"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-speech"
    assert cluster.replicas("api") == 2  # the pods' pre-warm has not begun
    assert condition(cluster) == ("False", "Reserving")
    tick(reconciler)
    assert condition(cluster) == ("False", "PlaceholdersPending")
    assert cluster.status("speech")["nodeCapacity"]["reservedPods"] == 8
    set_ready(cluster, name, 8)  # the placeholders run: the nodes are there
    tick(reconciler)
    assert condition(cluster) == ("True", "Reserved")
    cluster.writes.clear()
    tick(reconciler)
    assert cluster.writes == []  # steady: no write at all
    clock.now = START - timedelta(minutes=4)  # pre-warming: the floor is asked for
    tick(reconciler)
    assert cluster.replicas("api") == 10
    set_ready(cluster, "api", 6)
    tick(reconciler)
    assert placeholders(cluster) == {name: 4}
    set_ready(cluster, "api", 10)
    tick(reconciler)
    assert placeholders(cluster) == {}
    assert condition(cluster) == ("True", "NothingToReserve")


def test_a_capacity_buffer_where_the_cluster_serves_them() -> None:
    cluster, clock = cluster_with(buffers=True), Clock(START - timedelta(minutes=10))
    cluster.add_event("speech", spec())
    reconciler = make(cluster, clock)
    tick(reconciler)
    (buffer,) = (cluster.capacity_buffers or {}).values()
    assert buffer["spec"] == {
        "replicas": 8,
        "scalableRef": {"apiGroup": "apps", "kind": "Deployment", "name": "api"},
    }
    tick(reconciler)
    assert condition(cluster) == ("True", "BufferActive")
    assert cluster.status("speech")["nodeCapacity"]["mechanism"] == "CapacityBuffer"
    cluster.external_edit_event("speech", {"nodeCapacity": {"mechanism": "Placeholders"}})
    tick(reconciler)
    assert cluster.capacity_buffers == {}
    assert [o["kind"] for o in cluster.reservations().values()] == ["Deployment"]


def test_suspending_or_deleting_the_event_leaves_nothing_behind() -> None:
    cluster, clock = cluster_with(), Clock(START - timedelta(minutes=10))
    cluster.add_event("speech", spec())
    tick(make(cluster, clock))
    assert len(placeholders(cluster)) == 1
    cluster.external_edit_event("speech", {"suspend": True})
    tick(make(cluster, clock))
    assert placeholders(cluster) == {}
    cluster.external_edit_event("speech", {"suspend": False})
    tick(make(cluster, clock))
    assert len(placeholders(cluster)) == 1
    # Deleted while no operator ran (the garbage collector would also take it, by owner).
    del cluster.events[("live", "speech")]
    tick(make(cluster, clock))
    assert placeholders(cluster) == {}


def test_an_operator_killed_after_any_write_ends_like_one_that_was_not() -> None:
    def run(fail_after: int | None) -> tuple[FakeCluster, FailingGateway]:
        cluster, clock = cluster_with(), Clock(START - timedelta(minutes=10))
        cluster.add_event("speech", spec())
        cluster.add_event("other", spec(), namespace="live")
        gateway = FailingGateway(cluster, fail_after=fail_after)
        with contextlib.suppress(OperatorKilled):
            tick(make(gateway, clock))
        tick(make(cluster, clock))  # the restart
        return cluster, gateway

    whole, probe = run(None)
    expected = placeholders(whole)
    assert len(expected) == 2
    assert probe.calls.count("create_reservation") == 2
    for n in range(probe.passed):
        cluster, _ = run(n)
        assert placeholders(cluster) == expected, n


def test_a_bad_node_capacity_spec_never_affects_another_event() -> None:
    cluster, clock = cluster_with(), Clock(START - timedelta(minutes=10))
    cluster.add_event("speech", spec())
    cluster.add_event("broken", spec(leadTime="3h"))  # past the bound: Invalid
    tick(make(cluster, clock))
    assert cluster.status("broken")["phase"] == "Invalid"
    assert len(placeholders(cluster)) == 1
    tick(make(cluster, clock))
    assert condition(cluster) == ("False", "PlaceholdersPending")


def test_auto_learns_the_node_lead_time_from_the_nodes_that_joined_recently() -> None:
    cluster, clock = cluster_with(), Clock(START - timedelta(minutes=30))
    cluster.add_event("speech", spec(leadTime="auto"))
    for i, took in enumerate((90, 100, 110)):
        created = clock.now - timedelta(hours=i + 1)
        cluster.nodes.append(
            slim_node(
                {
                    "metadata": {"name": f"n{i}", "creationTimestamp": iso(created)},
                    "status": {
                        "conditions": [
                            {"type": "MemoryPressure", "status": "False"},
                            {
                                "type": "Ready",
                                "status": "True",
                                "lastTransitionTime": iso(created + timedelta(seconds=took)),
                            },
                        ]
                    },
                }
            )
        )
    tick(make(cluster, clock))
    section = cluster.status("speech")["nodeCapacity"]
    # p90 of 90, 100, 110 s is 110 s; plus the larger of 60 s and a quarter: 170 s.
    assert (section["leadTimeSeconds"], section["leadTimeFrom"]) == (170, "Nodes")
    assert section["nodeSamples"] == 3
    assert section["reserveAt"] == "2026-12-31T11:52:10Z"
    cluster.nodes.clear()  # none joined lately: the operator's default (5m)
    tick(make(cluster, clock))
    section = cluster.status("speech")["nodeCapacity"]
    assert (section["leadTimeSeconds"], section["leadTimeFrom"]) == (300, "Default")


def test_the_node_lead_time_default_and_the_image_are_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOWTIME_DEFAULT_NODE_LEAD_TIME", "7m")
    monkeypatch.setenv("SHOWTIME_PLACEHOLDER_IMAGE", "mirror.example/pause:3.10")
    settings = load_settings()
    assert settings.default_node_lead_time == timedelta(minutes=7)
    assert settings.placeholder_image == "mirror.example/pause:3.10"
    monkeypatch.setenv("SHOWTIME_DEFAULT_NODE_LEAD_TIME", "soon")
    with pytest.raises(SettingsError, match="SHOWTIME_DEFAULT_NODE_LEAD_TIME"):
        load_settings()
