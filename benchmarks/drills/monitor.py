"""The monitor: a thread that looks at one drill namespace every second.

What lives here: ``read_states`` (each target's requested count, the HPA's minReplicas
where an HPA scales it, and the annotations a hand-back must restore), and ``Monitor``,
which samples them, with the TrafficEvents' ``MetricsAvailable`` condition, once a second
into ``figures.Sample``s. A read that fails (the API server is down in R4) leaves that
second out. Bounded: it stops when asked or after ``limit`` seconds.

What does not: the figures (``figures``), the scenario's objects (``scenario``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from showtime.cluster.kube import GROUP, PLURAL, VERSION

from .figures import Sample, TargetState
from .scenario import CHURN_PREFIX, TARGETS

READ_TIMEOUT = 3
# Annotations that are not the target's state: the Deployment controller's revision and
# what R7's churn writes.
_IGNORED = ("deployment.kubernetes.io/", CHURN_PREFIX)


def _kept(annotations: dict[str, str] | None, prefix: str) -> dict[str, str]:
    return {prefix + k: v for k, v in (annotations or {}).items() if not k.startswith(_IGNORED)}


def read_states(apps: Any, autoscaling: Any, namespace: str) -> dict[str, TargetState]:
    """Every target's state now (raises when the API server does not answer)."""
    opts = {"_request_timeout": READ_TIMEOUT}
    workloads = {
        ("Deployment", d.metadata.name): d
        for d in apps.list_namespaced_deployment(namespace, **opts).items
    }
    workloads.update(
        (("StatefulSet", s.metadata.name), s)
        for s in apps.list_namespaced_stateful_set(namespace, **opts).items
    )
    hpas = {
        h.spec.scale_target_ref.name: h
        for h in autoscaling.list_namespaced_horizontal_pod_autoscaler(namespace, **opts).items
    }
    states: dict[str, TargetState] = {}
    for target in TARGETS:
        obj = workloads.get((target.kind, target.name))
        if obj is None:
            continue
        annotations = _kept(obj.metadata.annotations, "")
        requested = int(obj.spec.replicas or 0)
        hpa = hpas.get(target.name) if target.hpa_min is not None else None
        if hpa is not None:
            requested = int(hpa.spec.min_replicas or 1)
            annotations.update(_kept(hpa.metadata.annotations, "hpa:"))
        states[target.name] = TargetState(requested, annotations)
    return states


def metrics_available(custom: Any, namespace: str) -> dict[str, str]:
    """MetricsAvailable status (True/False/Unknown/-) of each TrafficEvent."""
    items = custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, _request_timeout=READ_TIMEOUT
    )["items"]
    found: dict[str, str] = {}
    for item in items:
        status = "-"
        for cond in (item.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "MetricsAvailable":
                status = str(cond.get("status"))
        found[item["metadata"]["name"]] = status
    return found


@dataclass
class Monitor:
    apps: Any
    autoscaling: Any
    custom: Any
    namespace: str
    limit: float = 1800.0  # seconds: the monitor never outlives a drill by much
    samples: list[Sample] = field(default_factory=list)
    conditions: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    failed_reads: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Monitor:
        self._thread = threading.Thread(target=self._run, name=f"monitor-{self.namespace}")
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            at = time.time()
            try:
                states = read_states(self.apps, self.autoscaling, self.namespace)
                self.samples.append(Sample(at, states))
                self.conditions.append((at, metrics_available(self.custom, self.namespace)))
            except Exception:  # the API server is down (R4): this second is unknown
                self.failed_reads += 1
            self._stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def condition_seen(self, event: str, status: str, since: float, until: float) -> float | None:
        """The first moment in [since, until) the event's MetricsAvailable had ``status``."""
        for at, found in self.conditions:
            if since <= at < until and found.get(event) == status:
                return at
        return None
