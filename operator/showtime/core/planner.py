"""The planner: what each TrafficEvent wants of each target at a given instant.

Everything here is pure: plain data in (a validated spec, the clock, observations such as
learned lead times and metric samples), decisions out. The operator's reconciler, the
``showtime plan`` command and the benchmarks all call these functions; none of them does
I/O or reads the clock. Combining the wishes of several events on one target, scale-down
limits and hand-back live in ``targets``; status and conditions in ``status``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from showtime.core.schedule import Occurrence, relevant_occurrences, shifted
from showtime.core.spec import MAX_LEAD_TIME, Target, TrafficEventSpec

TargetKey = tuple[str, str]  # (kind, name); the namespace is the event's
MAX_STEPS = 10  # ramp-up and cooldown move in at most this many steps
MIN_STEP_SECONDS = 10  # and each step lasts at least this long


class Stage(StrEnum):
    SCHEDULED = "Scheduled"
    PREWARMING = "PreWarming"
    LIVE = "Live"
    COOLING_DOWN = "CoolingDown"
    COMPLETED = "Completed"
    SUSPENDED = "Suspended"
    INVALID = "Invalid"


# Which stage names an event when two occurrences overlap (a cron event cooling down
# while the next occurrence already pre-warms): the more urgent one.
_URGENCY = {
    Stage.LIVE: 4,
    Stage.PREWARMING: 3,
    Stage.COOLING_DOWN: 2,
    Stage.SCHEDULED: 1,
    Stage.COMPLETED: 0,
}
HOLDING_STAGES = frozenset({Stage.PREWARMING, Stage.LIVE, Stage.COOLING_DOWN})


class Reason(StrEnum):
    FLOOR = "Floor"
    METRIC = "Metric"
    CAP = "Cap"
    HAND_BACK = "HandBack"
    NONE = "None"


@dataclass(frozen=True)
class Timeline:
    """One occurrence with the instants derived from lead time, ramp and cooldown."""

    occurrence: Occurrence
    prewarm_at: datetime  # the floor starts rising
    full_at: datetime  # the full floor is requested: start - leadTime
    released_at: datetime  # end + cooldown: nothing held after this

    def stage_at(self, now: datetime) -> Stage:
        if now < self.prewarm_at:
            return Stage.SCHEDULED
        if now < self.occurrence.start:
            return Stage.PREWARMING
        if now < self.occurrence.end:
            return Stage.LIVE
        if now < self.released_at:
            return Stage.COOLING_DOWN
        return Stage.COMPLETED


def make_timeline(
    occurrence: Occurrence, *, lead_time: timedelta, ramp_up: timedelta, cooldown: timedelta
) -> Timeline:
    full_at = shifted(occurrence.start, -lead_time)
    return Timeline(
        occurrence, shifted(full_at, -ramp_up), full_at, shifted(occurrence.end, cooldown)
    )


def floor_at(full_floor: int, min_replicas: int, timeline: Timeline, now: datetime) -> int | None:
    """The floor a target needs at ``now`` for one occurrence; None while it is not held.

    Before ``full_at`` the floor rises in at most ten equal steps (of at least 10 s) over
    the ramp window;
    from ``full_at`` to the end it is the full floor; during cooldown it decays in at most
    ten equal steps to nothing. While held it never drops below ``min_replicas``.
    """
    if now < timeline.prewarm_at or now >= timeline.released_at:
        return None
    if now < timeline.full_at:
        done = _steps_done(timeline.prewarm_at, timeline.full_at, now)
        value = math.ceil(full_floor * (done[0] + 1) / done[1])
    elif now < timeline.occurrence.end:
        value = full_floor
    else:
        step, steps = _steps_done(timeline.occurrence.end, timeline.released_at, now)
        value = math.ceil(full_floor * (steps - step) / steps)
    return max(min_replicas, value)


def _steps_done(begin: datetime, end: datetime, now: datetime) -> tuple[int, int]:
    """(steps completed, number of steps) of a window cut into 1 to 10 steps of at least 10 s."""
    window = (end - begin).total_seconds()
    steps = max(1, min(MAX_STEPS, int(window // MIN_STEP_SECONDS)))
    done = (now - begin).total_seconds() / window
    return min(steps - 1, int(done * steps)), steps


def effective_lead_time(
    spec: TrafficEventSpec,
    learned: Mapping[TargetKey, timedelta | None],
    default: timedelta,
) -> timedelta:
    """An explicit leadTime, else the longest learned (or default) lead time of the targets."""
    if spec.lead_time is not None:
        return spec.lead_time
    values = [learned.get(t.key) or default for t in spec.targets]
    return max(values, default=default)


@dataclass(frozen=True)
class TargetWish:
    """What one event wants for one of its targets at one instant."""

    target: Target
    floor: int  # floor(t), 0 when the event does not hold the target
    desired: int  # min(maxReplicas, max(floor, reactive)), at least minReplicas
    reason: Reason
    reactive: int | None  # ceil(sample / targetPerReplica), None without a usable sample


@dataclass(frozen=True)
class EventPlan:
    stage: Stage
    timeline: Timeline | None  # the occurrence acted on or next to come; None when completed
    lead_time: timedelta
    floors: Mapping[TargetKey, int] = field(default_factory=dict)  # only for held targets

    @property
    def holding(self) -> bool:
        return self.stage in HOLDING_STAGES


def plan_event(
    spec: TrafficEventSpec,
    *,
    now: datetime,
    lead_time: timedelta,
    prewarm_started: tuple[datetime, datetime] | None = None,
) -> EventPlan:
    """Stage, timeline and floor(t) of every target of one event at ``now``.

    ``prewarm_started`` is ``(start, prewarmAt)`` as status reported them for an occurrence;
    once that pre-warm instant has passed it is kept even if the learned lead time shrinks
    meanwhile, so a pre-warm in progress never stops and starts again.

    Every occurrence gets its full floor from its own ``start - leadTime`` to its end, however
    many overlap (see ``relevant_occurrences``). A lead time is taken within 0 to
    ``MAX_LEAD_TIME`` (a learned one can be longer): nothing is pre-warmed a day ahead.
    """
    lead_time = min(max(lead_time, timedelta(0)), MAX_LEAD_TIME)
    if spec.suspend:
        return EventPlan(Stage.SUSPENDED, None, lead_time)
    occurrences = relevant_occurrences(
        spec.schedule, now=now, lead_time=lead_time, cooldown=spec.cooldown
    )
    if not occurrences:
        return EventPlan(Stage.COMPLETED, None, lead_time)
    timelines = []
    for occurrence in occurrences:
        lead = lead_time
        if prewarm_started is not None:
            started_for, started_at = prewarm_started
            if started_for == occurrence.start and started_at <= now:
                kept = shifted(occurrence.start, -spec.ramp_up) - started_at
                lead = max(lead, min(kept, MAX_LEAD_TIME))
        timelines.append(
            make_timeline(occurrence, lead_time=lead, ramp_up=spec.ramp_up, cooldown=spec.cooldown)
        )
    floors: dict[TargetKey, int] = {}
    for timeline in timelines:
        for target in spec.targets:
            value = floor_at(spec.floor_of(target), target.min_replicas, timeline, now)
            if value is not None:
                floors[target.key] = max(value, floors.get(target.key, 0))
    staged = [(timeline.stage_at(now), timeline) for timeline in timelines]
    # Every relevant occurrence is released after now, so none of them is Completed here;
    # of equally urgent ones (several pre-warming) the earliest is reported.
    stage, timeline = max(staged, key=lambda pair: _URGENCY[pair[0]])
    if stage is Stage.SCHEDULED:
        # Report the next occurrence that has not started yet.
        upcoming = [t for t in timelines if t.occurrence.start > now]
        timeline = upcoming[0] if upcoming else timeline
    return EventPlan(stage, timeline, timeline.occurrence.start - timeline.full_at, floors)


def reactive_replicas(sample_value: float, target_per_replica: float) -> int:
    """Replicas the metric asks for: ceil(value / targetPerReplica), never negative.

    A ratio too large to count (a huge sample over a tiny targetPerReplica) asks for
    ``REACTIVE_LIMIT``; the caller caps it at maxReplicas anyway.
    """
    if sample_value <= 0 or math.isnan(sample_value):
        return 0
    ratio = sample_value / target_per_replica
    if not math.isfinite(ratio) or ratio >= REACTIVE_LIMIT:
        return REACTIVE_LIMIT
    return math.ceil(round(ratio, 9))


REACTIVE_LIMIT = 2**31 - 1  # more than any maxReplicas the CRD allows


def wish_for(
    target: Target,
    floor: int,
    *,
    sample_value: float | None,
    metric_failed: bool,
    last_desired: int | None,
) -> TargetWish:
    """Desired replicas of one held target: ``min(maxReplicas, max(floor, reactive))``.

    A failed metric never lowers the count: the last desired count is kept instead.
    """
    reactive = None
    if target.metric is not None and sample_value is not None and not metric_failed:
        reactive = reactive_replicas(sample_value, target.metric.target_per_replica)
    wanted, reason = floor, Reason.FLOOR
    if reactive is not None and reactive > floor:
        wanted, reason = reactive, Reason.METRIC
    if metric_failed and last_desired is not None and last_desired > wanted:
        wanted, reason = last_desired, Reason.METRIC
    if wanted > target.max_replicas:
        wanted, reason = target.max_replicas, Reason.CAP
    return TargetWish(target, floor, max(target.min_replicas, wanted), reason, reactive)
