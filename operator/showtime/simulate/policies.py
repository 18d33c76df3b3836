"""The scaling policies a trace is replayed against, behind one small interface.

A ``Policy`` is asked for its starting replica count, then, at the instants it names with
``next_decision``, for the count it wants (``decide``). The replay owns the clock and the
pods. Here: ``HpaPolicy`` (an HPA on the load), ``KedaPolicy`` (KEDA's cron trigger opening
10 minutes before each occurrence at Showtime's floor, plus a Prometheus trigger on the
same load; KEDA drives an HPA, so the HPA model applies), ``FixedPolicy`` (the floor all
day) and ``OraclePolicy`` (exactly ``ceil(load / capacity)`` Ready at every instant).
Showtime's policy, the operator's own core, is in ``showtime_policy``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from showtime.simulate.hpa import SYNC_SECONDS, HpaModel, proposal
from showtime.simulate.trace import Trace

KEDA_CRON_OPENS_BEFORE_SECONDS = 600.0


class Policy(Protocol):
    name: str
    instant: bool  # True: pods are Ready the moment they are asked for (the oracle)
    follows_trace: bool  # True: decides at every trace point instead of next_decision

    def start(self, now: float, load: float) -> int:
        """Replicas (all Ready) when the trace begins."""
        ...

    def decide(self, now: float, load: float, replicas: int, ready: int) -> int:
        """The replica count wanted at ``now``."""
        ...

    def next_decision(self, now: float) -> float:
        """When to ask next (after ``now``); ``math.inf`` for never."""
        ...


@dataclass(frozen=True)
class Sizing:
    """What the policies need to know about the target."""

    capacity: float  # load one Ready replica serves (capacityPerReplica)
    target_per_replica: float  # what the reactive scalers aim for (the metric's, or capacity)
    min_replicas: int
    max_replicas: int

    def needed(self, load: float) -> int:
        return math.ceil(round(load / self.capacity, 9)) if load > 0 else 0

    def clamp(self, count: int) -> int:
        return min(self.max_replicas, max(self.min_replicas, count))


@dataclass(frozen=True)
class Window:
    """A KEDA cron trigger's active window and the replicas it asks for."""

    opens: float
    closes: float
    replicas: int


class SyncClock:
    """The HPA's 15 s grid from the trace's start, and skipping syncs that change nothing."""

    def __init__(self, trace: Trace | None, target_per_replica: float) -> None:
        self.origin = 0.0
        self.times = trace.times if trace is not None else ()  # when the metric can change
        self.values = trace.values if trace is not None else ()
        self.target = target_per_replica
        self.next = math.inf
        self._idle: tuple[float, int] | None = None  # (since, recommendation) while skipping

    def at_or_after(self, moment: float) -> float:
        if moment == math.inf:
            return math.inf
        periods = math.ceil((moment - self.origin) / SYNC_SECONDS)
        return self.origin + periods * SYNC_SECONDS

    def resume(self, hpa: HpaModel, now: float) -> None:
        """Before a sync: tell the HPA what the skipped syncs recommended."""
        if self._idle is not None:
            since, recommendation = self._idle
            if now - SYNC_SECONDS > since:
                hpa.skipped(now - SYNC_SECONDS, recommendation)
            self._idle = None

    def after_sync(self, now: float, steady: bool, replicas: int, until: float = math.inf) -> None:
        """Schedule the next sync: the next grid point, or past a steady stretch."""
        self.next = now + SYNC_SECONDS
        if not steady or not self.times:  # without the trace, the load may change any time
            return
        times, values, target = self.times, self.values, self.target
        following = bisect.bisect_right(times, now)
        while following < len(times) and times[following] < until:
            if proposal(values[following], target, replicas) != replicas:
                until = times[following]  # the load asks for another count from here
                break
            following += 1
        if until > self.next:
            self._idle = (now, replicas)
            self.next = self.at_or_after(until)


class _Synced:
    """Decides on the HPA's grid."""

    def __init__(self, sizing: Sizing, trace: Trace | None = None) -> None:
        self.sizing = sizing
        self.hpa = HpaModel(sizing.min_replicas, sizing.max_replicas)
        self.clock = SyncClock(trace, sizing.target_per_replica)

    def start(self, now: float, load: float) -> int:
        self.clock.origin = self.clock.next = now
        target = self.sizing.target_per_replica
        return self.sizing.clamp(math.ceil(round(load / target, 9)))

    def next_decision(self, now: float) -> float:
        return self.clock.next


class HpaPolicy(_Synced):
    name = "hpa"
    instant = False
    follows_trace = False

    def decide(self, now: float, load: float, replicas: int, ready: int) -> int:
        wanted = proposal(load, self.sizing.target_per_replica, replicas)
        self.clock.resume(self.hpa, now)
        result = self.hpa.sync(now, (wanted,), replicas)
        steady = result == replicas and self.hpa.steady((wanted,), replicas)
        self.clock.after_sync(now, steady, replicas)
        return result


class KedaPolicy(_Synced):
    name = "keda"
    instant = False
    follows_trace = False

    def __init__(
        self, sizing: Sizing, windows: Sequence[Window], trace: Trace | None = None
    ) -> None:
        super().__init__(sizing, trace)
        self.windows = sorted(windows, key=lambda w: w.opens)
        self.edges = sorted({w.opens for w in windows} | {w.closes for w in windows})
        self._next = 0  # windows before this one have closed

    def decide(self, now: float, load: float, replicas: int, ready: int) -> int:
        proposals = [proposal(load, self.sizing.target_per_replica, replicas)]
        cron = self._cron_replicas(now)
        if cron:
            proposals.append(proposal(cron, 1.0, replicas))
        self.clock.resume(self.hpa, now)
        result = self.hpa.sync(now, proposals, replicas)
        steady = result == replicas and self.hpa.steady(proposals, replicas)
        edge = bisect.bisect_right(self.edges, now)
        until = self.edges[edge] if edge < len(self.edges) else math.inf
        self.clock.after_sync(now, steady, replicas, until)
        return result

    def _cron_replicas(self, now: float) -> int:
        windows = self.windows
        while self._next < len(windows) and windows[self._next].closes <= now:
            self._next += 1
        found = 0
        for window in windows[self._next :]:
            if window.opens > now:
                break
            if window.closes > now:
                found = max(found, window.replicas)
        return found


class FixedPolicy:
    name = "fixed"
    instant = False
    follows_trace = False

    def __init__(self, floor: int) -> None:
        self.floor = floor

    def start(self, now: float, load: float) -> int:
        return self.floor

    def decide(self, now: float, load: float, replicas: int, ready: int) -> int:
        return self.floor

    def next_decision(self, now: float) -> float:
        return math.inf


class OraclePolicy:
    name = "oracle"
    instant = True
    follows_trace = True

    def __init__(self, sizing: Sizing) -> None:
        self.sizing = sizing

    def start(self, now: float, load: float) -> int:
        return self.sizing.needed(load)

    def decide(self, now: float, load: float, replicas: int, ready: int) -> int:
        return self.sizing.needed(load)

    def next_decision(self, now: float) -> float:
        return math.inf
