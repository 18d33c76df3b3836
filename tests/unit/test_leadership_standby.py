"""A standby replica writes nothing: its ticks neither scale, nor write status, nor post
Events, kopf removes no finalizer and posts nothing on it, and a leader whose Lease lapsed
stops writing at once; on becoming leader it acts from what the cluster says, as a
restarted operator does. Leader election is on in a pod and can be switched."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

import kopf
import pytest

from showtime.shell.handlers import FINALIZER, kopf_writes
from showtime.shell.leadership import FencedGateway, NotLeading
from showtime.shell.reconciler import Reconciler
from showtime.shell.settings import SettingsError, load_settings
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
    assert (report.writes, report.queries, report.standby) == (0, 0, True)
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


def test_kopf_removes_no_finalizer_and_posts_no_event_on_a_standby() -> None:
    settings = kopf.OperatorSettings()
    kopf_writes(settings, leading=False)
    assert settings.persistence.finalizer != FINALIZER  # so kopf finds none to remove
    assert settings.posting.enabled is False
    kopf_writes(settings, leading=True)
    assert settings.persistence.finalizer == FINALIZER
    assert settings.posting.enabled is True


@pytest.mark.parametrize(
    ("env", "elects"),
    [
        ({}, False),  # `showtime run` on a laptop: one process
        ({"SHOWTIME_POD_NAMESPACE": "ops"}, True),  # in a pod
        ({"SHOWTIME_POD_NAMESPACE": "ops", "SHOWTIME_LEADER_ELECTION": "false"}, False),
        ({"SHOWTIME_LEADER_ELECTION": "true", "SHOWTIME_NAMESPACE": "live"}, True),
    ],
)
def test_leader_election_is_on_in_a_pod_and_switchable(
    env: dict[str, str], elects: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("SHOWTIME_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings().elect_leader is elects


def test_leader_election_settings_that_cannot_work_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in os.environ if n.startswith("SHOWTIME_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SHOWTIME_LEADER_ELECTION", "true")
    with pytest.raises(SettingsError, match="SHOWTIME_LEASE_NAMESPACE"):
        load_settings()  # nowhere to keep the Lease
    monkeypatch.setenv("SHOWTIME_LEASE_NAMESPACE", "ops")
    monkeypatch.setenv("SHOWTIME_RENEW_DEADLINE", "20s")  # longer than the lease: two leaders
    with pytest.raises(SettingsError, match="SHOWTIME_LEASE_DURATION > SHOWTIME_RENEW_DEADLINE"):
        load_settings()
