"""One target, several events: combine their wishes, limit scale-down, hand back.

Pure decisions about a single Deployment or StatefulSet at one instant: the highest desired
count of the events holding it wins, never below what the workload had before Showtime took
it nor below a count someone else raised while it is held; scale-down keeps the highest
desired count of the stabilization window and lowers by at most the per-minute share; when
no event holds it any more it goes back to its pre-event state (its replicas, and its HPA's
``minReplicas`` exactly as it was). What this needs between ticks lives in
``handback.HandBackState``, stored on the target by the shell. Several targets, statuses
and writes are ``decide``'s business; annotations' format is ``handback``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from showtime.core.handback import HandBackState, LastWrite, Mode, OriginalHpa
from showtime.core.planner import Reason

SCALE_DOWN_PERIOD = timedelta(minutes=1)


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
    min_replicas: int | None  # None: the field is absent (the HPA then uses 1)
    max_replicas: int

    @property
    def effective_min(self) -> int:
        return 1 if self.min_replicas is None else self.min_replicas


@dataclass(frozen=True)
class TargetView:
    """What the cluster says about the target, reduced to what decisions need."""

    replicas: int  # spec.replicas of the workload
    hpa: HpaView | None = None
    handback: HandBackState | None = None


@dataclass(frozen=True)
class HpaMinWrite:
    """Set the HPA's ``minReplicas``; ``None`` removes the field (it was absent before)."""

    value: int | None


@dataclass(frozen=True)
class TargetNotice:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class TargetDecision:
    mode: Mode
    desired: int  # what the events want, before scale-down limits
    heading_to: int  # the count the target is moving to (shown in status)
    replicas: int | None  # write to the workload's spec.replicas; None: leave it
    hpa_min: HpaMinWrite | None  # write to the HPA's minReplicas; None: leave it
    reason: Reason
    state: HandBackState | None  # what to store on the target; None: remove it
    capped_by_hpa: bool = False
    notices: tuple[TargetNotice, ...] = ()

    @property
    def held(self) -> bool:
        return self.state is not None and bool(self.state.held_by)

    @property
    def writes(self) -> bool:
        return self.replicas is not None or self.hpa_min is not None


def _unix(now: datetime) -> int:
    return int(now.astimezone(UTC).timestamp())


def record_desired(
    history: Sequence[tuple[int, int]], now: int, desired: int, window_seconds: int
) -> tuple[tuple[int, int], ...]:
    """Add this instant's desired count to the stabilization history, exactly and compactly.

    Entries are (since, value), each in force until the next. An earlier entry lower than
    ``desired`` can be raised to it: every window that will include any moment of that
    entry also includes now. So the stored values strictly fall over time, and the highest
    count of any future window is the value of its first entry. Entries whose successor
    began before the window opened are pruned by age; no entry is dropped by count.
    """
    entries: list[tuple[int, int]] = []
    for at, value in [*history, (now, desired)]:
        value = max(value, desired)
        if entries and entries[-1][1] == value:
            continue
        entries.append((at, value))
    return _prune(entries, now - window_seconds)


def _prune(entries: Sequence[tuple[int, int]], start: int) -> tuple[tuple[int, int], ...]:
    first = 0
    for index in range(1, len(entries)):
        if entries[index][0] <= start:
            first = index
    return tuple(entries[first:])


def highest_in_window(history: Sequence[tuple[int, int]], now: int, window_seconds: int) -> int:
    """The highest desired count in force at any time in ``[now - window, now]``."""
    in_window = _prune(history, now - window_seconds)
    return max((value for _at, value in in_window), default=0)


def limit_scale_down(
    current: int, wanted: int, *, percent_per_minute: int, last_scale_down: int | None, now: int
) -> int:
    """Lower by at most ``percent`` of the current count once a minute.

    The share is rounded down, as the HPA's percent policy does, so a step never removes
    more than the share; but at least one replica, so a hand-back always ends. At 100 %
    a minute may remove every replica anyway, so nothing waits for the minute: the count
    follows a decaying floor (or metric) tick by tick, as the HPA's 100 % policy does.
    """
    if wanted >= current or percent_per_minute >= 100:
        return wanted
    if last_scale_down is not None and now - last_scale_down < SCALE_DOWN_PERIOD.total_seconds():
        return current
    step = max(1, current * percent_per_minute // 100)
    return max(wanted, current - step)


def decide_target(view: TargetView, claims: Sequence[Claim], *, now: datetime) -> TargetDecision:
    """The writes (if any) and the stored state for one target at ``now``."""
    mode = Mode.HPA if view.hpa is not None else Mode.REPLICAS
    if claims:
        return _hold(view, claims, mode, _unix(now))
    state = view.handback
    current = view.hpa.effective_min if view.hpa is not None else view.replicas
    if state is None:
        return TargetDecision(mode, current, current, None, None, Reason.NONE, None)
    return _hand_back(view, mode, state, _unix(now))


def _hold(view: TargetView, claims: Sequence[Claim], mode: Mode, clock: int) -> TargetDecision:
    top = max(claims, key=lambda c: c.desired)
    window = max(int(c.stabilization_window.total_seconds()) for c in claims)
    percent = min(c.max_percent_per_minute for c in claims)
    hpa = view.hpa
    notices: list[TargetNotice] = []
    state = view.handback or HandBackState(original_replicas=view.replicas)
    if hpa is not None and (state.original_hpa is None or state.original_hpa.name != hpa.name):
        # First time Showtime raises this HPA (also one that appeared mid-event).
        state = replace(state, original_hpa=OriginalHpa(hpa.name, hpa.min_replicas))
    current = hpa.effective_min if hpa is not None else view.replicas
    original = _original_in_mode(state, mode)

    manual = state.manual_floor
    written = state.last_write
    if written is not None and written.moved_by_others(mode, current):
        if current > written.value:
            manual = max(current, manual or 0)
            notices.append(
                TargetNotice(
                    "Normal",
                    "ScaledByOthers",
                    f"raised to {current} by someone else while held; kept until hand-back",
                )
            )
        elif current < max(top.desired, original or 0, manual or 0):
            notices.append(
                TargetNotice(
                    "Warning",
                    "ScaledBelowFloor",
                    f"lowered to {current} by someone else while held; restoring",
                )
            )
    desired = max(top.desired, original or 0, manual or 0)
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
    if written is not None and _unapplied_step_down(written, mode, current, value):
        # The step down decided last time was stored but never written (a crash between
        # the two requests): it was allowed then, so it still is.
        value = max(wanted, written.value)
    capped = False
    if hpa is not None and value > hpa.max_replicas:
        value, capped, reason = max(hpa.max_replicas, current), True, Reason.CAP
    new_state = replace(
        state,
        held_by=tuple(sorted({c.event for c in claims})),
        history=history,
        last_scale_down=clock if value < current else state.last_scale_down,
        last_write=_last_write(written, mode, value, current),
        manual_floor=manual,
        window_seconds=window,
        percent_per_minute=percent,
    )
    replicas_write, hpa_write = None, None
    if hpa is None:
        replicas_write = value if value != view.replicas else None
    else:
        if value != current or hpa.min_replicas is None:
            hpa_write = HpaMinWrite(value) if value != hpa.min_replicas else None
        if view.replicas == 0:
            # The HPA controller ignores a target at 0 replicas: wake it up ourselves.
            replicas_write = value
    return TargetDecision(
        mode,
        desired,
        value,
        replicas_write,
        hpa_write,
        reason,
        new_state,
        capped,
        tuple(notices),
    )


def _last_write(written: LastWrite | None, mode: Mode, value: int, current: int) -> LastWrite:
    """What to store as the last write; unchanged when it is the same value (idempotent)."""
    if written is not None and written.mode is mode and written.value == value:
        return written
    return LastWrite(mode, value, current)


def _unapplied_step_down(written: LastWrite, mode: Mode, current: int, value: int) -> bool:
    return (
        written.mode is mode
        and written.previous == current
        and written.value < current
        and value == current
    )


def _original_in_mode(state: HandBackState, mode: Mode) -> int | None:
    if mode is Mode.HPA:
        hpa = state.original_hpa
        return None if hpa is None else (1 if hpa.min_replicas is None else hpa.min_replicas)
    return state.original_replicas


def _hand_back(view: TargetView, mode: Mode, state: HandBackState, clock: int) -> TargetDecision:
    hpa = view.hpa
    if hpa is not None:
        # The HPA paces the actual scale-down by its own behaviour: restore its minimum at once.
        write = None
        recorded = state.original_hpa
        if recorded is not None and recorded.name == hpa.name:
            if recorded.min_replicas != hpa.min_replicas:
                write = HpaMinWrite(recorded.min_replicas)
            back = 1 if recorded.min_replicas is None else recorded.min_replicas
        else:
            back = hpa.effective_min  # Showtime never raised this HPA
        replicas = 0 if state.original_replicas == 0 and view.replicas != 0 else None
        return TargetDecision(mode, back, back, replicas, write, Reason.HAND_BACK, None)
    current = view.replicas
    original = state.original_replicas
    written = state.last_write
    others_moved = written is not None and written.moved_by_others(mode, current)
    if original is None or others_moved:
        # Nothing to go back to, or someone else has taken over the count: leave it to them.
        return TargetDecision(mode, current, current, None, None, Reason.HAND_BACK, None)
    value = limit_scale_down(
        current,
        original,
        percent_per_minute=state.percent_per_minute,
        last_scale_down=state.last_scale_down,
        now=clock,
    )
    step = value if value != current else None
    if value == original:
        return TargetDecision(mode, original, value, step, None, Reason.HAND_BACK, None)
    new_state = replace(
        state,
        held_by=(),
        last_scale_down=clock if value < current else state.last_scale_down,
        last_write=_last_write(written, mode, value, current),
        manual_floor=None,
    )
    return TargetDecision(mode, original, value, step, None, Reason.HAND_BACK, new_state)
