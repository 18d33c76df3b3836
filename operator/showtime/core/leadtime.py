"""Lead time ``auto``: how long before start the floor must be requested to be Ready by start.

Learned from the target's own pods: the time from a pod's creation to its Ready condition,
a high percentile over the pods observed, times a safety factor, plus a margin. With no
observation the operator-wide default applies. Pure: the caller extracts the durations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from showtime.core.timestamps import parse_timestamp

PERCENTILE = 0.9
SAFETY_FACTOR = 1.5
MARGIN = timedelta(seconds=30)
MAXIMUM = timedelta(hours=2)


@dataclass(frozen=True)
class LeadTime:
    value: timedelta
    learned: bool  # False: the default, nothing observed


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def learn_lead_time(time_to_ready: Sequence[timedelta], *, default: timedelta) -> LeadTime:
    """Effective lead time from observed pod start-up durations."""
    seconds = [d.total_seconds() for d in time_to_ready if d >= timedelta(0)]
    if not seconds:
        return LeadTime(default, learned=False)
    estimate = timedelta(seconds=percentile(seconds, PERCENTILE) * SAFETY_FACTOR) + MARGIN
    estimate = timedelta(seconds=math.ceil(estimate.total_seconds()))
    return LeadTime(min(estimate, MAXIMUM), learned=True)


def pod_time_to_ready(pod: Mapping[str, Any]) -> timedelta | None:
    """Creation to Ready of one pod (a Kubernetes Pod as a dict), or None if not Ready yet."""
    created = parse_timestamp(pod.get("metadata", {}).get("creationTimestamp"))
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            ready = parse_timestamp(condition.get("lastTransitionTime"))
            if created is not None and ready is not None:
                return ready - created
    return None
