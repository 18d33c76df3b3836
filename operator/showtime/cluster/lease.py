"""The Lease API calls of leader election: read, create and replace one coordination.k8s.io/v1
Lease.

``LeaseApi`` is what the elector (``shell.leadership``) needs; ``KubeLeases`` is it on a
real API server, the tests' ``FakeCluster`` in memory. A replace carries the
resourceVersion that was read, so of two replicas that read the same expired Lease and
both try to take it, the API server lets exactly one through and refuses the other with
409 (``Conflict``): optimistic concurrency is what rules out two leaders. A create of a
Lease that meanwhile exists is refused with ``AlreadyExists``, likewise.

Calls run in a worker thread with a timeout, so the operator's event loop never blocks on a
slow API server. What does not live here: deciding who leads (``core.leadership``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Protocol

import urllib3
from kubernetes import client
from kubernetes.client import ApiException

from showtime.cluster.requests import GatewayError, refusal_from

LEASE_API_VERSION = "coordination.k8s.io/v1"


class LeaseApi(Protocol):
    """Get, create and replace one Lease; refusals are ``GatewayError``s (``NotFound``, ...)."""

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any]: ...

    async def create_lease(
        self, namespace: str, name: str, spec: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    async def replace_lease(
        self, namespace: str, name: str, spec: Mapping[str, Any], resource_version: str
    ) -> dict[str, Any]: ...


def lease_body(
    namespace: str, name: str, spec: Mapping[str, Any], resource_version: str | None = None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": LEASE_API_VERSION,
        "kind": "Lease",
        "metadata": metadata,
        "spec": dict(spec),
    }


class KubeLeases:
    """``LeaseApi`` on the API server of ``api`` (whose user agent names this replica)."""

    def __init__(self, api: client.ApiClient, timeout_seconds: float = 5.0) -> None:
        self._coordination: Any = client.CoordinationV1Api(api)
        self._timeout = timeout_seconds

    async def _call(self, method: Any, *args: Any) -> dict[str, Any]:
        def send() -> dict[str, Any]:
            try:
                response = method(*args, _preload_content=False, _request_timeout=self._timeout)
            except ApiException as exc:
                raise refusal_from(exc) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise GatewayError(0, f"no answer from the API server: {exc}") from exc
            answer: dict[str, Any] = json.loads(response.data)
            return answer

        return await asyncio.to_thread(send)

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any]:
        return await self._call(self._coordination.read_namespaced_lease, name, namespace)

    async def create_lease(
        self, namespace: str, name: str, spec: Mapping[str, Any]
    ) -> dict[str, Any]:
        body = lease_body(namespace, name, spec)
        return await self._call(self._coordination.create_namespaced_lease, namespace, body)

    async def replace_lease(
        self, namespace: str, name: str, spec: Mapping[str, Any], resource_version: str
    ) -> dict[str, Any]:
        body = lease_body(namespace, name, spec, resource_version)
        return await self._call(self._coordination.replace_namespaced_lease, name, namespace, body)
