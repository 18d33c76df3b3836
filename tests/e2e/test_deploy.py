"""deploy/ as an SRE installs it, and the operator under the identity it gets there.

``kubectl apply --server-side -k deploy/`` installs the CRD, the namespace, the
ServiceAccount, the ClusterRole and binding, the Deployment and the metrics Service. No
image of the operator can run in the test cluster (kwok only pretends to run pods; on
kind the image may not be loaded), so the installed Deployment is scaled to 0 and the real
operator runs here as a subprocess, cluster-wide as deployed, with a kubeconfig holding
a token of the ``showtime`` ServiceAccount. It must pre-warm and hand back a Deployment
without a single RBAC error; and the same token must be refused what the role does not
grant.

A cluster-wide operator acts on every namespace: it starts only when no other namespace
has TrafficEvents (the test is skipped if some stay, e.g. ``make demo`` runs), and it is
stopped in a ``finally``, after the test's TrafficEvents (and any being deleted
elsewhere) are gone and their finalizers released.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client import ApiException

from showtime.cluster.kube import GROUP, PLURAL, VERSION, KubeGateway
from showtime.cluster.requests import event_body
from showtime.shell.handlers import FINALIZER
from tests.support.environment import unavailable
from tests.support.kube import POD_READY_DELAY, deployment
from tests.support.operator import REPO_ROOT, OperatorProcess
from tests.support.trafficevents import create_event
from tests.support.wait import WaitTimeoutError, wait_for, wait_settled

# Serial: it applies cluster-scoped objects (the CRD, a ClusterRole and its binding) and
# runs an operator for all namespaces, which would act on other tests' TrafficEvents.
pytestmark = [pytest.mark.e2e, pytest.mark.serial]

SYSTEM_NAMESPACE = "showtime-system"
SERVICE_ACCOUNT = "showtime"
OPERATOR = "showtime"  # the Deployment's name
SELECTOR = "app.kubernetes.io/name=showtime"
# An RBAC refusal, however the client or kopf words it (a bare "403" could be a number in
# an object; these forms cannot).
RBAC_ERROR = re.compile(
    r"forbidden|not enough permissions|\(403\)|\b403 |status[\"']?[:=] ?403|code[\"']?[:=] ?403",
    re.IGNORECASE,
)
# Also a 403, but from namespace admission, not RBAC: a namespace of an earlier test is
# still being deleted while this cluster-wide operator hands back what was left in it.
NAMESPACE_TERMINATING = re.compile(r"because it is being terminated")


def kubectl(*args: str, timeout: float = 60, kubeconfig: Path | None = None) -> str:
    cmd = ["kubectl", *args]
    if kubeconfig is not None:
        cmd.insert(1, f"--kubeconfig={kubeconfig}")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
    if result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


@pytest.fixture(scope="module")
def installed(kube_api: client.ApiClient) -> None:
    """deploy/ applied (idempotently), with the in-cluster operator scaled to 0."""
    # --force-conflicts: a re-run must take spec.replicas back from `kubectl scale`.
    kubectl("apply", "--server-side", "--force-conflicts", "-k", "deploy/", timeout=120)
    kubectl(
        "wait", "--for=condition=Established", f"crd/{PLURAL}.{GROUP}", "--timeout=60s", timeout=90
    )
    apps: Any = client.AppsV1Api(kube_api)
    core: Any = client.CoreV1Api(kube_api)
    # The pod template passes the namespace's "restricted" Pod Security admission and the
    # ServiceAccount exists: the ReplicaSet manages to create the operator's pod.
    wait_for(
        lambda: (
            core.list_namespaced_pod(SYSTEM_NAMESPACE, label_selector=SELECTOR).items
            or apps.read_namespaced_deployment_status(OPERATOR, SYSTEM_NAMESPACE).status.replicas
        ),
        timeout=60,
        message="the installed operator's pod created",
    )
    kubectl("-n", SYSTEM_NAMESPACE, "scale", f"deployment/{OPERATOR}", "--replicas=0")
    wait_for(
        lambda: not core.list_namespaced_pod(SYSTEM_NAMESPACE, label_selector=SELECTOR).items,
        timeout=120,
        message="the installed operator's pods gone",
    )


@pytest.fixture(scope="module")
def sa_kubeconfig(installed: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig for the current cluster that authenticates as the ServiceAccount."""
    token = kubectl(
        "create", "token", SERVICE_ACCOUNT, "-n", SYSTEM_NAMESPACE, "--duration=1h"
    ).strip()
    current = json.loads(kubectl("config", "view", "--raw", "--minify", "--flatten", "-o=json"))
    cluster = current["clusters"][0]["cluster"]
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token}}],
        "contexts": [
            {"name": "showtime", "context": {"cluster": "cluster", "user": SERVICE_ACCOUNT}}
        ],
        "current-context": "showtime",
    }
    path = tmp_path_factory.mktemp("sa") / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(kubeconfig))
    path.chmod(0o600)
    return path


@pytest.fixture
def sa_api(sa_kubeconfig: Path) -> Iterator[client.ApiClient]:
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(sa_kubeconfig)
    )
    try:
        yield api
    finally:
        api.close()  # type: ignore[no-untyped-call]


def loose(api: object) -> Any:
    """An API object typed as Any, to pass plain dict bodies."""
    return api


def custom_objects(kube_api: client.ApiClient) -> Any:
    return client.CustomObjectsApi(kube_api)


def events_being_deleted(custom: Any) -> list[str]:
    items = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
    return [
        f"{i['metadata']['namespace']}/{i['metadata']['name']}"
        for i in items
        if i["metadata"].get("deletionTimestamp")
        and FINALIZER in (i["metadata"].get("finalizers") or [])
    ]


@pytest.fixture
def clusterwide_operator(
    sa_kubeconfig: Path, namespace: str, kube_api: client.ApiClient, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """``showtime run`` for all namespaces, authenticated as the ServiceAccount."""
    custom = custom_objects(kube_api)

    def foreign_events() -> list[str]:
        items = custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
        return [
            f"{i['metadata']['namespace']}/{i['metadata']['name']}"
            for i in items
            if i["metadata"]["namespace"] != namespace
        ]

    # A cluster-wide operator would act on every other TrafficEvent too, and leave its
    # finalizer on them when it stops. Earlier tests' namespaces are still going away:
    # wait for them; anything else (a demo, another run on this cluster) means skip.
    try:
        wait_for(
            lambda: not foreign_events(),
            timeout=90,
            interval=1,
            message="no TrafficEvents in other namespaces",
        )
    except WaitTimeoutError:
        reason = (
            "a cluster-wide operator would act on TrafficEvents of others: "
            f"{', '.join(foreign_events()[:5])} (make demo-down, or use a cluster of your own)"
        )
        unavailable(reason)
    proc = OperatorProcess(
        namespace,
        tmp_path / "operator.log",
        SHOWTIME_NAMESPACE="",  # empty: all namespaces, as deployed
        # Leader election as in the pods, the Lease in their namespace under deploy/'s Role.
        SHOWTIME_LEADER_ELECTION="true",
        SHOWTIME_LEASE_NAMESPACE=SYSTEM_NAMESPACE,
        SHOWTIME_LEASE_NAME="showtime",
        KUBECONFIG=str(sa_kubeconfig),
    ).start()
    try:
        yield proc
    finally:
        try:
            if not proc.alive():
                proc.start()  # it must release the finalizers of what it holds
            for item in custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)[
                "items"
            ]:
                custom.delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, item["metadata"]["name"]
                )
            wait_for(
                lambda: (
                    not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)[
                        "items"
                    ]
                    and not events_being_deleted(custom)
                ),
                timeout=60,
                message="TrafficEvents deleted and their finalizers released",
            )
        finally:
            proc.stop()
            print(proc.log_tail())


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_installed_operator_prewarms_and_hands_back_under_its_service_account(
    clusterwide_operator: OperatorProcess,
    namespace: str,
    kube_api: client.ApiClient,
    apps_v1: Any,
    core_v1: Any,
) -> None:
    custom = custom_objects(kube_api)
    apps_v1.create_namespaced_deployment(namespace, deployment("web", 1, {POD_READY_DELAY: "1000"}))
    wait_for(
        lambda: (
            apps_v1.read_namespaced_deployment_status("web", namespace).status.ready_replicas == 1
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

    def status() -> dict[str, Any]:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "launch")
        return dict(obj.get("status") or {})

    # Pre-warm: the Deployment is scaled and annotated for hand-back in one merge patch
    # (deployments patch), the status written (trafficevents/status), events posted
    # (events create).
    wait_for(
        lambda: apps_v1.read_namespaced_deployment("web", namespace).spec.replicas == 3,
        timeout=60,
        message="web scaled to 3",
    )
    wait_for(
        lambda: status().get("phase") in ("PreWarming", "Live"),
        timeout=30,
        message="status phase PreWarming or Live",
    )
    meta = apps_v1.read_namespaced_deployment("web", namespace).metadata
    assert any(k.startswith("showtime.dev/") for k in meta.annotations or {}), meta.annotations

    # No finalizer: deleting a TrafficEvent never waits for an operator (hand-back works
    # from the target's annotations).
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "launch")
    assert FINALIZER not in (obj["metadata"].get("finalizers") or []), obj["metadata"]
    wait_for(
        lambda: (
            core_v1.list_namespaced_event(
                namespace, field_selector="involvedObject.name=launch"
            ).items
        ),
        timeout=30,
        message="an Event on the TrafficEvent",
    )
    wait_for(
        lambda: (
            apps_v1.read_namespaced_deployment_status("web", namespace).status.ready_replicas == 3
        ),
        timeout=60,
        message="web 3 Ready",
    )

    # Delete: the operator hands back to 1.
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "launch")
    wait_for(
        lambda: apps_v1.read_namespaced_deployment("web", namespace).spec.replicas == 1,
        timeout=60,
        message="web handed back to 1",
    )

    def gone() -> bool:
        try:
            custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "launch")
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False

    wait_for(gone, timeout=60, message="TrafficEvent deleted")
    wait_for(
        lambda: (
            not any(
                k.startswith("showtime.dev/")
                for k in apps_v1.read_namespaced_deployment("web", namespace).metadata.annotations
                or {}
            )
        ),
        timeout=30,
        message="hand-back annotations removed",
    )

    assert clusterwide_operator.alive(), clusterwide_operator.log_tail()
    log = clusterwide_operator.log_path.read_text(errors="replace")
    refused = [
        line
        for line in log.splitlines()
        if RBAC_ERROR.search(line) and not NAMESPACE_TERMINATING.search(line)
    ]
    assert not refused, "\n".join(refused[:20])


@pytest.mark.parametrize(
    ("what", "call"),
    [
        (
            # (Deployments may be created and deleted: node capacity's placeholders.)
            "delete a StatefulSet",
            lambda api, ns: client.AppsV1Api(api).delete_namespaced_stateful_set("web", ns),
        ),
        (
            "read one Deployment (GET is not granted; the operator only LISTs)",
            lambda api, ns: client.AppsV1Api(api).read_namespaced_deployment("web", ns),
        ),
        (
            "create a Secret",
            lambda api, ns: loose(client.CoreV1Api(api)).create_namespaced_secret(
                ns, {"metadata": {"name": "stolen"}, "stringData": {"k": "v"}}
            ),
        ),
        (
            "list Secrets",
            lambda api, ns: client.CoreV1Api(api).list_namespaced_secret(ns),
        ),
        (
            "patch a ConfigMap",
            lambda api, ns: client.CoreV1Api(api).patch_namespaced_config_map(
                "kube-root-ca.crt", ns, {"metadata": {"labels": {"x": "y"}}}
            ),
        ),
        (
            "create a TrafficEvent",
            lambda api, ns: client.CustomObjectsApi(api).create_namespaced_custom_object(
                GROUP,
                VERSION,
                ns,
                PLURAL,
                {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TrafficEvent", "metadata": {}},
            ),
        ),
        (
            "delete a Pod collection",
            lambda api, ns: client.CoreV1Api(api).delete_collection_namespaced_pod(ns),
        ),
        (
            "bind itself to cluster-admin",
            lambda api, ns: loose(client.RbacAuthorizationV1Api(api)).create_cluster_role_binding(
                {
                    "metadata": {"name": f"showtime-escalate-{ns}"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "cluster-admin",
                    },
                    "subjects": [
                        {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": ns}
                    ],
                }
            ),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_the_service_account_is_refused_what_the_role_does_not_grant(
    what: str,
    call: Any,
    sa_api: client.ApiClient,
    namespace: str,
    apps_v1: Any,
) -> None:
    apps_v1.create_namespaced_deployment(namespace, deployment("web", 1))
    with pytest.raises(ApiException) as refused:
        call(sa_api, namespace)
    assert refused.value.status == 403, f"{what}: {refused.value}"
    # Nothing happened: the Deployment is still there.
    assert apps_v1.read_namespaced_deployment("web", namespace).metadata.name == "web"


def test_the_service_account_may_do_what_the_operator_needs(
    sa_api: client.ApiClient, namespace: str, apps_v1: Any
) -> None:
    # The reads of one tick, cluster-wide, with resourceVersion=0 (kube.py).
    apps: Any = client.AppsV1Api(sa_api)
    core: Any = client.CoreV1Api(sa_api)
    hpa: Any = client.AutoscalingV2Api(sa_api)
    custom: Any = client.CustomObjectsApi(sa_api)
    apps.list_deployment_for_all_namespaces(resource_version="0")
    apps.list_stateful_set_for_all_namespaces(resource_version="0")
    hpa.list_horizontal_pod_autoscaler_for_all_namespaces(resource_version="0")
    core.list_pod_for_all_namespaces(resource_version="0")
    core.list_node(resource_version="0")  # node capacity: the node lead time
    custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    # And the writes of a tick, through the operator's own gateway: one merge patch with a
    # precondition, an Event created and then aggregated (patched).
    apps_v1.create_namespaced_deployment(namespace, deployment("web", 1))
    gateway = KubeGateway(namespace, api=sa_api)
    # A new Deployment is rewritten by its controller (revision, status) until its pod is
    # Ready: a resourceVersion read then is stale by the time of the patch (409). Read it
    # once the Deployment is Ready and its resourceVersion has settled.
    wait_for(
        lambda: apps_v1.read_namespaced_deployment_status("web", namespace).status.ready_replicas,
        timeout=60,
        message="web 1 Ready",
    )
    seen = wait_settled(
        lambda: apps_v1.read_namespaced_deployment("web", namespace).metadata.resource_version,
        quiet=2,
        timeout=60,
        message="the new Deployment's resourceVersion",
    )
    asyncio.run(
        gateway.patch_workload(
            (namespace, "Deployment", "web"),
            annotations={"showtime.dev/e2e": "1"},
            replicas=2,
            resource_version=seen,
        )
    )
    assert apps_v1.read_namespaced_deployment("web", namespace).spec.replicas == 2
    involved = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "namespace": namespace,
    }
    body = event_body(involved, "Normal", "Scaled", "1 -> 2", datetime.now(UTC))
    created = asyncio.run(gateway.create_event(body))
    asyncio.run(gateway.patch_event(namespace, created["metadata"]["name"], {"count": 2}))
