"""What happened on the cluster during the node-capacity scenario, recorded by polling.

``Watch`` lists, once a second (in a thread, bounded by ``stop``), each variant's
NodeClaims (with their node's Ready time), the target's pods (created, Ready) and the
objects reserving room for it (a CapacityBuffer or a placeholder Deployment carrying
Showtime's label ``showtime.dev/event``). Times of creation and of Ready come from the
objects themselves (creationTimestamp, the Ready condition's lastTransitionTime); the
time an object is gone is the first poll that no longer lists it (so up to a second
late). What does not live here: turning the records into numbers (``measures``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiException

from .objects import Variant

EVENT_LABEL = "showtime.dev/event"
MANAGED_BY = "app.kubernetes.io/managed-by=showtime"


@dataclass
class Seen:
    """One object's life as far as the scenario saw it."""

    created: datetime
    ready: datetime | None = None
    gone: datetime | None = None
    peak: int = 0  # reservations: the most pods' worth they held


@dataclass
class Record:
    """Everything seen of one variant."""

    nodes: dict[str, Seen] = field(default_factory=dict)  # by NodeClaim name
    pods: dict[str, Seen] = field(default_factory=dict)
    reservations: dict[str, Seen] = field(default_factory=dict)  # "Kind/name"


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ready_since(obj: Mapping[str, Any]) -> datetime | None:
    """When the object's Ready condition turned True (None: it is not Ready)."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return parse_time(cond.get("lastTransitionTime"))
    return None


def _as_dict(api: Any, obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else dict(api.api_client.sanitize_for_serialization(obj))


def _update(
    seen: dict[str, Seen],
    current: Mapping[str, tuple[datetime, datetime | None, int]],
    now: datetime,
) -> None:
    for name, (created, ready, count) in current.items():
        entry = seen.setdefault(name, Seen(created))
        if entry.ready is None and ready is not None:
            entry.ready = ready
        entry.peak = max(entry.peak, count)
        entry.gone = None
    for name, entry in seen.items():
        if name not in current and entry.gone is None:
            entry.gone = now


class Watch:
    def __init__(
        self,
        core: Any,
        apps: Any,
        custom: Any,
        namespace: str,
        variants: Iterable[Variant],
        interval: float = 1.0,
    ) -> None:
        self.core, self.apps, self.custom = core, apps, custom
        self.namespace = namespace
        self.variants = list(variants)
        self.records = {v.name: Record() for v in self.variants}
        self.interval = interval
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nodecapacity-watch", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> Watch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def snapshot(self) -> dict[str, Record]:
        """A copy of the records so far (safe to read while the thread polls)."""
        with self._lock:
            return {
                name: Record(
                    {k: Seen(**vars(s)) for k, s in r.nodes.items()},
                    {k: Seen(**vars(s)) for k, s in r.pods.items()},
                    {k: Seen(**vars(s)) for k, s in r.reservations.items()},
                )
                for name, r in self.records.items()
            }

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:  # one failed poll: try again on the next
                self.errors.append(f"{datetime.now(UTC).isoformat()}: {exc}")
                del self.errors[:-20]
            self._stop.wait(self.interval)

    def poll(self) -> None:
        now = datetime.now(UTC)
        claims = self.custom.list_cluster_custom_object("karpenter.sh", "v1", "nodeclaims")
        nodes = {
            n["metadata"]["name"]: n
            for n in (_as_dict(self.core, n) for n in self.core.list_node().items)
        }
        pods = [_as_dict(self.core, p) for p in self.core.list_namespaced_pod(self.namespace).items]
        reservations = self._reservations()
        with self._lock:
            for variant in self.variants:
                record = self.records[variant.name]
                _update(record.nodes, self._claims_of(variant, claims["items"], nodes), now)
                _update(record.pods, self._pods_of(variant, pods), now)
                _update(record.reservations, reservations.get(variant.name, {}), now)

    @staticmethod
    def _claims_of(
        variant: Variant, claims: list[dict[str, Any]], nodes: Mapping[str, dict[str, Any]]
    ) -> dict[str, tuple[datetime, datetime | None, int]]:
        out = {}
        for claim in claims:
            meta = claim["metadata"]
            if (meta.get("labels") or {}).get("karpenter.sh/nodepool") != variant.pool:
                continue
            created = parse_time(meta["creationTimestamp"])
            assert created is not None
            node = nodes.get((claim.get("status") or {}).get("nodeName") or "")
            out[meta["name"]] = (created, ready_since(node) if node else None, 1)
        return out

    @staticmethod
    def _pods_of(
        variant: Variant, pods: list[dict[str, Any]]
    ) -> dict[str, tuple[datetime, datetime | None, int]]:
        out = {}
        for pod in pods:
            meta = pod["metadata"]
            if (meta.get("labels") or {}).get("app") != variant.name:
                continue
            created = parse_time(meta["creationTimestamp"])
            assert created is not None
            out[meta["name"]] = (created, ready_since(pod), 1)
        return out

    def _reservations(self) -> dict[str, dict[str, tuple[datetime, datetime | None, int]]]:
        found: list[tuple[str, dict[str, Any]]] = []
        try:
            buffers = self.custom.list_namespaced_custom_object(
                "autoscaling.x-k8s.io", "v1beta1", self.namespace, "capacitybuffers"
            )
            found += [("CapacityBuffer", b) for b in buffers["items"]]
        except ApiException as exc:
            if exc.status != 404:  # 404: the API is not served here
                raise
        deployments = self.apps.list_namespaced_deployment(
            self.namespace, label_selector=MANAGED_BY
        ).items
        found += [("Deployment", _as_dict(self.apps, d)) for d in deployments]
        out: dict[str, dict[str, tuple[datetime, datetime | None, int]]] = {}
        for kind, obj in found:
            meta = obj["metadata"]
            event = (meta.get("labels") or {}).get(EVENT_LABEL)
            created = parse_time(meta["creationTimestamp"])
            if event is None or created is None:
                continue
            count = int((obj.get("spec") or {}).get("replicas") or 0)
            out.setdefault(event, {})[f"{kind}/{meta['name']}"] = (created, None, count)
        return out
