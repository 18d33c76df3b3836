"""The promises of issue 8, one test each, through the whole tick against an in-memory cluster.

Each test drives the reconciler (gather, decide, apply) over ``FakeCluster`` and checks what
an SRE would see: replica counts, HPA minimums, annotations, status and Events.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from showtime.sources.metricsource import FailureReason, MetricFailure, Sample
from tests.support.fakes import Clock, FakeCluster, FakeMetrics
from tests.support.ticks import START, event_spec, make, tick

QUERY = 'sum(rate(http_requests_total{service="api"}[1m]))'


def add_hpa(cluster: FakeCluster, target: str, minimum: int | None, maximum: int = 50) -> None:
    spec: dict[str, Any] = {
        "maxReplicas": maximum,
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
    }
    if minimum is not None:
        spec["minReplicas"] = minimum
    cluster.hpas[("live", "Deployment", target)] = {
        "metadata": {"name": f"{target}-hpa", "namespace": "live", "resourceVersion": "1"},
        "spec": spec,
    }


def hpa_spec(cluster: FakeCluster, target: str) -> dict[str, Any]:
    return dict(cluster.hpas[("live", "Deployment", target)]["spec"])


def edit_spec(cluster: FakeCluster, name: str, spec: dict[str, Any]) -> None:
    obj = cluster.events[("live", name)]
    obj["spec"] = spec
    obj["metadata"]["generation"] = int(obj["metadata"].get("generation") or 1) + 1


# 1. Isolation -------------------------------------------------------------------------------


def test_an_overflowing_event_is_invalid_and_the_other_still_prewarms() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(minutes=4))
    cluster.add_deployment("api", 2)
    cluster.add_deployment("other", 1)
    bad = event_spec(schedule={"start": "2026-12-31T12:00:00Z", "duration": "99999999999h"})
    bad["targets"] = [{"name": "other", "replicas": 5, "maxReplicas": 20}]
    cluster.add_event("broken", bad)
    cluster.add_event("speech", event_spec())
    tick(make(cluster, clock))
    assert cluster.replicas("api") == 10
    assert cluster.replicas("other") == 1
    assert cluster.status("broken")["phase"] == "Invalid"
    assert cluster.status("speech")["phase"] == "PreWarming"


def test_an_event_starting_in_year_9999_does_not_stop_the_others() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(minutes=4))
    cluster.add_deployment("api", 2)
    far = event_spec(schedule={"start": "9999-12-31T23:59:00Z", "duration": "1h"}, leadTime="5m")
    cluster.add_event("far", far)
    cluster.add_event("speech", event_spec())
    tick(make(cluster, clock))
    assert cluster.replicas("api") == 10
    assert cluster.status("far")["phase"] in ("Scheduled", "Invalid")


# 2. Missing data is not zero ----------------------------------------------------------------


def test_an_invalid_query_disables_only_the_reactive_part_the_floor_still_happens() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(minutes=4))
    cluster.add_deployment("api", 2)
    target = {"name": "api", "replicas": 6, "maxReplicas": 50}
    target["metric"] = {"query": "sum(rate(", "targetPerReplica": 100}
    cluster.add_event("speech", event_spec(targets=[target]))
    metrics = FakeMetrics(
        {"sum(rate(": MetricFailure(FailureReason.QUERY_INVALID, "bad_data: parse error")}
    )
    tick(make(cluster, clock, metrics))
    assert cluster.replicas("api") == 6
    metrics_condition = [
        c for c in cluster.status("speech")["conditions"] if c["type"] == "MetricsAvailable"
    ]
    assert metrics_condition[0]["status"] == "False"
    assert metrics_condition[0]["reason"] == "QueryInvalid"
    assert any(p[2] == "QueryInvalid" and p[1] == "Warning" for p in cluster.posted)


def test_no_failure_of_any_kind_lowers_a_held_count() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    target = {"name": "api", "replicas": 4, "maxReplicas": 50}
    target["metric"] = {"query": QUERY, "targetPerReplica": 100}
    cluster.add_event("speech", event_spec(targets=[target]))
    metrics = FakeMetrics({QUERY: Sample(2000.0, START)})
    reconciler = make(cluster, clock, metrics)
    tick(reconciler)
    assert cluster.replicas("api") == 20
    for failure in FailureReason:
        metrics.answers[QUERY] = MetricFailure(failure, f"{failure.value}")
        clock.now += timedelta(minutes=2)
        tick(reconciler)
        assert cluster.replicas("api") == 20, failure


# 4. Scale-down stabilization is exact --------------------------------------------------------


def test_the_highest_count_of_the_window_is_kept_however_many_changes() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    target = {"name": "api", "replicas": 2, "maxReplicas": 100}
    target["metric"] = {"query": QUERY, "targetPerReplica": 1}
    spec = event_spec(targets=[target])
    spec["scaleDown"] = {"stabilizationWindow": "10m", "maxPercentPerMinute": 100}
    cluster.add_event("speech", spec)
    metrics = FakeMetrics({QUERY: Sample(90.0, START)})
    reconciler = make(cluster, clock, metrics)
    tick(reconciler)
    assert cluster.replicas("api") == 90
    # Forty changes within the window, all below the peak of 90.
    for step in range(40):
        clock.now += timedelta(seconds=5)
        metrics.answers[QUERY] = Sample(float(10 + step % 2), clock.now)
        tick(reconciler)
    assert cluster.replicas("api") == 90


# 6. The pre-event state is never lost -------------------------------------------------------


def test_hpa_deleted_mid_event_still_hands_back_the_original_replicas() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 4)
    add_hpa(cluster, "api", 3)
    cluster.add_event("speech", event_spec())
    reconciler = make(cluster, clock)
    tick(reconciler)
    assert hpa_spec(cluster, "api")["minReplicas"] == 10
    cluster.workloads[("live", "Deployment", "api")]["spec"]["replicas"] = 10  # the HPA acted
    del cluster.hpas[("live", "Deployment", "api")]
    clock.now += timedelta(minutes=1)
    tick(reconciler)
    clock.now = START + timedelta(hours=2)
    for _ in range(5):
        tick(reconciler)
        clock.now += timedelta(minutes=1)
    assert cluster.replicas("api") == 4
    assert cluster.annotations("api") == {}


def test_an_absent_hpa_minimum_stays_absent_after_hand_back() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 1)
    add_hpa(cluster, "api", None)
    cluster.add_event("speech", event_spec())
    reconciler = make(cluster, clock)
    tick(reconciler)
    assert hpa_spec(cluster, "api")["minReplicas"] == 10
    tick(reconciler, releasing={("live", "speech")})
    assert "minReplicas" not in hpa_spec(cluster, "api")


def test_a_damaged_annotation_loses_only_what_it_held() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 3)
    cluster.add_event("speech", event_spec())
    reconciler = make(cluster, clock)
    tick(reconciler)
    assert cluster.replicas("api") == 10
    cluster.workloads[("live", "Deployment", "api")]["metadata"]["annotations"][
        "showtime.dev/scale-state"
    ] = "{not json"
    clock.now += timedelta(seconds=10)
    tick(reconciler)
    assert any(p[1] == "Warning" and "scale-state" in p[3] for p in cluster.posted)
    tick(reconciler, releasing={("live", "speech")})
    assert cluster.replicas("api") == 3


def test_a_workload_at_zero_under_an_hpa_is_still_prewarmed() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(minutes=4))
    cluster.add_deployment("api", 0)
    add_hpa(cluster, "api", 1)
    cluster.add_event("speech", event_spec())
    tick(make(cluster, clock))
    assert cluster.replicas("api") == 10
    assert hpa_spec(cluster, "api")["minReplicas"] == 10


# 7. No fighting with people or other controllers --------------------------------------------


def test_a_count_someone_raised_while_held_is_never_lowered() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec())
    reconciler = make(cluster, clock)
    tick(reconciler)
    cluster.workloads[("live", "Deployment", "api")]["spec"]["replicas"] = 18  # kubectl scale
    for _ in range(5):
        clock.now += timedelta(minutes=2)
        tick(reconciler)
    assert cluster.replicas("api") == 18


def test_a_count_lowered_below_the_floor_is_restored_with_one_warning() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec())
    reconciler = make(cluster, clock)
    tick(reconciler)
    cluster.workloads[("live", "Deployment", "api")]["spec"]["replicas"] = 3
    for _ in range(3):
        clock.now += timedelta(seconds=10)
        tick(reconciler)
    assert cluster.replicas("api") == 10
    warnings = [p for p in cluster.posted if p[1] == "Warning" and p[2] == "ScaledBelowFloor"]
    assert len(warnings) == 1


# 8. An invalid edit mid-event does not hand back --------------------------------------------


def test_an_invalid_edit_mid_event_keeps_the_last_valid_spec_holding() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec())
    reconciler = make(cluster, clock)
    tick(reconciler)
    assert cluster.replicas("api") == 10
    broken = event_spec()
    broken["schedule"] = {"cron": "99 * * * *", "duration": "1h"}
    edit_spec(cluster, "speech", broken)
    for _ in range(3):
        clock.now += timedelta(seconds=30)
        tick(reconciler)
        tick(make(cluster, clock))  # and across a restart
    assert cluster.replicas("api") == 10
    ready = next(c for c in cluster.status("speech")["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "InvalidSpec"


# 9. Status tells the truth ------------------------------------------------------------------


def test_a_completed_event_shows_no_next_start_and_waits_for_the_hand_back() -> None:
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    spec = event_spec()
    spec["scaleDown"] = {"stabilizationWindow": "0s", "maxPercentPerMinute": 20}
    cluster.add_event("speech", spec)
    reconciler = make(cluster, clock)
    tick(reconciler)
    assert "nextStart" in cluster.status("speech")
    clock.now = START + timedelta(hours=1, minutes=1)
    tick(reconciler)
    status = cluster.status("speech")
    assert "nextStart" not in status
    assert status["targets"][0]["reason"] == "HandBack"
    assert status["targets"][0]["desiredReplicas"] == 2
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "HandBackInProgress"


def test_metrics_available_is_not_true_when_no_query_ran() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(days=3))
    cluster.add_deployment("api", 2)
    target = {"name": "api", "replicas": 4, "maxReplicas": 50}
    target["metric"] = {"query": QUERY, "targetPerReplica": 100}
    cluster.add_event("speech", event_spec(targets=[target]))
    tick(make(cluster, clock, FakeMetrics()))
    condition = next(
        c for c in cluster.status("speech")["conditions"] if c["type"] == "MetricsAvailable"
    )
    assert condition["status"] != "True"


# 10. Kubernetes Events are aggregated -------------------------------------------------------


def test_taking_hold_emits_about_one_event_per_traffic_event() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(minutes=4))
    for index in range(20):
        cluster.add_deployment(f"api-{index}", 1)
        spec = event_spec()
        spec["targets"] = [
            {"name": f"api-{index}", "replicas": 5, "maxReplicas": 20},
        ]
        cluster.add_event(f"event-{index}", spec)
    tick(make(cluster, clock))
    assert len(cluster.posted) <= 20


# 12. Thread safety --------------------------------------------------------------------------


def test_a_poke_from_another_thread_wakes_the_loop_at_once() -> None:
    """kopf runs sync handlers in worker threads: their poke must wake the idle loop."""
    cluster, clock = FakeCluster(), Clock(START - timedelta(days=1))
    reconciler = make(cluster, clock)
    ticks: list[float] = []
    original = reconciler.tick

    async def scenario() -> float:
        second = asyncio.Event()

        async def counting_tick(**kw: Any) -> Any:
            ticks.append(time.monotonic())
            if len(ticks) == 2:
                second.set()
            return await original(**kw)

        reconciler.tick = counting_tick  # type: ignore[method-assign,assignment]
        loop_task = asyncio.create_task(reconciler.run_forever(timedelta(seconds=30)))
        while not ticks:  # noqa: ASYNC110 (the first tick runs in the loop task)
            await asyncio.sleep(0.01)
        # Poke from a worker thread while the loop sits idle in its selector.
        poke = threading.Timer(0.3, reconciler.poke)
        poked_at = time.monotonic() + 0.3
        poke.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(second.wait(), timeout=5)
        loop_task.cancel()
        return (ticks[1] - poked_at) if len(ticks) > 1 else float("inf")

    assert asyncio.run(scenario()) < 2.0


# 5. Lead time is learned right --------------------------------------------------------------


def ready_pod(name: str, owner_kind: str, owner: str, created: datetime, took: float) -> Any:
    ready_at = created + timedelta(seconds=took)
    return {
        "metadata": {
            "name": name,
            "namespace": "live",
            "uid": f"uid-{name}",
            "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ownerReferences": [{"kind": owner_kind, "name": owner}],
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastTransitionTime": ready_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            ],
            "containerStatuses": [{"restartCount": 0}],
        },
    }


def test_a_learned_lead_time_is_in_status_and_survives_restart_and_pod_deletion() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(hours=1))
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec(leadTime="auto"))
    created = START - timedelta(hours=2)
    cluster.pods = [
        ready_pod(f"api-7f9-{i}", "ReplicaSet", "api-7f9", created, 20) for i in range(3)
    ]
    tick(make(cluster, clock))
    record = cluster.status("speech")["targets"][0]["leadTime"]
    # 20 s + 15 s + 5 % of 20 s, whole seconds up (core.leadtime's rule).
    assert (record["seconds"], record["learned"], record["samples"]) == (36, True, 3)
    assert cluster.status("speech")["leadTimeSeconds"] == 36
    cluster.pods = []  # the pods are gone (a rollout), and the operator restarts
    clock.now += timedelta(minutes=1)
    tick(make(cluster, clock))
    assert cluster.status("speech")["leadTimeSeconds"] == 36  # not the 5 min default


def test_a_target_under_an_hpa_is_pre_warmed_one_hpa_sync_earlier() -> None:
    """Under an HPA the floor goes through minReplicas and the HPA's next sync (15 s)."""
    cluster, clock = FakeCluster(), Clock(START - timedelta(hours=1))
    cluster.add_deployment("api", 2)
    add_hpa(cluster, "api", 2)
    cluster.add_event("speech", event_spec(leadTime="auto"))
    created = START - timedelta(hours=2)
    cluster.pods = [
        ready_pod(f"api-7f9-{i}", "ReplicaSet", "api-7f9", created, 20) for i in range(3)
    ]
    tick(make(cluster, clock))
    # 20 s + 15 s + 5 % of 20 s + 15 s for the HPA's sync, whole seconds up: 51 s, not 36 s.
    assert cluster.status("speech")["leadTimeSeconds"] == 51


def test_an_ordered_statefulset_lead_time_grows_with_the_pods_to_add() -> None:
    cluster, clock = FakeCluster(), Clock(START - timedelta(hours=1))
    cluster.add_deployment("db", 1, kind="StatefulSet")
    spec = event_spec(leadTime="auto")
    spec["targets"] = [{"kind": "StatefulSet", "name": "db", "replicas": 5, "maxReplicas": 10}]
    cluster.add_event("speech", spec)
    created = START - timedelta(hours=2)
    cluster.pods = [ready_pod("db-0", "StatefulSet", "db", created, 20)]
    tick(make(cluster, clock))
    # Four pods to add, one after another: 4 x 20 s + 15 s + 5 % of 80 s.
    assert cluster.status("speech")["leadTimeSeconds"] == 99


def test_an_event_that_cannot_be_planned_while_holding_freezes_its_targets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure inside planning never hands back what the event holds, tick after tick."""
    cluster, clock = FakeCluster(), Clock(START + timedelta(minutes=1))
    cluster.add_deployment("api", 2)
    cluster.add_event("speech", event_spec())
    reconciler = make(cluster, clock)
    tick(reconciler)
    assert cluster.replicas("api") == 10

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("date value out of range")

    monkeypatch.setattr("showtime.core.decide.plan_event", broken)
    for _ in range(3):
        clock.now += timedelta(seconds=30)
        tick(reconciler)
    monkeypatch.undo()
    assert cluster.replicas("api") == 10
    status = cluster.status("speech")
    assert status["phase"] == "Invalid"
    assert "date value out of range" in str(status["conditions"])
