"""The objects of the node-capacity scenario, as plain dicts: NodePools, targets, events.

Each variant of the scenario (``without``: pods pre-warmed only; ``with``: node capacity
pre-warmed too) gets its own Karpenter NodePool, whose nodes carry the variant's label and
taint, and its own target Deployment that tolerates and selects only those nodes: both
variants run side by side in one cluster and never use each other's nodes. The nodes
become Ready ``node_ready_s`` after Karpenter creates them (the kwok Stage node-boot of
hack/karpenter reads the annotation); the target's pods ``pod_ready_s`` after they start.
What does not live here: running the scenario (``scenario``) or measuring it (``watch``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

VARIANT_LABEL = "showtime.dev/variant"
BOOT_TAINT = "showtime.dev/node-booting"  # removed by the kwok Stage node-boot at Ready
NODE_READY_DELAY = "node-ready.stage.kwok.x-k8s.io/delay"
POD_READY_DELAY = "pod-ready.stage.kwok.x-k8s.io/delay"
NODE_CLASS = "default"  # hack/karpenter/nodepool.yaml's KWOKNodeClass
SCALE_DOWN_AT_ONCE = {"stabilizationWindow": "0s", "maxPercentPerMinute": 100}


@dataclass(frozen=True)
class Variant:
    """One side of the comparison: its name and the event's spec.nodeCapacity (None: off)."""

    name: str
    node_capacity: dict[str, Any] | None
    run: str = ""  # a run's suffix on cluster-scoped names (two runs never share a pool)

    @property
    def pool(self) -> str:
        return f"nodecap-{self.name}-{self.run}" if self.run else f"nodecap-{self.name}"


WITHOUT = Variant("without", None)
WITH = Variant("with", {"prewarm": True, "leadTime": "90s"})
PLACEHOLDERS = Variant(
    "placeholders", {"prewarm": True, "leadTime": "90s", "mechanism": "Placeholders"}
)
VARIANTS = {v.name: v for v in (WITHOUT, WITH, PLACEHOLDERS)}


@dataclass(frozen=True)
class Shape:
    """The scenario's numbers (defaults: the issue's: ~10 more nodes, 60 s and 20 s)."""

    floor: int = 20  # target pods at the start; 2 fit a 4-CPU node: ~10 nodes
    pod_cpu: str = "1500m"
    pod_memory: str = "1Gi"
    node_ready_s: int = 60
    pod_ready_s: int = 20
    pod_lead: str = "30s"  # spec.leadTime: pods Ready in 20 s, plus margin
    duration: str = "100s"  # the floor without node pre-warm is Ready within it


def node_pool(variant: Variant, shape: Shape) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": variant.pool},
        "spec": {
            "template": {
                "metadata": {
                    "labels": {VARIANT_LABEL: variant.name},
                    "annotations": {NODE_READY_DELAY: str(shape.node_ready_s * 1000)},
                },
                "spec": {
                    "nodeClassRef": {
                        "group": "karpenter.kwok.sh",
                        "kind": "KWOKNodeClass",
                        "name": NODE_CLASS,
                    },
                    "requirements": [
                        {
                            "key": "karpenter.sh/capacity-type",
                            "operator": "In",
                            "values": ["on-demand"],
                        }
                    ],
                    "taints": [
                        {"key": VARIANT_LABEL, "value": variant.name, "effect": "NoSchedule"}
                    ],
                    "startupTaints": [{"key": BOOT_TAINT, "effect": "NoSchedule"}],
                    "expireAfter": "Never",
                },
            },
            "limits": {"cpu": "96"},
            "disruption": {
                "consolidationPolicy": "WhenEmptyOrUnderutilized",
                "consolidateAfter": "10s",
                "budgets": [{"nodes": "100%"}],
            },
        },
    }


def target(variant: Variant, shape: Shape) -> dict[str, Any]:
    """The variant's Deployment: no replicas until the event, pods only on its nodes."""
    labels = {"app": variant.name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": variant.name, "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {POD_READY_DELAY: str(shape.pod_ready_s * 1000)},
                },
                "spec": {
                    "nodeSelector": {VARIANT_LABEL: variant.name},
                    "tolerations": [
                        {
                            "key": VARIANT_LABEL,
                            "operator": "Equal",
                            "value": variant.name,
                            "effect": "NoSchedule",
                        }
                    ],
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.k8s.io/pause:3.10",
                            "resources": {
                                "requests": {"cpu": shape.pod_cpu, "memory": shape.pod_memory}
                            },
                        }
                    ],
                },
            },
        },
    }


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def traffic_event(variant: Variant, shape: Shape, start: datetime) -> dict[str, Any]:
    """A floor-only event on the variant's target: ``floor`` pods from ``start``."""
    spec: dict[str, Any] = {
        "schedule": {"start": iso(start), "duration": shape.duration},
        "leadTime": shape.pod_lead,
        "cooldown": "0s",
        "scaleDown": SCALE_DOWN_AT_ONCE,
        "targets": [
            {
                "name": variant.name,
                "replicas": shape.floor,
                "minReplicas": 0,
                "maxReplicas": shape.floor,
            }
        ],
    }
    if variant.node_capacity is not None:
        spec["nodeCapacity"] = dict(variant.node_capacity)
    return {
        "apiVersion": "showtime.dev/v1alpha1",
        "kind": "TrafficEvent",
        "metadata": {"name": variant.name},
        "spec": spec,
    }
