"""Leader election: the take-over rule on its own, then electors sharing one in-memory Lease
the way replicas share one on the API server (resourceVersion conflicts included)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from showtime import telemetry
from showtime.core.leadership import (
    LeaseRecord,
    Verdict,
    claimed,
    judge,
    lease_record,
    lease_spec,
    released,
)
from showtime.shell.leadership import ElectionTiming, LeaderElector
from tests.support.fakes import FakeCluster

WALL = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
OTHERS = LeaseRecord("replica-b", 15.0, WALL, WALL, 3)


# -- the rule ---------------------------------------------------------------------------------


def test_no_lease_or_no_holder_may_be_taken() -> None:
    assert judge(None, "replica-a", now=100.0, observed_at=None) is Verdict.TAKE
    free = released(OTHERS, WALL)
    assert judge(free, "replica-a", now=100.0, observed_at=100.0) is Verdict.TAKE


def test_my_own_lease_is_renewed() -> None:
    mine = LeaseRecord("replica-a", 15.0, WALL, WALL)
    assert judge(mine, "replica-a", now=1000.0, observed_at=0.0) is Verdict.RENEW


def test_someone_elses_lease_is_taken_only_after_a_whole_unchanged_duration() -> None:
    assert judge(OTHERS, "replica-a", now=100.0, observed_at=None) is Verdict.FOLLOW
    assert judge(OTHERS, "replica-a", now=114.9, observed_at=100.0) is Verdict.FOLLOW
    assert judge(OTHERS, "replica-a", now=115.0, observed_at=100.0) is Verdict.TAKE


@pytest.mark.parametrize("skew", [timedelta(hours=-3), timedelta(0), timedelta(hours=3)])
def test_clock_skew_between_machines_does_not_change_the_verdict(skew: timedelta) -> None:
    # renewTime comes from the other machine's clock: far past or far future, it is not read.
    held = LeaseRecord("replica-b", 15.0, WALL + skew, WALL + skew)
    assert judge(held, "replica-a", now=105.0, observed_at=100.0) is Verdict.FOLLOW
    assert judge(held, "replica-a", now=116.0, observed_at=100.0) is Verdict.TAKE


def test_claiming_counts_transitions_and_keeps_my_acquire_time() -> None:
    taken = claimed(OTHERS, "replica-a", WALL + timedelta(seconds=20), 15.0)
    assert (taken.holder, taken.transitions) == ("replica-a", 4)
    assert taken.acquired == taken.renewed == WALL + timedelta(seconds=20)
    renewed = claimed(taken, "replica-a", WALL + timedelta(seconds=22), 15.0)
    assert (renewed.acquired, renewed.transitions) == (taken.acquired, 4)
    assert claimed(None, "replica-a", WALL, 15.0).transitions == 0


def test_the_lease_spec_reads_back_as_written() -> None:
    record = LeaseRecord("ns/pod-1", 15.0, WALL, WALL + timedelta(microseconds=250), 2)
    spec = lease_spec(record)
    assert spec["renewTime"] == "2026-12-31T12:00:00.000250Z"
    assert lease_record({"spec": spec}) == record


# -- electors on one Lease ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(cluster: FakeCluster, identity: str, clock: Clock) -> LeaderElector:
    return LeaderElector(
        cluster, "ops", "showtime", identity, ElectionTiming(15, 10, 2), clock=clock
    )


def step(*electors: LeaderElector) -> list[float]:
    async def together() -> list[float]:
        return list(await asyncio.gather(*(e.step() for e in electors)))

    return asyncio.run(together())


def leaders(*electors: LeaderElector) -> list[str]:
    return [e.identity for e in electors if e.is_leader()]


def holder(cluster: FakeCluster) -> str:
    return str(cluster.leases[("ops", "showtime")]["spec"].get("holderIdentity") or "")


def test_two_replicas_starting_together_get_exactly_one_leader() -> None:
    cluster, clock = FakeCluster(), Clock()
    a, b = elector(cluster, "a", clock), elector(cluster, "b", clock)
    step(a, b)  # both find no Lease and create it: the API server lets one through
    assert len(leaders(a, b)) == 1
    assert holder(cluster) == leaders(a, b)[0]
    for _ in range(20):  # 40 s of renewals: the leader stays, the standby follows
        clock.now += 2
        step(a, b)
        assert leaders(a, b) == [holder(cluster)]


def test_a_standby_takes_over_one_lease_duration_after_the_last_renewal_it_saw() -> None:
    cluster, clock = FakeCluster(), Clock()
    a, b = elector(cluster, "a", clock), elector(cluster, "b", clock)
    step(a)
    step(b)
    assert leaders(a, b) == ["a"]
    seen_renewal = clock.now
    # a dies: it never steps again. b keeps reading and waits, then takes over.
    while not b.is_leader():
        wait = step(b)[0]
        assert wait <= 2
        clock.now += wait
        assert clock.now - seen_renewal <= 15 + 2
    assert clock.now - seen_renewal >= 15
    assert holder(cluster) == "b"
    assert cluster.leases[("ops", "showtime")]["spec"]["leaseTransitions"] == 1


def test_of_two_standbys_racing_for_an_expired_lease_one_wins() -> None:
    cluster, clock = FakeCluster(), Clock()
    a, b, c = (elector(cluster, name, clock) for name in "abc")
    step(a)
    step(b, c)
    clock.now += 15
    step(b, c)  # both read the same expired Lease and replace it with that resourceVersion
    assert not a.is_leader()  # its own renew deadline passed long ago
    (winner,) = leaders(b, c)
    assert holder(cluster) == winner
    refused = [w for w in cluster.lease_writes if w.answer == 409]
    assert len(refused) == 1


def test_a_leader_that_cannot_renew_stops_before_anyone_else_may_start() -> None:
    cluster, clock = FakeCluster(), Clock()
    a, b = elector(cluster, "a", clock), elector(cluster, "b", clock)
    step(a)
    step(b)
    renewed = clock.now
    cluster.lease_outage = True  # a cannot reach the API server; b neither, for a while
    while a.is_leader():
        clock.now += 0.5
        step(a)
    stopped = clock.now - renewed
    assert stopped <= 10  # the renew deadline
    cluster.lease_outage = False
    while not b.is_leader():
        clock.now += step(b)[0]
    assert clock.now - renewed >= 15 > stopped  # no overlap: 5 s at least between the two


def test_a_lease_taken_by_another_stops_the_old_leader_at_its_next_read() -> None:
    cluster, clock = FakeCluster(), Clock()
    a, b = elector(cluster, "a", clock), elector(cluster, "b", clock)
    step(a)
    step(b)
    clock.now += 16  # a was paused (SIGSTOP, a long GC) past its lease; b took over
    step(b)
    assert holder(cluster) == "b"
    step(a)
    assert leaders(a, b) == ["b"]


def test_a_released_lease_is_taken_at_the_next_read() -> None:
    cluster, clock = FakeCluster(), Clock()
    a, b = elector(cluster, "a", clock), elector(cluster, "b", clock)
    step(a)
    step(b)
    asyncio.run(a.release())
    assert not a.is_leader()
    assert holder(cluster) == ""
    clock.now += 2
    step(b)
    assert leaders(a, b) == ["b"]


def test_the_gauge_and_the_transitions_follow_leadership() -> None:
    cluster, clock = FakeCluster(), Clock()
    a = elector(cluster, "gauged-a", clock)
    changes: list[bool] = []
    a.on_change(changes.append)
    step(a)
    assert telemetry.LEADER.labels(identity="gauged-a")._value.get() == 1
    asyncio.run(a.release())
    assert telemetry.LEADER.labels(identity="gauged-a")._value.get() == 0
    assert changes == [True, False]
    lost = telemetry.LEADER_TRANSITIONS.labels(identity="gauged-a", transition="lost")
    assert lost._value.get() == 1
