"""Showtime's policy: the operator's own pure core driving a simulated workload.

Every operator tick (10 s, as ``SHOWTIME_TICK``'s default) builds the ``Observed`` the
shell's gather step would build (the TrafficEvents with their status so far, the workload
with its ``showtime.dev/`` annotations and its HPA, the pods' start-up as learned) and
calls ``core.decide.decide`` with the trace's load as the metric's answer. The
``Decisions`` are applied as the shell's apply step would: workload writes (replicas and
annotations), HPA ``minReplicas`` writes, status merge patches. So the planner, the floors,
scale-down limits and hand-back are the operator's code, not a second implementation.

Two set-ups: ``with_hpa`` (Showtime next to the same HPA the ``hpa`` policy models: it
raises the HPA's ``minReplicas``; the HPA model syncs every 15 s) and without (Showtime
alone sets the replicas; outside events the workload stays at its ``minReplicas``).

Ticks that cannot change anything are skipped: an event is only handed to ``decide`` from
shortly before its ``prewarmAt`` (as its own status reports it) until it is Completed, and
no tick runs while no event is near and Showtime holds nothing (no annotations).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from showtime.cluster.mergepatch import apply_merge_patch
from showtime.core.decide import decide
from showtime.core.leadtime import StartupMemory
from showtime.core.observed import (
    HpaWrite,
    Observed,
    ObservedEvent,
    ObservedWorkload,
    WorkloadKey,
    WorkloadWrite,
)
from showtime.core.planner import reactive_replicas
from showtime.core.samples import MetricResult, Sample
from showtime.core.spec import Target, TrafficEventSpec
from showtime.core.targets import HpaView
from showtime.core.timestamps import parse_timestamp, rfc3339
from showtime.simulate.hpa import HpaModel, proposal
from showtime.simulate.policies import Sizing, SyncClock
from showtime.simulate.trace import Trace

OPERATOR_TICK_SECONDS = 10.0
DEFAULT_LEAD_TIME = timedelta(minutes=5)  # the operator's default; unused once seeded
__all__ = ["ShowtimePolicy", "SimEvent", "decide"]  # decide: tests count its calls

IDLE_PHASES = frozenset({"Completed", "Invalid", "Suspended"})
HPA_NAME = "simulated-hpa"


@dataclass(frozen=True)
class SimEvent:
    """A TrafficEvent as read from a manifest."""

    namespace: str
    name: str
    raw_spec: dict[str, Any]
    spec: TrafficEventSpec


class ShowtimePolicy:
    instant = False
    follows_trace = False

    def __init__(
        self,
        events: Sequence[SimEvent],
        target: WorkloadKey,
        sizing: Sizing,
        *,
        pod_ready: float,
        with_hpa: bool = True,
        tick: float = OPERATOR_TICK_SECONDS,
        trace: Trace | None = None,
    ) -> None:
        self.name = "showtime" if with_hpa else "showtime-alone"
        self.events = list(events)
        self.target = target
        self.sizing = sizing
        self.pod_ready = pod_ready
        self.tick = tick
        self.hpa = HpaModel(sizing.min_replicas, sizing.max_replicas) if with_hpa else None
        self.hpa_min_field: int | None = sizing.min_replicas
        self.annotations: dict[str, str] = {}
        self.status: list[dict[str, Any]] = [{} for _ in self.events]
        self.wake = [-math.inf] * len(self.events)
        namespace, kind, name = target
        self.queries = {
            t.metric.query
            for e in self.events
            if e.namespace == namespace
            for t in e.spec.targets
            if (t.kind, t.name) == (kind, name) and t.metric is not None
        }
        self.version = 0
        self.ticks = 0  # how often decide was called
        self.failures: list[str] = []  # what decide reported going wrong (the operator logs it)
        self.memory = StartupMemory()
        self._origin = 0.0
        self._next_tick = 0.0
        self.clock = SyncClock(trace, sizing.target_per_replica)
        self._trace = trace  # when the metric can change, and to what
        self._steady_until = -math.inf  # ticks before this would decide what the last did

    def start(self, now: float, load: float) -> int:
        self._origin = self._next_tick = now
        moment = datetime.fromtimestamp(now, UTC)
        # A running operator has seen the workload's pods start: it knows their start-up.
        sample = {"pod": "simulated", "seconds": self.pod_ready, "readyAt": rfc3339(moment)}
        self.memory = StartupMemory.from_records([(self.target, {"recent": [sample]})], moment)
        if self.hpa is None:
            return self.sizing.min_replicas
        self.clock.origin = self.clock.next = now
        return self.sizing.clamp(math.ceil(round(load / self.sizing.target_per_replica, 9)))

    def next_decision(self, now: float) -> float:
        return min(self._next_tick, self.clock.next if self.hpa is not None else math.inf)

    def decide(self, now: float, load: float, replicas: int, ready: int) -> int:
        hpa, clock = self.hpa, self.clock
        if now >= self._next_tick:
            minimum = self.hpa_min_field
            replicas = self._operator_tick(now, load, replicas, ready)
            self._next_tick = self._following_tick(now)
            if hpa is not None and self.hpa_min_field != minimum and clock.next > now:
                clock.next = clock.at_or_after(now)  # the HPA acts on its new minimum
        if hpa is not None and now >= clock.next:
            hpa.min_replicas = 1 if self.hpa_min_field is None else self.hpa_min_field
            wanted = proposal(load, self.sizing.target_per_replica, replicas)
            clock.resume(hpa, now)
            result = hpa.sync(now, (wanted,), replicas)
            clock.after_sync(now, result == replicas and hpa.steady((wanted,), replicas), result)
            replicas = result
        return replicas

    # -- one operator tick ------------------------------------------------------------------

    def _operator_tick(self, now: float, load: float, replicas: int, ready: int) -> int:
        active = [i for i, wake in enumerate(self.wake) if wake <= now]
        self._steady_until = -math.inf
        if not active and not self.annotations:
            return replicas
        moment = datetime.fromtimestamp(now, UTC)
        namespace, kind, name = self.target
        hpa = None
        if self.hpa is not None:
            hpa = HpaView(HPA_NAME, self.hpa_min_field, self.hpa.max_replicas)
        workload = ObservedWorkload(
            namespace=namespace,
            kind=kind,
            name=name,
            uid="simulated",
            replicas=replicas,
            ready=ready,
            resource_version=str(self.version),
            annotations=dict(self.annotations),
            hpa=hpa,
            hpa_resource_version=str(self.version),
        )
        observed = Observed(
            now=moment,
            events=tuple(self._observed_event(i) for i in active),
            workloads={self.target: workload},
            default_lead_time=DEFAULT_LEAD_TIME,
            startup=self.memory,
        )
        results: dict[str, MetricResult] = {q: Sample(load, moment) for q in self.queries}
        decisions = decide(observed, results)
        self.ticks += 1
        self.failures.extend(decisions.failures)
        wrote = any(action.writes for action in decisions.targets if action.key == self.target)
        for action in decisions.targets:
            if action.key != self.target:
                continue
            for write in action.writes:
                self.version += 1
                if isinstance(write, WorkloadWrite):
                    for key, value in (write.annotations or {}).items():
                        if value is None:
                            self.annotations.pop(key, None)
                        else:
                            self.annotations[key] = value
                    if write.replicas is not None:
                        replicas = write.replicas
                elif isinstance(write, HpaWrite):
                    self.hpa_min_field = write.min_replicas
        index = {(self.events[i].namespace, self.events[i].name): i for i in active}
        for status_write in decisions.statuses:
            i = index.get((status_write.namespace, status_write.name))
            if i is not None:
                self.status[i] = apply_merge_patch(self.status[i], status_write.patch)
        for i in active:
            self.wake[i] = self._wake_at(self.status[i], now)
        if not wrote:
            self._steady_until = self._steady(active, now, replicas, load)
        return replicas

    def _steady(self, active: list[int], now: float, replicas: int, load: float) -> float:
        """Until when ticks would change nothing: ``-inf`` unless surely steady.

        Steady: every active event is Live (or pre-warming without a ramp), so its floor
        is flat until its next stage; Showtime's count is what the events want (no
        scale-down under way, whose pace depends on the clock); and until the trace's
        load asks for another count than ``max(floor, reactive)`` asks for now.
        """
        _namespace, kind, name = self.target
        moved = replicas if self.hpa is None else (self.hpa_min_field or 1)
        wanted, until = 0, math.inf
        held: list[tuple[Target, int]] = []
        for i in active:
            status, spec = self.status[i], self.events[i].spec
            held += [
                (t, spec.floor_of(t)) for t in spec.targets if (t.kind, t.name) == (kind, name)
            ]
            phase = status.get("phase")
            if phase == "Live":
                boundary = parse_timestamp(status.get("endsAt"))
            elif phase == "PreWarming" and not spec.ramp_up:
                boundary = parse_timestamp(status.get("nextStart"))
            else:
                return -math.inf
            if boundary is None:
                return -math.inf
            until = min(until, boundary.timestamp())
            for entry in status.get("targets") or []:
                if (entry.get("kind"), entry.get("name")) == (kind, name):
                    wanted = max(wanted, int(entry.get("desiredReplicas") or 0))
        if wanted != moved or self._trace is None:
            return -math.inf
        times, values = self._trace.times, self._trace.values
        asked = _wish(held, load)
        following = bisect.bisect_right(times, now)
        while following < len(times) and times[following] < until:
            if _wish(held, values[following]) != asked:
                return times[following]
            following += 1
        return until

    def _observed_event(self, i: int) -> ObservedEvent:
        event = self.events[i]
        return ObservedEvent(
            namespace=event.namespace,
            name=event.name,
            uid=f"simulated-{i}",
            generation=1,
            spec=event.spec,
            raw_spec=event.raw_spec,
            status=self.status[i],
        )

    def _wake_at(self, status: dict[str, Any], now: float) -> float:
        """When the event next needs a tick: now while it holds, else shortly before pre-warm."""
        phase = status.get("phase")
        if phase in IDLE_PHASES:
            return math.inf
        if phase == "Scheduled":
            prewarm = parse_timestamp(status.get("prewarmAt"))
            if prewarm is not None:
                return prewarm.timestamp() - self.tick
        return now

    def _following_tick(self, now: float) -> float:
        following = now + self.tick
        if self._steady_until > following:  # the first tick at or after the change
            periods = math.ceil((self._steady_until - self._origin) / self.tick)
            return self._origin + periods * self.tick
        if any(w <= following for w in self.wake) or self.annotations:
            return following
        wake = min(self.wake, default=math.inf)
        if wake == math.inf:
            return math.inf
        periods = math.ceil((wake - self._origin) / self.tick)
        return max(following, self._origin + periods * self.tick)


def _wish(held: list[tuple[Target, int]], load: float) -> int:
    """What the holding events ask of the target at ``load`` while their floors are flat."""
    wanted = 0
    for target, floor in held:
        reactive = 0
        if target.metric is not None:
            reactive = reactive_replicas(load, target.metric.target_per_replica)
        wanted = max(wanted, min(target.max_replicas, max(target.min_replicas, floor, reactive)))
    return wanted
