"""Two replicas of the operator on a real API server: exactly one writes, and the other takes
over when it dies.

Both run ``showtime run`` with leader election on, watching the test's namespace and holding
their Lease there (so tests beside it are untouched). Who leads is read from each replica's
own metrics (``showtime_leader``) and from the Lease; single-writer is read from
``showtime_api_writes_total`` of each replica. The leader is killed with SIGKILL (no
release: the standby must wait for the hold to run out); the floor is raised while nobody
leads, and the new leader must apply it. The default durations are used (lease 15 s, renew
deadline 10 s, retry 2 s) with a 1 s tick, so the measured take-over is the real one.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from tests.support.image import free_port
from tests.support.operator import OperatorProcess
from tests.support.trafficevents import create_event, iso, make_deployment, phase_is, soon
from tests.support.trafficevents import replicas as replicas_of
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

LEASE_DURATION, RETRY_PERIOD, TICK = 15.0, 2.0, 1.0
# A kill is taken over within one lease duration after the last renewal the standby saw,
# that renewal at most one retry period before the kill; the first write comes a tick later.
TAKEOVER_BOUND = LEASE_DURATION + RETRY_PERIOD + TICK
SLACK = 3.0  # two processes and an API server on a shared two-core machine


class Replica:
    """One ``showtime run`` with leader election, and what its /metrics say."""

    def __init__(self, namespace: str, log_path: Path) -> None:
        self.port = free_port()
        self.process = OperatorProcess(
            namespace,
            log_path,
            SHOWTIME_LEADER_ELECTION="true",
            SHOWTIME_METRICS_PORT=str(self.port),
            SHOWTIME_LEASE_NAME="showtime-e2e",
        )

    def start(self) -> Replica:
        self.process.start()
        return self

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        """The samples of metric ``name``; empty while the endpoint does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return []
        return [
            (sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name
        ]

    def identity(self) -> str | None:
        found = self.samples("showtime_leader")
        return found[0][0]["identity"] if found else None

    def leading(self) -> bool:
        return any(value == 1 for _, value in self.samples("showtime_leader"))

    def writes(self) -> float:
        return sum(value for _, value in self.samples("showtime_api_writes_total"))


def holder(coordination: Any, namespace: str) -> tuple[str, int]:
    spec = coordination.read_namespaced_lease("showtime-e2e", namespace).spec
    return str(spec.holder_identity or ""), int(spec.lease_transitions or 0)


def the_leader(replicas: list[Replica]) -> Callable[[], Replica | None]:
    def found() -> Replica | None:
        leading = [r for r in replicas if r.process.alive() and r.leading()]
        return leading[0] if len(leading) == 1 else None

    return found


@pytest.fixture
def pair(crd: None, namespace: str, tmp_path: Path) -> Iterator[list[Replica]]:
    replicas = [Replica(namespace, tmp_path / f"replica-{n}.log") for n in "ab"]
    try:
        yield replicas
    finally:
        for replica in replicas:
            replica.process.stop()
            print(replica.process.log_tail(40))


def test_one_replica_writes_and_the_other_takes_over_when_it_is_killed(
    pair: list[Replica], namespace: str, apps_v1: Any, custom: Any, kube_api: Any
) -> None:
    coordination: Any = client.CoordinationV1Api(kube_api)
    make_deployment(apps_v1, namespace, "api", 1)
    for replica in pair:
        replica.start()
    leader = wait_for(the_leader(pair), timeout=60, message="exactly one leader")
    (standby,) = [r for r in pair if r is not leader]
    wait_for(standby.identity, timeout=30, message="the standby's metrics")
    assert not standby.leading()
    assert holder(coordination, namespace)[0] == leader.identity()

    # Pre-warm is due at once: the leader raises api to the floor, the standby writes nothing.
    create_event(
        custom,
        namespace,
        "launch",
        {
            "schedule": {"start": iso(soon(600)), "duration": "1h"},
            "leadTime": "15m",
            "targets": [{"name": "api", "replicas": 3, "maxReplicas": 10}],
        },
    )
    wait_for(lambda: replicas_of(apps_v1, namespace, "api") == 3, timeout=30, message="floor 3")
    wait_for(lambda: phase_is(custom, namespace, "launch", "PreWarming"), timeout=30)
    before = wait_for(leader.writes, timeout=10, message="the leader's writes counted")
    assert standby.writes() == 0

    # The leader dies without a word; the floor is raised while nobody leads.
    killed = time.monotonic()
    leader.process.kill()
    custom.patch_namespaced_custom_object(
        "showtime.dev",
        "v1alpha1",
        namespace,
        "trafficevents",
        "launch",
        {"spec": {"targets": [{"name": "api", "replicas": 4, "maxReplicas": 10}]}},
    )
    seen: list[int] = []

    def took_over() -> bool:
        seen.append(replicas_of(apps_v1, namespace, "api"))
        return standby.leading()

    wait_for(took_over, timeout=TAKEOVER_BOUND + SLACK, interval=0.1, message="take-over")
    leads_after = time.monotonic() - killed

    def floor_applied() -> bool:
        seen.append(replicas_of(apps_v1, namespace, "api"))
        return seen[-1] == 4

    wait_for(
        floor_applied,
        timeout=TAKEOVER_BOUND + SLACK - leads_after,
        interval=0.1,
        message="the raised floor applied by the new leader",
    )
    applied_after = time.monotonic() - killed
    print(
        f"take-over after SIGKILL: leader in {leads_after:.1f}s, raised floor applied in "
        f"{applied_after:.1f}s (bound {TAKEOVER_BOUND:g}s); replicas meanwhile {sorted(set(seen))}"
    )
    assert min(seen) >= 3, "nothing is lowered while nobody leads"
    assert LEASE_DURATION - RETRY_PERIOD - 1 <= leads_after <= TAKEOVER_BOUND + SLACK
    assert standby.writes() > 0
    assert holder(coordination, namespace) == (standby.identity(), 1)
    assert before > 0


def test_a_leader_that_stops_hands_over_within_a_retry_period(
    pair: list[Replica], namespace: str, apps_v1: Any, custom: Any
) -> None:
    make_deployment(apps_v1, namespace, "api", 1)
    for replica in pair:
        replica.start()
    leader = wait_for(the_leader(pair), timeout=60, message="exactly one leader")
    (standby,) = [r for r in pair if r is not leader]
    wait_for(standby.identity, timeout=30, message="the standby's metrics")
    stopped = time.monotonic()
    leader.process.stop()  # SIGTERM: the reconciler stops, then the Lease is released
    wait_for(standby.leading, timeout=RETRY_PERIOD + SLACK + 15, interval=0.1, message="handover")
    handed_over = time.monotonic() - stopped
    print(f"take-over after SIGTERM: {handed_over:.1f}s")
    assert handed_over <= RETRY_PERIOD + SLACK + 1
