"""The Kubernetes side of the shell: read what the reconciler needs, write what it decided.

``KubeGateway`` wraps the official ``kubernetes`` client. Reads come from watch-fed caches
(``informer``): one LIST per collection at start, then only changes, never a GET per
object; objects stay plain JSON rather than the client's slow model classes. Every call
runs in a worker thread so the operator's event loop never blocks. Decisions are not made
here.

Writes are JSON merge patches (RFC 7386, ``mergepatch``): a ``None`` value removes a field
on the server. A write that depends on what was read carries that object's resourceVersion;
the server then refuses it with 409 (``Conflict``) if the object changed in between. A
refused write raises a ``GatewayError``; the object the server answered goes into the cache
at once (write-through). Every write sent is counted in ``showtime_api_writes_total`` under
this replica's identity, which the client's user agent also carries
(``showtime/<version> (<identity>)``), so an API server's audit log tells replicas apart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final, Protocol

import urllib3
from kubernetes import client, config
from kubernetes.client import ApiException

from showtime import telemetry
from showtime.cluster.capacity import CapacityObjects
from showtime.cluster.informer import Informer, Transform, wait_synced
from showtime.cluster.requests import (
    MERGE_PATCH,
    AlreadyExists,
    Conflict,
    GatewayError,
    NotFound,
    hpa_patch,
    refusal_from,
    status_patch,
    workload_patch,
)
from showtime.core.podstartup import slim_pod
from showtime.core.workloadcache import slim_workload

GROUP = "showtime.dev"
VERSION = "v1alpha1"
PLURAL = "trafficevents"
KIND = "TrafficEvent"
WorkloadKey = tuple[str, str, str]  # (namespace, kind, name)
# Pods: only what lead-time learning reads, mostly unique strings, never written by Showtime.
POD_CACHE: Final[dict[str, Any]] = {"transform": slim_pod, "intern": False, "written": False}
DEFAULT_WRITE_THREADS = 16  # writes in flight at once (SHOWTIME_WRITE_CONCURRENCY)
WRITE_TIMEOUT_SECONDS = 30  # a write that hangs longer fails (GatewayError, status 0)
__all__ = ["AlreadyExists", "Conflict", "Gateway", "GatewayError", "KubeGateway", "NotFound"]


@dataclass
class Snapshot:
    """What the cluster says at the start of a tick."""

    events: list[dict[str, Any]] = field(default_factory=list)
    workloads: dict[WorkloadKey, dict[str, Any]] = field(default_factory=dict)
    hpas: dict[WorkloadKey, dict[str, Any]] = field(default_factory=dict)  # by scale target
    pods: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)  # capacity.slim_node
    capacity_buffers: list[dict[str, Any]] | None = None  # None: not served here


class Gateway(Protocol):
    """What the reconciler reads and writes. Writes return the object the server answered."""

    async def snapshot(self) -> Snapshot: ...

    async def patch_workload(
        self,
        key: WorkloadKey,
        *,
        annotations: Mapping[str, str | None] | None = None,
        replicas: int | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]: ...

    async def patch_hpa(
        self,
        namespace: str,
        name: str,
        *,
        min_replicas: int | None,  # None removes the field
        resource_version: str | None = None,
    ) -> dict[str, Any]: ...

    async def patch_status(
        self,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]: ...

    async def create_event(self, body: Mapping[str, Any]) -> dict[str, Any]: ...

    # Node capacity reservations: kind Deployment (placeholders) or CapacityBuffer.
    async def create_reservation(
        self, kind: str, namespace: str, body: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    async def patch_reservation(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    async def delete_reservation(self, kind: str, namespace: str, name: str) -> None: ...

    async def patch_event(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]: ...


def api_client(identity: str = "") -> client.ApiClient:
    """A client for the loaded configuration whose user agent names Showtime and ``identity``."""
    configuration: Any = client.Configuration.get_default_copy()
    # Five watches hold a connection each; writes run concurrently beside them.
    configuration.connection_pool_maxsize = 64
    api = client.ApiClient(configuration)
    try:
        release = version("showtime")
    except PackageNotFoundError:
        release = "unknown"
    api.user_agent = f"showtime/{release} ({identity})" if identity else f"showtime/{release}"
    return api


def load_kube_config() -> None:
    """In-cluster credentials when running in a pod, else the current kubeconfig."""
    loader: Any = config  # the loaders are untyped
    try:
        loader.load_incluster_config()
    except loader.ConfigException:
        loader.load_kube_config()


class KubeGateway:
    """The ``Gateway`` on a real API server, reading through watch-fed ``Informer`` caches."""

    def __init__(
        self,
        namespace: str | None = None,
        api: client.ApiClient | None = None,
        sync_timeout: float = 120.0,
        identity: str = "",
        write_threads: int = DEFAULT_WRITE_THREADS,
    ) -> None:
        self._namespace = namespace
        # Writes wait on the API server in threads of their own: asyncio's default executor
        # has min(32, CPUs + 4) threads, 6 on a 2-core machine, whatever the write concurrency.
        self._writers = ThreadPoolExecutor(max(1, write_threads), thread_name_prefix="kube-write")
        self._identity = identity  # the label of this replica's write counts
        self._api = api if api is not None else api_client(identity)
        self._sync_timeout = sync_timeout
        # Typed as Any: raw JSON responses and dict bodies are used instead of the models.
        self._apps: Any = client.AppsV1Api(self._api)
        self._core: Any = client.CoreV1Api(self._api)
        self._hpa: Any = client.AutoscalingV2Api(self._api)
        self._custom: Any = client.CustomObjectsApi(self._api)
        apps, core, hpa, custom = self._apps, self._core, self._hpa, self._custom
        if namespace:
            events = Informer(
                "trafficevents",
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
            )
        else:
            events = Informer(
                "trafficevents", custom.list_cluster_custom_object, GROUP, VERSION, PLURAL
            )
        self._events = events
        # Workloads are many too: cache what decisions and placeholders read (workloadcache).
        self._deployments = self._informer(
            "deployments",
            apps.list_namespaced_deployment,
            apps.list_deployment_for_all_namespaces,
            transform=slim_workload,
        )
        self._statefulsets = self._informer(
            "statefulsets",
            apps.list_namespaced_stateful_set,
            apps.list_stateful_set_for_all_namespaces,
            transform=slim_workload,
        )
        self._hpas = self._informer(
            "horizontalpodautoscalers",
            hpa.list_namespaced_horizontal_pod_autoscaler,
            hpa.list_horizontal_pod_autoscaler_for_all_namespaces,
        )
        # Pods are many and only read for lead-time learning: cache the fields it reads.
        self._pods = (
            Informer("pods", core.list_namespaced_pod, namespace, **POD_CACHE)
            if namespace
            else Informer("pods", core.list_pod_for_all_namespaces, **POD_CACHE)
        )
        self._all = [self._events, self._deployments, self._statefulsets, self._hpas, self._pods]
        # Nodes and CapacityBuffers: optional (without them, defaults and placeholders).
        self._capacity = CapacityObjects(self._api, namespace, self._send)
        self._capacity.deployments = self._deployments
        self._started = False

    def _informer(
        self, name: str, namespaced: Any, everywhere: Any, transform: Transform | None = None
    ) -> Informer:
        if self._namespace:
            return Informer(name, namespaced, self._namespace, transform=transform)
        return Informer(name, everywhere, transform=transform)

    def _by_kind(self, kind: str) -> Informer:
        return self._deployments if kind == "Deployment" else self._statefulsets

    # -- reads ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the watches and wait for their first lists; raise if they do not arrive."""
        if not self._started:
            for informer in self._all:
                informer.start()
            self._capacity.nodes.start()  # not waited for: nodes may not be listable
            self._started = True
        if not await asyncio.to_thread(wait_synced, self._all, self._sync_timeout):
            missing = [i.name for i in self._all if not i.synced.is_set()]
            raise RuntimeError(f"could not list {', '.join(missing)} from the API server")

    def stop(self) -> None:
        for informer in self._all:
            informer.stop()
        self._capacity.stop()
        self._writers.shutdown(wait=False)

    async def snapshot(self) -> Snapshot:
        await self.start()
        snap = Snapshot(
            events=self._events.items(),
            pods=self._pods.items(),
            nodes=self._capacity.nodes.items(),
            capacity_buffers=await self._capacity.buffers(),
        )
        for kind, informer in (
            ("Deployment", self._deployments),
            ("StatefulSet", self._statefulsets),
        ):
            for item in informer.items():
                meta = item["metadata"]
                snap.workloads[(meta["namespace"], kind, meta["name"])] = item
        for item in self._hpas.items():
            ref = item.get("spec", {}).get("scaleTargetRef", {})
            if str(ref.get("apiVersion", "apps/v1")).startswith("apps/"):
                key = (item["metadata"]["namespace"], ref.get("kind", ""), ref.get("name", ""))
                snap.hpas[key] = item
        return snap

    # -- writes (each answer goes into the cache at once) ---------------------------------

    async def _send(
        self, call: Any, *args: Any, kind: str, verb: str, patch: bool = True
    ) -> dict[str, Any]:
        """One request in a worker thread; the decoded answer, or a typed ``GatewayError``."""
        telemetry.API_WRITES.labels(identity=self._identity, kind=kind, verb=verb).inc()

        def send() -> dict[str, Any]:
            options: dict[str, Any] = {
                "_preload_content": False,
                "_request_timeout": WRITE_TIMEOUT_SECONDS,
            }
            if patch:
                options["_content_type"] = MERGE_PATCH
            try:
                response = call(*args, **options)
            except ApiException as exc:
                raise refusal_from(exc) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                # No answer: the write may or may not have happened; the next read tells.
                raise GatewayError(0, f"no answer from the API server: {exc}") from exc
            answer: dict[str, Any] = json.loads(response.data)
            return answer

        return await asyncio.get_running_loop().run_in_executor(self._writers, send)

    async def patch_workload(
        self,
        key: WorkloadKey,
        *,
        annotations: Mapping[str, str | None] | None = None,
        replicas: int | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """One merge patch of a Deployment or StatefulSet: annotations and replicas together."""
        namespace, kind, name = key
        patch = (
            self._apps.patch_namespaced_deployment
            if kind == "Deployment"
            else self._apps.patch_namespaced_stateful_set
        )
        body = workload_patch(annotations, replicas, resource_version)
        answer = await self._send(patch, name, namespace, body, kind=kind, verb="patch")
        self._by_kind(kind).upsert(answer)
        return answer

    async def patch_hpa(
        self,
        namespace: str,
        name: str,
        *,
        min_replicas: int | None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        answer = await self._send(
            self._hpa.patch_namespaced_horizontal_pod_autoscaler,
            name,
            namespace,
            hpa_patch(min_replicas, resource_version),
            kind="HorizontalPodAutoscaler",
            verb="patch",
        )
        self._hpas.upsert(answer)
        return answer

    async def patch_status(
        self,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch the status subresource: a ``None`` value removes that field."""
        answer = await self._send(
            self._custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            status_patch(status, resource_version),
            kind=KIND,
            verb="status",
        )
        self._events.upsert(answer)
        return answer

    async def create_event(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a core/v1 Event (namespace from its metadata)."""
        namespace = str(body["metadata"]["namespace"])
        return await self._send(
            self._core.create_namespaced_event,
            namespace,
            dict(body),
            kind="Event",
            verb="create",
            patch=False,
        )

    async def patch_event(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch a core/v1 Event, e.g. ``count`` and ``lastTimestamp`` of a repeat."""
        return await self._send(
            self._core.patch_namespaced_event,
            name,
            namespace,
            dict(patch),
            kind="Event",
            verb="patch",
        )

    async def create_reservation(
        self, kind: str, namespace: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Create a placeholder Deployment or a CapacityBuffer."""
        return await self._capacity.create(kind, namespace, body)

    async def patch_reservation(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        return await self._capacity.patch(kind, namespace, name, patch)

    async def delete_reservation(self, kind: str, namespace: str, name: str) -> None:
        """Delete one (its pods in the background); one already gone is fine."""
        await self._capacity.delete(kind, namespace, name)


def involved_object(obj: Mapping[str, Any], *, kind: str, api_version: str) -> dict[str, Any]:
    meta = obj.get("metadata", {})
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
