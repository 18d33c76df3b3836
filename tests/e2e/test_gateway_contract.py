"""One contract, two gateways: the fake cluster answers like the real API server.

Every test runs the same ``Gateway`` calls against ``FakeCluster`` (what the unit tests
use) and against ``KubeGateway`` on the local cluster, and checks the same observable
results: annotations and replicas in one merge patch, a null removes, a stale
resourceVersion is a ``Conflict``, a status patch merges and only a null removes a field,
HPA minReplicas, Events created then patched, ``NotFound`` for what does not exist. Reads
of the real cluster are direct GETs (not the gateway's caches), so they show the server's
own state.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import pytest
from kubernetes import client

from showtime.cluster.kube import (
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    AlreadyExists,
    Conflict,
    Gateway,
    KubeGateway,
    NotFound,
    WorkloadKey,
)
from showtime.cluster.requests import event_body
from tests.support.fakes import FakeCluster
from tests.support.kube import deployment
from tests.support.wait import wait_settled

pytestmark = pytest.mark.e2e
T = TypeVar("T")


def run(call: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(call)


class Backend(Protocol):
    """A gateway plus the means to set up objects and to read them back as they are."""

    namespace: str
    gateway: Gateway

    def add_deployment(self, name: str, replicas: int) -> None: ...
    def add_hpa(self, target: str, min_replicas: int, max_replicas: int) -> None: ...
    def add_trafficevent(self, name: str) -> None: ...
    def external_scale(self, name: str, replicas: int) -> None: ...
    def workload(self, name: str) -> dict[str, Any]: ...
    def hpa(self, name: str) -> dict[str, Any]: ...
    def trafficevent(self, name: str) -> dict[str, Any]: ...
    def kube_event(self, name: str) -> dict[str, Any]: ...

    def settled_version(self, read: Callable[[], dict[str, Any]]) -> str:
        """The object's resourceVersion once its controllers have stopped writing to it."""
        ...


class FakeBackend:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.cluster = FakeCluster()
        self.gateway: Gateway = self.cluster

    def add_deployment(self, name: str, replicas: int) -> None:
        self.cluster.add_deployment(name, replicas, namespace=self.namespace)

    def add_hpa(self, target: str, min_replicas: int, max_replicas: int) -> None:
        self.cluster.add_hpa(target, min_replicas, max_replicas, namespace=self.namespace)

    def add_trafficevent(self, name: str) -> None:
        self.cluster.add_event(name, {}, namespace=self.namespace)

    def external_scale(self, name: str, replicas: int) -> None:
        self.cluster.external_scale(name, replicas, namespace=self.namespace)

    def workload(self, name: str) -> dict[str, Any]:
        return self.cluster.workloads[(self.namespace, "Deployment", name)]

    def hpa(self, name: str) -> dict[str, Any]:
        return self.cluster.hpas[(self.namespace, "Deployment", name.removesuffix("-hpa"))]

    def trafficevent(self, name: str) -> dict[str, Any]:
        return self.cluster.events[(self.namespace, name)]

    def kube_event(self, name: str) -> dict[str, Any]:
        return self.cluster.kube_events[(self.namespace, name)]

    def settled_version(self, read: Callable[[], dict[str, Any]]) -> str:
        return str(read()["metadata"]["resourceVersion"])  # no controllers here


class KubeBackend:
    def __init__(self, namespace: str, api: client.ApiClient) -> None:
        self.namespace = namespace
        self.kube = KubeGateway(namespace, api=api)
        self.gateway: Gateway = self.kube
        self.apps: Any = client.AppsV1Api(api)
        self.core: Any = client.CoreV1Api(api)
        self.autoscaling: Any = client.AutoscalingV2Api(api)
        self.custom: Any = client.CustomObjectsApi(api)
        self.api = api

    def _read(self, call: Any, *args: Any) -> dict[str, Any]:
        """A GET, decoded as plain JSON (as the server sent it, not the client's models)."""
        obj: dict[str, Any] = json.loads(call(*args, _preload_content=False).data)
        return obj

    def add_deployment(self, name: str, replicas: int) -> None:
        self.apps.create_namespaced_deployment(self.namespace, deployment(name, replicas))

    def add_hpa(self, target: str, min_replicas: int, max_replicas: int) -> None:
        self.autoscaling.create_namespaced_horizontal_pod_autoscaler(
            self.namespace,
            {
                "metadata": {"name": f"{target}-hpa"},
                "spec": {
                    "minReplicas": min_replicas,
                    "maxReplicas": max_replicas,
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": target,
                    },
                },
            },
        )

    def add_trafficevent(self, name: str) -> None:
        self.custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "metadata": {"name": name},
                "spec": {
                    "schedule": {"start": "2030-01-01T12:00:00Z", "duration": "1h"},
                    "targets": [{"name": "api", "replicas": 3, "maxReplicas": 5}],
                },
            },
        )

    def external_scale(self, name: str, replicas: int) -> None:
        self.apps.patch_namespaced_deployment_scale(
            name, self.namespace, {"spec": {"replicas": replicas}}
        )

    def workload(self, name: str) -> dict[str, Any]:
        return self._read(self.apps.read_namespaced_deployment, name, self.namespace)

    def hpa(self, name: str) -> dict[str, Any]:
        return self._read(
            self.autoscaling.read_namespaced_horizontal_pod_autoscaler, name, self.namespace
        )

    def trafficevent(self, name: str) -> dict[str, Any]:
        return self._read(
            self.custom.get_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL, name
        )

    def kube_event(self, name: str) -> dict[str, Any]:
        return self._read(self.core.read_namespaced_event, name, self.namespace)

    def settled_version(self, read: Callable[[], dict[str, Any]]) -> str:
        # The Deployment and HPA controllers write status after a change: a precondition
        # taken before they are done would meet their write, not someone else's.
        return wait_settled(
            lambda: str(read()["metadata"]["resourceVersion"]),
            quiet=2,
            timeout=60,
            message="the object's controllers done writing",
        )


@pytest.fixture(params=["fake", "kube"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "fake":
        yield FakeBackend("contract")
        return
    request.getfixturevalue("crd")
    namespace: str = request.getfixturevalue("namespace")
    real = KubeBackend(namespace, request.getfixturevalue("kube_api"))
    try:
        yield real
    finally:
        real.kube.stop()


def key(backend: Backend, name: str = "api") -> WorkloadKey:
    return (backend.namespace, "Deployment", name)


def annotations_of(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("annotations") or {})


def test_annotations_and_replicas_change_in_one_merge_patch(backend: Backend) -> None:
    backend.add_deployment("api", 1)
    before = backend.workload("api")["metadata"]["resourceVersion"]
    answer = run(
        backend.gateway.patch_workload(
            key(backend), annotations={"showtime.dev/a": "1", "showtime.dev/b": "2"}, replicas=4
        )
    )
    stored = backend.workload("api")
    assert stored["metadata"]["resourceVersion"] != before
    assert answer["spec"]["replicas"] == 4
    assert stored["spec"]["replicas"] == 4
    assert {"showtime.dev/a": "1", "showtime.dev/b": "2"}.items() <= annotations_of(stored).items()
    # A precondition on the current version holds (once the controllers are done).
    run(
        backend.gateway.patch_workload(
            key(backend),
            annotations={"showtime.dev/a": None},
            resource_version=backend.settled_version(lambda: backend.workload("api")),
        )
    )
    after = annotations_of(backend.workload("api"))
    assert "showtime.dev/a" not in after
    assert after["showtime.dev/b"] == "2"
    assert backend.workload("api")["spec"]["replicas"] == 4


def test_a_stale_resource_version_is_a_conflict_and_changes_nothing(backend: Backend) -> None:
    backend.add_deployment("api", 1)
    seen = backend.settled_version(lambda: backend.workload("api"))
    backend.external_scale("api", 2)  # someone else wrote between our read and our write
    with pytest.raises(Conflict) as refused:
        run(
            backend.gateway.patch_workload(
                key(backend), annotations={"showtime.dev/a": "1"}, replicas=9, resource_version=seen
            )
        )
    assert refused.value.status == 409
    stored = backend.workload("api")
    assert stored["spec"]["replicas"] == 2
    assert "showtime.dev/a" not in annotations_of(stored)


def test_a_missing_workload_or_hpa_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound):
        run(backend.gateway.patch_workload(key(backend, "ghost"), replicas=1))
    with pytest.raises(NotFound):
        run(backend.gateway.patch_hpa(backend.namespace, "ghost", min_replicas=1))
    with pytest.raises(NotFound):
        run(backend.gateway.patch_status(backend.namespace, "ghost", {"phase": "Live"}))


def test_a_status_patch_merges_and_a_null_removes_a_field(backend: Backend) -> None:
    backend.add_trafficevent("speech")
    first = {
        "phase": "Scheduled",
        "nextStart": "2030-01-01T12:00:00Z",
        "prewarmAt": "2030-01-01T11:55:00Z",
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Scheduled"}],
    }
    run(backend.gateway.patch_status(backend.namespace, "speech", first))
    # A status without nextStart (what the operator built before nulls) leaves it behind.
    run(backend.gateway.patch_status(backend.namespace, "speech", {"phase": "Completed"}))
    status = backend.trafficevent("speech")["status"]
    assert status["phase"] == "Completed"
    assert status["nextStart"] == "2030-01-01T12:00:00Z"  # stale
    # Only a null removes it; lists replace whole; generation does not move.
    answer = run(
        backend.gateway.patch_status(
            backend.namespace,
            "speech",
            {
                "nextStart": None,
                "prewarmAt": None,
                "conditions": [{"type": "Ready", "status": "False"}],
            },
        )
    )
    stored = backend.trafficevent("speech")
    assert stored["status"] == {
        "phase": "Completed",
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "False"}],
    }
    assert answer["status"] == stored["status"]
    assert stored["metadata"]["generation"] == 1
    stale = stored["metadata"]["resourceVersion"]
    run(backend.gateway.patch_status(backend.namespace, "speech", {"phase": "Live"}))
    with pytest.raises(Conflict):
        run(
            backend.gateway.patch_status(
                backend.namespace, "speech", {"phase": "Scheduled"}, resource_version=stale
            )
        )
    assert backend.trafficevent("speech")["status"]["phase"] == "Live"


def test_hpa_min_replicas_with_a_precondition(backend: Backend) -> None:
    backend.add_deployment("api", 2)
    backend.add_hpa("api", 2, 8)
    seen = backend.settled_version(lambda: backend.hpa("api-hpa"))
    answer = run(
        backend.gateway.patch_hpa(
            backend.namespace, "api-hpa", min_replicas=5, resource_version=seen
        )
    )
    assert backend.hpa("api-hpa")["spec"]["minReplicas"] == 5
    assert answer["spec"]["minReplicas"] == 5
    assert backend.hpa("api-hpa")["spec"]["maxReplicas"] == 8
    with pytest.raises(Conflict):
        run(
            backend.gateway.patch_hpa(
                backend.namespace, "api-hpa", min_replicas=3, resource_version=seen
            )
        )
    assert backend.hpa("api-hpa")["spec"]["minReplicas"] == 5


def test_an_event_is_created_then_its_count_patched(backend: Backend) -> None:
    backend.add_trafficevent("speech")
    involved = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": "speech",
        "namespace": backend.namespace,
    }
    body = event_body(involved, "Warning", "MetricsUnavailable", "no answer", datetime.now(UTC))
    created = run(backend.gateway.create_event(body))
    name = created["metadata"]["name"]
    assert name.startswith("speech.")
    assert created["count"] == 1
    patched = run(
        backend.gateway.patch_event(
            backend.namespace, name, {"count": 2, "lastTimestamp": "2030-01-01T12:05:00Z"}
        )
    )
    assert patched["count"] == 2
    stored = backend.kube_event(name)
    assert (stored["count"], stored["reason"], stored["message"]) == (
        2,
        "MetricsUnavailable",
        "no answer",
    )
    assert stored["lastTimestamp"] == "2030-01-01T12:05:00Z"
    again = {**body, "metadata": {"name": name, "namespace": backend.namespace}}
    with pytest.raises(AlreadyExists):
        run(backend.gateway.create_event(again))


def test_a_snapshot_right_after_a_write_shows_it(backend: Backend) -> None:
    backend.add_deployment("api", 1)
    backend.add_hpa("api", 1, 4)
    run(backend.gateway.snapshot())  # the caches are filled (the real gateway: watches run)
    run(
        backend.gateway.patch_workload(
            key(backend), replicas=3, annotations={"showtime.dev/a": "1"}
        )
    )
    run(backend.gateway.patch_hpa(backend.namespace, "api-hpa", min_replicas=2))
    # No wait: the answers go into the cache (write-through). Locally the watch is about as
    # fast; tests/unit/test_kube_requests.py shows the write-through on its own.
    snap = run(backend.gateway.snapshot())
    # (Not the resourceVersion: the Deployment controller may have written status since.)
    seen = snap.workloads[key(backend)]
    assert seen["spec"]["replicas"] == 3
    assert annotations_of(seen)["showtime.dev/a"] == "1"
    assert snap.hpas[key(backend)]["spec"]["minReplicas"] == 2
