"""The placeholder Deployment and CapacityBuffer: shaped like the target's pods, owned, named.

Placeholders reserve room only if the scheduler sees them exactly as it will see the real
pods: the same requests (as it counts them), node selection, tolerations and spread.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import pytest

from showtime.core.placeholders import (
    Owner,
    capacity_buffer,
    is_reservation,
    object_name,
    parse_quantity,
    placeholder_deployment,
    pod_requests,
)

OWNER = Owner("live", "new-year-speech", "uid-1")
TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "api", "tier": "web"}},
    "spec": {
        "serviceAccountName": "api",
        "priorityClassName": "high",
        "nodeSelector": {"pool": "lecture"},
        "tolerations": [{"key": "lecture", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                    ]
                }
            },
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app": "api"}},
                        },
                    }
                ],
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app": "database"}},
                    }
                ],
            },
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {
                    "matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]
                },
                "matchLabelKeys": ["pod-template-hash"],
            }
        ],
        "initContainers": [
            {"name": "migrate", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}},
            {
                "name": "proxy",
                "restartPolicy": "Always",
                "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}},
            },
        ],
        "containers": [
            {"name": "api", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
            {"name": "gpu", "resources": {"limits": {"nvidia.com/gpu": "1"}}},
        ],
    },
}


def test_requests_are_counted_as_the_scheduler_counts_them() -> None:
    requests = pod_requests(TEMPLATE["spec"])
    # CPU: containers 500m + sidecar 100m = 600m < the init container's 2 (no sidecar yet).
    assert requests["cpu"] == 2
    # Memory: 1Gi + 32Mi (sidecar) > 64Mi.
    assert requests["memory"] == 2**30 + 32 * 2**20
    # Limits without requests count as requests.
    assert requests["nvidia.com/gpu"] == 1


def test_an_init_container_after_a_sidecar_adds_to_it() -> None:
    spec = {
        "initContainers": [
            {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
            {"name": "i", "resources": {"requests": {"cpu": "3"}}},
        ],
        "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}],
        "overhead": {"cpu": "250m"},
    }
    assert pod_requests(spec)["cpu"] == Fraction(4) + Fraction(1, 4)


@pytest.mark.parametrize(
    ("text", "value"),
    [("100m", Fraction(1, 10)), ("1.5Gi", Fraction(3 * 2**29)), ("2e3", 2000), ("4", 4)],
)
def test_quantities(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


def test_placeholders_copy_the_targets_scheduling_and_stand_aside_for_real_pods() -> None:
    body = placeholder_deployment(OWNER, "Deployment", "api", TEMPLATE, 7, image="pause:test")
    assert body["spec"]["replicas"] == 7
    pod = body["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "pause:test"
    assert container["resources"]["requests"] == {
        "cpu": "2000m",
        "memory": str(2**30 + 32 * 2**20),
        "nvidia.com/gpu": "1",
    }
    assert container["resources"]["limits"] == container["resources"]["requests"]
    assert pod["nodeSelector"] == {"pool": "lecture"}
    assert pod["tolerations"] == TEMPLATE["spec"]["tolerations"]
    assert pod["affinity"]["nodeAffinity"] == TEMPLATE["spec"]["affinity"]["nodeAffinity"]
    assert pod["priorityClassName"] == "showtime-placeholder"
    assert pod["terminationGracePeriodSeconds"] == 0
    assert pod["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod
    assert "initContainers" not in pod


def test_selectors_of_the_targets_own_pods_select_the_placeholders_instead() -> None:
    body = placeholder_deployment(OWNER, "Deployment", "api", TEMPLATE, 1)
    mine = body["spec"]["selector"]
    pod = body["spec"]["template"]["spec"]
    spread = pod["topologySpreadConstraints"][0]
    assert spread["labelSelector"] == mine
    assert "matchLabelKeys" not in spread
    anti = pod["affinity"]["podAntiAffinity"]
    preferred = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert preferred["labelSelector"] == mine
    # A selector of other pods (keep away from the database) is kept as it is.
    required = anti["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert required["labelSelector"] == {"matchLabels": {"app": "database"}}
    # The template itself is not changed.
    assert TEMPLATE["spec"]["topologySpreadConstraints"][0]["matchLabelKeys"]
    pod_labels = body["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels.get(k) == v for k, v in mine["matchLabels"].items())


def test_labels_owner_and_a_deterministic_dns_name() -> None:
    long_event = Owner("live", "e" * 200, "uid-2")
    body = placeholder_deployment(long_event, "StatefulSet", "t" * 200, TEMPLATE, 1)
    meta = body["metadata"]
    assert len(meta["name"]) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", meta["name"])
    assert meta["name"] == object_name("e" * 200, "StatefulSet", "t" * 200)
    assert meta["name"] != object_name("e" * 200, "Deployment", "t" * 200)
    assert all(len(v) <= 63 for v in meta["labels"].values())
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "showtime"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "showtime.dev/v1alpha1",
            "kind": "TrafficEvent",
            "name": "e" * 200,
            "uid": "uid-2",
            "blockOwnerDeletion": False,
        }
    ]
    assert is_reservation(body)
    assert not is_reservation({"metadata": {"labels": {"app": "api"}}})


def test_a_capacity_buffer_points_at_the_target() -> None:
    body = capacity_buffer(OWNER, "Deployment", "api", 12)
    assert body["apiVersion"] == "autoscaling.x-k8s.io/v1beta1"
    assert body["kind"] == "CapacityBuffer"
    assert body["spec"] == {
        "replicas": 12,
        "scalableRef": {"apiGroup": "apps", "kind": "Deployment", "name": "api"},
    }
    assert is_reservation(body)
