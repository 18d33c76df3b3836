"""Smoke tests of the cluster itself: scheduling, readiness, scaling, versions, loopback."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
from kubernetes import client

from tests.e2e.conftest import pinned_version
from tests.support import kube
from tests.support.environment import unavailable
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

# ss shows the first 15 characters of a process name.
CLUSTER_PROCESSES = {
    "kube-apiserver",
    "kube-controller",  # kube-controller-manager
    "kube-scheduler",
    "etcd",
    "kwok-controller",
    "prometheus",
}


def _deployment_ready(apps_v1: client.AppsV1Api, namespace: str, name: str, replicas: int) -> bool:
    dep = apps_v1.read_namespaced_deployment(name, namespace, _request_timeout=5)
    return kube.ready_replicas(dep) == replicas and kube.replicas(dep) == replicas


def _pods(core_v1: client.CoreV1Api, namespace: str, app: str) -> list[client.V1Pod]:
    return core_v1.list_namespaced_pod(
        namespace, label_selector=f"app={app}", _request_timeout=5
    ).items


def test_deployment_becomes_ready_and_scales(
    apps_v1: client.AppsV1Api, core_v1: client.CoreV1Api, namespace: str
) -> None:
    apps_v1.create_namespaced_deployment(namespace, kube.deployment("web", 3))
    wait_for(
        lambda: _deployment_ready(apps_v1, namespace, "web", 3),
        timeout=60,
        message="3 ready replicas",
    )
    pods = _pods(core_v1, namespace, "web")
    assert all(p.spec and p.spec.node_name for p in pods), "every pod is scheduled on a kwok node"
    assert all(p.status and p.status.phase == "Running" and p.status.pod_ip for p in pods)

    apps_v1.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 6}})
    wait_for(
        lambda: _deployment_ready(apps_v1, namespace, "web", 6),
        timeout=60,
        message="6 ready replicas after scaling up",
    )

    apps_v1.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 1}})
    wait_for(
        lambda: len(_pods(core_v1, namespace, "web")) == 1,
        timeout=60,
        message="pods deleted after scaling down to 1",
    )
    # The Deployment's status follows the pods a moment later (the controller's next sync).
    wait_for(
        lambda: _deployment_ready(apps_v1, namespace, "web", 1),
        timeout=30,
        message="the Deployment's status at 1 ready replica",
    )


def test_pod_ready_delay_annotation_is_honoured(core_v1: client.CoreV1Api, namespace: str) -> None:
    created = time.monotonic()
    core_v1.create_namespaced_pod(namespace, kube.pod("slow", {kube.POD_READY_DELAY: "5000"}))
    running_since: list[float] = []  # when the pod was first seen Running (not yet Ready)

    def observe() -> float | None:
        pod = core_v1.read_namespaced_pod("slow", namespace, _request_timeout=5)
        if kube.is_pod_ready(pod):
            return time.monotonic() - created
        if not running_since and pod.status and pod.status.phase == "Running":
            running_since.append(time.monotonic())
        return None

    ready_after = wait_for(observe, timeout=30, interval=0.2, message="pod Ready after its delay")
    # The delay runs from the moment the pod runs, however long scheduling took: the pod
    # is Running, not Ready, for about those 5 s (less a poll interval and a round trip).
    assert running_since, "the pod was never seen Running before Ready"
    running_for = created + ready_after - running_since[0]
    assert running_for >= 4.0, f"Ready {running_for:.1f}s after Running, before its 5000ms delay"
    assert ready_after < 15.0, f"Ready only after {ready_after:.1f}s"


def test_fifty_replicas_without_delay_are_ready_fast(
    apps_v1: client.AppsV1Api, namespace: str
) -> None:
    start = time.monotonic()
    apps_v1.create_namespaced_deployment(
        namespace, kube.deployment("burst", 50, pod_annotations={kube.POD_READY_DELAY: "0"})
    )
    wait_for(
        lambda: _deployment_ready(apps_v1, namespace, "burst", 50),
        timeout=60,
        message="50 ready replicas",
    )
    print(f"50 replicas with zero delay Ready after {time.monotonic() - start:.1f}s")


@pytest.mark.local_cluster
def test_kube_apiserver_binary_is_the_pinned_release(local_cluster: None) -> None:
    binary = shutil.which("kube-apiserver")
    assert binary, 'kube-apiserver is not on PATH: eval "$(hack/cluster.sh env)"'
    out = subprocess.run(
        [binary, "--version"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    assert out.split() == ["Kubernetes", pinned_version("KUBE_VERSION")]


@pytest.mark.local_cluster
def test_server_reports_the_pinned_release(local_cluster: None, kube_api: client.ApiClient) -> None:
    info = client.VersionApi(kube_api).get_code(_request_timeout=10)
    assert info.git_version == pinned_version("KUBE_VERSION")


def _listening_sockets() -> list[tuple[str, str]]:
    """(local address, process name) of every listening TCP socket, from ``ss``."""
    out = subprocess.run(
        ["ss", "-Hltnp"], check=True, capture_output=True, text=True, timeout=10
    ).stdout
    sockets = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        for name in re.findall(r'\("([^"]+)",pid=', line):
            sockets.append((fields[3], name))
    return sockets


@pytest.mark.local_cluster
def test_cluster_processes_listen_on_loopback_only(local_cluster: None) -> None:
    if shutil.which("ss") is None:
        unavailable("ss (iproute2) is not installed")
    ours = [(addr, name) for addr, name in _listening_sockets() if name in CLUSTER_PROCESSES]
    seen = {name for _, name in ours}
    missing = CLUSTER_PROCESSES - seen
    assert not missing, f"no listening socket found for {sorted(missing)} (ss needs root for -p)"
    exposed = [
        (addr, name)
        for addr, name in ours
        if not (addr.startswith("127.") or addr.startswith("[::1]:"))
    ]
    assert not exposed, f"listening beyond loopback: {exposed}"
