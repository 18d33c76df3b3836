"""What ``make bench-burst`` measures per Deployment, from the driver's samples (pure).

What lives here: ``Sample`` (one instant: load and Ready replicas), ``Measures`` and
``measure``: the unserved share ∫max(0, load − ready × capacity)dt ÷ ∫load dt, the seconds
during which any load was unserved, the time from the burst until capacity covered the load
for good, Ready pod-seconds and their ratio to the oracle (exactly ceil(load ÷ capacity)
Ready at every instant). Each sample holds until the next (left Riemann sum on the
driver's ~1 s grid). What does not: collecting samples (``driver``) or printing them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Float noise in load × share must not count as an unserved second.
_EPSILON = 1e-6


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the run's origin
    load: float  # requests/s offered to the Deployment
    ready: int  # its Ready pods
    replicas: int  # its spec.replicas


@dataclass(frozen=True)
class Measures:
    unserved_share: float  # 0..1
    unserved_seconds: float
    time_to_capacity: float | None  # seconds from the burst; None: never covered
    ready_pod_seconds: float
    oracle_pod_seconds: float

    @property
    def pod_seconds_ratio(self) -> float:
        return self.ready_pod_seconds / self.oracle_pod_seconds if self.oracle_pod_seconds else 0.0


def oracle_ready(load: float, capacity: float) -> int:
    return math.ceil(load / capacity - _EPSILON) if load > 0 else 0


def measure(
    samples: Sequence[Sample], capacity: float, window: tuple[float, float], burst_at: float
) -> Measures:
    """The measures over ``window`` = [from, to) s; the burst begins at ``burst_at``."""
    lo, hi = window
    offered = unserved = unserved_s = pods = oracle = 0.0
    last_short: float | None = None
    ordered = sorted(samples, key=lambda s: s.t)
    for here, after in itertools.pairwise(ordered):
        t0, t1 = max(here.t, lo), min(after.t, hi)
        if t1 <= t0:
            continue
        dt = t1 - t0
        short = here.load - here.ready * capacity
        offered += here.load * dt
        pods += here.ready * dt
        oracle += oracle_ready(here.load, capacity) * dt
        if short > _EPSILON:
            unserved += short * dt
            unserved_s += dt
            if here.t >= burst_at:
                last_short = t1
    covered: float | None
    if last_short is None:
        covered = 0.0
    elif ordered and last_short >= min(ordered[-1].t, hi):
        covered = None  # still short at the end of the window
    else:
        covered = last_short - burst_at
    return Measures(
        unserved_share=unserved / offered if offered else 0.0,
        unserved_seconds=unserved_s,
        time_to_capacity=covered,
        ready_pod_seconds=pods,
        oracle_pod_seconds=oracle,
    )
