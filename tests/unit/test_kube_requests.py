"""What ``KubeGateway`` puts on the wire, without a cluster: a recording HTTP pool answers.

The ``kubernetes`` client sends a dict body to a built-in resource as a *strategic* merge
patch unless told otherwise; every Showtime patch must be a JSON merge patch (RFC 7386),
carry its precondition in the body, and come back as a typed error when refused.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
import urllib3
from kubernetes import client

from showtime.cluster.kube import (
    AlreadyExists,
    Conflict,
    GatewayError,
    KubeGateway,
    NotFound,
)
from showtime.cluster.requests import MERGE_PATCH, event_body

T = TypeVar("T")


def run(call: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(call)


class RecordingPool:
    """Stands in for urllib3's pool manager: records requests, answers from a queue."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str | None, Any]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.broken = False

    def request(self, method: str, url: str, **kw: Any) -> urllib3.HTTPResponse:
        if self.broken:
            raise urllib3.exceptions.ProtocolError("connection reset")
        body = json.loads(kw["body"]) if kw.get("body") else None
        self.sent.append(
            (method, url.split("127.0.0.1:1", 1)[1], kw["headers"].get("Content-Type"), body)
        )
        status, answer = self.answers.pop(0) if self.answers else (200, {"metadata": {}})
        return urllib3.HTTPResponse(
            body=json.dumps(answer).encode(),
            status=status,
            headers={"Content-Type": "application/json"},
            preload_content=False,
        )


@pytest.fixture
def wire() -> tuple[KubeGateway, RecordingPool]:
    api = client.ApiClient(client.Configuration(host="http://127.0.0.1:1"))
    pool = RecordingPool()
    rest: Any = api.rest_client
    rest.pool_manager = pool
    return KubeGateway("live", api=api), pool


def status_answer(code: int, reason: str) -> tuple[int, dict[str, Any]]:
    return code, {
        "kind": "Status",
        "status": "Failure",
        "reason": reason,
        "message": "no",
        "code": code,
    }


def test_every_patch_is_a_json_merge_patch(wire: tuple[KubeGateway, RecordingPool]) -> None:
    gateway, pool = wire
    run(gateway.patch_workload(("live", "Deployment", "api"), annotations={"a": None}, replicas=3))
    run(gateway.patch_workload(("live", "StatefulSet", "db"), replicas=2))
    run(gateway.patch_hpa("live", "api-hpa", min_replicas=4))
    run(gateway.patch_status("live", "speech", {"nextStart": None}))
    run(gateway.patch_event("live", "speech.1", {"count": 2}))
    assert [(m, t) for m, _, t, _ in pool.sent] == [("PATCH", MERGE_PATCH)] * 5
    assert [path for _, path, _, _ in pool.sent] == [
        "/apis/apps/v1/namespaces/live/deployments/api",
        "/apis/apps/v1/namespaces/live/statefulsets/db",
        "/apis/autoscaling/v2/namespaces/live/horizontalpodautoscalers/api-hpa",
        "/apis/showtime.dev/v1alpha1/namespaces/live/trafficevents/speech/status",
        "/api/v1/namespaces/live/events/speech.1",
    ]
    # Nulls travel as nulls: that is what removes a field on the server.
    assert pool.sent[0][3] == {"metadata": {"annotations": {"a": None}}, "spec": {"replicas": 3}}
    assert pool.sent[3][3] == {"status": {"nextStart": None}}


def test_preconditions_travel_in_the_body(wire: tuple[KubeGateway, RecordingPool]) -> None:
    gateway, pool = wire
    run(gateway.patch_workload(("live", "Deployment", "api"), replicas=3, resource_version="41"))
    run(gateway.patch_hpa("live", "api-hpa", min_replicas=4, resource_version="42"))
    run(gateway.patch_status("live", "speech", {"phase": "Live"}, resource_version="43"))
    assert [body["metadata"]["resourceVersion"] for *_, body in pool.sent] == ["41", "42", "43"]


def test_refusals_are_typed(wire: tuple[KubeGateway, RecordingPool]) -> None:
    gateway, pool = wire
    key = ("live", "Deployment", "api")
    pool.answers = [
        status_answer(409, "Conflict"),
        status_answer(404, "NotFound"),
        status_answer(409, "AlreadyExists"),
        status_answer(422, "Invalid"),
    ]
    with pytest.raises(Conflict) as conflict:
        run(gateway.patch_workload(key, replicas=3, resource_version="1"))
    assert not isinstance(conflict.value, AlreadyExists)
    with pytest.raises(NotFound):
        run(gateway.patch_workload(key, replicas=3))
    involved = {"name": "speech", "namespace": "live"}
    with pytest.raises(AlreadyExists):
        run(
            gateway.create_event(
                event_body(involved, "Normal", "Live", "on air", datetime.now(UTC))
            )
        )
    with pytest.raises(GatewayError) as invalid:
        run(gateway.patch_status("live", "speech", {"phase": "Nope"}))
    assert (invalid.value.status, invalid.value.reason) == (422, "Invalid")


def test_the_answer_goes_into_the_cache(wire: tuple[KubeGateway, RecordingPool]) -> None:
    gateway, pool = wire
    answer = {
        "metadata": {"name": "api", "namespace": "live", "resourceVersion": "7"},
        "spec": {"replicas": 3},
    }
    pool.answers = [(200, answer)]
    assert run(gateway.patch_workload(("live", "Deployment", "api"), replicas=3)) == answer
    cached = gateway._deployments.get("live", "api")  # the informer, not started: no watch
    assert cached is not None
    assert cached["metadata"]["resourceVersion"] == "7"


def test_no_answer_is_a_gateway_error_with_status_0(
    wire: tuple[KubeGateway, RecordingPool],
) -> None:
    gateway, pool = wire
    pool.broken = True
    with pytest.raises(GatewayError) as lost:
        run(gateway.patch_workload(("live", "Deployment", "api"), replicas=3))
    assert lost.value.status == 0


class SlowPool(RecordingPool):
    """Each request takes a while; records how many were in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most = 0
        self._lock = threading.Lock()

    def request(self, method: str, url: str, **kw: Any) -> urllib3.HTTPResponse:
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(0.3)
        with self._lock:
            self.in_flight -= 1
        return super().request(method, url, **kw)


def test_as_many_writes_are_in_flight_as_the_write_concurrency_allows() -> None:
    """SHOWTIME_WRITE_CONCURRENCY=16 means 16 writes waiting on the API server at once,
    on a 2-core machine too (asyncio's default executor would allow 6 there)."""
    api = client.ApiClient(client.Configuration(host="http://127.0.0.1:1"))
    pool = SlowPool()
    rest: Any = api.rest_client
    rest.pool_manager = pool
    gateway = KubeGateway("live", api=api, write_threads=16)

    async def sixteen_writes() -> None:
        await asyncio.gather(
            *(gateway.patch_status("live", f"event-{i}", {"phase": "Live"}) for i in range(16))
        )

    run(sixteen_writes())
    assert len(pool.sent) == 16
    assert pool.most == 16
