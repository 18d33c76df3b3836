"""What ``showtime simulate`` prints: a table for people, JSON (same figures) for scripts.

Per policy: the share of the load left unserved, the minutes with any unserved load, the
peak shortfall (load, and replicas short), Ready pod-hours and their ratio to the oracle's.
Formatting only; the numbers come from ``replay``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from showtime.simulate.run import Simulation
from showtime.simulate.trace import Trace

HEADER = (
    "POLICY",
    "UNSERVED",
    "MINUTES UNSERVED",
    "PEAK SHORTFALL",
    "READY POD-HOURS",
    "VS ORACLE",
)


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")


def as_json(simulation: Simulation, trace: Trace) -> dict[str, Any]:
    namespace, kind, name = simulation.target
    sizing = simulation.sizing
    rows = []
    for policy, figures in simulation.figures.items():
        ratio = simulation.oracle_ratio(policy)
        rows.append(
            {
                "policy": policy,
                "unservedShare": round(figures.unserved_share, 6),
                "unservedMinutes": figures.unserved_minutes,
                "peakShortfall": round(figures.peak_shortfall, 3),
                "readyPodHours": round(figures.ready_pod_hours, 3),
                "podHours": round(figures.pod_hours, 3),
                "readyPodHoursVsOracle": round(ratio, 4) if ratio is not None else None,
            }
        )
    return {
        "trace": {
            "from": _iso(trace.start),
            "to": _iso(trace.end),
            "points": len(trace),
            "stepSeconds": trace.step,
        },
        "target": {
            "namespace": namespace,
            "kind": kind,
            "name": name,
            "capacityPerReplica": sizing.capacity,
            "targetPerReplica": sizing.target_per_replica,
            "minReplicas": sizing.min_replicas,
            "maxReplicas": sizing.max_replicas,
            "floor": simulation.floor,
        },
        "podReadySeconds": simulation.pod_ready,
        "policies": rows,
    }


def as_table(simulation: Simulation, trace: Trace) -> list[str]:
    namespace, kind, name = simulation.target
    capacity = simulation.sizing.capacity
    lines = [
        f"{kind} {namespace}/{name}: {len(trace)} points from {_iso(trace.start)} "
        f"to {_iso(trace.end)}, pods Ready {simulation.pod_ready:g}s after they are asked for",
        "",
    ]
    rows = [list(HEADER)]
    for policy, figures in simulation.figures.items():
        ratio = simulation.oracle_ratio(policy)
        short = math.ceil(round(figures.peak_shortfall / capacity, 9))
        rows.append(
            [
                policy,
                f"{figures.unserved_share:.3%}",
                f"{figures.unserved_minutes:,}",
                f"{figures.peak_shortfall:,.0f} ({short} pods)",
                f"{figures.ready_pod_hours:,.0f}",
                f"{ratio:.2f}x" if ratio is not None else "-",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
    return lines
