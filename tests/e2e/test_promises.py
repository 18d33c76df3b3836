"""Issue 8's promises on the real API server, controllers and Prometheus.

People and other controllers changing counts mid-event, an HPA deleted mid-event, an
event the operator cannot act on next to a valid one, an invalid edit mid-event, a
Prometheus run-time error mid-event, and deleting events while no operator runs. Each test
runs its own operator on its own namespace; every wait polls with a deadline.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from typing import Any

import pytest
from kubernetes import client

from showtime.cluster.kube import GROUP, PLURAL, VERSION
from tests.support.loadsource import load_source
from tests.support.operator import OperatorProcess
from tests.support.trafficevents import (
    condition,
    create_cpu_hpa,
    create_event,
    event_reasons,
    iso,
    make_deployment,
    phase_is,
    replicas,
    showtime_annotations,
    soon,
    status,
    wait_condition,
    wait_handed_back,
)
from tests.support.wait import wait_for, wait_settled

pytestmark = pytest.mark.e2e

QUICK = {"stabilizationWindow": "0s", "maxPercentPerMinute": 100}


def live_event(
    custom: Any, namespace: str, name: str, target: str, floor: int, **extra: Any
) -> None:
    spec: dict[str, Any] = {
        "schedule": {"start": iso(soon(3)), "duration": "30m"},
        "leadTime": "5s",
        "cooldown": "0s",
        "scaleDown": QUICK,
        "targets": [{"name": target, "replicas": floor, "maxReplicas": 30}],
    }
    spec.update(extra)
    create_event(custom, namespace, name, spec)


def kubectl(*args: str) -> None:
    subprocess.run(["kubectl", *args], check=True, capture_output=True, timeout=30)


def held_steady(read: Any, value: int, seconds: float, *, at_least: bool = False) -> None:
    """``read()`` stays at ``value`` (or above it) for ``seconds``, longer than any window."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = read()
        assert now >= value if at_least else now == value
        time.sleep(0.5)


def test_someone_elses_raise_is_kept_and_a_lowered_count_restored_with_one_warning(
    operator: OperatorProcess, namespace: str, apps_v1: Any, core_v1: Any, custom: Any
) -> None:
    make_deployment(apps_v1, namespace, "api", 2)
    live_event(custom, namespace, "lecture", "api", 4)
    wait_for(lambda: replicas(apps_v1, namespace, "api") == 4, timeout=30, message="floor 4")
    kubectl("scale", "deployment/api", "--replicas=9", "-n", namespace)  # an incident
    held_steady(lambda: replicas(apps_v1, namespace, "api"), 9, 8)
    kubectl("scale", "deployment/api", "--replicas=1", "-n", namespace)
    wait_for(
        lambda: replicas(apps_v1, namespace, "api") == 9,
        timeout=20,
        message="a count lowered below what is held is restored",
    )
    held_steady(lambda: replicas(apps_v1, namespace, "api"), 9, 3)
    warnings = [r for r in event_reasons(core_v1, namespace, "lecture") if r == "ScaledBelowFloor"]
    assert len(warnings) == 1


def test_an_hpa_deleted_mid_event_still_hands_back_the_original_replicas(
    operator: OperatorProcess, namespace: str, apps_v1: Any, kube_api: Any, custom: Any
) -> None:
    autoscaling: Any = client.AutoscalingV2Api(kube_api)
    make_deployment(apps_v1, namespace, "web", 2)
    create_cpu_hpa(autoscaling, namespace, "web", 2, 20)
    live_event(custom, namespace, "class", "web", 6)
    wait_for(
        lambda: replicas(apps_v1, namespace, "web") == 6,
        timeout=60,
        message="the HPA controller raised web to the new minimum 6",
    )
    autoscaling.delete_namespaced_horizontal_pod_autoscaler("web", namespace)
    wait_for(
        lambda: (
            status(custom, namespace, "class").get("targets", [{}])[0].get("mode") == "Replicas"
        ),
        timeout=20,
        message="Showtime holds web by its replicas now",
    )
    assert replicas(apps_v1, namespace, "web") == 6
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "class")
    wait_handed_back(apps_v1, namespace, "web", 2, timeout=30)


def test_an_event_the_operator_cannot_plan_is_invalid_and_the_other_still_prewarms(
    operator: OperatorProcess, namespace: str, apps_v1: Any, core_v1: Any, custom: Any
) -> None:
    make_deployment(apps_v1, namespace, "api", 1)
    make_deployment(apps_v1, namespace, "other", 1)
    create_event(
        custom,
        namespace,
        "never",
        {  # February 31st: a cron the API server accepts and that never fires
            "schedule": {"cron": "0 0 31 2 *", "duration": "1h"},
            "leadTime": "5s",
            "targets": [{"name": "other", "replicas": 5, "maxReplicas": 10}],
        },
    )
    live_event(custom, namespace, "speech", "api", 5)
    wait_for(lambda: replicas(apps_v1, namespace, "api") == 5, timeout=30, message="pre-warm")
    wait_for(
        lambda: (
            phase_is(custom, namespace, "never", "Invalid")
            or phase_is(custom, namespace, "never", "Completed")
        ),
        timeout=20,
        message="the never-firing event is reported",
    )
    assert replicas(apps_v1, namespace, "other") == 1
    assert operator.alive()


def test_an_invalid_edit_mid_event_keeps_the_last_valid_spec_holding(
    operator: OperatorProcess, namespace: str, apps_v1: Any, custom: Any
) -> None:
    make_deployment(apps_v1, namespace, "api", 1)
    live_event(custom, namespace, "speech", "api", 5)
    wait_for(lambda: replicas(apps_v1, namespace, "api") == 5, timeout=30, message="held at 5")
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "speech",
        {"spec": {"schedule": {"timeZone": "Mars/Olympus_Mons"}}},
    )
    ready = wait_for(
        lambda: (
            (c := condition(custom, namespace, "speech", "Ready")) is not None
            and c["reason"] == "InvalidSpec"
            and c
        ),
        timeout=20,
        message="Ready=False, InvalidSpec",
    )
    assert ready["status"] == "False"
    assert "Mars/Olympus_Mons" in ready["message"]
    held_steady(lambda: replicas(apps_v1, namespace, "api"), 5, 5)
    operator.kill()  # and across a restart
    operator.start()
    held_steady(lambda: replicas(apps_v1, namespace, "api"), 5, 8)
    assert showtime_annotations(apps_v1, namespace, "api")["showtime.dev/held-by"] == "speech"


def test_a_prometheus_run_time_error_mid_event_holds_the_count(
    operator: OperatorProcess, namespace: str, apps_v1: Any, core_v1: Any, custom: Any
) -> None:
    service = f"svc-{uuid.uuid4().hex[:6]}"
    rate = f'rate(http_requests_total{{service="{service}"}}[10s])'
    # One-to-one on `service`: fine with one source, a run-time error (HTTP 422, "found
    # duplicate series for the match group", i.e. many-to-many) once a second one appears.
    query = f"sum({rate} + on(service) {rate}) / 2"
    with load_source(labels={"service": service}, profile={"rate": 975}, register=True):
        make_deployment(apps_v1, namespace, "api", 1)
        live_event(
            custom,
            namespace,
            "lecture",
            "api",
            2,
            scaleDown={"stabilizationWindow": "5s", "maxPercentPerMinute": 100},
            targets=[
                {
                    "name": "api",
                    "replicas": 2,
                    "maxReplicas": 40,
                    "metric": {"query": query, "targetPerReplica": 50},
                }
            ],
        )
        # Settled first: the rate window slides for a while after the count reaches 18.
        held = wait_settled(
            lambda: replicas(apps_v1, namespace, "api"),
            quiet=5,
            timeout=90,
            accept=lambda count: count >= 19,
            message="scaled on the metric (975/s at 50 per replica) and settled",
        )
        with load_source(labels={"service": service}, profile={"rate": 975}, register=True):
            failed = wait_for(
                lambda: (
                    (c := condition(custom, namespace, "lecture", "MetricsAvailable")) is not None
                    and c["reason"] == "QueryFailed"
                    and c
                ),
                timeout=60,
                message="MetricsAvailable=False, QueryFailed",
            )
            assert failed["status"] == "False"
            assert "many-to-many" in failed["message"] or "duplicate" in failed["message"]
            # Longer than the 5 s stabilization window, and long enough for a drop to show.
            held_steady(lambda: replicas(apps_v1, namespace, "api"), held, 20, at_least=True)
            assert phase_is(custom, namespace, "lecture", "Live")
            reasons = event_reasons(core_v1, namespace, "lecture")
            assert reasons.count("MetricsUnavailable") == 1
        wait_condition(custom, namespace, "lecture", "MetricsAvailable", "True", timeout=60)


def test_deleting_events_and_their_namespace_never_waits_for_a_stopped_operator(
    operator: OperatorProcess, namespace: str, apps_v1: Any, core_v1: Any, custom: Any
) -> None:
    make_deployment(apps_v1, namespace, "api", 2)
    live_event(custom, namespace, "speech", "api", 6)
    wait_for(lambda: replicas(apps_v1, namespace, "api") == 6, timeout=30, message="held at 6")
    operator.stop()
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "speech")
    wait_for(
        lambda: (
            not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        ),
        timeout=10,
        message="the TrafficEvent is gone without an operator",
    )
    operator.start()  # the hand-back needs no TrafficEvent: the target's annotations tell
    wait_handed_back(apps_v1, namespace, "api", 2, timeout=30)
