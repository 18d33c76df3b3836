"""Small builders and readers for Kubernetes objects used by the e2e tests.

Builders return the ``kubernetes`` client's models, validated from plain
manifests; tests can build their own with ``client.V1Deployment.model_validate``.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

# KWOK stage annotations understood by the local cluster (hack/cluster/kwok.yaml).
# Values are milliseconds (Go durations such as "5s" work too).
POD_READY_DELAY = "pod-ready.stage.kwok.x-k8s.io/delay"
POD_READY_JITTER_DELAY = "pod-ready.stage.kwok.x-k8s.io/jitter-delay"
POD_DELETE_DELAY = "pod-delete.stage.kwok.x-k8s.io/delay"

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def pod_template(
    labels: dict[str, str], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """A pod template manifest with one container; KWOK never pulls the image."""
    return {
        "metadata": {"labels": dict(labels), "annotations": dict(annotations or {})},
        "spec": {
            "containers": [{"name": "app", "image": PAUSE_IMAGE}],
            "terminationGracePeriodSeconds": 1,
        },
    }


def deployment(
    name: str,
    replicas: int,
    pod_annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> client.V1Deployment:
    """A plain Deployment (no tolerations, no node selector); pods are labelled app=<name>."""
    selector = {"app": name}
    return client.V1Deployment.model_validate(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": {**selector, **(labels or {})}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": selector},
                "template": pod_template(selector, pod_annotations),
            },
        }
    )


def pod(name: str, annotations: dict[str, str] | None = None) -> client.V1Pod:
    """A bare Pod (no controller), labelled app=<name>."""
    template = pod_template({"app": name}, annotations)
    return client.V1Pod.model_validate(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, **template["metadata"]},
            "spec": template["spec"],
        }
    )


def is_pod_ready(pod_obj: client.V1Pod) -> bool:
    """True when the pod has the condition Ready=True."""
    conditions = (pod_obj.status and pod_obj.status.conditions) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def ready_replicas(deployment_obj: client.V1Deployment) -> int:
    """``status.readyReplicas`` of a Deployment, 0 when unset."""
    status = deployment_obj.status
    return (status and status.ready_replicas) or 0


def replicas(deployment_obj: client.V1Deployment) -> int:
    """``status.replicas`` (pods that exist, ready or not), 0 when unset."""
    status = deployment_obj.status
    return (status and status.replicas) or 0
