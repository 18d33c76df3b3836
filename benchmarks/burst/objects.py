"""The Kubernetes objects of one ``make bench-burst`` variant (pure manifests as dicts).

What lives here: four identical Deployments (same pods, same KWOK ready delay, same CPU
request), each under one autoscaler: an autoscaling/v2 HPA on 70% CPU with the default
behavior, a KEDA ScaledObject (cron window opening a fixed margin before the start with
``desiredReplicas`` = Showtime's floor, plus a prometheus trigger on the same query),
a Showtime TrafficEvent (``leadTime: auto``), the same TrafficEvent on top of an HPA (HPA
mode), and for comparison the TrafficEvent of the first runs, whose floor is flat from the
announced start (``showtime-flat``). What does not: applying them or the load (``driver``,
``__main__``).

The TrafficEvent is written as a user who knows this load shape would write it: the
audience arrives over the first ``ramp`` seconds after the announced start, so the full
floor is due when the peak is (``schedule.start`` = announced start + ramp, ``duration`` to
the end of the plateau), rising in steps over the minute before (``rampUp: ramp``); the
cooldown is the decay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .scenario import Scenario

AUTOSCALERS = ("hpa", "keda", "showtime", "showtime-hpa", "showtime-flat")
READY_DELAY = "pod-ready.stage.kwok.x-k8s.io/delay"
USAGE_CPU = "kwok.x-k8s.io/usage-cpu"


@dataclass(frozen=True)
class Knobs:
    """What every variant shares besides the load curve."""

    cpu_request_m: int = 500  # one replica at capacity uses exactly its request
    min_replicas: int = 2
    max_replicas: int = 60
    hpa_cpu_target: int = 70
    keda_margin: timedelta = timedelta(minutes=10)
    metric_target_fraction: float = 1.0  # targetPerReplica = capacity × this (both tools)

    def cost_m_per_request(self, scenario: Scenario) -> float:
        return self.cpu_request_m / scenario.capacity


def deployment(name: str, ready_delay_s: int, knobs: Knobs) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": knobs.min_replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {READY_DELAY: str(ready_delay_s * 1000), USAGE_CPU: "1m"},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": f"{knobs.cpu_request_m}m"}},
                        }
                    ],
                    "terminationGracePeriodSeconds": 1,
                },
            },
        },
    }


def hpa(name: str, knobs: Knobs) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": knobs.min_replicas,
            "maxReplicas": knobs.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": knobs.hpa_cpu_target,
                        },
                    },
                }
            ],
        },
    }


def _cron(moment: datetime) -> str:
    return f"{moment.minute} {moment.hour} {moment.day} {moment.month} *"


def scaled_object(
    name: str, scenario: Scenario, start: datetime, query: str, prom_url: str, knobs: Knobs
) -> dict[str, Any]:
    opens = start - knobs.keda_margin
    closes = start + timedelta(seconds=scenario.event_duration)
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"name": name},
            "minReplicaCount": knobs.min_replicas,
            "maxReplicaCount": knobs.max_replicas,
            "triggers": [
                {
                    "type": "cron",
                    "metadata": {
                        "timezone": "UTC",
                        "start": _cron(opens.astimezone(UTC)),
                        "end": _cron(closes.astimezone(UTC)),
                        "desiredReplicas": str(scenario.floor()),
                    },
                },
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": prom_url,
                        "query": query,
                        "threshold": _number(scenario.capacity * knobs.metric_target_fraction),
                    },
                },
            ],
        },
    }


def traffic_event(
    name: str,
    target: str,
    scenario: Scenario,
    start: datetime,
    query: str,
    knobs: Knobs,
    *,
    ramp: bool = True,
) -> dict[str, Any]:
    """``ramp``: the full floor due at the peak, rising over the ramp (see the docstring);
    False: due at the announced ``start`` and flat from there (the event of the first runs).
    """
    rising = timedelta(seconds=scenario.ramp if ramp else 0)
    schedule: dict[str, Any] = {
        "start": (start + rising).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration": f"{int(scenario.event_duration - rising.total_seconds())}s",
    }
    ramp_up = {"rampUp": f"{int(rising.total_seconds())}s"} if ramp else {}
    return {
        "apiVersion": "showtime.dev/v1alpha1",
        "kind": "TrafficEvent",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "leadTime": "auto",
            **ramp_up,
            "cooldown": f"{int(scenario.decay)}s",
            "expectedPeak": scenario.peak,
            "headroom": 0,
            # Follow the decay rather than the default bounded, stabilized scale-down.
            "scaleDown": {"stabilizationWindow": "0s", "maxPercentPerMinute": 100},
            "targets": [
                {
                    "name": target,
                    "capacityPerReplica": scenario.capacity,
                    "minReplicas": knobs.min_replicas,
                    "maxReplicas": knobs.max_replicas,
                    "metric": {
                        "query": query,
                        "targetPerReplica": scenario.capacity * knobs.metric_target_fraction,
                    },
                }
            ],
        },
    }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def variant(
    ready_delay_s: int,
    scenario: Scenario,
    start: datetime,
    query: str,
    prom_url: str,
    knobs: Knobs,
    with_keda: bool,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The Deployments of one variant (one namespace), and their autoscalers."""
    names = [a for a in AUTOSCALERS if with_keda or a != "keda"]
    deployments = [deployment(n, ready_delay_s, knobs) for n in names]
    objects = [hpa("hpa", knobs), hpa("showtime-hpa", knobs)]
    if with_keda:
        objects.append(scaled_object("keda", scenario, start, query, prom_url, knobs))
    objects.append(traffic_event("showtime", "showtime", scenario, start, query, knobs))
    objects.append(traffic_event("showtime-hpa", "showtime-hpa", scenario, start, query, knobs))
    objects.append(
        traffic_event("showtime-flat", "showtime-flat", scenario, start, query, knobs, ramp=False)
    )
    return deployments, objects
