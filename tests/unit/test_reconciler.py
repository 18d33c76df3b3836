"""The reconciler against an in-memory cluster: writes only on change, restart-safe."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

from structlog.testing import capture_logs

from showtime.shell import reconciler as reconciler_module
from showtime.shell.reconciler import Reconciler
from showtime.sources.metricsource import FailureReason, MetricFailure, Sample
from tests.support.fakes import Clock, FakeCluster, FakeMetrics
from tests.support.ticks import START, event_spec, make, tick


def metric_target(query: str) -> dict[str, Any]:
    """Target ``api``: a floor of 4, and 100 per replica on ``query``."""
    return {
        "name": "api",
        "replicas": 4,
        "maxReplicas": 50,
        "metric": {"query": query, "targetPerReplica": 100},
    }


def test_prewarm_scales_once_then_stays_quiet() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(minutes=4))
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec())
    reconciler = make(cluster, clock)
    tick(reconciler)
    assert cluster.replicas("api") == 10
    assert cluster.annotations("api")["showtime.dev/original-replicas"] == "2"
    assert cluster.status("speech")["phase"] == "PreWarming"
    reasons = [p[2] for p in cluster.posted]
    assert reasons == ["PreWarming"]  # one Event per change of state, naming the counts
    cluster.make_ready()
    tick(reconciler)  # readiness changed: status only
    cluster.writes.clear()
    clock.now += timedelta(seconds=10)
    tick(reconciler)
    assert cluster.writes == []


def test_restarted_operator_carries_on_without_writes() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(minutes=4))
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec())
    tick(make(cluster, clock))
    cluster.make_ready()
    tick(make(cluster, clock))
    cluster.writes.clear()
    clock.now += timedelta(seconds=30)
    tick(make(cluster, clock))  # a brand-new reconciler: nothing in memory
    assert cluster.writes == []
    assert cluster.replicas("api") == 10


def test_delete_hands_back_and_clears_annotations() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec())
    reconciler = make(cluster, clock)
    tick(reconciler)
    assert cluster.replicas("api") == 10
    tick(reconciler, releasing={("live", "speech")})
    del cluster.events[("live", "speech")]
    assert cluster.replicas("api") == 2
    assert cluster.annotations("api") == {}


def test_two_events_on_one_target_the_higher_wins_until_both_end() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    cluster.add_event("small", event_spec())
    cluster.add_event(
        "big",
        event_spec(
            schedule={"start": "2026-12-31T12:00:00Z", "duration": "2h"},
            targets=[{"name": "api", "replicas": 15, "maxReplicas": 20}],
        ),
    )
    reconciler = make(cluster, clock)
    tick(reconciler)
    assert cluster.replicas("api") == 15
    assert cluster.annotations("api")["showtime.dev/held-by"] == "big,small"
    clock.now = START + timedelta(minutes=90)  # small is over, big is live
    tick(reconciler)
    assert cluster.replicas("api") == 15
    assert cluster.annotations("api")["showtime.dev/held-by"] == "big"
    clock.now = START + timedelta(hours=3)
    tick(reconciler)
    assert cluster.replicas("api") == 2


def test_invalid_event_is_reported_and_others_still_act() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    cluster.add_deployment("web", 1)
    cluster.add_event(
        "broken",
        event_spec(
            schedule={"cron": "0 25 * * *", "duration": "1h"},
            targets=[{"name": "web", "replicas": 5, "maxReplicas": 9}],
        ),
    )
    cluster.add_event("speech", event_spec())
    tick(make(cluster, clock))
    broken = cluster.status("broken")
    assert broken["phase"] == "Invalid"
    ready = next(c for c in broken["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "cron" in ready["message"]
    assert ("broken", "Warning", "InvalidSpec") in [p[:3] for p in cluster.posted]
    assert cluster.replicas("web") == 1
    assert cluster.replicas("api") == 10


def test_missing_target_warns() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_event("speech", event_spec())
    tick(make(cluster, clock))
    found = next(c for c in cluster.status("speech")["conditions"] if c["type"] == "TargetsFound")
    assert (found["status"], found["reason"]) == ("False", "TargetMissing")
    assert ("speech", "Warning", "TargetMissing") in [p[:3] for p in cluster.posted]


def test_metric_scales_up_and_an_outage_holds_the_count() -> None:
    query = 'sum(rate(http_requests_total{service="api"}[1m]))'
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    cluster.add_event(
        "speech",
        event_spec(targets=[metric_target(query)]),
    )
    metrics = FakeMetrics({query: Sample(2000.0, START)})
    reconciler = make(cluster, clock, metrics)
    tick(reconciler)
    assert cluster.replicas("api") == 20
    status = cluster.status("speech")
    assert status["targets"][0]["reason"] == "Metric"
    assert status["targets"][0]["metric"]["value"] == 2000.0
    metrics.answers[query] = MetricFailure(FailureReason.UNREACHABLE, "connection refused")
    clock.now += timedelta(minutes=5)
    tick(reconciler)
    tick(reconciler)
    assert cluster.replicas("api") == 20
    cond = next(
        c for c in cluster.status("speech")["conditions"] if c["type"] == "MetricsAvailable"
    )
    assert (cond["status"], cond["reason"]) == ("False", "PrometheusUnreachable")
    warnings = [p for p in cluster.posted if p[2] == "MetricsUnavailable"]
    assert len(warnings) == 1


def test_invalid_query_turns_reactive_scaling_off_but_keeps_the_floor() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    cluster.add_event(
        "speech",
        event_spec(targets=[metric_target("sum(")]),
    )
    metrics = FakeMetrics({"sum(": MetricFailure(FailureReason.QUERY_INVALID, "parse error")})
    tick(make(cluster, clock, metrics))
    assert cluster.replicas("api") == 4  # the floor of metric_target
    ready = next(c for c in cluster.status("speech")["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "QueryInvalid"


def test_identical_queries_are_evaluated_once_per_tick() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    metrics = FakeMetrics()
    for i in range(1000):
        name = f"svc-{i}"
        cluster.add_deployment(name, 1)
        query = f'sum(rate(x{{shard="{i % 50}"}}[1m]))'
        metrics.answers[query] = Sample(10.0, START)
        cluster.add_event(
            f"ev-{i}",
            event_spec(
                targets=[
                    {
                        "name": name,
                        "replicas": 2,
                        "maxReplicas": 5,
                        "metric": {"query": query, "targetPerReplica": 100},
                    }
                ]
            ),
        )
    tick(make(cluster, clock, metrics))
    assert len(metrics.asked) == 1
    assert len(metrics.asked[0]) == 50


def test_hpa_target_gets_min_replicas_raised_and_restored() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 3)
    cluster.add_event("speech", event_spec())
    cluster.hpas[("live", "Deployment", "api")] = {
        "metadata": {"name": "api-hpa", "namespace": "live"},
        "spec": {
            "minReplicas": 3,
            "maxReplicas": 8,
            "scaleTargetRef": {"kind": "Deployment", "name": "api"},
        },
    }
    reconciler = make(cluster, clock)
    tick(reconciler)
    hpa = cluster.hpas[("live", "Deployment", "api")]
    assert hpa["spec"]["minReplicas"] == 8  # desired 10, capped at the HPA's max
    assert cluster.replicas("api") == 3  # the workload's replicas are never written
    assert ("speech", "Warning", "HPACapped") in [p[:3] for p in cluster.posted]
    original = cluster.annotations("api")["showtime.dev/original-hpa-min-replicas"]
    assert json.loads(original) == {"name": "api-hpa", "minReplicas": 3}
    assert cluster.annotations("api")["showtime.dev/original-replicas"] == "3"
    clock.now = START + timedelta(hours=2)
    tick(reconciler)
    assert hpa["spec"]["minReplicas"] == 3
    assert cluster.annotations("api") == {}


class HangingMetrics(FakeMetrics):
    async def query(self, queries: Any) -> Any:
        await asyncio.sleep(30)
        return {}


def test_a_hanging_prometheus_does_not_stall_the_tick() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    cluster.add_event(
        "speech",
        event_spec(targets=[metric_target("up")]),
    )
    reconciler = Reconciler(
        cluster,
        HangingMetrics(),
        default_lead_time=timedelta(minutes=5),
        clock=clock,
        query_budget=timedelta(milliseconds=200),
    )
    report = tick(reconciler)
    assert report.seconds < 5
    assert cluster.replicas("api") == 4  # the floor still applies
    cond = next(
        c for c in cluster.status("speech")["conditions"] if c["type"] == "MetricsAvailable"
    )
    assert (cond["status"], cond["reason"]) == ("False", "QueryTimeout")


def pod(deployment: str, created: str, ready: str) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "live",
            "creationTimestamp": created,
            "ownerReferences": [{"kind": "ReplicaSet", "name": f"{deployment}-5d8f7c"}],
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ready}]
        },
    }


def test_auto_lead_time_is_learned_from_the_targets_pods() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(minutes=30))
    cluster.add_deployment("api", 2)
    cluster.pods = [
        pod("api", "2026-12-31T10:00:00Z", "2026-12-31T10:00:20Z"),
        pod("api", "2026-12-31T10:00:00Z", "2026-12-31T10:00:18Z"),
        pod("other", "2026-12-31T10:00:00Z", "2026-12-31T10:09:00Z"),  # not a target
    ]
    cluster.add_event("speech", event_spec(leadTime="auto"))
    tick(make(cluster, clock))
    # The two pods have neither name nor uid, so they read as one pod: the first seen (20 s)
    # is learned. 20 s + 15 s + 5 % of 20 s is 36 s, not the 5 min default.
    assert cluster.status("speech")["leadTimeSeconds"] == 36
    assert cluster.status("speech")["prewarmAt"] == "2026-12-31T11:59:24Z"


def test_a_slow_tick_is_logged_with_where_its_time_went(monkeypatch: Any) -> None:
    """The SRE reading the log sees which step took the time: here, a hanging Prometheus."""
    monkeypatch.setattr(reconciler_module, "SLOW_TICK_SECONDS", 0.1)
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec(targets=[metric_target("up")]))
    reconciler = Reconciler(
        cluster,
        HangingMetrics(),
        default_lead_time=timedelta(minutes=5),
        clock=clock,
        query_budget=timedelta(milliseconds=300),
    )

    async def until_a_tick_is_logged(logs: list[MutableMapping[str, Any]]) -> None:
        loop = asyncio.create_task(reconciler.run_forever(timedelta(seconds=60)))
        deadline = asyncio.get_running_loop().time() + 20
        while not any(e["event"] in ("tick", "slow tick") for e in logs):
            assert asyncio.get_running_loop().time() < deadline, "no tick logged in 20 s"
            await asyncio.sleep(0.05)
        loop.cancel()

    with capture_logs() as logs:
        asyncio.run(until_a_tick_is_logged(logs))
    slow = [entry for entry in logs if entry["event"] == "slow tick"]
    assert len(slow) == 1
    phases = slow[0]["phases"]
    assert list(phases) == ["reported", "snapshot", "gather", "query", "decide", "apply", "gauges"]
    assert max(phases, key=phases.get) == "query"
    assert phases["query"] >= 0.3
    assert slow[0]["writes"] >= 1  # the floor still went out


def test_a_steady_event_still_refreshes_its_metric_sample_every_five_minutes() -> None:
    """Nothing changes but the clock (the source keeps answering the same sample): the
    sample shown is refreshed within 5 minutes all the same."""
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 4)
    cluster.add_event("speech", event_spec(targets=[metric_target("load")]))
    first = clock.now
    metrics = FakeMetrics({"load": Sample(300.0, first)})
    reconciler = make(cluster, clock, metrics)
    shown = []
    for _ in range(40):  # a tick every 10 s
        tick(reconciler)
        cluster.make_ready()
        shown.append(cluster.status("speech")["targets"][0]["metric"]["timestamp"])
        metrics.answers["load"] = Sample(300.0, first + timedelta(seconds=10))
        clock.now += timedelta(seconds=10)
    changed = [i for i in range(1, len(shown)) if shown[i] != shown[i - 1]]
    assert len(changed) == 1  # within 5 %: kept, and refreshed once ...
    assert changed[0] <= 30  # ... within 5 minutes of the first


class SlowStatusCluster(FakeCluster):
    """A loaded API server: every status patch takes a second."""

    async def patch_status(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(1.0)
        return await super().patch_status(*args, **kwargs)


def test_in_the_loop_a_tick_does_not_wait_for_its_status_patches() -> None:
    """The floor goes out in the tick; the status follows while the loop waits."""
    cluster, clock = SlowStatusCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec())
    reconciler = make(cluster, clock)

    async def first_tick_then_its_status(logs: list[MutableMapping[str, Any]]) -> None:
        loop = asyncio.create_task(reconciler.run_forever(timedelta(seconds=60)))
        deadline = asyncio.get_running_loop().time() + 20
        while not (logs and cluster.events[("live", "speech")].get("status")):
            assert asyncio.get_running_loop().time() < deadline, "no status in 20 s"
            await asyncio.sleep(0.05)
        loop.cancel()

    with capture_logs() as logs:
        asyncio.run(first_tick_then_its_status(logs))
    ticks = [entry for entry in logs if entry["event"] in ("tick", "slow tick")]
    assert ticks[0]["seconds"] < 0.9  # not the second the status patch took
    assert ticks[0]["status_writes"] == 1
    assert cluster.replicas("api") == 10
    assert cluster.status("speech")["phase"] == "Live"
