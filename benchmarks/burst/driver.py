"""The load driver of ``make bench-burst``: it plays the load balancer, once a second.

What lives here: ``LoadDriver``, a bounded loop that reads each Deployment's pods, spreads
the curve's current load over its *Ready* pods and sets their emulated CPU (the pod
annotation ``kwok.x-k8s.io/usage-cpu``, read by KWOK's ClusterResourceUsage, scraped by
metrics-server) from a fixed cost per request, and records a ``Sample`` per Deployment.
Pods that are not Ready get no traffic (1m). A pod is patched only when its value moved by
more than 5%. What does not: the load curve (``scenario``) or the measures (``measures``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .measures import Sample
from .objects import USAGE_CPU

_IDLE = "1m"


@dataclass
class Target:
    namespace: str
    name: str
    samples: list[Sample] = field(default_factory=list)


def _ready(pod: Mapping[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _millicores(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(text[:-1]) if text.endswith("m") else float(text) * 1000
    except ValueError:
        return None


def _moved(current: str | None, wanted: str) -> bool:
    have, want = _millicores(current), _millicores(wanted)
    if have is None or want is None:
        return True
    return abs(have - want) > max(1.0, 0.05 * want)


class LoadDriver:
    def __init__(
        self,
        core: Any,
        apps: Any,
        targets: Sequence[Target],
        load_at: Callable[[float], float],
        cost_m_per_request: float,
        origin: float,
    ) -> None:
        self.core, self.apps = core, apps
        self.targets = list(targets)
        self.load_at = load_at
        self.cost = cost_m_per_request
        self.origin = origin
        self.patches = 0
        self.errors = 0
        self.error_kinds: dict[str, int] = {}  # "HTTP 404", "ReadTimeoutError", ...
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="patch")
        self._inflight: list[Future[None]] = []

    def _list(self, namespace: str, kind: str) -> list[dict[str, Any]]:
        call = (
            self.core.list_namespaced_pod
            if kind == "pods"
            else self.apps.list_namespaced_deployment
        )
        response = call(namespace, _preload_content=False, _request_timeout=10)
        items: list[dict[str, Any]] = json.loads(response.data)["items"]
        return items

    def _patch(self, namespace: str, name: str, value: str) -> None:
        body = {"metadata": {"annotations": {USAGE_CPU: value}}}
        try:
            self.core.patch_namespaced_pod(name, namespace, body, _request_timeout=10)
        except Exception as exc:  # a pod deleted meanwhile; the next tick sees the truth
            self.errors += 1
            status = getattr(exc, "status", None)
            kind = f"HTTP {status}" if status else type(exc).__name__
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def tick(self) -> None:
        self._inflight = [f for f in self._inflight if not f.done()]
        for namespace in sorted({t.namespace for t in self.targets}):
            pods = self._list(namespace, "pods")
            replicas = {
                d["metadata"]["name"]: int(d["spec"].get("replicas") or 0)
                for d in self._list(namespace, "deployments")
            }
            t = time.monotonic() - self.origin
            load = self.load_at(t)
            for target in (x for x in self.targets if x.namespace == namespace):
                mine = [
                    p for p in pods if p["metadata"].get("labels", {}).get("app") == target.name
                ]
                ready = [p for p in mine if _ready(p)]
                target.samples.append(Sample(t, load, len(ready), replicas.get(target.name, 0)))
                share = f"{max(1, round(load / len(ready) * self.cost))}m" if ready else _IDLE
                for pod in mine:
                    wanted = share if pod in ready else _IDLE
                    current = (pod["metadata"].get("annotations") or {}).get(USAGE_CPU)
                    if pod["metadata"].get("deletionTimestamp") or not _moved(current, wanted):
                        continue
                    self.patches += 1
                    self._inflight.append(
                        self._pool.submit(self._patch, namespace, pod["metadata"]["name"], wanted)
                    )

    def run(
        self, until: float, period: float = 1.0, on_tick: Callable[[float], None] | None = None
    ) -> None:
        """Tick every ``period`` s until ``until`` s after the origin (bounded by it)."""
        next_at = time.monotonic()
        while (now := time.monotonic()) - self.origin < until:
            if now < next_at:
                time.sleep(next_at - now)
            next_at += period
            try:
                self.tick()
            except Exception as exc:  # a slow or failed list: skip the tick, keep the curve
                self.errors += 1
                print(f"bench-burst: driver tick failed: {exc}", flush=True)
            if on_tick is not None:
                on_tick(time.monotonic() - self.origin)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
