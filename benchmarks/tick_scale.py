"""How long a tick takes with 1,000 TrafficEvents over 1,000 Deployments, and at what memory.

Two modes, both printing numbers rather than asserting them:

* ``--fake``: the reconciler and the pure planner over an in-memory cluster; measures the
  operator's own CPU cost per tick without API latency.
* ``--cluster``: the real ``KubeGateway`` against the cluster of ``KUBECONFIG`` (the local
  kwok cluster): creates the objects in a scratch namespace, runs ticks, deletes them.

Both use 50 distinct metric queries shared by the events, answered by a constant stub, and
report the queries per tick, the writes in steady state, and the peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import time
import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from showtime import telemetry
from showtime.shell.reconciler import Reconciler
from showtime.sources.metricsource import MetricResult, Sample
from tests.support.fakes import FakeCluster
from tests.support.trafficevents import create_event


class ConstantMetrics:
    def __init__(self) -> None:
        self.last_batch = 0

    async def query(self, queries: Collection[str]) -> Mapping[str, MetricResult]:
        self.last_batch = len(queries)
        now = datetime.now(UTC)
        return {q: Sample(100.0, now) for q in queries}


def event_spec(index: int, now: datetime) -> dict[str, Any]:
    # A third live now, a third pre-warming in a few minutes, a third scheduled for later.
    offset = [timedelta(minutes=-5), timedelta(minutes=3), timedelta(hours=5)][index % 3]
    return {
        "schedule": {"start": (now + offset).strftime("%Y-%m-%dT%H:%M:%SZ"), "duration": "2h"},
        "leadTime": "5m",
        "targets": [
            {
                "name": f"svc-{index}",
                "replicas": 1 + index % 2,
                "maxReplicas": 5,
                "metric": {
                    "query": f'sum(rate(http_requests_total{{shard="{index % 50}"}}[1m]))',
                    "targetPerReplica": 1000,
                },
            }
        ],
    }


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_ticks(
    reconciler: Reconciler, metrics: ConstantMetrics, ticks: int, pause: float = 0.0
) -> None:
    durations, writes, posted = [], [], []
    for _ in range(ticks):
        report = await reconciler.tick()
        durations.append(report.seconds)
        writes.append(report.writes)
        posted.append(report.events_posted)
        await asyncio.sleep(pause)
    first, steady = durations[0], durations[1:] or durations
    print(
        f"first tick (takes hold, writes): {first * 1000:.0f} ms, {writes[0]} writes, "
        f"{posted[0]} Kubernetes Events"
    )
    print(
        f"steady ticks: median {statistics.median(steady) * 1000:.0f} ms, "
        f"max {max(steady) * 1000:.0f} ms over {len(steady)} ticks; "
        f"writes after the first two ticks: {sum(writes[2:])}, "
        f"Events after the first two ticks: {sum(posted[2:])}"
    )
    print(f"metric queries per tick: {metrics.last_batch}")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")


def fake(count: int, ticks: int) -> None:
    now = datetime.now(UTC)
    cluster = FakeCluster()
    for i in range(count):
        cluster.add_deployment(f"svc-{i}", 1, namespace="bench")
        cluster.add_event(f"ev-{i}", event_spec(i, now), namespace="bench")
    metrics = ConstantMetrics()
    reconciler = Reconciler(
        cluster, metrics, default_lead_time=timedelta(minutes=5), clock=lambda: datetime.now(UTC)
    )
    print(f"fake cluster: {count} TrafficEvents over {count} Deployments")
    asyncio.run(run_ticks(reconciler, metrics, ticks))


def cluster(count: int, ticks: int) -> None:
    from kubernetes import client

    from showtime.cluster.kube import KubeGateway, load_kube_config

    load_kube_config()
    api: Any = client.ApiClient()
    core: Any = client.CoreV1Api(api)
    apps: Any = client.AppsV1Api(api)
    custom: Any = client.CustomObjectsApi(api)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    now = datetime.now(UTC)
    started = time.perf_counter()
    try:
        for i in range(count):
            apps.create_namespaced_deployment(namespace, deployment_manifest(f"svc-{i}"))
            create_event(custom, namespace, f"ev-{i}", event_spec(i, now))
        print(
            f"created {count} Deployments and TrafficEvents in "
            f"{time.perf_counter() - started:.0f}s (namespace {namespace})"
        )
        metrics = ConstantMetrics()
        reconciler = Reconciler(
            KubeGateway(namespace),
            metrics,
            default_lead_time=timedelta(minutes=5),
            clock=lambda: datetime.now(UTC),
        )
        asyncio.run(run_ticks(reconciler, metrics, ticks, pause=1.0))
    finally:
        core.delete_namespace(namespace)


def deployment_manifest(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }


def main() -> None:
    telemetry.configure_logging("console", "WARNING")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", action="store_true", help="use the KUBECONFIG cluster")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=10)
    args = parser.parse_args()
    if args.cluster:
        cluster(args.count, args.ticks)
    else:
        fake(args.count, args.ticks)
    print(json.dumps({"peak_rss_mib": round(peak_rss_mib())}))


if __name__ == "__main__":
    main()
