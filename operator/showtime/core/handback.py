"""What Showtime stores on a target so it can hand it back: the pre-event state.

While a TrafficEvent holds a Deployment or StatefulSet (and while it is being handed back)
Showtime keeps on the workload itself, as ``showtime.dev/`` annotations:

- ``original-replicas``: ``spec.replicas`` before the first pre-warm (always recorded, also
  under an HPA, so an HPA that disappears mid-event still hands back to it);
- ``original-hpa-min-replicas``: the HPA's name and its ``minReplicas`` before Showtime
  first raised it (``null`` when the field was absent: absent stays absent, 0 stays 0);
- ``held-by``: the TrafficEvents holding it;
- ``scale-state``: the stabilization history, the last scale-down, what Showtime last
  wrote and a count someone else raised while held.

Each annotation is read on its own: a damaged one loses only what it held, and the reader
says which (the caller turns that into a Warning). Pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

ANNOTATION_PREFIX = "showtime.dev/"
ORIGINAL_REPLICAS = ANNOTATION_PREFIX + "original-replicas"
ORIGINAL_HPA_MIN = ANNOTATION_PREFIX + "original-hpa-min-replicas"
HELD_BY = ANNOTATION_PREFIX + "held-by"
SCALE_STATE = ANNOTATION_PREFIX + "scale-state"
ALL_ANNOTATIONS = (ORIGINAL_REPLICAS, ORIGINAL_HPA_MIN, HELD_BY, SCALE_STATE)
DEFAULT_WINDOW_SECONDS = 300
DEFAULT_PERCENT_PER_MINUTE = 20
CACHED_STATES = 8192  # parsed and rendered annotations kept: a few per held target


class Mode(StrEnum):
    """Which number Showtime moves: the workload's replicas, or its HPA's minReplicas."""

    REPLICAS = "Replicas"
    HPA = "HPA"


@dataclass(frozen=True)
class OriginalHpa:
    """An HPA's ``minReplicas`` before Showtime raised it; ``None``: the field was absent."""

    name: str
    min_replicas: int | None


@dataclass(frozen=True)
class LastWrite:
    """The value Showtime last wrote (or confirmed) in a mode; others' changes differ from it.

    ``previous`` is the value it replaced: this state is stored before the count is written
    (an HPA's minimum is a second request), so after a crash in between the count may still
    be ``previous``, which is then not someone else's change.
    """

    mode: Mode
    value: int
    previous: int | None = None

    def moved_by_others(self, mode: Mode, current: int) -> bool:
        return mode is self.mode and current not in (self.value, self.previous)


@dataclass(frozen=True)
class HandBackState:
    """Stored on the target while Showtime holds it or is handing it back."""

    original_replicas: int | None  # None: unknown (the annotation was unreadable)
    original_hpa: OriginalHpa | None = None  # None: Showtime never raised an HPA's minimum
    held_by: tuple[str, ...] = ()
    history: tuple[tuple[int, int], ...] = ()  # (unix s, desired), values strictly falling
    last_scale_down: int | None = None  # unix seconds of the last lowering write
    last_write: LastWrite | None = None
    manual_floor: int | None = None  # a count someone else raised while held
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    percent_per_minute: int = DEFAULT_PERCENT_PER_MINUTE

    def to_annotations(self) -> dict[str, str | None]:
        """All four annotations; ``None`` removes one that no longer applies."""
        return dict(_annotations_of(self))  # a tick asks this of every held target

    def _annotations(self) -> tuple[tuple[str, str | None], ...]:
        state: dict[str, Any] = {
            "history": [list(entry) for entry in self.history],
            "lastScaleDown": self.last_scale_down,
            "windowSeconds": self.window_seconds,
            "percentPerMinute": self.percent_per_minute,
        }
        if self.last_write is not None:
            written = self.last_write
            state["lastWrite"] = {"mode": written.mode.value, "value": written.value}
            if written.previous is not None and written.previous != written.value:
                state["lastWrite"]["previous"] = written.previous
        if self.manual_floor is not None:
            state["manualFloor"] = self.manual_floor
        hpa = None
        if self.original_hpa is not None:
            hpa = _json(
                {"name": self.original_hpa.name, "minReplicas": self.original_hpa.min_replicas}
            )
        return (
            (
                ORIGINAL_REPLICAS,
                str(self.original_replicas) if self.original_replicas is not None else None,
            ),
            (ORIGINAL_HPA_MIN, hpa),
            (HELD_BY, ",".join(self.held_by)),
            (SCALE_STATE, _json(state)),
        )


@functools.lru_cache(maxsize=CACHED_STATES)
def _annotations_of(state: HandBackState) -> tuple[tuple[str, str | None], ...]:
    return state._annotations()


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class ReadState:
    """The state read back from annotations, and what could not be read."""

    state: HandBackState | None  # None: Showtime has nothing stored on this target
    problems: tuple[str, ...] = ()


def read_annotations(annotations: dict[str, str]) -> ReadState:
    """Read each annotation on its own; an unreadable one is dropped and named in problems."""
    present = tuple((name, annotations[name]) for name in ALL_ANNOTATIONS if name in annotations)
    if not present:
        return ReadState(None)
    return _read(present)  # a tick reads every held target's: the same text, the same state


@functools.lru_cache(maxsize=CACHED_STATES)
def _read(present: tuple[tuple[str, str], ...]) -> ReadState:
    annotations = dict(present)
    problems: list[str] = []
    original_replicas: int | None = None
    if ORIGINAL_REPLICAS in annotations:
        try:
            original_replicas = _non_negative(annotations[ORIGINAL_REPLICAS])
        except ValueError:
            problems.append(f"{ORIGINAL_REPLICAS}={annotations[ORIGINAL_REPLICAS]!r}")
    original_hpa = None
    if ORIGINAL_HPA_MIN in annotations:
        try:
            original_hpa = _original_hpa(annotations[ORIGINAL_HPA_MIN])
        except (ValueError, TypeError, KeyError):
            problems.append(f"{ORIGINAL_HPA_MIN}={annotations[ORIGINAL_HPA_MIN]!r}")
    held = tuple(h for h in annotations.get(HELD_BY, "").split(",") if h)
    fields: dict[str, Any] = {}
    if SCALE_STATE in annotations:
        try:
            fields = _scale_state(annotations[SCALE_STATE])
        except (ValueError, TypeError, KeyError):
            problems.append(f"{SCALE_STATE}={annotations[SCALE_STATE][:80]!r}")
    state = HandBackState(
        original_replicas=original_replicas,
        original_hpa=original_hpa,
        held_by=held,
        **fields,
    )
    return ReadState(state, tuple(problems))


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _original_hpa(text: str) -> OriginalHpa:
    raw = json.loads(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ValueError(text)
    minimum = raw.get("minReplicas")
    return OriginalHpa(raw["name"], None if minimum is None else _non_negative(str(minimum)))


def _scale_state(text: str) -> dict[str, Any]:
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(text)
    history = tuple((int(at), int(value)) for at, value in raw.get("history") or [])
    last = raw.get("lastScaleDown")
    fields: dict[str, Any] = {
        "history": history,
        "last_scale_down": int(last) if last is not None else None,
        "window_seconds": max(0, int(raw.get("windowSeconds", DEFAULT_WINDOW_SECONDS))),
        "percent_per_minute": min(
            100, max(1, int(raw.get("percentPerMinute", DEFAULT_PERCENT_PER_MINUTE)))
        ),
    }
    written = raw.get("lastWrite")
    if written is not None:
        previous = written.get("previous")
        fields["last_write"] = LastWrite(
            Mode(written["mode"]),
            int(written["value"]),
            int(previous) if previous is not None else None,
        )
    if raw.get("manualFloor") is not None:
        fields["manual_floor"] = int(raw["manualFloor"])
    return fields
