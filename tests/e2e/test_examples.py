"""The manifests in examples/ apply cleanly, as a user would apply them.

Each file goes server-side into a fresh namespace (``kubectl apply -n``; the files name
no namespace), against the real CRD schema and CEL rules; its Deployments become Ready
and its TrafficEvent, HPA and Deployments exist as written (the CRD comes from the
shared ``crd`` fixture of conftest). No operator runs here:
``tests/unit/test_plan_cli.py`` checks what ``showtime plan`` makes of the same files.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from showtime.cluster.kube import GROUP, PLURAL, VERSION
from tests.support.operator import REPO_ROOT
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.yaml"))


def ready_count(apps: Any, namespace: str, name: str, replicas: int) -> Callable[[], bool]:
    def check() -> bool:
        status = apps.read_namespaced_deployment_status(name, namespace).status
        return bool(status.ready_replicas == replicas)

    return check


def contains(stored: Any, written: Any) -> bool:
    """``stored`` has everything ``written`` has (it may have defaults on top)."""
    if isinstance(written, dict):
        return isinstance(stored, dict) and all(
            k in stored and contains(stored[k], v) for k, v in written.items()
        )
    if isinstance(written, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(written)
            and all(contains(s, w) for s, w in zip(stored, written, strict=True))
        )
    return bool(stored == written)


def test_there_are_examples() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"new-year-speech.yaml", "weekday-lecture.yaml", "hpa-managed.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_applies_cleanly(
    path: Path, crd: None, namespace: str, kube_api: client.ApiClient, apps_v1: Any
) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in documents:
        assert "namespace" not in doc["metadata"], f"{path.name}: no hard-coded namespace"
    result = subprocess.run(
        ["kubectl", "apply", "--server-side", "-n", namespace, "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip(), result.stderr  # no warnings either

    custom: Any = client.CustomObjectsApi(kube_api)
    autoscaling: Any = client.AutoscalingV2Api(kube_api)
    for doc in documents:
        name = doc["metadata"]["name"]
        if doc["kind"] == "Deployment":
            replicas = doc["spec"]["replicas"]
            wait_for(
                ready_count(apps_v1, namespace, name, replicas),
                timeout=60,
                message=f"{path.name}: Deployment {name} {replicas} Ready",
            )
        elif doc["kind"] == "TrafficEvent":
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            # Stored as written, plus the schema's defaults: nothing was pruned as unknown.
            assert contains(obj["spec"], doc["spec"]), obj["spec"]
        elif doc["kind"] == "HorizontalPodAutoscaler":
            hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler(name, namespace)
            assert hpa.spec.scale_target_ref.name == doc["spec"]["scaleTargetRef"]["name"]
        else:
            pytest.fail(f"{path.name}: unexpected kind {doc['kind']}")
