"""charts/showtime on the local cluster: what it renders passes the API server's checks,
and ``helm install`` gives an install the operator works under.

No image of the operator runs in the test cluster (kwok only pretends to run pods), so,
as in test_deploy.py for deploy/, the installed Deployment is scaled to 0 and the real
operator runs here as a subprocess with a token of the chart's ServiceAccount: it must
pre-warm and hand back a Deployment without one RBAC error. The install keeps every
default but ``watchNamespace`` (the test's namespace): a cluster-wide operator would act
on the TrafficEvents of the tests running beside it (test_deploy.py runs the
cluster-wide case, with the same rules the chart's unit test compares against). The
release is uninstalled afterwards (its ClusterRole and binding go with it).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from showtime.cluster.kube import GROUP, PLURAL, VERSION
from tests.e2e.test_deploy import (
    NAMESPACE_TERMINATING,
    RBAC_ERROR,
    custom_objects,
    iso,
    kubectl,
)
from tests.support.helm import CHART, FULL_VALUES, helm, monitoring_crds_dir, render
from tests.support.kube import POD_READY_DELAY, deployment
from tests.support.operator import OperatorProcess
from tests.support.trafficevents import create_event
from tests.support.wait import wait_for

pytestmark = [pytest.mark.e2e]

MONITORING_CRDS = ("servicemonitors", "podmonitors", "prometheusrules")


@pytest.fixture(scope="module")
def monitoring_crds() -> None:
    """prometheus-operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs, applied."""
    crds = monitoring_crds_dir()
    for plural in MONITORING_CRDS:
        kubectl("apply", "--server-side", "-f", str(crds / f"monitoring.coreos.com_{plural}.yaml"))
    for plural in MONITORING_CRDS:
        kubectl(
            "wait",
            "--for=condition=Established",
            f"crd/{plural}.monitoring.coreos.com",
            "--timeout=60s",
            timeout=90,
        )


def server_dry_run(manifest: str) -> str:
    result = subprocess.run(
        ["kubectl", "apply", "--server-side", "--dry-run=server", "-f", "-"],
        input=manifest,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("values", ["default", "full"])
def test_the_rendered_chart_passes_the_api_servers_checks(
    values: str, monitoring_crds: None, namespace: str
) -> None:
    args = ["--values", str(FULL_VALUES)] if values == "full" else []
    manifest = render(*args, release="showtime", namespace=namespace)
    out = server_dry_run(manifest)
    expected = ["customresourcedefinition", "deployment.apps", "clusterrole.rbac"]
    if values == "full":
        expected += ["servicemonitor", "podmonitor", "prometheusrule", "poddisruptionbudget"]
        expected += ["configmap"]
    for kind in expected:
        assert f"{kind}" in out, out


def test_more_than_one_replica_without_leader_election_is_called_out(namespace: str) -> None:
    release = f"showtime-{uuid.uuid4().hex[:6]}"
    install = ["install", release, str(CHART), "--namespace", namespace, "--dry-run"]
    # (the cluster-wide PriorityClass may be another install's on a shared cluster)
    install += ["--set", "nodeCapacity.priorityClass.create=false"]
    notes = helm(*install, "--set", "leaderElection.enabled=false").stdout
    assert "WARNING: replicas=2 with leaderElection.enabled=false" in notes
    notes = helm(*install).stdout
    assert f"2 replica(s), one active: the leader holds the Lease {release}." in notes


@pytest.fixture
def release(namespace: str, core_v1: Any) -> Iterator[str]:
    """``helm install`` into the test's namespace, watching it; every other value default."""
    name = f"showtime-{uuid.uuid4().hex[:6]}"
    helm(
        "install",
        name,
        str(CHART),
        "--namespace",
        namespace,
        "--set",
        f"watchNamespace={namespace}",
        # Cluster-scoped, and deploy/ (test_deploy.py) and other releases on this shared
        # cluster hold it: a release must not claim it.
        "--set",
        "nodeCapacity.priorityClass.create=false",
        timeout=180,
    )
    try:
        yield name
    finally:
        helm("uninstall", name, "--namespace", namespace, "--wait", timeout=180, check=False)


def sa_kubeconfig(service_account: str, namespace: str, directory: Path) -> Path:
    token = kubectl("create", "token", service_account, "-n", namespace, "--duration=1h").strip()
    current = json.loads(kubectl("config", "view", "--raw", "--minify", "--flatten", "-o=json"))
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": current["clusters"][0]["cluster"]}],
        "users": [{"name": service_account, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "cluster", "user": service_account}}],
        "current-context": "sa",
    }
    path = directory / "sa-kubeconfig.yaml"
    path.write_text(yaml.safe_dump(kubeconfig))
    path.chmod(0o600)
    return path


def test_helm_install_prewarms_and_hands_back_under_its_service_account(
    release: str, namespace: str, kube_api: client.ApiClient, apps_v1: Any, tmp_path: Path
) -> None:
    custom = custom_objects(kube_api)
    status = json.loads(helm("status", release, "--namespace", namespace, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed", status["info"]
    # The Deployment's pod passes admission (the ServiceAccount exists, the securityContext
    # is accepted); then the in-cluster copy is stopped, as in test_deploy.py.
    selector = f"app.kubernetes.io/instance={release}"
    core: Any = client.CoreV1Api(kube_api)
    wait_for(
        lambda: core.list_namespaced_pod(namespace, label_selector=selector).items,
        timeout=60,
        message="the installed operator's pod created",
    )
    kubectl("-n", namespace, "scale", f"deployment/{release}", "--replicas=0")
    wait_for(
        lambda: not core.list_namespaced_pod(namespace, label_selector=selector).items,
        timeout=120,
        message="the installed operator's pods gone",
    )

    kubeconfig = sa_kubeconfig(release, namespace, tmp_path)
    # What the chart's Deployment sets for watchNamespace and leader election (its Lease in
    # the release's namespace, named after the release: the Role allows that one).
    operator = OperatorProcess(
        namespace,
        tmp_path / "operator.log",
        SHOWTIME_NAMESPACE=namespace,
        SHOWTIME_LEADER_ELECTION="true",
        SHOWTIME_LEASE_NAME=release,
        KUBECONFIG=str(kubeconfig),
    ).start()
    try:
        apps_v1.create_namespaced_deployment(
            namespace, deployment("web", 1, {POD_READY_DELAY: "1000"})
        )
        wait_for(
            lambda: (
                apps_v1.read_namespaced_deployment_status("web", namespace).status.ready_replicas
                == 1
            ),
            timeout=60,
            message="web 1 Ready",
        )
        start = datetime.now(UTC) + timedelta(seconds=10)
        create_event(
            custom,
            namespace,
            "launch",
            {
                "schedule": {"start": iso(start), "duration": "10m"},
                "leadTime": "10s",
                "cooldown": "0s",
                "scaleDown": {"stabilizationWindow": "0s", "maxPercentPerMinute": 100},
                "targets": [{"name": "web", "replicas": 3, "maxReplicas": 5}],
            },
        )
        wait_for(
            lambda: apps_v1.read_namespaced_deployment("web", namespace).spec.replicas == 3,
            timeout=60,
            message="web pre-warmed to 3",
        )
        wait_for(
            lambda: (
                custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "launch")
                .get("status", {})
                .get("phase")
                in ("PreWarming", "Live")
            ),
            timeout=30,
            message="status written: PreWarming or Live",
        )
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "launch")
        wait_for(
            lambda: apps_v1.read_namespaced_deployment("web", namespace).spec.replicas == 1,
            timeout=60,
            message="web handed back to 1",
        )
        wait_for(
            lambda: (
                not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
            ),
            timeout=60,
            message="the TrafficEvent gone",
        )
        assert operator.alive(), operator.log_tail()
    finally:
        operator.stop()
        print(operator.log_tail())
    log = operator.log_path.read_text(errors="replace")
    refused = [
        line
        for line in log.splitlines()
        if RBAC_ERROR.search(line) and not NAMESPACE_TERMINATING.search(line)
    ]
    assert not refused, "\n".join(refused[:20])
