"""In-memory stand-ins for the operator's I/O, for unit tests of the reconciler.

``FakeCluster`` implements the ``Gateway`` over plain dicts and behaves like the API server
where it matters: every object has a uid and a resourceVersion (one counter for the whole
cluster, bumped on every change, never on a no-op); generation rises when a spec changes;
writes are JSON merge patches (``None`` removes a field, lists replace whole); a write whose
resourceVersion is stale is refused with ``Conflict``, a missing object with ``NotFound``;
the status subresource changes only the status. Placeholder Deployments live with the
workloads, CapacityBuffers in ``capacity_buffers`` (None: the API is not served, and
creating one is refused with 404); a create of an existing name is ``AlreadyExists``.
Every write is recorded in ``writes``;
``external_*`` methods are "someone else" changing the cluster between ticks. Leases
(``cluster.lease.LeaseApi``) live beside, with their writes in ``lease_writes``: a replace
with a stale resourceVersion is refused with ``Conflict``, a create of an existing one with
``AlreadyExists``; a read yields to the event loop, so two electors' steps interleave;
``lease_outage`` makes every Lease call fail as if the API server did not answer.
``FakeMetrics`` answers metric queries from a table. Unit tests only: e2e tests use the
real API server and Prometheus (tests/e2e/test_gateway_contract.py holds the fake to it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from showtime.cluster.kube import KIND, Snapshot, WorkloadKey
from showtime.cluster.mergepatch import apply_merge_patch
from showtime.cluster.requests import (
    AlreadyExists,
    Conflict,
    GatewayError,
    NotFound,
    hpa_patch,
    status_patch,
    workload_patch,
)
from showtime.sources.metricsource import MetricResult

HPA_KIND = "HorizontalPodAutoscaler"


class Write(NamedTuple):
    """One write the fake received, accepted or not (``answer`` is the HTTP code)."""

    kind: str  # Deployment, StatefulSet, HorizontalPodAutoscaler, TrafficEvent, Event
    verb: str  # patch, patch-status, create
    key: tuple[str, str]  # (namespace, name)
    body: Any
    answer: int = 200


def _copy(obj: Any) -> Any:
    """A JSON round trip, like decoding a response (and faster than deepcopy)."""
    return json.loads(json.dumps(obj))


def _replace(stored: dict[str, Any], new: dict[str, Any]) -> None:
    """Change ``stored`` in place, so tests holding a reference see the change."""
    stored.clear()
    stored.update(new)


@dataclass
class FakeCluster:
    events: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    workloads: dict[WorkloadKey, dict[str, Any]] = field(default_factory=dict)
    hpas: dict[WorkloadKey, dict[str, Any]] = field(default_factory=dict)  # by scale target
    pods: list[dict[str, Any]] = field(default_factory=list)
    kube_events: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    capacity_buffers: dict[tuple[str, str], dict[str, Any]] | None = None
    leases: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    lease_writes: list[Write] = field(default_factory=list)
    lease_outage: bool = False
    writes: list[Write] = field(default_factory=list)
    posted: list[tuple[str, str, str, str]] = field(default_factory=list)  # name, type, reason, msg
    last_version: int = 0
    _names: int = 0
    # What the last snapshot handed out, by JSON text: an informer's cache replaces an object
    # only when it changes, so an unchanged one is the very same object tick after tick.
    _handed_out: dict[str, Any] = field(default_factory=dict)

    # -- the API server's bookkeeping --------------------------------------------------------

    def _next_version(self) -> str:
        self.last_version += 1
        return str(self.last_version)

    def _adopt(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Give an object put in by hand what the API server would have given it."""
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{meta.get('namespace')}-{meta.get('name')}")
        meta.setdefault("generation", 1)
        if "resourceVersion" not in meta:
            meta["resourceVersion"] = self._next_version()
        return obj

    def _adopt_all(self) -> None:
        for obj in [*self.events.values(), *self.workloads.values(), *self.hpas.values()]:
            self._adopt(obj)

    def _patch(
        self,
        kind: str,
        key: tuple[str, str],
        stored: dict[str, Any] | None,
        body: Mapping[str, Any],
        *,
        status_only: bool = False,
    ) -> dict[str, Any]:
        """Merge-patch ``stored`` like the API server does; the answer, or a refusal."""
        verb = "patch-status" if status_only else "patch"
        if stored is None:
            self.writes.append(Write(kind, verb, key, _copy(body), 404))
            raise NotFound(404, f'{kind} "{key[1]}" not found', "NotFound")
        self._adopt(stored)
        meta = stored["metadata"]
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != meta["resourceVersion"]:
            self.writes.append(Write(kind, verb, key, _copy(body), 409))
            raise Conflict(
                409,
                f'Operation cannot be fulfilled on {kind} "{key[1]}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                "Conflict",
            )
        self.writes.append(Write(kind, verb, key, _copy(body)))
        patch = _copy(body)
        patch.get("metadata", {}).pop("resourceVersion", None)
        if status_only:  # the status subresource ignores everything but the status
            patch = {"status": patch["status"]} if "status" in patch else {}
        elif kind == KIND:  # ... and the main resource of a TrafficEvent ignores the status
            patch.pop("status", None)
        for ignored in ("uid", "generation", "name", "namespace"):
            patch.get("metadata", {}).pop(ignored, None)
        new = apply_merge_patch(stored, patch)
        if new.get("metadata", {}).get("annotations") == {}:
            del new["metadata"]["annotations"]  # the server omits an empty map
        if new != stored:
            if new.get("spec") != stored.get("spec"):
                new["metadata"]["generation"] = int(meta.get("generation") or 1) + 1
            new["metadata"]["resourceVersion"] = self._next_version()
            _replace(stored, new)
        answer: dict[str, Any] = _copy(stored)
        return answer

    def _hpa(self, namespace: str, name: str) -> dict[str, Any] | None:
        for hpa in self.hpas.values():
            meta = hpa.get("metadata", {})
            if meta.get("namespace") == namespace and meta.get("name") == name:
                return hpa
        return None

    def _change(self, obj: dict[str, Any], patch: Mapping[str, Any]) -> None:
        """Someone else merge-patches ``obj`` (spec changes raise the generation)."""
        self._adopt(obj)
        new = apply_merge_patch(obj, patch)
        if new.get("spec") != obj.get("spec"):
            new["metadata"]["generation"] = int(obj["metadata"]["generation"]) + 1
        new["metadata"]["resourceVersion"] = self._next_version()
        _replace(obj, new)

    # -- setting up and looking (tests) --------------------------------------------------------

    def add_event(self, name: str, spec: dict[str, Any], namespace: str = "live") -> None:
        self.events[(namespace, name)] = self._adopt(
            {
                "apiVersion": "showtime.dev/v1alpha1",
                "kind": KIND,
                "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
                "spec": spec,
            }
        )

    def add_deployment(
        self, name: str, replicas: int, namespace: str = "live", kind: str = "Deployment"
    ) -> None:
        self.workloads[(namespace, kind, name)] = self._adopt(
            {
                "metadata": {"name": name, "namespace": namespace, "annotations": {}},
                "spec": {"replicas": replicas},
                "status": {"readyReplicas": replicas},
            }
        )

    def add_hpa(
        self,
        target: str,
        min_replicas: int,
        max_replicas: int,
        *,
        name: str | None = None,
        namespace: str = "live",
        kind: str = "Deployment",
    ) -> None:
        """An HPA (named ``<target>-hpa`` unless told) scaling workload ``target``."""
        self.hpas[(namespace, kind, target)] = self._adopt(
            {
                "metadata": {"name": name or f"{target}-hpa", "namespace": namespace},
                "spec": {
                    "minReplicas": min_replicas,
                    "maxReplicas": max_replicas,
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
                },
            }
        )

    def replicas(self, name: str, namespace: str = "live", kind: str = "Deployment") -> int:
        return int(self.workloads[(namespace, kind, name)]["spec"]["replicas"])

    def annotations(
        self, name: str, namespace: str = "live", kind: str = "Deployment"
    ) -> dict[str, str]:
        meta = self.workloads[(namespace, kind, name)]["metadata"]
        return dict(meta.get("annotations") or {})

    def status(self, name: str, namespace: str = "live") -> dict[str, Any]:
        return dict(self.events[(namespace, name)].get("status") or {})

    def version(self, key: WorkloadKey) -> str:
        """The workload's current resourceVersion."""
        return str(self._adopt(self.workloads[key])["metadata"]["resourceVersion"])

    def make_ready(self) -> None:
        """The workloads' pods all become Ready (a status change: a new resourceVersion)."""
        for workload in self.workloads.values():
            if workload["status"].get("readyReplicas") != workload["spec"]["replicas"]:
                self._change(workload, {"status": {"readyReplicas": workload["spec"]["replicas"]}})

    def external_scale(
        self, name: str, replicas: int, namespace: str = "live", kind: str = "Deployment"
    ) -> None:
        """Someone else (a person, kubectl, a controller) sets the workload's replicas."""
        self._change(self.workloads[(namespace, kind, name)], {"spec": {"replicas": replicas}})

    def external_annotate(
        self,
        name: str,
        annotations: Mapping[str, str | None],
        namespace: str = "live",
        kind: str = "Deployment",
    ) -> None:
        self._change(
            self.workloads[(namespace, kind, name)],
            {"metadata": {"annotations": dict(annotations)}},
        )

    def external_edit_event(
        self, name: str, spec_patch: Mapping[str, Any], namespace: str = "live"
    ) -> None:
        """Someone edits a TrafficEvent's spec (merge patch): generation rises."""
        self._change(self.events[(namespace, name)], {"spec": dict(spec_patch)})

    def delete_hpa(self, target: str, namespace: str = "live", kind: str = "Deployment") -> None:
        del self.hpas[(namespace, kind, target)]

    def delete_workload(self, name: str, namespace: str = "live", kind: str = "Deployment") -> None:
        del self.workloads[(namespace, kind, name)]

    def event_records(self, involved: str | None = None) -> list[dict[str, Any]]:
        """The core/v1 Events created (as stored, with their count), optionally about one object."""
        return [
            e
            for e in self.kube_events.values()
            if involved is None or e.get("involvedObject", {}).get("name") == involved
        ]

    # -- Gateway: reads --------------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        self._adopt_all()
        handed_out, self._handed_out = self._handed_out, {}
        return Snapshot(
            events=[self._as_cached(v, handed_out) for v in self.events.values()],
            workloads={k: self._as_cached(v, handed_out) for k, v in self.workloads.items()},
            hpas={k: self._as_cached(v, handed_out) for k, v in self.hpas.items()},
            pods=_copy(self.pods),
            nodes=_copy(self.nodes),
            capacity_buffers=(
                None
                if self.capacity_buffers is None
                else _copy(list(self.capacity_buffers.values()))
            ),
        )

    def _as_cached(self, obj: dict[str, Any], handed_out: dict[str, Any]) -> Any:
        """A copy of ``obj``; the same copy as last snapshot's if nothing in it changed."""
        text = json.dumps(obj, sort_keys=True)
        cached = handed_out.get(text)
        if cached is None:
            cached = json.loads(text)
        self._handed_out[text] = cached
        return cached

    # -- Gateway: writes -------------------------------------------------------------------------

    async def patch_workload(
        self,
        key: WorkloadKey,
        *,
        annotations: Mapping[str, str | None] | None = None,
        replicas: int | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        namespace, kind, name = key
        body = workload_patch(annotations, replicas, resource_version)
        return self._patch(kind, (namespace, name), self.workloads.get(key), body)

    async def patch_hpa(
        self,
        namespace: str,
        name: str,
        *,
        min_replicas: int | None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        body = hpa_patch(min_replicas, resource_version)
        return self._patch(HPA_KIND, (namespace, name), self._hpa(namespace, name), body)

    async def patch_status(
        self,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        body = status_patch(status, resource_version)
        stored = self.events.get((namespace, name))
        return self._patch(KIND, (namespace, name), stored, body, status_only=True)

    async def create_event(self, body: Mapping[str, Any]) -> dict[str, Any]:
        obj: dict[str, Any] = _copy(body)
        meta = obj.setdefault("metadata", {})
        namespace = str(meta.get("namespace"))
        if not meta.get("name"):
            self._names += 1
            meta["name"] = f"{meta.get('generateName', 'event.')}{self._names:05x}"
        key = (namespace, str(meta["name"]))
        if key in self.kube_events:
            self.writes.append(Write("Event", "create", key, _copy(body), 409))
            raise AlreadyExists(409, f'events "{key[1]}" already exists', "AlreadyExists")
        self.writes.append(Write("Event", "create", key, _copy(body), 201))
        meta.pop("generateName", None)
        meta["uid"] = f"uid-event-{key[1]}"
        meta["resourceVersion"] = self._next_version()
        self.kube_events[key] = obj
        involved = obj.get("involvedObject", {})
        self.posted.append(
            (
                str(involved.get("name")),
                obj.get("type", ""),
                obj.get("reason", ""),
                obj.get("message", ""),
            )
        )
        answer: dict[str, Any] = _copy(obj)
        return answer

    async def patch_event(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        key = (namespace, name)
        return self._patch("Event", key, self.kube_events.get(key), patch)

    # -- LeaseApi ----------------------------------------------------------------------------

    def _lease_reachable(self) -> None:
        if self.lease_outage:
            raise GatewayError(0, "no answer from the API server: connection refused")

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any]:
        self._lease_reachable()
        stored = self.leases.get((namespace, name))
        answer: dict[str, Any] | None = _copy(stored) if stored is not None else None
        await asyncio.sleep(0)  # the answer is on its way: another elector may step meanwhile
        if answer is None:
            raise NotFound(404, f'leases.coordination.k8s.io "{name}" not found', "NotFound")
        return answer

    async def create_lease(
        self, namespace: str, name: str, spec: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._lease_reachable()
        key = (namespace, name)
        if key in self.leases:
            self.lease_writes.append(Write("Lease", "create", key, _copy(spec), 409))
            raise AlreadyExists(409, f'leases "{name}" already exists', "AlreadyExists")
        self.lease_writes.append(Write("Lease", "create", key, _copy(spec), 201))
        meta = {"name": name, "namespace": namespace, "resourceVersion": self._next_version()}
        self.leases[key] = {"metadata": meta, "spec": _copy(spec)}
        answer: dict[str, Any] = _copy(self.leases[key])
        return answer

    async def replace_lease(
        self, namespace: str, name: str, spec: Mapping[str, Any], resource_version: str
    ) -> dict[str, Any]:
        self._lease_reachable()
        key = (namespace, name)
        stored = self.leases.get(key)
        if stored is None:
            self.lease_writes.append(Write("Lease", "update", key, _copy(spec), 404))
            raise NotFound(404, f'leases "{name}" not found', "NotFound")
        if stored["metadata"]["resourceVersion"] != resource_version:
            self.lease_writes.append(Write("Lease", "update", key, _copy(spec), 409))
            raise Conflict(409, f'Operation cannot be fulfilled on leases "{name}"', "Conflict")
        self.lease_writes.append(Write("Lease", "update", key, _copy(spec)))
        stored["spec"] = _copy(spec)
        stored["metadata"]["resourceVersion"] = self._next_version()
        answer: dict[str, Any] = _copy(stored)
        return answer

    # -- Gateway: node capacity reservations ---------------------------------------------

    def _reservations(self, kind: str) -> dict[Any, dict[str, Any]]:
        """Where objects of ``kind`` live, keyed as that store keys them."""
        if kind == "Deployment":
            return self.workloads
        if self.capacity_buffers is None:
            raise NotFound(404, "the server could not find the requested resource", "NotFound")
        return self.capacity_buffers

    @staticmethod
    def _reservation_key(kind: str, namespace: str, name: str) -> Any:
        return (namespace, kind, name) if kind == "Deployment" else (namespace, name)

    async def create_reservation(
        self, kind: str, namespace: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        obj: dict[str, Any] = _copy(body)
        name = str(obj["metadata"]["name"])
        store = self._reservations(kind)
        key = self._reservation_key(kind, namespace, name)
        if key in store:
            self.writes.append(Write(kind, "create", (namespace, name), _copy(body), 409))
            raise AlreadyExists(409, f'{kind} "{name}" already exists', "AlreadyExists")
        self.writes.append(Write(kind, "create", (namespace, name), _copy(body), 201))
        obj["metadata"].update(namespace=namespace, uid=f"uid-{namespace}-{name}")
        obj["metadata"]["generation"] = 1
        obj["metadata"]["resourceVersion"] = self._next_version()
        obj.setdefault("status", {})
        store[key] = obj
        answer: dict[str, Any] = _copy(obj)
        return answer

    async def patch_reservation(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        store = self._reservations(kind)
        stored = store.get(self._reservation_key(kind, namespace, name))
        return self._patch(kind, (namespace, name), stored, patch)

    async def delete_reservation(self, kind: str, namespace: str, name: str) -> None:
        store = self._reservations(kind)
        key = self._reservation_key(kind, namespace, name)
        # Like the gateway: a delete of what is already gone is no error (it is gone).
        answer = 200 if store.pop(key, None) is not None else 404
        self.writes.append(Write(kind, "delete", (namespace, name), None, answer))

    def reservations(self, namespace: str = "live") -> dict[str, dict[str, Any]]:
        """Placeholder Deployments and CapacityBuffers with Showtime's labels, by name."""
        found = [*self.workloads.values(), *(self.capacity_buffers or {}).values()]
        return {
            o["metadata"]["name"]: o
            for o in found
            if o["metadata"].get("namespace") == namespace
            and "showtime.dev/placeholder-for" in (o["metadata"].get("labels") or {})
        }


@dataclass
class FakeMetrics:
    answers: dict[str, MetricResult] = field(default_factory=dict)
    asked: list[list[str]] = field(default_factory=list)

    async def query(self, queries: Collection[str]) -> Mapping[str, MetricResult]:
        self.asked.append(sorted(queries))
        return {q: self.answers[q] for q in queries if q in self.answers}


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now
