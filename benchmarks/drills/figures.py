"""The drills' figures from a sequence of samples: pure functions, no cluster.

What lives here: ``Hold`` (a target must have at least ``floor`` replicas requested from
``since`` to ``until``), ``Sample`` (what was requested of each target at one moment, and
the state a hand-back must restore), and the figures every drill reports:
``floor_violations`` (seconds during which a held target had fewer replicas requested than
its floor), ``lowered`` (times a held target's requested count went down) and
``lost_handbacks`` (targets not back at their exact pre-event state).

What does not: reading the cluster (``monitor``), or deciding the holds (``scenario``).
"Requested" is ``spec.replicas`` of a Deployment or StatefulSet, or the HPA's
``spec.minReplicas`` when an HPA scales the target (Showtime never writes replicas there).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hold:
    """From ``since`` to ``until`` (seconds on the drill's clock) ``target`` needs ``floor``."""

    target: str
    since: float
    until: float
    floor: int


@dataclass(frozen=True)
class TargetState:
    """What a hand-back must restore: the requested count and Showtime-relevant annotations."""

    requested: int
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """One look at the cluster at ``at``; a target missing from ``targets`` was unreadable."""

    at: float
    targets: Mapping[str, TargetState]


def floor_at(holds: Iterable[Hold], target: str, at: float) -> int | None:
    """The highest floor any hold asks of ``target`` at ``at``; None while none holds it."""
    floors = [h.floor for h in holds if h.target == target and h.since <= at < h.until]
    return max(floors) if floors else None


def floor_violations(samples: Sequence[Sample], holds: Sequence[Hold]) -> dict[str, float]:
    """Seconds per target during which it was held and had fewer replicas than its floor.

    Each sample stands for the time until the next one (the last for nothing); a sample
    that could not read the target counts neither way.
    """
    seconds: dict[str, float] = {}
    for sample, after in itertools.pairwise(samples):
        for target, state in sample.targets.items():
            floor = floor_at(holds, target, sample.at)
            if floor is not None and state.requested < floor:
                seconds[target] = seconds.get(target, 0.0) + (after.at - sample.at)
    return seconds


def lowered(samples: Sequence[Sample], held_from: float, held_until: float) -> dict[str, int]:
    """Times each target's requested count went down between ``held_from`` and
    ``held_until`` (compared with the last sample that could read it)."""
    last: dict[str, int] = {}
    count: dict[str, int] = {}
    for sample in samples:
        for target, state in sample.targets.items():
            before = last.get(target)
            held = held_from <= sample.at < held_until
            if held and before is not None and state.requested < before:
                count[target] = count.get(target, 0) + 1
            last[target] = state.requested
    return count


def lost_handbacks(
    before: Mapping[str, TargetState], after: Mapping[str, TargetState]
) -> list[str]:
    """Targets whose state after release differs from before the event (or is unknown)."""
    return sorted(t for t, state in before.items() if after.get(t) != state)


def total(per_target: Mapping[str, float]) -> float:
    return float(sum(per_target.values()))
