"""Helpers for e2e tests that drive TrafficEvents and read what the operator did.

Plain functions over the ``kubernetes`` client (typed ``Any``: its models are not used).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from showtime.cluster.kube import GROUP, PLURAL, VERSION
from tests.support.kube import POD_READY_DELAY, deployment
from tests.support.wait import wait_for


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def make_deployment(
    apps: Any, namespace: str, name: str, replicas: int, ready_delay_ms: int = 2000
) -> None:
    apps.create_namespaced_deployment(
        namespace, deployment(name, replicas, {POD_READY_DELAY: str(ready_delay_ms)})
    )
    wait_for(
        lambda: ready(apps, namespace, name) == replicas,
        timeout=60,
        message=f"{name} {replicas} Ready",
    )


def ready(apps: Any, namespace: str, name: str) -> int:
    status = apps.read_namespaced_deployment_status(name, namespace).status
    return int(status.ready_replicas or 0)


def replicas(apps: Any, namespace: str, name: str) -> int:
    return int(apps.read_namespaced_deployment(name, namespace).spec.replicas)


def showtime_annotations(apps: Any, namespace: str, name: str) -> dict[str, str]:
    meta = apps.read_namespaced_deployment(name, namespace).metadata
    return {k: v for k, v in (meta.annotations or {}).items() if k.startswith("showtime.dev/")}


def create_event(custom: Any, namespace: str, name: str, spec: dict[str, Any]) -> None:
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "TrafficEvent",
            "metadata": {"name": name},
            "spec": spec,
        },
    )


def status(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return dict(obj.get("status") or {})


def condition(custom: Any, namespace: str, name: str, type_: str) -> dict[str, Any] | None:
    for cond in status(custom, namespace, name).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return None


def phase_is(custom: Any, namespace: str, name: str, phase: str) -> bool:
    return status(custom, namespace, name).get("phase") == phase


def event_reasons(core: Any, namespace: str, name: str) -> list[str]:
    items = core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    ).items
    return [e.reason for e in items]


def event_count(core: Any, namespace: str, name: str, reason: str) -> int:
    """How many times ``reason`` was reported on ``name``.

    Repeats add to an Event's ``count`` (the operator aggregates them as client-go does)
    rather than create new Events, so this sums the counts.
    """
    items = core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},reason={reason}"
    ).items
    return sum(int(e.count or 1) for e in items)


def handed_back(apps: Any, namespace: str, name: str, original: int) -> bool:
    """The Deployment is back at its original count and carries no Showtime annotation."""
    return replicas(apps, namespace, name) == original and not showtime_annotations(
        apps, namespace, name
    )


def wait_handed_back(apps: Any, namespace: str, name: str, original: int, timeout: float) -> None:
    wait_for(
        lambda: handed_back(apps, namespace, name, original),
        timeout=timeout,
        message=f"{name} handed back to {original}",
    )


def wait_condition(
    custom: Any, namespace: str, name: str, type_: str, status_: str, timeout: float
) -> dict[str, Any]:
    """Poll until the event's condition ``type_`` has ``status_``; return the condition."""

    def found() -> dict[str, Any] | None:
        cond = condition(custom, namespace, name, type_)
        return cond if cond is not None and cond["status"] == status_ else None

    return wait_for(found, timeout=timeout, message=f"{type_}={status_} on {name}")


def create_cpu_hpa(
    autoscaling: Any, namespace: str, target: str, minimum: int, maximum: int
) -> None:
    """An autoscaling/v2 HPA on 80 % CPU for Deployment ``target`` (named like it)."""
    autoscaling.create_namespaced_horizontal_pod_autoscaler(
        namespace,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": target},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": minimum,
                "maxReplicas": maximum,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 80},
                        },
                    }
                ],
            },
        },
    )
