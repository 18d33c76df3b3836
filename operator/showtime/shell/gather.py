"""The gather step of a tick: from the cluster's snapshot to the core's ``Observed``.

Parses each TrafficEvent's spec (memoized by uid and generation; anything a spec runs into
becomes that event's error, never the tick's), reduces workloads and their HPAs to what
decisions need (reduced again only when the cache holds a new object: it replaces, never
edits), learns start-up times from the pod cache, and reads the nodes and the
objects reserving node capacity (placeholder Deployments, found by Showtime's labels, are
reservations, not workloads; CapacityBuffers when the cluster serves them). Only reading
and reshaping live here: no decision, no write. What it keeps between ticks (parsed specs, what pods
taught) is a cache that a restart rebuilds from the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from showtime.cluster.kube import Snapshot
from showtime.core.handback import ALL_ANNOTATIONS
from showtime.core.leadtime import StartupMemory, starts_in_order
from showtime.core.observed import (
    EventKey,
    NodeSeen,
    Observed,
    ObservedEvent,
    ObservedReservation,
    ObservedWorkload,
    WorkloadKey,
)
from showtime.core.placeholders import (
    BUFFER_KIND,
    DEFAULT_IMAGE,
    DEPLOYMENT,
    SHAPE_HASH,
    is_reservation,
)
from showtime.core.spec import SpecError, TrafficEventSpec, parse_spec
from showtime.core.targets import HpaView
from showtime.core.timestamps import parse_timestamp

log = structlog.get_logger("showtime.shell.gather")
Parsed = tuple[TrafficEventSpec | None, str | None]


def parse_safely(raw: Any) -> Parsed:
    """A spec, or why it cannot be acted on; never raises."""
    try:
        return parse_spec(raw), None
    except SpecError as exc:
        return None, str(exc)
    except Exception as exc:  # a value no check foresaw: this event only
        return None, f"the spec cannot be read: {type(exc).__name__}: {exc}"


class Gatherer:
    def __init__(
        self,
        default_lead_time: timedelta,
        *,
        default_node_lead_time: timedelta = timedelta(minutes=5),
        placeholder_image: str = DEFAULT_IMAGE,
    ) -> None:
        self._default_lead = default_lead_time
        self._default_node_lead = default_node_lead_time
        self._placeholder_image = placeholder_image
        self._specs: dict[tuple[str, int], Parsed] = {}
        self._held: dict[str, tuple[Any, Parsed]] = {}
        self._startup: StartupMemory | None = None  # None until seeded from status
        # Per workload, the cached object and HPA it was reduced from, and the reduction.
        self._reduced: dict[WorkloadKey, tuple[Any, Any, ObservedWorkload]] = {}

    def observe(self, snap: Snapshot, now: datetime, releasing: set[EventKey]) -> Observed:
        events = []
        for obj in snap.events:
            try:
                events.append(self._event(obj, releasing))
            except Exception as exc:  # a malformed object: skip it, keep the others
                log.warning("TrafficEvent unreadable", error=str(exc))
        self._forget(events)
        workloads: dict[WorkloadKey, ObservedWorkload] = {}
        reserving: list[tuple[str, dict[str, Any]]] = []
        reduced: dict[WorkloadKey, tuple[Any, Any, ObservedWorkload]] = {}
        for key, obj in snap.workloads.items():
            if key[1] == DEPLOYMENT and is_reservation(obj):
                reserving.append((DEPLOYMENT, obj))
                continue
            hpa = snap.hpas.get(key)
            before = self._reduced.get(key)
            if before is not None and before[0] is obj and before[1] is hpa:
                workloads[key] = before[
                    2
                ]  # the cache replaces what changed: same objects, same view
                reduced[key] = before
                continue
            try:
                workloads[key] = _workload(key, obj, hpa)
            except Exception as exc:
                log.warning("workload unreadable", workload="/".join(key), error=str(exc))
                continue
            reduced[key] = (obj, hpa, workloads[key])
        self._reduced = reduced
        buffers = snap.capacity_buffers
        reserving += [(BUFFER_KIND, b) for b in buffers or [] if is_reservation(b)]
        return Observed(
            now=now,
            events=tuple(events),
            workloads=workloads,
            default_lead_time=self._default_lead,
            startup=self._learn(events, snap.pods, now),
            nodes=tuple(n for n in map(_node, snap.nodes) if n is not None),
            default_node_lead_time=self._default_node_lead,
            buffers_served=buffers is not None,
            reservations=_reservations(reserving),
            placeholder_image=self._placeholder_image,
        )

    def _event(self, obj: Mapping[str, Any], releasing: set[EventKey]) -> ObservedEvent:
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        uid, generation = str(meta.get("uid", "")), int(meta.get("generation") or 0)
        parsed = self._specs.get((uid, generation))
        if parsed is None:
            parsed = self._specs[(uid, generation)] = parse_safely(obj.get("spec"))
        status = obj.get("status") or {}
        held = None
        if parsed[0] is None and isinstance(status.get("heldSpec"), Mapping):
            held = self._held_spec(uid, status["heldSpec"])
        raw = obj.get("spec")
        return ObservedEvent(
            namespace=namespace,
            name=name,
            uid=uid,
            generation=generation,
            spec=parsed[0],
            spec_error=parsed[1],
            raw_spec=raw if isinstance(raw, Mapping) else None,
            held_spec=held,
            status=status,
            releasing=bool(meta.get("deletionTimestamp")) or (namespace, name) in releasing,
        )

    def _held_spec(self, uid: str, raw: Mapping[str, Any]) -> TrafficEventSpec | None:
        cached = self._held.get(uid)
        if cached is None or cached[0] != raw:
            cached = self._held[uid] = (raw, parse_safely(dict(raw)))
        return cached[1][0]

    def _forget(self, events: list[ObservedEvent]) -> None:
        """Keep parsed specs only for what the cluster still has."""
        live = {(e.uid, e.generation) for e in events}
        for key in [k for k in self._specs if k not in live]:
            del self._specs[key]
        uids = {e.uid for e in events}
        for uid in [u for u in self._held if u not in uids]:
            del self._held[uid]

    def _learn(
        self, events: list[ObservedEvent], pods: list[dict[str, Any]], now: datetime
    ) -> StartupMemory:
        """What pods taught so far; a restarted operator first reads it back from status."""
        if self._startup is None:
            records = [
                ((e.namespace, str(t.get("kind")), str(t.get("name"))), t["leadTime"])
                for e in events
                for t in e.status.get("targets") or []
                if isinstance(t, Mapping) and isinstance(t.get("leadTime"), Mapping)
            ]
            self._startup = StartupMemory.from_records(records, now)
        self._startup = self._startup.observe(pods, now)
        return self._startup


def _workload(
    key: WorkloadKey, obj: Mapping[str, Any], hpa: Mapping[str, Any] | None
) -> ObservedWorkload:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    annotations = meta.get("annotations") or {}
    replicas = spec.get("replicas")
    hpa_view, hpa_version = None, ""
    if hpa is not None:
        hpa_spec = hpa.get("spec") or {}
        minimum = hpa_spec.get("minReplicas")
        hpa_view = HpaView(
            name=str(hpa["metadata"]["name"]),
            min_replicas=int(minimum) if minimum is not None else None,
            max_replicas=int(hpa_spec.get("maxReplicas") or 1),
        )
        hpa_version = str(hpa["metadata"].get("resourceVersion", ""))
    namespace, kind, name = key
    return ObservedWorkload(
        namespace=namespace,
        kind=kind,
        name=name,
        uid=str(meta.get("uid", "")),
        replicas=int(replicas if replicas is not None else 1),
        ready=int((obj.get("status") or {}).get("readyReplicas") or 0),
        resource_version=str(meta.get("resourceVersion", "")),
        annotations={k: str(annotations[k]) for k in ALL_ANNOTATIONS if k in annotations},
        hpa=hpa_view,
        hpa_resource_version=hpa_version,
        ordered_ready=starts_in_order(kind, obj),
        template=spec.get("template") if isinstance(spec.get("template"), Mapping) else None,
    )


def _node(obj: Mapping[str, Any]) -> NodeSeen | None:
    """A node's creation and Ready time (``cluster.capacity.slim_node``); None if unreadable."""
    meta = obj.get("metadata") or {}
    created = parse_timestamp(meta.get("creationTimestamp"))
    if created is None:
        return None
    ready = None
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            ready = parse_timestamp(condition.get("lastTransitionTime"))
    return NodeSeen(str(meta.get("name", "")), created, ready)


def _reservations(
    found: list[tuple[str, dict[str, Any]]],
) -> dict[tuple[str, str, str], ObservedReservation]:
    """Placeholder Deployments and CapacityBuffers with Showtime's labels, by key."""
    result = {}
    for kind, obj in found:
        meta = obj.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue  # on its way out: as good as gone (a create waits until it is)
        try:
            status = obj.get("status") or {}
            have = ObservedReservation(
                kind=kind,
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                resource_version=str(meta.get("resourceVersion", "")),
                replicas=int((obj.get("spec") or {}).get("replicas") or 0),
                ready=int(status.get("readyReplicas") or 0) if kind == DEPLOYMENT else 0,
                shape_hash=str((meta.get("annotations") or {}).get(SHAPE_HASH, "")),
                body=obj,
            )
        except Exception as exc:  # a malformed object: leave it, keep the others
            log.warning("reservation unreadable", kind=kind, error=str(exc))
            continue
        result[have.key] = have
    return result
