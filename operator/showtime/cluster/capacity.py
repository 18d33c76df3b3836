"""Node capacity on the API server: nodes, CapacityBuffers, and writing reservations.

``CapacityObjects`` is the part of ``KubeGateway`` that node capacity pre-warm needs:

* a watch-fed cache of the nodes, cut down to what learning the node lead time reads
  (``slim_node``: name, creation, the Ready condition, allocatable);
* whether the cluster serves ``autoscaling.x-k8s.io/v1beta1`` CapacityBuffers, found by
  API discovery at start and again every ``DISCOVERY_SECONDS`` (not every tick), and, while
  it does, a watch-fed cache of them;
* create, merge-patch and delete of placeholder Deployments and CapacityBuffers (a delete
  of what is already gone is not an error).

Placeholder Deployments are read through the gateway's Deployment cache like any other.
Nothing is decided here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from kubernetes import client
from kubernetes.client import ApiException

from showtime.cluster.informer import Informer, wait_synced
from showtime.cluster.requests import NotFound
from showtime.core.placeholders import (
    BUFFER_GROUP,
    BUFFER_KIND,
    BUFFER_PLURAL,
    BUFFER_VERSION,
    DEPLOYMENT,
)

log = structlog.get_logger("showtime.cluster.capacity")
DISCOVERY_SECONDS = 300.0  # how often to ask again whether CapacityBuffers are served
BUFFER_SYNC_SECONDS = 30.0
# send(call, *args, kind=..., verb=..., patch=...): the gateway's one way of sending a write.
Send = Callable[..., Awaitable[dict[str, Any]]]


def slim_node(node: Mapping[str, Any]) -> dict[str, Any]:
    """A Node cut down to name, creationTimestamp, its Ready condition and allocatable."""
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    ready = [
        {
            "type": "Ready",
            "status": c.get("status"),
            "lastTransitionTime": c.get("lastTransitionTime"),
        }
        for c in status.get("conditions") or []
        if c.get("type") == "Ready"
    ]
    return {
        "metadata": {
            "name": meta.get("name"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "status": {"conditions": ready, "allocatable": dict(status.get("allocatable") or {})},
    }


class CapacityObjects:
    def __init__(self, api: client.ApiClient, namespace: str | None, send: Send) -> None:
        self._api = api
        self._namespace = namespace
        self._send = send
        self._core: Any = client.CoreV1Api(api)
        self._apps: Any = client.AppsV1Api(api)
        self._custom: Any = client.CustomObjectsApi(api)
        self.nodes = Informer("nodes", self._core.list_node, transform=slim_node)
        self._buffers: Informer | None = None
        self._checked_at: float | None = None

    # -- reads -----------------------------------------------------------------------------

    async def buffers(self) -> list[dict[str, Any]] | None:
        """The CapacityBuffers, or None when the cluster does not serve them."""
        now = time.monotonic()
        if self._checked_at is None or now - self._checked_at >= DISCOVERY_SECONDS:
            self._checked_at = now
            served = await asyncio.to_thread(self._served)
            await self._follow(served)
        if self._buffers is None or not self._buffers.synced.is_set():
            return None
        return self._buffers.items()

    def _served(self) -> bool:
        """API discovery: is ``capacitybuffers`` in autoscaling.x-k8s.io/v1beta1?"""
        path = f"/apis/{BUFFER_GROUP}/{BUFFER_VERSION}"
        try:
            response = self._custom.get_api_resources(
                BUFFER_GROUP, BUFFER_VERSION, _preload_content=False, _request_timeout=10
            )
        except ApiException as exc:
            if exc.status != 404:
                log.warning("API discovery failed", group=path, error=str(exc)[:200])
            return False
        except Exception as exc:  # no answer: ask again next time
            log.warning("API discovery failed", group=path, error=str(exc)[:200])
            return False
        body = json.loads(response.data)
        return any(r.get("name") == BUFFER_PLURAL for r in body.get("resources") or [])

    async def _follow(self, served: bool) -> None:
        if served and self._buffers is None:
            custom = self._custom
            if self._namespace:
                args: tuple[Any, ...] = (BUFFER_GROUP, BUFFER_VERSION, self._namespace)
                informer = Informer(
                    "capacitybuffers", custom.list_namespaced_custom_object, *args, BUFFER_PLURAL
                )
            else:
                informer = Informer(
                    "capacitybuffers",
                    custom.list_cluster_custom_object,
                    BUFFER_GROUP,
                    BUFFER_VERSION,
                    BUFFER_PLURAL,
                )
            informer.start()
            self._buffers = informer
            await asyncio.to_thread(wait_synced, [informer], BUFFER_SYNC_SECONDS)
            log.info("CapacityBuffers are served: node capacity can use them")
        elif not served and self._buffers is not None:
            self._buffers.stop()
            self._buffers = None
            log.info("CapacityBuffers are no longer served")

    def stop(self) -> None:
        self.nodes.stop()
        if self._buffers is not None:
            self._buffers.stop()

    # -- writes ----------------------------------------------------------------------------

    async def create(self, kind: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        args: tuple[Any, ...]
        if kind == DEPLOYMENT:
            call, args = self._apps.create_namespaced_deployment, (namespace, dict(body))
        else:
            call = self._custom.create_namespaced_custom_object
            args = (BUFFER_GROUP, BUFFER_VERSION, namespace, BUFFER_PLURAL, dict(body))
        answer = await self._send(call, *args, kind=kind, verb="create", patch=False)
        self._cache(kind, answer)
        return answer

    async def patch(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        args: tuple[Any, ...]
        if kind == DEPLOYMENT:
            call, args = self._apps.patch_namespaced_deployment, (name, namespace, dict(patch))
        else:
            call = self._custom.patch_namespaced_custom_object
            args = (BUFFER_GROUP, BUFFER_VERSION, namespace, BUFFER_PLURAL, name, dict(patch))
        answer = await self._send(call, *args, kind=kind, verb="patch", patch=True)
        self._cache(kind, answer)
        return answer

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete (the pods go with it, in the background); already gone is fine."""
        options = {"propagationPolicy": "Background"}
        args: tuple[Any, ...]
        if kind == DEPLOYMENT:
            call, args = self._apps.delete_namespaced_deployment, (name, namespace)
        else:
            call = self._custom.delete_namespaced_custom_object
            args = (BUFFER_GROUP, BUFFER_VERSION, namespace, BUFFER_PLURAL, name)
        with contextlib.suppress(NotFound):
            await self._send(
                functools.partial(call, body=options), *args, kind=kind, verb="delete", patch=False
            )

    deployments: Informer | None = None  # set by the gateway: its Deployment cache

    def _cache(self, kind: str, answer: dict[str, Any]) -> None:
        if kind == BUFFER_KIND and self._buffers is not None:
            self._buffers.upsert(answer)
        elif kind == DEPLOYMENT and self.deployments is not None:
            self.deployments.upsert(answer)
