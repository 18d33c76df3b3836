"""Fixtures for the e2e suite: it runs against the cluster ``KUBECONFIG`` points at.

Locally that is the kwok cluster of ``make cluster``; ``make e2e`` sets the
environment from ``hack/cluster.sh env``. Elsewhere (kind, CI) export KUBECONFIG.
"""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def crd(kube_api: Any) -> None:
    """The TrafficEvent CRD of this checkout, applied server-side and Established."""
    applied = subprocess.run(
        ["kubectl", "apply", "--server-side", "-f", str(REPO_ROOT / "crds/trafficevent.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if applied.returncode != 0:
        pytest.fail(f"the API server refused crds/trafficevent.yaml: {applied.stderr}")
    ext: Any = client.ApiextensionsV1Api(kube_api)

    def established() -> bool:
        crd = ext.read_custom_resource_definition(f"{PLURAL}.{GROUP}")
        return any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
        )

    wait_for(established, timeout=30, message="CRD established")


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
