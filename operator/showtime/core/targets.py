"""One target, several events: combine their wishes, limit scale-down, hand back.

Pure decisions about a single Deployment or StatefulSet: the highest desired count of the
events holding it wins, never below what the workload had before Showtime took it;
scale-down honours the stabilization window and the per-minute share; when no event holds
it any more it goes back to its original count (or its HPA's original minReplicas). What
hand-back needs lives in ``HandBackState``, which the shell stores in annotations on the
target itself, so a restarted operator carries on where the last one stopped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from showtime.core.planner import Reason

ANNOTATION_PREFIX = "showtime.dev/"
ORIGINAL_REPLICAS = ANNOTATION_PREFIX + "original-replicas"
ORIGINAL_HPA_MIN = ANNOTATION_PREFIX + "original-hpa-min-replicas"
HELD_BY = ANNOTATION_PREFIX + "held-by"
SCALE_STATE = ANNOTATION_PREFIX + "scale-state"
ALL_ANNOTATIONS = (ORIGINAL_REPLICAS, ORIGINAL_HPA_MIN, HELD_BY, SCALE_STATE)
SCALE_DOWN_PERIOD = timedelta(minutes=1)
MAX_HISTORY = 32


class Mode(StrEnum):
    REPLICAS = "Replicas"
    HPA = "HPA"


@dataclass(frozen=True)
class Claim:
    """One event's wish for the target."""

    event: str
    desired: int
    reason: Reason
    stabilization_window: timedelta
    max_percent_per_minute: int


@dataclass(frozen=True)
class HpaView:
    name: str
    min_replicas: int
    max_replicas: int


@dataclass(frozen=True)
class TargetView:
    """What the cluster says about the target, reduced to what decisions need."""

    replicas: int  # spec.replicas of the workload
    hpa: HpaView | None = None
    handback: HandBackState | None = None


@dataclass(frozen=True)
class HandBackState:
    """Stored on the target while Showtime holds it or is handing it back."""

    mode: Mode
    original: int  # replicas, or the HPA's minReplicas, before the first pre-warm
    held_by: tuple[str, ...] = ()
    history: tuple[tuple[int, int], ...] = ()  # (unix seconds, desired) changes, oldest first
    last_scale_down: int | None = None  # unix seconds of the last lowering write
    window_seconds: int = 300
    percent_per_minute: int = 20

    def to_annotations(self) -> dict[str, str]:
        key = ORIGINAL_HPA_MIN if self.mode is Mode.HPA else ORIGINAL_REPLICAS
        state = {
            "history": [list(entry) for entry in self.history],
            "lastScaleDown": self.last_scale_down,
            "windowSeconds": self.window_seconds,
            "percentPerMinute": self.percent_per_minute,
        }
        return {
            key: str(self.original),
            HELD_BY: ",".join(self.held_by),
            SCALE_STATE: json.dumps(state, separators=(",", ":"), sort_keys=True),
        }

    @classmethod
    def from_annotations(cls, annotations: dict[str, str]) -> HandBackState | None:
        """Read the state back; None when absent, or unreadable (then the caller starts over)."""
        try:
            if ORIGINAL_HPA_MIN in annotations:
                mode, original = Mode.HPA, int(annotations[ORIGINAL_HPA_MIN])
            elif ORIGINAL_REPLICAS in annotations:
                mode, original = Mode.REPLICAS, int(annotations[ORIGINAL_REPLICAS])
            else:
                return None
            state: dict[str, Any] = json.loads(annotations.get(SCALE_STATE) or "{}")
            held = tuple(h for h in annotations.get(HELD_BY, "").split(",") if h)
            history = tuple((int(t), int(v)) for t, v in state.get("history", []))
            last = state.get("lastScaleDown")
            return cls(
                mode=mode,
                original=original,
                held_by=held,
                history=history,
                last_scale_down=int(last) if last is not None else None,
                window_seconds=int(state.get("windowSeconds", 300)),
                percent_per_minute=int(state.get("percentPerMinute", 20)),
            )
        except (ValueError, TypeError, json.JSONDecodeError):
            return None


@dataclass(frozen=True)
class TargetDecision:
    mode: Mode
    desired: int  # what the events want (before scale-down limits)
    write: int | None  # the value to write (replicas or HPA minReplicas); None: leave as is
    reason: Reason
    state: HandBackState | None  # annotations to store; None: remove them
    capped_by_hpa: bool = False

    @property
    def held(self) -> bool:
        return self.state is not None and bool(self.state.held_by)


def _unix(now: datetime) -> int:
    return int(now.astimezone(UTC).timestamp())


def record_desired(
    history: Sequence[tuple[int, int]], now: int, desired: int, window_seconds: int
) -> tuple[tuple[int, int], ...]:
    """Append a change of the desired count and forget what the window no longer needs."""
    entries = list(history)
    if not entries or entries[-1][1] != desired:
        entries.append((now, desired))
    start = now - window_seconds
    # Keep the last entry at or before the window start: it was in force when it opened.
    first = 0
    for index, (at, _value) in enumerate(entries):
        if at <= start:
            first = index
    return tuple(entries[first:][-MAX_HISTORY:])


def highest_in_window(history: Sequence[tuple[int, int]], now: int, window_seconds: int) -> int:
    """The highest desired count in force at any time in ``[now - window, now]``."""
    start = now - window_seconds
    in_force = [
        v
        for i, (at, v) in enumerate(history)
        if at >= start or i + 1 == len(history) or history[i + 1][0] > start
    ]
    return max(in_force, default=0)


def limit_scale_down(
    current: int, wanted: int, *, percent_per_minute: int, last_scale_down: int | None, now: int
) -> int:
    """Lower by at most ``percent`` of the current count (at least 1) once a minute."""
    if wanted >= current:
        return wanted
    if last_scale_down is not None and now - last_scale_down < SCALE_DOWN_PERIOD.total_seconds():
        return current
    step = max(1, math.ceil(current * percent_per_minute / 100))
    return max(wanted, current - step)


def decide_target(view: TargetView, claims: Sequence[Claim], *, now: datetime) -> TargetDecision:
    """The write (if any) and the stored state for one target at ``now``."""
    mode = Mode.HPA if view.hpa is not None else Mode.REPLICAS
    current = view.hpa.min_replicas if view.hpa is not None else view.replicas
    state = view.handback
    if state is not None and state.mode is not mode:
        # An HPA appeared or went away while held: restart the bookkeeping in the new mode.
        state = None
    clock = _unix(now)
    if claims:
        return _hold(view, claims, mode, current, state, clock)
    if state is None:
        return TargetDecision(mode, current, None, Reason.NONE, None)
    return _hand_back(view, mode, current, state, clock)


def _hold(
    view: TargetView,
    claims: Sequence[Claim],
    mode: Mode,
    current: int,
    state: HandBackState | None,
    clock: int,
) -> TargetDecision:
    top = max(claims, key=lambda c: c.desired)
    window = max(int(c.stabilization_window.total_seconds()) for c in claims)
    percent = min(c.max_percent_per_minute for c in claims)
    if state is None:
        state = HandBackState(mode=mode, original=current)
    desired = max(top.desired, state.original)
    reason = top.reason
    history = record_desired(state.history, clock, desired, window)
    wanted = max(desired, highest_in_window(history, clock, window))
    value = limit_scale_down(
        current,
        wanted,
        percent_per_minute=percent,
        last_scale_down=state.last_scale_down,
        now=clock,
    )
    capped = False
    if view.hpa is not None and value > view.hpa.max_replicas:
        value, capped, reason = view.hpa.max_replicas, True, Reason.CAP
    last_down = clock if value < current else state.last_scale_down
    new_state = replace(
        state,
        held_by=tuple(sorted({c.event for c in claims})),
        history=history,
        last_scale_down=last_down,
        window_seconds=window,
        percent_per_minute=percent,
    )
    return TargetDecision(
        mode, desired, value if value != current else None, reason, new_state, capped
    )


def _hand_back(
    view: TargetView, mode: Mode, current: int, state: HandBackState, clock: int
) -> TargetDecision:
    if mode is Mode.HPA:
        # The HPA paces the actual scale-down by its own behaviour.
        write = state.original if state.original != current else None
        return TargetDecision(mode, state.original, write, Reason.HAND_BACK, None)
    value = limit_scale_down(
        current,
        state.original,
        percent_per_minute=state.percent_per_minute,
        last_scale_down=state.last_scale_down,
        now=clock,
    )
    if value == state.original:
        return TargetDecision(
            mode, state.original, value if value != current else None, Reason.HAND_BACK, None
        )
    last_down = clock if value < current else state.last_scale_down
    new_state = replace(state, held_by=(), last_scale_down=last_down)
    return TargetDecision(
        mode, state.original, value if value != current else None, Reason.HAND_BACK, new_state
    )
