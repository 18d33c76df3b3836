"""The one scenario under every drill: 3 TrafficEvents over 5 targets, as API objects.

What lives here: the targets (Deployments ``web``, ``api``, ``search``, ``checkout`` under
an HPA, and the StatefulSet ``db``; pods Ready 20 s after they start), the three
TrafficEvents on one timeline (``Timeline``: lead time 60 s, live a few minutes, cooldown
1 min), their floors (up to 40, ``holds``), the load profiles the two metrics follow, and
the builders of the manifests. Pure: no cluster access.

What does not: creating the objects (``harness``), sampling (``monitor``).

Floors (SPEC: ceil(expectedPeak * share * (1 + headroom) / capacityPerReplica)):
keynote holds web 24 and db 6; sale holds checkout 40 (its HPA's minReplicas) and api 18;
stream holds search 12 and api 12 (api: 18 wins). At the peak the metrics ask web for 31
and search for 17, above their floors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from showtime.cluster.kube import GROUP, VERSION

from .figures import Hold

READY_DELAY_MS = 20_000
LEAD_SECONDS = 60
COOLDOWN_SECONDS = 60
HEADROOM = 0.2
CHURN_PREFIX = "drills.showtime.dev/"


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # Deployment | StatefulSet
    replicas: int  # before the event
    hpa_min: int | None = None  # an HPA scales it (from this minReplicas)


TARGETS: tuple[Target, ...] = (
    Target("web", "Deployment", 2),
    Target("api", "Deployment", 3),
    Target("search", "Deployment", 1),
    Target("checkout", "Deployment", 2, hpa_min=2),
    Target("db", "StatefulSet", 2),
)
UNRELATED = tuple(f"bystander-{i}" for i in range(5))  # R7 edits these too

# Load per metric: before/after the event, and at the peak (rate, 1/s).
LOAD = {"web": (200.0, 2440.0), "search": (100.0, 830.0)}
PER_REPLICA = {"web": 80, "search": 50}


@dataclass(frozen=True)
class Timeline:
    """Wall-clock seconds (Unix time) of the occurrence all three events share."""

    start: float
    live_seconds: float

    @property
    def prewarm(self) -> float:
        return self.start - LEAD_SECONDS

    @property
    def end(self) -> float:
        return self.start + self.live_seconds

    @property
    def cooldown_end(self) -> float:
        return self.end + COOLDOWN_SECONDS


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def query(namespace: str, metric: str) -> str:
    return f'sum(rate(http_requests_total{{loadsource="{namespace}-{metric}"}}[30s]))'


def events(namespace: str, timeline: Timeline) -> dict[str, dict[str, Any]]:
    """The three TrafficEvents' specs by name."""
    common: dict[str, Any] = {
        "schedule": {
            "start": _iso(timeline.start),
            "duration": f"{int(timeline.live_seconds)}s",
        },
        "leadTime": f"{LEAD_SECONDS}s",
        "cooldown": f"{COOLDOWN_SECONDS}s",
        "headroom": HEADROOM,
        "scaleDown": {"stabilizationWindow": "30s", "maxPercentPerMinute": 100},
    }

    def metric(name: str) -> dict[str, Any]:
        return {"query": query(namespace, name), "targetPerReplica": PER_REPLICA[name]}

    return {
        "keynote": {
            **common,
            "expectedPeak": 2000,
            "targets": [
                {
                    "name": "web",
                    "capacityPerReplica": 100,
                    "minReplicas": 2,
                    "maxReplicas": 60,
                    "metric": metric("web"),
                },
                {"kind": "StatefulSet", "name": "db", "replicas": 6, "maxReplicas": 20},
            ],
        },
        "sale": {
            **common,
            "expectedPeak": 3000,
            "targets": [
                {"name": "checkout", "capacityPerReplica": 90, "maxReplicas": 60},
                {"name": "api", "capacityPerReplica": 100, "share": 0.5, "maxReplicas": 40},
            ],
        },
        "stream": {
            **common,
            "expectedPeak": 1000,
            "targets": [
                {"name": "search", "replicas": 12, "maxReplicas": 40, "metric": metric("search")},
                {"name": "api", "capacityPerReplica": 100, "maxReplicas": 40},
            ],
        },
    }


def floor_of(spec: dict[str, Any], target: dict[str, Any]) -> int:
    """A target's floor as SPEC §1 defines it."""
    if "replicas" in target:
        floor = int(target["replicas"])
    else:
        load = spec["expectedPeak"] * target.get("share", 1.0) * (1 + spec["headroom"])
        floor = math.ceil(round(load / target["capacityPerReplica"], 9))
    return int(max(target.get("minReplicas", 1), min(target["maxReplicas"], floor)))


def holds(specs: dict[str, dict[str, Any]], timeline: Timeline, grace: float) -> list[Hold]:
    """Each event's floors, owed from pre-warm + ``grace`` to the end of the live stage."""
    return [
        Hold(t["name"], timeline.prewarm + grace, timeline.end, floor_of(spec, t))
        for spec in specs.values()
        for t in spec["targets"]
    ]


def traffic_event(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TrafficEvent",
        "metadata": {"name": name},
        "spec": spec,
    }


def load_profile(metric: str, timeline: Timeline, now: float) -> list[dict[str, float]]:
    """tools.loadsource profile: base load, the peak from the start to the end, base again."""
    base, peak = LOAD[metric]
    return [
        {"at": 0.0, "rate": base},
        {"at": max(0.0, timeline.start - now), "rate": peak, "ramp": 10.0},
        {"at": max(0.0, timeline.end - now), "rate": base},
    ]


def workload(name: str, kind: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {
                "labels": labels,
                "annotations": {"pod-ready.stage.kwok.x-k8s.io/delay": str(READY_DELAY_MS)},
            },
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    }
                ],
                "terminationGracePeriodSeconds": 0,
            },
        },
    }
    if kind == "StatefulSet":
        spec["serviceName"] = name
        spec["podManagementPolicy"] = "Parallel"
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def hpa(target: Target) -> dict[str, Any]:
    assert target.hpa_min is not None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target.name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": target.kind, "name": target.name},
            "minReplicas": target.hpa_min,
            "maxReplicas": 60,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
