"""What a TrafficEvent's status shows of its node capacity pre-warm.

``with_node_capacity`` adds ``status.nodeCapacity`` (node lead time and where it comes from,
when room is reserved, the mechanism, the pods reserved now, per target) and the
``NodeCapacityReady`` condition to a status built by ``status.build_status``, or removes
both from an event that does not pre-warm nodes (any more). The condition follows the
Kubernetes conventions through ``status.set_condition``:

* True, ``NothingToReserve``: no reservation is due (before the window, once the floor is
  Ready, after the start);
* True, ``Reserved``: every placeholder pod is Running and Ready, so the room is there;
  True, ``BufferActive``: the CapacityBuffer exists with the count wanted (the node
  autoscaler provisions it; its own status tells how far);
* False, ``PlaceholdersPending``: placeholder pods wait for room (nodes are being added),
  ``Reserving``: the objects are being created or resized,
  ``CapacityBufferUnavailable``: ``mechanism: CapacityBuffer`` on a cluster not serving it.

Deciding lives in ``nodecapacity``. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from showtime.core.durations import format_duration
from showtime.core.nodecapacity import BUFFER, NodeCapacityReport
from showtime.core.status import set_condition
from showtime.core.timestamps import rfc3339

NODE_CAPACITY_READY = "NodeCapacityReady"


def condition_for(report: NodeCapacityReport) -> tuple[str, str, str]:
    """(status, reason, message) of ``NodeCapacityReady``."""
    lead = f"node lead time {format_duration(report.lead.value)} ({report.lead.source})"
    if report.mechanism is None:
        return (
            "False",
            "CapacityBufferUnavailable",
            "mechanism CapacityBuffer, but the cluster does not serve "
            "autoscaling.x-k8s.io/v1beta1 CapacityBuffer; nothing is reserved",
        )
    reserving = [t for t in report.targets if t.pods > 0]
    if not reserving:
        when = f"; room is reserved from {rfc3339(report.reserve_at)}" if report.reserve_at else ""
        return ("True", "NothingToReserve", f"no node capacity is due now{when}; {lead}")
    wanted = sum(t.pods for t in reserving)
    if not all(t.created for t in reserving):
        return ("False", "Reserving", f"reserving room for {wanted} pods ({report.mechanism})")
    if report.mechanism == BUFFER:
        names = ", ".join(t.object for t in reserving)
        return ("True", "BufferActive", f"{names} ask the node autoscaler for {wanted} pods")
    ready = sum(t.ready_placeholders for t in reserving)
    if ready < wanted:
        return (
            "False",
            "PlaceholdersPending",
            f"{ready}/{wanted} placeholder pods Running; the rest wait for nodes",
        )
    return ("True", "Reserved", f"room for {wanted} pods is held by Running placeholder pods")


def _section(report: NodeCapacityReport) -> dict[str, Any]:
    section: dict[str, Any] = {
        "leadTimeSeconds": int(report.lead.value.total_seconds()),
        "leadTimeFrom": report.lead.source,
        "reservedPods": sum(t.pods for t in report.targets),
        "targets": [
            {
                "kind": t.kind,
                "name": t.name,
                "reservedPods": t.pods,
                **({"readyPlaceholders": t.ready_placeholders} if t.object else {}),
                **({"object": t.object} if t.object else {}),
            }
            for t in report.targets
        ],
    }
    if report.lead.source == "Nodes":
        section["nodeSamples"] = report.lead.samples
    if report.reserve_at is not None:
        section["reserveAt"] = rfc3339(report.reserve_at)
    if report.mechanism is not None:
        section["mechanism"] = report.mechanism
    return section


def with_node_capacity(
    status: Mapping[str, Any],
    report: NodeCapacityReport | None,
    *,
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    """``status`` with its node capacity section and condition (or without both)."""
    new = dict(status)
    conditions = list(new.get("conditions") or [])
    if report is None:
        new.pop("nodeCapacity", None)
        new["conditions"] = [c for c in conditions if c.get("type") != NODE_CAPACITY_READY]
        return new
    state, reason, message = condition_for(report)
    new["nodeCapacity"] = _section(report)
    new["conditions"] = set_condition(
        conditions,
        type_=NODE_CAPACITY_READY,
        status=state,
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )
    return new
