"""A standby replica writes nothing: its ticks neither scale, nor write status, nor post
Events, and a leader whose Lease lapsed stops writing at once; on becoming leader it acts
from what the cluster says, as a restarted operator does."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from showtime.shell.leadership import FencedGateway, NotLeading
from showtime.shell.reconciler import Reconciler
from tests.support.fakes import Clock, FakeCluster, FakeMetrics
from tests.support.ticks import START, event_spec, tick


class Switch:
    """Leadership that a test turns on and off."""

    def __init__(self, leading: bool) -> None:
        self.leading = leading

    def is_leader(self) -> bool:
        return self.leading


def reconciler(cluster: FakeCluster, clock: Clock, leadership: Switch) -> Reconciler:
    """Unfenced: what is tested is that the tick itself does not write on a standby."""
    return Reconciler(
        cluster,
        FakeMetrics(),
        default_lead_time=timedelta(minutes=5),
        clock=clock,
        leadership=leadership,
    )


def test_a_standby_tick_makes_no_writes_and_the_leader_then_pre_warms() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(minutes=4))
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec())  # pre-warm is due: floor 10
    leadership = Switch(leading=False)
    standby = reconciler(cluster, clock, leadership)
    report = tick(standby)
    assert cluster.writes == []
    assert report.writes == 0
    assert cluster.replicas("api") == 2
    assert cluster.status("speech") == {}
    leadership.leading = True  # took over: the same process, nothing remembered to undo
    tick(standby)
    assert cluster.replicas("api") == 10
    assert cluster.status("speech")["phase"] == "PreWarming"


class LapsesAfter:
    """Leader for the first ``checks`` questions, then not (the renew deadline passed)."""

    def __init__(self, checks: int) -> None:
        self.left = checks

    def is_leader(self) -> bool:
        self.left -= 1
        return self.left >= 0


def test_a_leader_whose_lease_lapsed_while_deciding_writes_nothing() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(minutes=4))
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec())
    lapsing = LapsesAfter(checks=1)  # leader when the tick starts, not when it would apply
    ticking = Reconciler(
        cluster,
        FakeMetrics(),
        default_lead_time=timedelta(minutes=5),
        clock=clock,
        leadership=lapsing,
    )
    tick(ticking)
    assert cluster.writes == []
    assert cluster.replicas("api") == 2


def test_the_fenced_gateway_sends_no_write_without_leadership() -> None:
    cluster = FakeCluster()
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec())
    leadership = Switch(leading=False)
    fenced = FencedGateway(cluster, leadership)
    with pytest.raises(NotLeading):
        asyncio.run(fenced.patch_workload(("live", "Deployment", "api"), replicas=10))
    with pytest.raises(NotLeading):
        asyncio.run(fenced.patch_status("live", "speech", {"phase": "PreWarming"}))
    assert cluster.writes == []
    leadership.leading = True
    asyncio.run(fenced.patch_workload(("live", "Deployment", "api"), replicas=10))
    assert cluster.replicas("api") == 10
