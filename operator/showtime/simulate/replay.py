"""The replay loop: one policy, one trace, the pods, and what was served.

Time advances from one change to the next: a trace point, a policy decision, pods becoming
Ready. Between two changes the load and the Ready count are constant, so the figures are
exact integrals, not samples: load and unserved load (``max(0, load - ready * capacity)``)
times seconds, Ready pod-seconds, the minutes that had any unserved load, the peak
shortfall. Pods asked for become Ready ``pod_ready`` seconds later (at once for an
``instant`` policy); a scale-down removes not-yet-Ready pods first, then Ready ones, at
once. Policies live in ``policies`` and ``showtime_policy``; printing in ``report``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from showtime.simulate.policies import Policy
from showtime.simulate.trace import Trace

PROGRESS_EVERY = 20_000  # loop steps between progress reports
SHORTFALL_EPSILON = 1e-9


@dataclass
class Figures:
    """What one policy did over the trace."""

    policy: str
    load_seconds: float = 0.0  # integral of the load
    unserved_seconds: float = 0.0  # integral of the unserved load
    unserved_minutes: int = 0  # minutes (of the clock) with any unserved load
    peak_shortfall: float = 0.0  # the largest unserved load at one instant
    ready_pod_seconds: float = 0.0
    pod_seconds: float = 0.0  # all pods, Ready or starting
    decisions: int = 0  # how often the policy was asked
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # (t, replicas, ready)

    @property
    def unserved_share(self) -> float:
        return self.unserved_seconds / self.load_seconds if self.load_seconds > 0 else 0.0

    @property
    def ready_pod_hours(self) -> float:
        return self.ready_pod_seconds / 3600

    @property
    def pod_hours(self) -> float:
        return self.pod_seconds / 3600


def replay(
    trace: Trace,
    policy: Policy,
    *,
    capacity: float,
    pod_ready: float,
    record: bool = False,
    progress: Callable[[float], None] | None = None,
) -> Figures:
    """Replay ``trace`` against ``policy``; ``record`` keeps the replica timeline (for plots)."""
    figures = Figures(policy.name)
    times, values = trace.times, trace.values
    end, count = trace.end, len(times)
    delay = 0.0 if policy.instant else pod_ready
    now = times[0]
    replicas = ready = policy.start(now, values[0])
    starting: deque[list[float]] = deque()  # [ready_at, pods], ready_at non-decreasing
    next_decision = now if not policy.follows_trace else math.inf
    index, steps = 0, 0
    last_minute = -1
    timeline = figures.timeline
    if record:
        timeline.append((now, replicas, ready))
    while now < end:
        load = values[index]
        if next_decision <= now or (policy.follows_trace and times[index] == now):
            wanted = policy.decide(now, load, replicas, ready)
            figures.decisions += 1
            if wanted > replicas:
                if delay > 0:
                    starting.append([now + delay, float(wanted - replicas)])
                else:
                    ready += wanted - replicas
            elif wanted < replicas:
                remove = replicas - wanted
                while remove and starting:  # not-yet-Ready pods go first
                    newest = starting[-1]
                    taken = min(remove, int(newest[1]))
                    newest[1] -= taken
                    remove -= taken
                    if newest[1] == 0:
                        starting.pop()
                ready -= remove
            replicas = wanted
            if not policy.follows_trace:
                next_decision = policy.next_decision(now)
            if record:
                timeline.append((now, replicas, ready))
        upcoming = times[index + 1] if index + 1 < count else end
        if next_decision < upcoming:
            upcoming = next_decision
        if starting and starting[0][0] < upcoming:
            upcoming = starting[0][0]
        span = upcoming - now
        if span > 0:
            served = ready * capacity
            figures.load_seconds += load * span
            figures.ready_pod_seconds += ready * span
            figures.pod_seconds += replicas * span
            shortfall = load - served
            if shortfall > SHORTFALL_EPSILON:
                figures.unserved_seconds += shortfall * span
                if shortfall > figures.peak_shortfall:
                    figures.peak_shortfall = shortfall
                first = int(now // 60)
                last = math.ceil(upcoming / 60) - 1
                if last > last_minute:
                    figures.unserved_minutes += last - max(first, last_minute + 1) + 1
                    last_minute = last
        now = upcoming
        while index + 1 < count and times[index + 1] <= now:
            index += 1
        while starting and starting[0][0] <= now:
            ready += int(starting.popleft()[1])
            if record:
                timeline.append((now, replicas, ready))
        steps += 1
        if progress is not None and steps % PROGRESS_EVERY == 0:
            progress((now - times[0]) / (end - times[0]))
    if record:
        timeline.append((end, replicas, ready))  # so a count held to the end is drawn
    return figures
