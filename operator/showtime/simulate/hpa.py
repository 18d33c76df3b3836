"""A model of the HorizontalPodAutoscaler controller with its default behaviour.

What it does at each sync (every 15 s), as kube-controller-manager does for external
metrics with an ``AverageValue`` target (how a Prometheus adapter or KEDA feeds it):

- per metric, a proposal: ``ceil(total / target)``, unless ``total / (target * replicas)``
  is within the 10 % tolerance of 1, when the current count stays;
- the highest proposal of all metrics;
- scale-down stabilization: the highest recommendation of the last 300 s;
- the default scale-up limit: at most ``max(2 * replicas, replicas + 4)`` per 15 s;
- clamped to ``[minReplicas, maxReplicas]``; below ``minReplicas`` it goes straight there.

The metric is the load at the instant of the sync (no scrape or ``rate()`` lag: the model
is on the reactive side's favour). Pure and small: the replay owns the clock and the pods.

For speed a caller may skip syncs that would change nothing (``steady``: every metric asks
for the current count and no scale-down is pending, and the load has not moved); it then
calls ``skipped`` so the stabilization window still holds what those syncs recommended.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

SYNC_SECONDS = 15.0
TOLERANCE = 0.1
SCALE_DOWN_WINDOW_SECONDS = 300.0
SCALE_UP_PERCENT = 100
SCALE_UP_PODS = 4


def proposal(total: float, target: float, replicas: int) -> int:
    """Replicas one metric asks for, with the tolerance around the current count."""
    if replicas > 0 and abs(1.0 - total / (target * replicas)) <= TOLERANCE:
        return replicas
    return math.ceil(round(total / target, 9))


class HpaModel:
    """One HPA's state between syncs: its bounds and its recent recommendations."""

    def __init__(self, min_replicas: int, max_replicas: int) -> None:
        self.min_replicas = max(1, min_replicas)
        self.max_replicas = max(self.min_replicas, max_replicas)
        # (time, recommendation), recommendations decreasing: the window's max is first.
        self._window: deque[tuple[float, int]] = deque()

    def steady(self, proposals: Iterable[int], replicas: int) -> bool:
        """True when syncing again at the same load would recommend ``replicas`` again."""
        window = self._window
        return bool(window) and window[0][1] == replicas and all(p == replicas for p in proposals)

    def skipped(self, last: float, recommendation: int) -> None:
        """Syncs up to ``last`` were skipped while steady: remember their recommendation."""
        window = self._window
        if window and last <= window[-1][0]:
            return
        while window and window[-1][1] <= recommendation:
            window.pop()
        window.append((last, recommendation))

    def sync(self, now: float, proposals: Iterable[int], replicas: int) -> int:
        """The replica count the HPA sets at ``now``."""
        if replicas > self.max_replicas:
            return self.max_replicas
        if replicas < self.min_replicas:
            return self.min_replicas
        desired = max(proposals, default=replicas)
        window = self._window
        while window and window[-1][1] <= desired:
            window.pop()
        window.append((now, desired))
        cutoff = now - SCALE_DOWN_WINDOW_SECONDS
        while window[0][0] <= cutoff:
            window.popleft()
        highest = window[0][1]
        recommended = replicas
        if desired > replicas:
            recommended = desired
        elif highest < replicas:
            recommended = highest
        if recommended > replicas:
            limit = max(
                math.ceil(replicas * (1 + SCALE_UP_PERCENT / 100)), replicas + SCALE_UP_PODS
            )
            recommended = min(recommended, limit)
        return min(self.max_replicas, max(self.min_replicas, recommended))
