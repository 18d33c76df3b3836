"""The workload cache keeps what decisions and placeholders read, and little else."""

from __future__ import annotations

import copy
import json
from typing import Any

from showtime.core.placeholders import Owner, placeholder_deployment
from showtime.core.workloadcache import LAST_APPLIED, slim_workload
from showtime.shell.gather import _workload


def applied_deployment() -> dict[str, Any]:
    """A Deployment as the API server returns it after ``kubectl apply``."""
    container = {
        "name": "app",
        "image": "registry.example.com/shop/app:1.42.0",
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": f"SETTING_{k}", "value": f"value-{k}"} for k in range(6)],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
    }
    sidecar = {**container, "name": "proxy", "restartPolicy": "Always"}
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "api",
            "namespace": "live",
            "uid": "u-1",
            "resourceVersion": "42",
            "labels": {"app": "api"},
            "annotations": {"showtime.dev/held-by": "live/launch"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {
            "replicas": 7,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}, "annotations": {"checksum": "abc"}},
                "spec": {
                    "containers": [container],
                    "initContainers": [sidecar],
                    "volumes": [{"name": "config", "configMap": {"name": "api"}}],
                    "nodeSelector": {"pool": "web"},
                    "tolerations": [{"key": "web", "operator": "Exists"}],
                    "overhead": {"cpu": "10m"},
                },
            },
        },
        "status": {
            "replicas": 7,
            "readyReplicas": 6,
            "conditions": [{"type": "Available", "status": "True", "message": "ok" * 40}],
        },
    }
    body["metadata"]["annotations"][LAST_APPLIED] = json.dumps(body)
    return body


def test_a_slim_workload_decides_and_shapes_placeholders_as_the_full_one() -> None:
    full = applied_deployment()
    before = copy.deepcopy(full)
    slim = slim_workload(full)
    assert full == before  # the object given is left as it was
    key = ("live", "Deployment", "api")
    owner = Owner("live", "launch", "e-1")
    assert placeholder_deployment(
        owner, "Deployment", "api", slim["spec"]["template"], 3
    ) == placeholder_deployment(owner, "Deployment", "api", full["spec"]["template"], 3)
    seen, wanted = _workload(key, slim, None), _workload(key, full, None)
    assert (seen.replicas, seen.ready, seen.resource_version, seen.annotations) == (
        wanted.replicas,
        wanted.ready,
        wanted.resource_version,
        wanted.annotations,
    )


def test_a_slim_workload_is_less_than_half_the_size() -> None:
    full = applied_deployment()
    slim = slim_workload(full)
    assert LAST_APPLIED not in slim["metadata"]["annotations"]
    assert "managedFields" not in slim["metadata"]
    assert "conditions" not in slim["status"]
    assert "volumes" not in slim["spec"]["template"]["spec"]
    assert slim["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "resources": full["spec"]["template"]["spec"]["containers"][0]["resources"]}
    ]
    assert len(json.dumps(slim)) < len(json.dumps(full)) / 2
