"""Reading one pod for lead-time learning: whose it is, when it was created, when Ready.

``read_startup`` turns a Pod (plain JSON) into a ``PodStartup``: the workload that owns it,
a short stable id, its creation time, the time of its Ready condition if it is Ready, and
how often its containers restarted. ``slim_pod`` keeps only the fields these readers use,
so a cache of tens of thousands of pods stays small; both live here so that what is kept
and what is read cannot drift apart. Which measurements count (first Ready only, no
restarts) and what is learned from them is decided in ``leadtime``. Pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from showtime.core.timestamps import parse_timestamp

OWNERS_KEPT = 65_536  # owner references shared between pods: ReplicaSets, StatefulSets

WorkloadKey = tuple[str, str, str]  # (namespace, kind, name), as the shell keys workloads


@dataclass(frozen=True)
class PodStartup:
    pod_id: str  # 8 hex digits derived from the uid: small enough to persist in status
    workload: WorkloadKey
    created: datetime
    ready_at: datetime | None  # lastTransitionTime of Ready=True; None while not Ready
    restarts: int  # sum of the containers' restartCount

    @property
    def seconds_to_ready(self) -> float | None:
        if self.ready_at is None:
            return None
        return (self.ready_at - self.created).total_seconds()


def short_pod_id(identity: str) -> str:
    """A short, stable id for a pod (collisions among one workload's few samples: ~never)."""
    return hashlib.blake2b(identity.encode(), digest_size=4).hexdigest()


def pod_workload(pod: Mapping[str, Any]) -> WorkloadKey | None:
    """The Deployment (through its ReplicaSet) or StatefulSet owning a pod, if any."""
    meta = pod.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    for ref in meta.get("ownerReferences") or []:
        kind, name = ref.get("kind"), str(ref.get("name") or "")
        if kind == "ReplicaSet" and "-" in name:
            return (namespace, "Deployment", name.rsplit("-", 1)[0])
        if kind == "StatefulSet" and name:
            return (namespace, "StatefulSet", name)
    return None


def is_ready(pod: Mapping[str, Any]) -> bool:
    """Whether the pod has the condition Ready=True: cheap, so read before ``read_startup``."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return True
    return False


def read_startup(pod: Mapping[str, Any]) -> PodStartup | None:
    """What lead-time learning needs from one pod; None for a pod of no workload."""
    workload = pod_workload(pod)
    meta = pod.get("metadata") or {}
    created = parse_timestamp(meta.get("creationTimestamp"))
    if workload is None or created is None:
        return None
    identity = str(meta.get("uid") or f"{workload}/{meta.get('name')}/{created.isoformat()}")
    status = pod.get("status") or {}
    ready_at = None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            ready_at = parse_timestamp(condition.get("lastTransitionTime"))
    return PodStartup(short_pod_id(identity), workload, created, ready_at, read_restarts(status))


def read_restarts(status: Mapping[str, Any]) -> int:
    """How often the pod's containers restarted, summed."""
    restarts = 0
    for container in status.get("containerStatuses") or []:
        count = container.get("restartCount")
        restarts += count if isinstance(count, int) and count > 0 else 0
    return restarts


def _interned(value: Any) -> Any:
    """Strings repeated across thousands of pods (namespace, owner name) stored once."""
    return sys.intern(value) if isinstance(value, str) else value


@functools.lru_cache(maxsize=OWNERS_KEPT)
def _owner(kind: str | None, name: str | None) -> Mapping[str, Any]:
    """One shared owner reference per owner (a ReplicaSet owns all pods of a rollout)."""
    return {"kind": _interned(kind), "name": _interned(name)}


def slim_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    """A Pod cut down to what ``read_startup`` and the cache read; still shaped like a Pod.

    Kept: metadata name, namespace, uid, creationTimestamp, deletionTimestamp,
    ownerReferences (kind, name); status.conditions of type Ready (status,
    lastTransitionTime); status.containerStatuses as one entry with the sum of the
    restartCounts, only if there were restarts (50,000 pods in the scale drill R6). Shared
    between pods rather than copied: the owner reference (one per ReplicaSet) and the
    timestamps (pods created or Ready in the same second). Treat the result as frozen.
    """
    meta = pod.get("metadata") or {}
    slim_meta: dict[str, Any] = {
        "name": meta.get("name"),
        "namespace": _interned(meta.get("namespace")),
        "uid": meta.get("uid"),
        "creationTimestamp": _interned(meta.get("creationTimestamp")),
    }
    if meta.get("deletionTimestamp"):
        slim_meta["deletionTimestamp"] = meta["deletionTimestamp"]
    owners = tuple(
        _owner(*(v if isinstance(v, str) else None for v in (ref.get("kind"), ref.get("name"))))
        for ref in meta.get("ownerReferences") or []
        if isinstance(ref, Mapping)
    )
    if owners:
        slim_meta["ownerReferences"] = owners
    status = pod.get("status") or {}
    slim_status: dict[str, Any] = {}
    ready = [
        {
            "type": "Ready",
            "status": _interned(c.get("status")),
            "lastTransitionTime": _interned(c.get("lastTransitionTime")),
        }
        for c in status.get("conditions") or []
        if c.get("type") == "Ready"
    ]
    if ready:
        slim_status["conditions"] = ready
    restarts = read_restarts(status)
    if restarts:  # the sum is all that is read: no list at all for the many that never restarted
        slim_status["containerStatuses"] = [{"restartCount": restarts}]
    return {"metadata": slim_meta, "status": slim_status}
