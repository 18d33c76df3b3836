"""Stateful property test of node capacity pre-warm over the in-memory API server.

Hypothesis drives random sequences of: clock advances, real pods and placeholder pods
becoming Ready (or not), suspend and resume, a valid or an invalid node lead time, the
mechanism switched, the CapacityBuffer API appearing and disappearing, deletions, and
operators restarted every tick or killed after their N-th write. Two clusters in lockstep:

- ``steady``: one reconciler for the whole run;
- ``chaos``: a fresh reconciler every tick, sometimes killed mid-tick first, plus an event
  whose nodeCapacity is always invalid on a workload of its own.

Invariants after every tick: each event holds at most one reservation per target, of
exactly ``max(0, floor - Ready)`` pods while the window is open (from the pod pre-warm on,
at most the placeholders Ready before the tick) and none otherwise (none
for a suspended, invalid or deleted event); every reservation is owned by a live event;
and the chaos cluster holds exactly the reservations the steady one holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from showtime.shell.reconciler import Reconciler
from tests.support.fakes import Clock, FakeCluster, FakeMetrics
from tests.support.faults import FailingGateway, OperatorKilled

T0 = datetime(2026, 12, 31, 11, 30, tzinfo=UTC)
START = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
LEAD = timedelta(minutes=5)
FLOOR = 12
TEMPLATE = {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}


def spec(node_lead: str = "10m", mechanism: str = "Auto", suspend: bool = False) -> dict[str, Any]:
    return {
        "schedule": {"start": "2026-12-31T12:00:00Z", "duration": "30m"},
        "leadTime": "5m",
        "cooldown": "0s",
        "suspend": suspend,
        "nodeCapacity": {"prewarm": True, "leadTime": node_lead, "mechanism": mechanism},
        "targets": [{"name": "api", "replicas": FLOOR, "maxReplicas": 20}],
    }


def build(broken: bool) -> FakeCluster:
    cluster = FakeCluster()
    cluster.add_deployment("api", 2)
    cluster.workloads[("live", "Deployment", "api")]["spec"]["template"] = TEMPLATE
    cluster.add_event("lecture", spec())
    if broken:
        cluster.add_deployment("zed", 0)
        cluster.add_event(
            "zed",
            {
                **spec(node_lead="99999999999h"),
                "targets": [{"name": "zed", "replicas": 3, "maxReplicas": 5}],
            },
        )
    return cluster


def run(reconciler: Reconciler) -> None:
    asyncio.run(reconciler.tick())


def reservations(cluster: FakeCluster) -> dict[tuple[str, str], int]:
    return {
        (o["kind"], name): int(o["spec"]["replicas"]) for name, o in cluster.reservations().items()
    }


class NodeCapacityMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock(T0)
        self.steady_cluster, self.chaos_cluster = build(False), build(True)
        self.steady = self.reconciler(self.steady_cluster)
        self.spec = spec()
        self.deleted = False
        self.invalid = False
        self.holding: dict[int, int] = {}

    def reconciler(self, cluster: Any) -> Reconciler:
        return Reconciler(cluster, FakeMetrics(), default_lead_time=LEAD, clock=self.clock)

    def both(self) -> tuple[FakeCluster, FakeCluster]:
        return self.steady_cluster, self.chaos_cluster

    # -- the world -----------------------------------------------------------------------

    @rule(ready=st.integers(0, 20))
    def real_pods_ready(self, ready: int) -> None:
        for cluster in self.both():
            workload = cluster.workloads[("live", "Deployment", "api")]
            cluster._change(
                workload, {"status": {"readyReplicas": min(ready, cluster.replicas("api"))}}
            )

    @rule()
    def placeholders_run(self) -> None:
        for cluster in self.both():
            cluster.make_ready()

    @rule(
        node_lead=st.sampled_from(["0s", "10m", "30m", "2h", "3h"]),
        mechanism=st.sampled_from(["Auto", "Placeholders", "CapacityBuffer"]),
        suspend=st.booleans(),
    )
    def edit(self, node_lead: str, mechanism: str, suspend: bool) -> None:
        if self.deleted:
            return
        self.spec = spec(node_lead, mechanism, suspend)
        self.invalid = node_lead == "3h"
        for cluster in self.both():
            cluster.external_edit_event("lecture", self.spec)

    @rule(served=st.booleans())
    def buffer_api(self, served: bool) -> None:
        for cluster in self.both():
            if served and cluster.capacity_buffers is None:
                cluster.capacity_buffers = {}
            elif not served and cluster.capacity_buffers == {}:
                cluster.capacity_buffers = None  # only once nothing of ours is in it

    @rule()
    def delete(self) -> None:
        for cluster in self.both():
            cluster.events.pop(("live", "lecture"), None)
        self.deleted = True

    @rule(seconds=st.integers(1, 600), kill_after=st.one_of(st.none(), st.integers(0, 5)))
    def tick(self, seconds: int, kill_after: int | None) -> None:
        self.clock.now += timedelta(seconds=seconds)
        self.holding = {id(c): self.placeholders_ready(c) for c in self.both()}
        run(self.steady)
        if kill_after is not None:
            with contextlib.suppress(OperatorKilled):
                run(self.reconciler(FailingGateway(self.chaos_cluster, fail_after=kill_after)))
        run(self.reconciler(self.chaos_cluster))  # restarted
        self.check()

    # -- what must hold --------------------------------------------------------------------

    def placeholders_ready(self, cluster: FakeCluster) -> int:
        """Placeholder pods for ``api`` Ready now (0 where the mechanism is a buffer)."""
        mechanism = self.spec["nodeCapacity"]["mechanism"]
        if mechanism == "CapacityBuffer" or (
            mechanism == "Auto" and cluster.capacity_buffers is not None
        ):
            return 0
        return sum(
            int((o.get("status") or {}).get("readyReplicas") or 0)
            for name, o in cluster.reservations().items()
            if o["kind"] == "Deployment" and "zed" not in name
        )

    def expected(self, cluster: FakeCluster) -> int:
        """Pods to reserve now for ``api``, from the spec and what is Ready.

        From the pod pre-warm on (START - LEAD), no more than the placeholders that were
        Ready before the tick: the real pods take their room.
        """
        if self.deleted or self.invalid or self.spec["suspend"]:
            return 0
        if (
            self.spec["nodeCapacity"]["mechanism"] == "CapacityBuffer"
            and cluster.capacity_buffers is None
        ):
            return 0
        lead = {"0s": 0, "10m": 600, "30m": 1800, "2h": 7200}[self.spec["nodeCapacity"]["leadTime"]]
        opens = START - LEAD - timedelta(seconds=lead)
        if not opens <= self.clock.now < START:
            return 0
        ready = int(
            cluster.workloads[("live", "Deployment", "api")]["status"].get("readyReplicas") or 0
        )
        wanted = max(0, FLOOR - ready)
        if self.clock.now >= START - LEAD:
            return min(wanted, self.holding[id(cluster)])
        return wanted

    def check(self) -> None:
        steady = reservations(self.steady_cluster)
        for cluster in self.both():
            found = {k: v for k, v in reservations(cluster).items() if "zed" not in k[1]}
            wanted = self.expected(cluster)
            assert sum(found.values()) == wanted, (found, wanted, self.clock.now)
            assert len(found) == (1 if wanted else 0), found
        chaos = reservations(self.chaos_cluster)
        assert chaos == steady, (chaos, steady)
        for cluster in self.both():  # every one is owned by an event the cluster has
            live = {e["metadata"]["uid"] for e in cluster.events.values()}
            for obj in cluster.reservations().values():
                assert {r["uid"] for r in obj["metadata"]["ownerReferences"]} <= live

    @invariant()
    def never_more_than_one_object_per_target(self) -> None:
        for cluster in self.both():
            names = [k[1] for k in reservations(cluster) if "zed" not in k[1]]
            assert len(names) <= 1, names


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    """Hundreds of ticks: keep their log lines out of the report."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    yield
    structlog.reset_defaults()


NodeCapacityMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("SHOWTIME_STATE_MACHINE_EXAMPLES", "60")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_node_capacity_state_machine = NodeCapacityMachine.TestCase
