"""What a metric query answers during a replay: the load, seen through its range window.

A query such as ``sum(rate(http_requests_total[1m]))`` does not answer the load of this
instant but its mean over the last minute: on a rising or falling load it lags by about half
the window. Policies that read the event's metric (Showtime's reactive part, KEDA's
prometheus trigger) see that lagged value; the pods serve the real load. Here:
``range_seconds`` (the longest range selector of a PromQL query, 0 without one),
``trailing_mean`` (the metric as a trace of its own: the exact mean of the step-function
load over the window, at the load's points and at least every ``GRID_SECONDS`` between
them) and ``MetricView`` (a policy that is handed the metric instead of the load). The
replay and the policies themselves live in ``replay``, ``policies`` and
``showtime_policy``.
"""

from __future__ import annotations

import bisect
import math
import re
from typing import Any

from showtime.simulate.policies import Policy
from showtime.simulate.trace import Trace

GRID_SECONDS = 30.0  # the metric is followed at least this finely between the load's points
_RANGE = re.compile(r"\[\s*((?:\d+(?:ms|s|m|h|d|w|y))+)\s*(?::[^\]]*)?\]")
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def range_seconds(query: str) -> float:
    """The longest range selector (``[1m]``, ``[90s]``, ``[1h30m]``, ``[5m:30s]``) in seconds."""
    longest = 0.0
    for match in _RANGE.finditer(query):
        seconds = sum(int(n) * _UNIT[unit] for n, unit in _PART.findall(match.group(1)))
        longest = max(longest, float(seconds))
    return longest


def trailing_mean(trace: Trace, window: float) -> Trace:
    """The metric: at each instant, the mean load over the ``window`` seconds before it.

    Evaluated at the load's points, where the oldest point leaves the window, and every
    ``GRID_SECONDS`` in longer gaps; each value holds until the next (as in any trace).
    At the start of the trace the mean is over what there is. One sweep, no search.
    """
    if window <= 0:
        return trace
    times, values = trace.times, trace.values
    count = len(times)
    prefix = [0.0] * count  # integral of the load from the start to each point
    for i in range(1, count):
        prefix[i] = prefix[i - 1] + values[i - 1] * (times[i] - times[i - 1])
    instants: list[float] = []
    for i, t in enumerate(times):
        gap = (times[i + 1] if i + 1 < count else trace.end) - t
        instants.append(t)
        if gap > GRID_SECONDS:
            pieces = math.ceil(gap / GRID_SECONDS)
            instants.extend(t + gap * k / pieces for k in range(1, pieces))
    if window < trace.step * 4:  # where a point leaves the window (fine traces only)
        instants.extend(t + window for t in times if t + window < trace.end)
        instants = sorted(set(instants))
    start, means = times[0], []
    here = back = 0  # the points at or before t, and at or before t - window
    for t in instants:
        while here + 1 < count and times[here + 1] <= t:
            here += 1
        since = t - window
        if since <= start:
            since = start
        else:
            while back + 1 < count and times[back + 1] <= since:
                back += 1
        if t <= since:
            means.append(values[0])
            continue
        upper = prefix[here] + values[here] * (t - times[here])
        lower = prefix[back] + values[back] * (since - times[back]) if since > start else 0.0
        means.append((upper - lower) / (t - since))
    return Trace(instants, means, trace.step)


class MetricView:
    """A policy that decides on the metric (``trailing_mean``) instead of the load."""

    def __init__(self, policy: Policy, metric: Trace) -> None:
        self.policy = policy
        self.metric = metric
        self.name = policy.name
        self.instant = policy.instant
        self.follows_trace = policy.follows_trace

    def value_at(self, now: float) -> float:
        times = self.metric.times
        return self.metric.values[max(0, bisect.bisect_right(times, now) - 1)]

    def start(self, now: float, load: float) -> int:
        return self.policy.start(now, self.value_at(now))

    def decide(self, now: float, load: float, replicas: int, ready: int) -> int:
        return self.policy.decide(now, self.value_at(now), replicas, ready)

    def next_decision(self, now: float) -> float:
        return self.policy.next_decision(now)

    def __getattr__(self, name: str) -> Any:  # the wrapped policy's own figures (failures)
        return getattr(self.policy, name)
