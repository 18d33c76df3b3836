"""In-memory stand-ins for the operator's I/O, for unit tests of the reconciler.

``FakeCluster`` implements the reconciler's ``Gateway`` over plain dicts and records every
write; ``FakeMetrics`` answers metric queries from a table. Unit tests only: e2e tests use
the real API server and Prometheus.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from showtime.cluster.kube import Snapshot, WorkloadKey
from showtime.sources.metricsource import MetricResult


@dataclass
class FakeCluster:
    events: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    workloads: dict[WorkloadKey, dict[str, Any]] = field(default_factory=dict)
    hpas: dict[WorkloadKey, dict[str, Any]] = field(default_factory=dict)
    pods: list[dict[str, Any]] = field(default_factory=list)
    writes: list[tuple[str, Any]] = field(default_factory=list)
    posted: list[tuple[str, str, str, str]] = field(default_factory=list)  # name, type, reason, msg

    def add_event(self, name: str, spec: dict[str, Any], namespace: str = "live") -> None:
        self.events[(namespace, name)] = {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": f"uid-{name}",
                "generation": 1,
            },
            "spec": spec,
        }

    def add_deployment(self, name: str, replicas: int, namespace: str = "live") -> None:
        self.workloads[(namespace, "Deployment", name)] = {
            "metadata": {"name": name, "namespace": namespace, "annotations": {}},
            "spec": {"replicas": replicas},
            "status": {"readyReplicas": replicas},
        }

    def replicas(self, name: str, namespace: str = "live") -> int:
        return int(self.workloads[(namespace, "Deployment", name)]["spec"]["replicas"])

    def annotations(self, name: str, namespace: str = "live") -> dict[str, str]:
        meta = self.workloads[(namespace, "Deployment", name)]["metadata"]
        return dict(meta.get("annotations") or {})

    def status(self, name: str, namespace: str = "live") -> dict[str, Any]:
        return dict(self.events[(namespace, name)].get("status") or {})

    def make_ready(self) -> None:
        for workload in self.workloads.values():
            workload["status"]["readyReplicas"] = workload["spec"]["replicas"]

    # -- Gateway ---------------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        # A JSON round trip, like decoding a LIST response (and faster than deepcopy).
        return Snapshot(
            events=json.loads(json.dumps(list(self.events.values()))),
            workloads={k: json.loads(json.dumps(v)) for k, v in self.workloads.items()},
            hpas=copy.deepcopy(self.hpas),
            pods=json.loads(json.dumps(self.pods)),
        )

    async def patch_annotations(
        self, key: WorkloadKey, annotations: Mapping[str, str | None]
    ) -> None:
        self.writes.append(("annotate", (key, dict(annotations))))
        current = self.workloads[key]["metadata"].setdefault("annotations", {})
        for name, value in annotations.items():
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value

    async def scale(self, key: WorkloadKey, replicas: int) -> None:
        self.writes.append(("scale", (key, replicas)))
        self.workloads[key]["spec"]["replicas"] = replicas

    async def set_hpa_min_replicas(self, namespace: str, name: str, value: int) -> None:
        self.writes.append(("hpa", (namespace, name, value)))
        for hpa in self.hpas.values():
            if hpa["metadata"]["name"] == name:
                hpa["spec"]["minReplicas"] = value

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.writes.append(("status", (namespace, name)))
        self.events[(namespace, name)]["status"] = copy.deepcopy(dict(status))

    async def post_event(
        self, involved: Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None:
        self.posted.append((str(involved["name"]), type_, reason, message))


@dataclass
class FakeMetrics:
    answers: dict[str, MetricResult] = field(default_factory=dict)
    asked: list[list[str]] = field(default_factory=list)

    async def query(self, queries: Collection[str]) -> Mapping[str, MetricResult]:
        self.asked.append(sorted(queries))
        return {q: self.answers[q] for q in queries if q in self.answers}


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now
