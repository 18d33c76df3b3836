"""Stateful property test of the whole tick over an in-memory API server.

Hypothesis drives random sequences of: clock advances, metric answers (values, empty,
NaN, run-time errors, timeouts), someone else's replica changes, an HPA appearing or
disappearing, valid and invalid spec edits, deletions, operator restarts and operators
killed after their N-th write. Two clusters run in lockstep:

- ``steady``: one reconciler for the whole run;
- ``chaos``: a fresh reconciler every tick (a restart), sometimes killed mid-tick, plus a
  broken TrafficEvent (its duration overflows) on a workload of its own.

Invariants: never above maxReplicas (unless someone else put it there); while held never
below the floor nor below the pre-event count; released targets back at their exact
pre-event state; a drop of at most maxPercentPerMinute a minute; a metric failure never
lowers a held count; and the chaos cluster's targets end every tick exactly like the
steady one's (restarts, kills and another event's failure change no decision).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from showtime.core.planner import plan_event
from showtime.core.samples import FailureReason, MetricFailure, Sample
from showtime.core.spec import parse_spec
from showtime.shell.reconciler import Reconciler
from tests.support.fakes import Clock, FakeCluster, FakeMetrics
from tests.support.faults import FailingGateway, OperatorKilled

T0 = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
QUERY = 'sum(rate(http_requests_total{service="api"}[1m]))'
MAX = 20
PERCENT = 50
SPECS: dict[str, dict[str, Any]] = {
    "a": {
        "schedule": {"start": "2026-12-31T12:10:00Z", "duration": "30m"},
        "leadTime": "2m",
        "cooldown": "5m",
        "scaleDown": {"stabilizationWindow": "2m", "maxPercentPerMinute": PERCENT},
        "targets": [
            {
                "name": "api",
                "replicas": 6,
                "maxReplicas": MAX,
                "metric": {"query": QUERY, "targetPerReplica": 10},
            }
        ],
    },
    "b": {
        "schedule": {"cron": "0 * * * *", "duration": "20m"},
        "leadTime": "3m",
        "cooldown": "10m",
        "scaleDown": {"stabilizationWindow": "1m", "maxPercentPerMinute": PERCENT},
        "targets": [{"name": "web", "replicas": 8, "maxReplicas": MAX}],
    },
    "c": {
        "schedule": {"start": "2026-12-31T12:25:00Z", "duration": "10m"},
        "leadTime": "1m",
        "rampUp": "2m",
        "cooldown": "0s",
        "scaleDown": {"stabilizationWindow": "0s", "maxPercentPerMinute": PERCENT},
        "targets": [{"name": "web", "replicas": 12, "maxReplicas": MAX}],
    },
}
BROKEN = {
    "schedule": {"start": "2026-12-31T12:05:00Z", "duration": "99999999999h"},
    "leadTime": "1m",
    "targets": [{"name": "zed", "replicas": 5, "maxReplicas": MAX}],
}
INVALID_EDIT = {"schedule": {"cron": "61 * * * *", "start": None}}
TARGETS = ("api", "web")
FAILURES = [MetricFailure(reason, reason.value) for reason in FailureReason]


def build(broken: bool) -> FakeCluster:
    cluster = FakeCluster()
    cluster.add_deployment("api", 2)
    cluster.add_deployment("web", 3)
    cluster.add_deployment("zed", 1)
    for name, spec in SPECS.items():
        cluster.add_event(name, spec)
    if broken:
        cluster.add_event("z", BROKEN)
    return cluster


def run(reconciler: Reconciler) -> None:
    asyncio.run(reconciler.tick())


class TickMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock(T0)
        self.metrics = FakeMetrics()
        self.steady_cluster, self.chaos_cluster = build(False), build(True)
        self.steady = self.reconciler(self.steady_cluster)
        self.deleted: set[str] = set()
        self.invalid: set[str] = set()
        self.pre_event = {"api": 2, "web": 3}  # until someone else changes it outside a hold
        self.others_touched: set[str] = set()  # scaled by someone else since the last hold
        self.metric_failing = False
        self.wished_before = 0
        self.last_drop: dict[str, datetime] = {}

    def reconciler(self, cluster: Any) -> Reconciler:
        return Reconciler(
            cluster, self.metrics, default_lead_time=timedelta(minutes=5), clock=self.clock
        )

    def both(self) -> tuple[FakeCluster, FakeCluster]:
        return self.steady_cluster, self.chaos_cluster

    # -- what happens in the world ---------------------------------------------------------

    @rule(value=st.one_of(st.floats(0, 300), st.sampled_from(FAILURES), st.none()))
    def metric_answer(self, value: float | MetricFailure | None) -> None:
        if value is None:
            self.metrics.answers.pop(QUERY, None)
        elif isinstance(value, MetricFailure):
            self.metrics.answers[QUERY] = value
        else:
            self.metrics.answers[QUERY] = Sample(value, self.clock.now)
        self.metric_failing = not isinstance(self.metrics.answers.get(QUERY), Sample)

    @rule(workload=st.sampled_from(TARGETS), replicas=st.integers(0, 30))
    def someone_scales(self, workload: str, replicas: int) -> None:
        for cluster in self.both():
            cluster.external_scale(workload, replicas)
        if self.steady_cluster.annotations(workload):
            self.others_touched.add(workload)  # while held or handed back
        else:
            self.pre_event[workload] = replicas
            self.others_touched.discard(workload)

    @rule(minimum=st.one_of(st.none(), st.integers(1, 4)))
    def hpa_appears(self, minimum: int | None) -> None:
        for cluster in self.both():
            if ("live", "Deployment", "web") in cluster.hpas:
                return
            cluster.add_hpa("web", minimum or 1, 100)
            if minimum is None:
                del cluster.hpas[("live", "Deployment", "web")]["spec"]["minReplicas"]
        self.others_touched.add("web")  # the HPA now moves the replicas, not Showtime

    @rule()
    def hpa_disappears(self) -> None:
        for cluster in self.both():
            cluster.hpas.pop(("live", "Deployment", "web"), None)

    @rule(name=st.sampled_from(sorted(SPECS)), valid=st.booleans())
    def edit(self, name: str, valid: bool) -> None:
        if name in self.deleted:
            return
        for cluster in self.both():
            cluster.external_edit_event(name, SPECS[name] if valid else INVALID_EDIT)
        (self.invalid.discard if valid else self.invalid.add)(name)

    @rule(name=st.sampled_from(sorted(SPECS)))
    def delete(self, name: str) -> None:
        for cluster in self.both():
            cluster.events.pop(("live", name), None)
        self.deleted.add(name)

    @rule()
    def restart_steady(self) -> None:
        self.steady = self.reconciler(self.steady_cluster)

    # -- ticks -------------------------------------------------------------------------------

    @rule(seconds=st.integers(1, 400), kill_after=st.one_of(st.none(), st.integers(0, 6)))
    def tick(self, seconds: int, kill_after: int | None) -> None:
        self.clock.now += timedelta(seconds=seconds)
        before = {t: self.count(self.steady_cluster, t) for t in TARGETS}
        held_before = {t for t in TARGETS if self.held(t)}
        self.wished_before = self.last_wish("a")
        run(self.steady)
        if kill_after is not None:
            dying = FailingGateway(self.chaos_cluster, fail_after=kill_after)
            with contextlib.suppress(OperatorKilled):
                run(self.reconciler(dying))
        run(self.reconciler(self.chaos_cluster))  # a restarted operator
        for target in TARGETS:
            after = self.count(self.steady_cluster, target)
            self.check_drop(target, before[target], after, held_before)
        self.check_held_targets()
        self.check_lockstep()

    def check_drop(self, target: str, before: int, after: int, held_before: set[str]) -> None:
        if after >= before or self.has_hpa(target):
            return
        if target == "api" and self.metric_failing and "api" in held_before and self.held("api"):
            # Missing data never lowers below what the event wanted before it went missing
            # (a count the stabilization window kept above that may still come down).
            assert after >= min(before, self.wished_before), f"api {before} -> {after}"
        assert after >= before - math.ceil(before * PERCENT / 100), (target, before, after)
        last = self.last_drop.get(target)
        assert last is None or self.clock.now - last >= timedelta(minutes=1), target
        self.last_drop[target] = self.clock.now

    def last_wish(self, name: str) -> int:
        targets = (
            self.steady_cluster.status(name).get("targets") if name not in self.deleted else []
        )
        return max((int(t.get("desiredReplicas") or 0) for t in targets or []), default=0)

    def check_lockstep(self) -> None:
        steady, chaos = self.both()
        for key in [k for k in steady.workloads if k[2] != "zed"]:
            assert steady.workloads[key]["spec"] == chaos.workloads[key]["spec"], key
            assert steady.annotations(key[2]) == chaos.annotations(key[2]), key
        for key, hpa in steady.hpas.items():
            assert hpa["spec"] == chaos.hpas[key]["spec"], key
        for name in SPECS:
            if name not in self.deleted:
                assert steady.status(name) == chaos.status(name), name
        assert chaos.status("z")["phase"] == "Invalid"

    # -- invariants ---------------------------------------------------------------------------

    def count(self, cluster: FakeCluster, target: str) -> int:
        return cluster.replicas(target)

    def has_hpa(self, target: str) -> bool:
        return ("live", "Deployment", target) in self.steady_cluster.hpas

    def held(self, target: str) -> bool:
        return bool(self.steady_cluster.annotations(target).get("showtime.dev/held-by"))

    @invariant()
    def never_above_max_unless_someone_else_put_it_there(self) -> None:
        for target in TARGETS:
            if target not in self.others_touched:
                limit = max(MAX, self.pre_event[target])
                assert self.count(self.steady_cluster, target) <= limit, target

    def check_held_targets(self) -> None:
        """After a tick: held targets at or above their floors and their pre-event count."""
        cluster = self.steady_cluster
        for target in TARGETS:
            if not self.held(target) or self.has_hpa(target):
                continue
            count = self.count(cluster, target)
            assert count >= self.pre_event[target] or target in self.others_touched, target
            for name in self.holders(target):
                floor = self.floor_now(name, target)
                assert floor is None or count >= floor, (target, name, count, floor)

    def holders(self, target: str) -> list[str]:
        held = self.steady_cluster.annotations(target).get("showtime.dev/held-by", "")
        return [h for h in held.split(",") if h and h in SPECS and h not in self.deleted]

    def floor_now(self, name: str, target: str) -> int | None:
        if name in self.invalid:
            return None  # the last valid spec holds: checked by its own example test
        spec = parse_spec(SPECS[name])
        plan = plan_event(spec, now=self.clock.now, lead_time=spec.lead_time or timedelta(0))
        return plan.floors.get(("Deployment", target))

    @precondition(lambda self: len(self.deleted) < len(SPECS))
    @rule()
    def finish(self) -> None:
        """Delete every event; after enough minutes every target is back where it was."""
        for name in SPECS:
            self.delete(name)
        for _ in range(40):
            self.clock.now += timedelta(minutes=1)
            run(self.steady)
            run(self.reconciler(self.chaos_cluster))
        for target in TARGETS:
            assert self.steady_cluster.annotations(target) == {}, target
            if target not in self.others_touched and not self.has_hpa(target):
                assert self.count(self.steady_cluster, target) == self.pre_event[target]
        self.check_lockstep()


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    """Thousands of ticks: keep their log lines out of the report."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    yield
    structlog.reset_defaults()


TickMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("SHOWTIME_STATE_MACHINE_EXAMPLES", "200")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
test_tick_state_machine = TickMachine.TestCase
