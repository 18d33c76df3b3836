"""The objects of the scale drill: Deployments with their pods (made once), TrafficEvents.

Deployments are spread over a few namespaces, shaped like ones applied by ``kubectl apply``
(resources, probes, environment, the last-applied-configuration annotation), 10 replicas
each. Every run starts from the same state: the Deployments back at their replicas with no
``showtime.dev/`` annotations and no TrafficEvents (``reset``), then a fresh set of events
(``create_events``) whose schedules are relative to the run's start. Each event targets 2
or 3 Deployments of its namespace, and its group decides when it takes hold:

* ``live`` (40 %): started 10 minutes ago; takes hold in the operator's first ticks.
* ``burst`` (20 %): pre-warm begins at one moment during the run: the take-hold tick.
* ``staggered`` (10 %): pre-warm begins at moments spread over the steady window.
* ``later`` (30 %): starts tomorrow; stays Scheduled.

A fifth of the events scale on a metric of their own (one distinct PromQL query each, on
the series Prometheus keeps about itself). Creation runs on a bounded thread pool; every
wait is bounded. No decisions about the operator are made here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client import ApiException

from showtime.cluster.kube import GROUP, PLURAL, VERSION
from showtime.core.handback import ALL_ANNOTATIONS

NAMESPACES = 10
REPLICAS = 10
LEAD_TIME = timedelta(minutes=2)
WORKERS = 16
GROUPS = ("live",) * 8 + ("burst",) * 4 + ("staggered",) * 2 + ("later",) * 6  # of 20


@dataclass(frozen=True)
class Size:
    deployments: int = 5000
    events: int = 2000

    @property
    def per_namespace(self) -> int:
        return self.deployments // NAMESPACES

    @property
    def events_per_namespace(self) -> int:
        return self.events // NAMESPACES


@dataclass(frozen=True)
class Timeline:
    """When the groups take hold, relative to the run's start."""

    start: datetime
    burst_at: datetime  # pre-warm of the burst group begins
    stagger_from: datetime
    stagger_until: datetime


def namespace(index: int) -> str:
    return f"scale-{index}"


def deployment_name(index: int) -> str:
    return f"svc-{index:04d}"


def parallel(calls: Iterable[Callable[[], Any]]) -> int:
    """Run the calls on the pool; the number that failed (each failure printed once)."""
    failed = 0
    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(call) for call in calls]:
            try:
                future.result(timeout=120)
            except Exception as exc:
                failed += 1
                if failed <= 3:
                    print(f"  failed: {str(exc)[:200]}", flush=True)
    return failed


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name, "tier": "web", "team": f"team-{hash(name) % 40}"}
    container = {
        "name": "app",
        "image": "registry.example.com/shop/app:1.42.0",
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": f"SETTING_{k}", "value": f"value-{k}"} for k in range(6)],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/live", "port": "http"}, "periodSeconds": 10},
    }
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 0},
            },
        },
    }
    applied = json.dumps(body, separators=(",", ":"))
    body["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": applied,
    }
    return body


def create_deployments(apps: Any, core: Any, size: Size) -> None:
    """The Deployments, unless they exist; waits (bounded) for their pods to be Ready."""
    for n in range(NAMESPACES):
        try:
            core.create_namespace({"metadata": {"name": namespace(n)}})
        except ApiException as exc:
            if exc.status != 409:
                raise

    def create(ns: str, name: str) -> Callable[[], None]:
        def call() -> None:
            try:
                apps.create_namespaced_deployment(ns, deployment(name), _preload_content=False)
            except ApiException as exc:
                if exc.status != 409:
                    raise

        return call

    began = time.monotonic()
    failed = parallel(
        create(namespace(n), deployment_name(d))
        for n in range(NAMESPACES)
        for d in range(size.per_namespace)
    )
    print(f"{size.deployments} Deployments in {time.monotonic() - began:.0f}s ({failed} failed)")


def existing_deployments(apps: Any) -> int:
    """How many Deployments the drill's namespaces hold (none before the first run)."""
    total = 0
    for n in range(NAMESPACES):
        try:
            response = apps.list_namespaced_deployment(
                namespace(n), _preload_content=False, _request_timeout=60
            )
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise
        total += len(json.loads(response.data)["items"])
    return total


def pod_counts(apps: Any) -> tuple[int, int, int]:
    """(replicas wanted, pods existing, pods Ready) over the drill's namespaces."""
    wanted = existing = ready = 0
    for n in range(NAMESPACES):
        response = apps.list_namespaced_deployment(
            namespace(n), _preload_content=False, _request_timeout=60
        )
        for item in json.loads(response.data)["items"]:
            wanted += item["spec"].get("replicas") or 0
            existing += item.get("status", {}).get("replicas") or 0
            ready += item.get("status", {}).get("readyReplicas") or 0
    return wanted, existing, ready


def wait_ready(apps: Any, seconds: float, share: float = 0.999) -> tuple[int, int, int]:
    """Until nearly every wanted pod is Ready, at most ``seconds``; the last counts."""
    deadline = time.monotonic() + seconds
    counts = pod_counts(apps)
    while counts[2] < share * counts[0] and time.monotonic() < deadline:
        print(f"  pods: {counts[0]} wanted, {counts[1]} exist, {counts[2]} Ready", flush=True)
        time.sleep(15)
        counts = pod_counts(apps)
    return counts


def reset(apps: Any, custom: Any, size: Size) -> None:
    """No TrafficEvents; every Deployment at REPLICAS without Showtime's annotations."""
    for n in range(NAMESPACES):
        custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace(n), PLURAL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        left = sum(
            len(custom.list_namespaced_custom_object(GROUP, VERSION, namespace(n), PLURAL)["items"])
            for n in range(NAMESPACES)
        )
        if not left:
            break
        time.sleep(2)
    cleared = dict.fromkeys(ALL_ANNOTATIONS)

    def restore(ns: str, item: dict[str, Any]) -> Callable[[], None] | None:
        annotations = item["metadata"].get("annotations") or {}
        if item["spec"].get("replicas") == REPLICAS and not set(annotations) & set(cleared):
            return None
        body = {"metadata": {"annotations": cleared}, "spec": {"replicas": REPLICAS}}
        name = item["metadata"]["name"]
        return lambda: apps.patch_namespaced_deployment(name, ns, body, _preload_content=False)

    calls = []
    for n in range(NAMESPACES):
        response = apps.list_namespaced_deployment(namespace(n), _preload_content=False)
        for item in json.loads(response.data)["items"]:
            call = restore(namespace(n), item)
            if call is not None:
                calls.append(call)
    failed = parallel(calls)
    print(f"reset: {len(calls)} Deployments restored ({failed} failed)")


def group_of(index: int) -> str:
    return GROUPS[index % len(GROUPS)]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_spec(
    index: int, targets: list[str], timeline: Timeline, staggered: int
) -> dict[str, Any]:
    group = group_of(index)
    if group == "live":
        start = timeline.start - timedelta(minutes=10)
    elif group == "burst":
        start = timeline.burst_at + LEAD_TIME
    elif group == "staggered":
        span = (timeline.stagger_until - timeline.stagger_from).total_seconds()
        offset = span * (staggered % 97) / 97
        start = timeline.stagger_from + timedelta(seconds=offset) + LEAD_TIME
    else:
        start = timeline.start + timedelta(days=1)
    spec_targets: list[dict[str, Any]] = []
    for position, name in enumerate(targets):
        target: dict[str, Any] = {
            "name": name,
            "replicas": REPLICAS + 1 + (index + position) % 2,
            "maxReplicas": 40,
        }
        if index % 5 == 0 and position == 0:
            target["metric"] = {
                # one series, one distinct query per event: 9 or 10 replicas, under the floor
                "query": f'sum(up{{job="prometheus", svc!="{index}"}}) * {900 + index % 100}',
                "targetPerReplica": 100,
            }
        spec_targets.append(target)
    return {
        "schedule": {"start": stamp(start), "duration": "3h"},
        "leadTime": f"{int(LEAD_TIME.total_seconds())}s",
        "cooldown": "5m",
        "targets": spec_targets,
    }


def create_events(custom: Any, size: Size, timeline: Timeline) -> dict[str, int]:
    """The TrafficEvents; how many of each group."""
    counts: dict[str, int] = {}
    calls = []
    staggered = 0
    for n in range(NAMESPACES):
        offset = 0
        for e in range(size.events_per_namespace):
            index = n * size.events_per_namespace + e
            width = 2 + index % 2  # 2 or 3 targets: 2.5 on average, every Deployment once
            names = [deployment_name(d) for d in range(offset, offset + width)]
            names = [name for name in names if int(name[4:]) < size.per_namespace]
            offset += width
            if not names:
                continue
            group = group_of(index)
            counts[group] = counts.get(group, 0) + 1
            staggered += group == "staggered"
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "TrafficEvent",
                "metadata": {"name": f"event-{index:04d}", "labels": {"group": group}},
                "spec": event_spec(index, names, timeline, staggered),
            }
            calls.append(_creator(custom, namespace(n), body))
    began = time.monotonic()
    failed = parallel(calls)
    print(
        f"{len(calls)} TrafficEvents in {time.monotonic() - began:.0f}s ({failed} failed): {counts}"
    )
    return counts


def _creator(custom: Any, ns: str, body: dict[str, Any]) -> Callable[[], None]:
    return lambda: custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, body, _preload_content=False
    )
