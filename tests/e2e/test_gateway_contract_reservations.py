"""The node capacity writes of the gateway: the fake answers like the real API server.

The same calls against ``FakeCluster`` and ``KubeGateway`` (the ``backend`` fixture of
``test_gateway_contract``): a placeholder Deployment is created (a second create of its
name is ``AlreadyExists``), seen by the next snapshot, merge-patched, deleted (a delete of
what is gone is fine); a CapacityBuffer on a cluster that does not serve the API is
``NotFound`` and the snapshot says the API is not served.
"""

from __future__ import annotations

import pytest

from showtime.core.placeholders import Owner, capacity_buffer, placeholder_deployment
from tests.e2e.test_gateway_contract import Backend, backend, run  # noqa: F401 (fixture)
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e
TEMPLATE = {
    "metadata": {"labels": {"app": "api"}},
    "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "10m"}}}]},
}


def owner(on: Backend) -> Owner:
    on.add_trafficevent("launch")  # a real owner: the garbage collector keeps the rest
    uid = on.trafficevent("launch")["metadata"]["uid"]
    return Owner(on.namespace, "launch", str(uid))


def test_a_placeholder_deployment_is_created_patched_and_deleted(backend: Backend) -> None:  # noqa: F811 (the fixture)
    body = placeholder_deployment(owner(backend), "Deployment", "api", TEMPLATE, 2)
    name = body["metadata"]["name"]
    gateway, namespace = backend.gateway, backend.namespace
    answer = run(gateway.create_reservation("Deployment", namespace, body))
    assert answer["metadata"]["labels"]["showtime.dev/placeholder-for"] == "api"
    assert answer["spec"]["replicas"] == 2
    with pytest.raises(Exception, match="already exists") as taken:
        run(gateway.create_reservation("Deployment", namespace, body))
    assert type(taken.value).__name__ == "AlreadyExists"
    snap = run(gateway.snapshot())
    assert (namespace, "Deployment", name) in snap.workloads
    assert snap.capacity_buffers is None  # this cluster does not serve CapacityBuffers
    run(gateway.patch_reservation("Deployment", namespace, name, {"spec": {"replicas": 1}}))
    assert backend.workload(name)["spec"]["replicas"] == 1
    run(gateway.delete_reservation("Deployment", namespace, name))

    def gone() -> bool:
        try:
            backend.workload(name)
        except Exception:
            return True
        return False

    wait_for(gone, timeout=30, message="the placeholder Deployment deleted")
    run(gateway.delete_reservation("Deployment", namespace, name))  # gone already: fine


def test_a_capacity_buffer_where_none_is_served_is_not_found(backend: Backend) -> None:  # noqa: F811 (the fixture)
    body = capacity_buffer(owner(backend), "Deployment", "api", 3)
    with pytest.raises(Exception, match="404") as refused:
        run(backend.gateway.create_reservation("CapacityBuffer", backend.namespace, body))
    assert type(refused.value).__name__ == "NotFound"
