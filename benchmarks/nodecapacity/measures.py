"""The numbers of the node-capacity scenario, from what ``watch`` recorded, and the table.

Per variant, times are seconds relative to the event's start (negative: before it):

* the share of the floor Ready at the start, and when the whole floor was Ready;
* nodes: how many Karpenter made, when the first was asked for (NodeClaim created), when
  the last became Ready, the median boot (NodeClaim created to node Ready), and when the
  last was gone after the event (consolidation);
* pods: when the first was created, the median wait from created to Ready;
* reservation (CapacityBuffer or placeholders): when created, how long it lived, the most
  pods' worth it held;
* node-minutes: all of the variant's nodes over the run, and those of the reserved nodes
  while they stood idle before the pod pre-warm used them (what pre-warming costs), set
  against a permanent overprovisioning buffer of the same number of nodes (24 h a day).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .watch import Record, Seen

DAY_MINUTES = 24 * 60


@dataclass(frozen=True)
class Result:
    variant: str
    floor: int
    ready_at_start: int
    floor_ready_s: float | None  # when the floor-th pod became Ready
    nodes: int
    first_claim_s: float | None
    last_node_ready_s: float | None
    node_boot_s: float | None  # median NodeClaim created -> node Ready
    nodes_gone_s: float | None  # the last node gone, relative to the event's end
    first_pod_s: float | None
    pod_wait_s: float | None  # median pod created -> Ready
    reservation_created_s: float | None
    reservation_lived_s: float | None
    reserved_pods: int
    reserved_nodes: int  # nodes asked for before the pod pre-warm
    node_minutes: float  # all of the variant's nodes, over the run
    idle_reserved_node_minutes: float  # reserved nodes, from created to the pod pre-warm

    @property
    def share_at_start(self) -> float:
        return self.ready_at_start / self.floor if self.floor else 1.0

    @property
    def permanent_buffer_node_minutes_per_day(self) -> float:
        return self.reserved_nodes * DAY_MINUTES


def _rel(moment: datetime | None, origin: datetime) -> float | None:
    return None if moment is None else (moment - origin).total_seconds()


def _median(values: Iterable[float]) -> float | None:
    data = list(values)
    return statistics.median(data) if data else None


def _minutes(entries: Iterable[Seen], end: datetime, until: datetime | None = None) -> float:
    total = 0.0
    for entry in entries:
        stop = min(x for x in (entry.gone, end, until) if x is not None)
        total += max(0.0, (stop - entry.created).total_seconds()) / 60
    return total


def measure(
    variant: str,
    record: Record,
    floor: int,
    start: datetime,
    end: datetime,
    prewarm_at: datetime,
    run_end: datetime,
) -> Result:
    """``prewarm_at``: when Showtime raised the replicas (start - the pods' lead time)."""
    ready_times = sorted(p.ready for p in record.pods.values() if p.ready is not None)
    nodes = sorted(record.nodes.values(), key=lambda s: s.created)
    ready_nodes = [n.ready for n in nodes if n.ready is not None]
    gone = [n.gone for n in nodes if n.gone is not None]
    reservations = sorted(record.reservations.values(), key=lambda s: s.created)
    reserved = [n for n in nodes if n.created < prewarm_at]
    lived = [((r.gone or run_end) - r.created).total_seconds() for r in reservations]
    return Result(
        variant=variant,
        floor=floor,
        ready_at_start=min(floor, sum(1 for t in ready_times if t <= start)),
        floor_ready_s=_rel(ready_times[floor - 1], start) if len(ready_times) >= floor else None,
        nodes=len(nodes),
        first_claim_s=_rel(nodes[0].created, start) if nodes else None,
        last_node_ready_s=_rel(max(ready_nodes), start) if ready_nodes else None,
        node_boot_s=_median(
            (n.ready - n.created).total_seconds() for n in nodes if n.ready is not None
        ),
        nodes_gone_s=_rel(max(gone), end) if gone and len(gone) == len(nodes) else None,
        first_pod_s=_rel(min(p.created for p in record.pods.values()), start)
        if record.pods
        else None,
        pod_wait_s=_median(
            (p.ready - p.created).total_seconds()
            for p in record.pods.values()
            if p.ready is not None
        ),
        reservation_created_s=_rel(reservations[0].created, start) if reservations else None,
        reservation_lived_s=max(lived) if lived else None,
        reserved_pods=max((r.peak for r in reservations), default=0),
        reserved_nodes=len(reserved),
        node_minutes=_minutes(nodes, run_end),
        idle_reserved_node_minutes=_minutes(reserved, run_end, until=prewarm_at),
    )


def _fmt(value: float | None, unit: str = " s") -> str:
    return "-" if value is None else f"{value:+.0f}{unit}"


def table(results: Sequence[Result]) -> str:
    """The with/without table (one column per variant)."""
    rows: list[tuple[str, ...]] = [
        ("", *(r.variant for r in results)),
        (
            "floor Ready at start",
            *(f"{r.share_at_start:.0%} ({r.ready_at_start}/{r.floor})" for r in results),
        ),
        ("whole floor Ready", *(_fmt(r.floor_ready_s) for r in results)),
        ("nodes made by Karpenter", *(str(r.nodes) for r in results)),
        ("first NodeClaim", *(_fmt(r.first_claim_s) for r in results)),
        ("last node Ready", *(_fmt(r.last_node_ready_s) for r in results)),
        ("node boot (median)", *(_fmt(r.node_boot_s).lstrip("+") for r in results)),
        ("first pod created", *(_fmt(r.first_pod_s) for r in results)),
        ("pod created->Ready (median)", *(_fmt(r.pod_wait_s).lstrip("+") for r in results)),
        ("reservation created", *(_fmt(r.reservation_created_s) for r in results)),
        ("reservation lived", *(_fmt(r.reservation_lived_s).lstrip("+") for r in results)),
        ("reserved pods / nodes", *(f"{r.reserved_pods} / {r.reserved_nodes}" for r in results)),
        ("all nodes gone after end", *(_fmt(r.nodes_gone_s) for r in results)),
        ("node-minutes (run)", *(f"{r.node_minutes:.1f}" for r in results)),
        ("idle reserved node-minutes", *(f"{r.idle_reserved_node_minutes:.1f}" for r in results)),
        (
            "same buffer kept permanently",
            *(f"{r.permanent_buffer_node_minutes_per_day:.0f}/day" for r in results),
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n(times in seconds from the event's start; 'gone' from its end)"
