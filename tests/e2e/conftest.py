"""Fixtures for the e2e suite: it runs against the cluster ``KUBECONFIG`` points at.

Locally that is the kwok cluster of ``make cluster``; ``make e2e`` sets the
environment from ``hack/cluster.sh env``. Elsewhere (kind, CI) export KUBECONFIG.

``make e2e`` runs the suite twice: the parallel-safe tests under pytest-xdist, then the
tests marked ``serial`` (they change what others share) on their own. Session fixtures
here therefore run once per xdist worker and must tolerate each other.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client import ApiException

from showtime.cluster.kube import GROUP, PLURAL, VERSION
from tests.support.environment import unavailable
from tests.support.operator import OperatorProcess
from tests.support.wait import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_CONTEXT = "kwok-showtime"  # the context kwokctl writes for the local cluster
E2E_LABEL = "showtime.dev/e2e"
CRD_FILE = REPO_ROOT / "crds/trafficevent.yaml"


def pinned_version(name: str) -> str:
    """A variable of hack/versions.sh (e.g. ``KUBE_VERSION``), as bash sees it."""
    out = subprocess.run(
        ["bash", "-c", f'source hack/versions.sh && printf %s "${name}"'],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return out.stdout


@pytest.fixture(scope="session")
def kube_api() -> Iterator[client.ApiClient]:
    """An ApiClient for the cluster of ``KUBECONFIG``; fails fast when unreachable."""
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        unavailable('KUBECONFIG is not set: run `make cluster` then `eval "$(make -s env)"`')
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig
    )
    try:
        try:
            client.VersionApi(api).get_code(_request_timeout=10)
        except Exception as exc:  # any transport error means "no cluster"
            pytest.fail(
                f"cluster of KUBECONFIG={kubeconfig} is unreachable ({exc}); run `make cluster`"
            )
        yield api
    finally:
        api.close()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="session")
def core_v1(kube_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api)


@pytest.fixture(scope="session")
def apps_v1(kube_api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(kube_api)


@pytest.fixture(scope="session")
def local_cluster(kube_api: client.ApiClient) -> None:
    """Only on the local kwok cluster (tests marked ``local_cluster``; kind deselects them)."""
    contexts = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
        config_file=os.environ["KUBECONFIG"]
    )
    name = str(contexts[1].get("name"))
    if name != LOCAL_CONTEXT:
        unavailable(f"needs the local cluster (context {LOCAL_CONTEXT}), not {name}")


@pytest.fixture
def namespace(core_v1: client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace, ready for pods (default ServiceAccount present); deleted afterwards.

    Deletion is not awaited: kwok removes the pods in the background.
    """
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    core_v1.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={E2E_LABEL: "true"})),
        _request_timeout=10,
    )
    try:
        wait_for(
            lambda: core_v1.read_namespaced_service_account("default", name, _request_timeout=5),
            timeout=30,
            interval=0.2,
            message=f"ServiceAccount default in namespace {name}",
            ignore=(ApiException,),
        )
        yield name
    finally:
        try:
            core_v1.delete_namespace(name, _request_timeout=10)
        except ApiException as exc:
            if exc.status != 404:
                raise


def run_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory shared by every process of this pytest run (all xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def crd(kube_api: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The TrafficEvent CRD of this checkout, applied server-side and Established.

    Session-scoped, so under xdist each worker runs it: one applies (under a file lock,
    once per run) and the others only wait for Established.
    """
    shared = run_directory(tmp_path_factory)
    with (shared / "crd.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        applied_marker = shared / "crd.applied"
        if not applied_marker.exists():
            applied = subprocess.run(
                ["kubectl", "apply", "--server-side", "-f", str(CRD_FILE)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if applied.returncode != 0:
                pytest.fail(f"the API server refused crds/trafficevent.yaml: {applied.stderr}")
            applied_marker.touch()
    ext: Any = client.ApiextensionsV1Api(kube_api)

    def established() -> bool:
        crd = ext.read_custom_resource_definition(f"{PLURAL}.{GROUP}")
        return any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
        )

    wait_for(established, timeout=30, message="CRD established")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that drive a live operator first: they wait on real schedules (minutes each).

    Started first, they overlap the many short tests instead of stretching the end of the
    run (``hack/e2e.sh`` hands them out one at a time: ``--maxschedchunk 1``). The order
    within each group stays as collected.
    """
    long_running = {"operator", "karpenter_cluster"}  # the latter: node capacity, ~4 min
    items.sort(key=lambda item: not long_running & set(getattr(item, "fixturenames", ())))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``serial`` test must not run beside others (``make e2e`` runs them on their own)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    if workers > 1 and item.get_closest_marker("serial") is not None:
        pytest.fail(
            "this test changes what other tests share (marked serial); run it without -n: "
            "pytest -m 'e2e and serial' (make e2e does)"
        )


@pytest.fixture
def custom(kube_api: Any) -> Any:
    return client.CustomObjectsApi(kube_api)


@pytest.fixture
def operator(crd: None, namespace: str, custom: Any, tmp_path: Path) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(namespace, tmp_path / "operator.log").start()
    try:
        yield proc
    finally:
        # Let the operator release its finalizers before it stops.
        if not proc.alive():
            proc.start()
        events = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        for item in events["items"]:
            custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, item["metadata"]["name"]
            )
        try:
            wait_for(
                lambda: (
                    not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)[
                        "items"
                    ]
                ),
                timeout=60,
                message="TrafficEvents deleted",
            )
        finally:
            proc.stop()
            print(proc.log_tail())
