"""Lead-time learning on real pods: what the learner measures matches the kwok ready delay.

StatefulSets whose pods become Ready ``DELAY_MS`` after they run (the kwok annotation in
the pod template). The pods are read from the API server, cut down by ``slim_pod`` as the
operator's cache does, and given to ``StartupMemory.observe``: each pod's start-up must
be the configured delay, and an ``OrderedReady`` StatefulSet (the default) must take about
N x delay to start N pods while a ``Parallel`` one takes about one delay.

``assert_lead_time_record`` checks ``status.targets[].leadTime`` of a TrafficEvent once the
operator writes it; ``test_operator_reports_the_lead_time_of_an_ordered_statefulset`` runs
the operator and calls it (until then it checks only the learned ``leadTimeSeconds``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from showtime.core.leadtime import StartupMemory, lead_time_of_samples, starts_in_order
from showtime.core.podstartup import slim_pod
from showtime.core.timestamps import parse_timestamp
from tests.support.kube import POD_READY_DELAY, pod_template
from tests.support.operator import OperatorProcess
from tests.support.trafficevents import create_event, iso, status
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

DELAY_MS = 3000
PODS = 4
DEFAULT = timedelta(seconds=120)  # the e2e operator's default lead time (tests/support)


def statefulset(name: str, replicas: int, policy: str | None) -> dict[str, Any]:
    labels = {"app": name}
    spec: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": name,
        "selector": {"matchLabels": labels},
        "template": pod_template(labels, {POD_READY_DELAY: str(DELAY_MS)}),
    }
    if policy is not None:
        spec["podManagementPolicy"] = policy
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": spec,
    }


def read_json(call: Any, *args: Any) -> dict[str, Any]:
    response = call(*args, _preload_content=False, _request_timeout=15)
    answer: dict[str, Any] = json.loads(response.data)
    return answer


def start_and_wait(apps: Any, namespace: str, name: str, policy: str | None) -> dict[str, Any]:
    """Create the StatefulSet, wait until all its pods are Ready; the object as read then."""
    apps.create_namespaced_stateful_set(namespace, statefulset(name, PODS, policy))
    seconds = PODS * DELAY_MS / 1000 * 3 + 30
    wait_for(
        lambda: (
            read_json(apps.read_namespaced_stateful_set_status, name, namespace)
            .get("status", {})
            .get("readyReplicas")
            == PODS
        ),
        timeout=seconds,
        message=f"{PODS} pods of {name} Ready",
    )
    return read_json(apps.read_namespaced_stateful_set, name, namespace)


def slim_pods_of(core: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    found = read_json(core.list_namespaced_pod, namespace)
    return [slim_pod(p) for p in found["items"] if p["metadata"]["name"].startswith(f"{name}-")]


def start_up_span(pods: list[dict[str, Any]]) -> float:
    """Seconds from the first pod's creation to the last pod's Ready."""
    created = [parse_timestamp(p["metadata"]["creationTimestamp"]) for p in pods]
    ready = [
        parse_timestamp(c["lastTransitionTime"])
        for p in pods
        for c in p["status"]["conditions"]
        if c["status"] == "True"
    ]
    assert len(ready) == len(pods)
    first = min(t for t in created if t is not None)
    return (max(t for t in ready if t is not None) - first).total_seconds()


def test_learned_start_up_matches_the_kwok_delay_and_ordered_ready_adds_up(
    namespace: str, apps_v1: Any, core_v1: Any
) -> None:
    delay = DELAY_MS / 1000
    ordered_obj = start_and_wait(apps_v1, namespace, "ordered", None)  # OrderedReady: default
    parallel_obj = start_and_wait(apps_v1, namespace, "parallel", "Parallel")
    ordered_pods = slim_pods_of(core_v1, namespace, "ordered")
    parallel_pods = slim_pods_of(core_v1, namespace, "parallel")

    memory = StartupMemory().observe(ordered_pods + parallel_pods, datetime.now(UTC))
    ordered_key = (namespace, "StatefulSet", "ordered")
    parallel_key = (namespace, "StatefulSet", "parallel")
    for key in (ordered_key, parallel_key):
        samples = memory.samples[key]
        assert len(samples) == PODS
        # Timestamps are whole seconds: a 3 s delay reads as 2 to 4 s, plus kwok's own lag.
        assert all(delay - 1 <= s.seconds <= delay + 3 for s in samples), samples

    # OrderedReady starts one pod after the previous is Ready: about N delays in all.
    ordered_span = start_up_span(ordered_pods)
    assert PODS * (delay - 1) <= ordered_span <= PODS * (delay + 3), ordered_span
    parallel_span = start_up_span(parallel_pods)
    assert parallel_span <= delay + 4, parallel_span

    assert starts_in_order("StatefulSet", ordered_obj)
    assert not starts_in_order("StatefulSet", parallel_obj)
    ordered = memory.estimate(
        ordered_key,
        default=DEFAULT,
        pods_to_add=PODS,
        ordered=starts_in_order("StatefulSet", ordered_obj),
    )
    parallel = memory.estimate(
        parallel_key,
        default=DEFAULT,
        pods_to_add=PODS,
        ordered=starts_in_order("StatefulSet", parallel_obj),
    )
    assert ordered.per_pod is not None
    assert parallel.per_pod is not None
    # The rule (core.leadtime): the p90 start-up (x PODS one after another) + the margin.
    ordered_seconds = [s.seconds for s in memory.samples[ordered_key]]
    parallel_seconds = [s.seconds for s in memory.samples[parallel_key]]
    assert ordered.value == lead_time_of_samples(ordered_seconds, pods_to_add=PODS, ordered=True)
    assert parallel.value == lead_time_of_samples(parallel_seconds)
    per_pod = ordered.per_pod.total_seconds()
    assert ordered.value.total_seconds() >= per_pod * PODS + 15
    assert parallel.value.total_seconds() >= parallel.per_pod.total_seconds() + 15
    # The estimate covers what was really seen: the ordered start-up of N pods fits in it.
    assert ordered.value.total_seconds() >= ordered_span
    print(f"ordered: {ordered.basis} (observed {ordered_span:.0f}s for {PODS} pods)")
    print(f"parallel: {parallel.basis} (observed {parallel_span:.0f}s for {PODS} pods)")


def assert_lead_time_record(
    event_status: Mapping[str, Any],
    *,
    kind: str,
    name: str,
    per_pod_seconds: float,
    pods_to_add: int,
    ordered: bool,
) -> bool:
    """Check ``status.targets[].leadTime`` of one target; False when it is not written yet."""
    target = next(
        (
            t
            for t in event_status.get("targets") or []
            if (t.get("kind"), t.get("name")) == (kind, name)
        ),
        None,
    )
    record = (target or {}).get("leadTime")
    if record is None:
        return False
    assert record["learned"] is True, record
    assert abs(record["p90Seconds"] - per_pod_seconds) <= 3, record
    factor = pods_to_add if ordered else 1
    seconds = [entry["seconds"] for entry in record["recent"]]
    rule = lead_time_of_samples(seconds, pods_to_add=pods_to_add, ordered=ordered)
    assert record["seconds"] == rule.total_seconds(), record
    assert record["seconds"] >= math.ceil(record["p90Seconds"] * factor + 15), record
    assert bool(record.get("ordered")) is ordered, record
    if ordered:
        assert record["podsToAdd"] == pods_to_add, record
    assert record["samples"] >= 1, record
    assert record["learnedFrom"], record
    assert event_status.get("leadTimeSeconds", 0) >= record["seconds"], event_status
    return True


def test_operator_reports_the_lead_time_of_an_ordered_statefulset(
    operator: OperatorProcess, namespace: str, apps_v1: Any, custom: Any
) -> None:
    start_and_wait(apps_v1, namespace, "db", None)
    # The floor is 2 x PODS: PODS more pods to add, one after another, well before the start.
    start = datetime.now(UTC) + timedelta(hours=3)
    create_event(
        custom,
        namespace,
        "speech",
        {
            "schedule": {"start": iso(start), "duration": "10m"},
            "leadTime": "auto",
            "targets": [
                {"kind": "StatefulSet", "name": "db", "replicas": 2 * PODS, "maxReplicas": 20}
            ],
        },
    )
    learned = wait_for(
        lambda: status(custom, namespace, "speech").get("leadTimeSeconds"),
        timeout=60,
        message="lead time in status",
    )
    assert learned < DEFAULT.total_seconds(), "learned from the pods, not the default"
    written = assert_lead_time_record(
        status(custom, namespace, "speech"),
        kind="StatefulSet",
        name="db",
        per_pod_seconds=DELAY_MS / 1000,
        pods_to_add=PODS,
        ordered=True,
    )
    print(f"lead time {learned}s; status.targets[].leadTime written: {written}")
