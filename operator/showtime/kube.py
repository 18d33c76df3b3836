"""The Kubernetes side of the shell: list what the reconciler needs, write what it decided.

``KubeGateway`` wraps the official ``kubernetes`` client. Reads are whole-collection LISTs
(served from the API server's watch cache, decoded as plain JSON rather than the client's
slow model classes), never a GET per object. Every call runs in a worker thread so the
operator's event loop never blocks. Decisions are not made here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from kubernetes import client, config

GROUP = "showtime.dev"
VERSION = "v1alpha1"
PLURAL = "trafficevents"
KIND = "TrafficEvent"
WorkloadKey = tuple[str, str, str]  # (namespace, kind, name)


@dataclass
class Snapshot:
    """What the cluster says at the start of a tick."""

    events: list[dict[str, Any]] = field(default_factory=list)
    workloads: dict[WorkloadKey, dict[str, Any]] = field(default_factory=dict)
    hpas: dict[WorkloadKey, dict[str, Any]] = field(default_factory=dict)  # by scale target
    pods: list[dict[str, Any]] | None = None  # None: not listed this tick


class Gateway(Protocol):
    async def snapshot(self, *, with_pods: bool) -> Snapshot: ...

    async def patch_annotations(
        self, key: WorkloadKey, annotations: Mapping[str, str | None]
    ) -> None: ...

    async def scale(self, key: WorkloadKey, replicas: int) -> None: ...

    async def set_hpa_min_replicas(self, namespace: str, name: str, value: int) -> None: ...

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None: ...

    async def post_event(
        self, involved: Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None: ...


def load_kube_config() -> None:
    """In-cluster credentials when running in a pod, else the current kubeconfig."""
    loader: Any = config  # the loaders are untyped
    try:
        loader.load_incluster_config()
    except loader.ConfigException:
        loader.load_kube_config()


class KubeGateway:
    def __init__(self, namespace: str | None = None, api: client.ApiClient | None = None) -> None:
        self._namespace = namespace
        self._api = api or client.ApiClient()
        # Typed as Any: raw JSON responses and dict bodies are used instead of the models.
        self._apps: Any = client.AppsV1Api(self._api)
        self._core: Any = client.CoreV1Api(self._api)
        self._hpa: Any = client.AutoscalingV2Api(self._api)
        self._custom: Any = client.CustomObjectsApi(self._api)

    # -- reads ---------------------------------------------------------------------------

    def _list(self, namespaced: Any, everywhere: Any, *args: Any) -> list[dict[str, Any]]:
        kwargs = {"_preload_content": False, "resource_version": "0"}
        if self._namespace:
            response = namespaced(*args, self._namespace, **kwargs)
        else:
            response = everywhere(*args, **kwargs)
        items: list[dict[str, Any]] = json.loads(response.data)["items"]
        return items

    def _list_events(self) -> list[dict[str, Any]]:
        if self._namespace:
            response = self._custom.list_namespaced_custom_object(
                GROUP, VERSION, self._namespace, PLURAL, _preload_content=False
            )
        else:
            response = self._custom.list_cluster_custom_object(
                GROUP, VERSION, PLURAL, _preload_content=False
            )
        items: list[dict[str, Any]] = json.loads(response.data)["items"]
        return items

    async def snapshot(self, *, with_pods: bool) -> Snapshot:
        apps, core, hpa = self._apps, self._core, self._hpa
        jobs = [
            asyncio.to_thread(self._list_events),
            asyncio.to_thread(
                self._list, apps.list_namespaced_deployment, apps.list_deployment_for_all_namespaces
            ),
            asyncio.to_thread(
                self._list,
                apps.list_namespaced_stateful_set,
                apps.list_stateful_set_for_all_namespaces,
            ),
            asyncio.to_thread(
                self._list,
                hpa.list_namespaced_horizontal_pod_autoscaler,
                hpa.list_horizontal_pod_autoscaler_for_all_namespaces,
            ),
        ]
        if with_pods:
            jobs.append(
                asyncio.to_thread(
                    self._list, core.list_namespaced_pod, core.list_pod_for_all_namespaces
                )
            )
        results = await asyncio.gather(*jobs)
        snap = Snapshot(events=results[0], pods=results[4] if with_pods else None)
        for kind, items in (("Deployment", results[1]), ("StatefulSet", results[2])):
            for item in items:
                meta = item["metadata"]
                snap.workloads[(meta["namespace"], kind, meta["name"])] = item
        for item in results[3]:
            ref = item.get("spec", {}).get("scaleTargetRef", {})
            if str(ref.get("apiVersion", "apps/v1")).startswith("apps/"):
                key = (item["metadata"]["namespace"], ref.get("kind", ""), ref.get("name", ""))
                snap.hpas[key] = item
        return snap

    # -- writes --------------------------------------------------------------------------

    async def patch_annotations(
        self, key: WorkloadKey, annotations: Mapping[str, str | None]
    ) -> None:
        namespace, kind, name = key
        body = {"metadata": {"annotations": dict(annotations)}}
        patch = (
            self._apps.patch_namespaced_deployment
            if kind == "Deployment"
            else self._apps.patch_namespaced_stateful_set
        )
        await asyncio.to_thread(patch, name, namespace, body)

    async def scale(self, key: WorkloadKey, replicas: int) -> None:
        namespace, kind, name = key
        patch = (
            self._apps.patch_namespaced_deployment_scale
            if kind == "Deployment"
            else self._apps.patch_namespaced_stateful_set_scale
        )
        await asyncio.to_thread(patch, name, namespace, {"spec": {"replicas": replicas}})

    async def set_hpa_min_replicas(self, namespace: str, name: str, value: int) -> None:
        await asyncio.to_thread(
            self._hpa.patch_namespaced_horizontal_pod_autoscaler,
            name,
            namespace,
            {"spec": {"minReplicas": value}},
        )

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        await asyncio.to_thread(
            self._custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": dict(status)},
        )

    async def post_event(
        self, involved: Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "metadata": {
                "generateName": f"{involved['name']}.",
                "namespace": involved["namespace"],
            },
            "involvedObject": dict(involved),
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "showtime"},
            "reportingComponent": "showtime.dev/operator",
            "reportingInstance": "showtime",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await asyncio.to_thread(self._core.create_namespaced_event, involved["namespace"], body)


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
