"""The gather step reduces each cached workload once, and again whenever the cache replaces it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from showtime.cluster.kube import Snapshot
from showtime.shell.gather import Gatherer

NOW = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
KEY = ("live", "Deployment", "api")


def deployment(replicas: int, version: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "api", "namespace": "live", "uid": "u1", "resourceVersion": version},
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": replicas},
    }


def hpa(minimum: int) -> dict[str, Any]:
    return {"metadata": {"name": "api"}, "spec": {"minReplicas": minimum, "maxReplicas": 9}}


def test_a_workload_is_seen_as_the_cache_now_holds_it() -> None:
    gatherer = Gatherer(timedelta(minutes=5))
    held = deployment(3, "10")
    first = gatherer.observe(Snapshot(workloads={KEY: held}), NOW, set()).workloads[KEY]
    again = gatherer.observe(Snapshot(workloads={KEY: held}), NOW, set()).workloads[KEY]
    assert again is first  # the same cached object: not reduced again
    replaced = gatherer.observe(Snapshot(workloads={KEY: deployment(7, "11")}), NOW, set())
    assert (replaced.workloads[KEY].replicas, replaced.workloads[KEY].ready) == (7, 7)
    scaled = gatherer.observe(
        Snapshot(workloads={KEY: held}, hpas={KEY: hpa(4)}), NOW, set()
    ).workloads[KEY]
    assert scaled.hpa is not None
    assert scaled.hpa.min_replicas == 4  # an HPA appeared beside an unchanged Deployment
    gone = gatherer.observe(Snapshot(), NOW, set())
    assert KEY not in gone.workloads
