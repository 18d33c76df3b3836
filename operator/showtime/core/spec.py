"""The TrafficEvent spec as validated, typed data.

``parse_spec`` turns the ``spec`` mapping of a TrafficEvent (as the API server stores it, or
as a user wrote it in a file for ``showtime plan``) into frozen pydantic models, applying the
same defaults as the CRD and the checks the CRD cannot make (cron syntax, time zone). Every
problem becomes one ``SpecError`` with a message an SRE can act on. No I/O lives here.

The bounds below are the CRD's too (``tests/unit/test_spec_bounds.py`` checks they agree):
the CRD refuses them at apply time, and this module refuses whatever still reaches it (an
older CRD, a file given to ``showtime plan``), so a spec that parses can be planned at any
instant without overflowing. Why these numbers:

- ``schedule.duration`` at most 31 days: a month-long sale is the longest event we know of.
- ``leadTime``, ``rampUp`` and ``cooldown`` at most 24 hours: no pod takes a day to become
  Ready, and a day of warming or cooling is already a standing change of capacity.
- ``scaleDown.stabilizationWindow`` at most 1 hour, the HorizontalPodAutoscaler's own limit.
- ``nodeCapacity.leadTime`` at most 2 hours: a node that takes longer to join is broken,
  and holding empty nodes for longer costs more than the all-day overprovisioning it replaces.
- ``schedule.start`` in the years 2000 to 2200 as written (before its offset is applied).
- replica counts at most 100,000; ``expectedPeak``, ``capacityPerReplica`` and
  ``targetPerReplica`` at most 10^12; ``headroom`` at most 10 (1,000 % spare).
- a cron must fire at least once in the 50 years after 2000-01-01 (cronsim's own horizon).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from showtime.core.durations import DurationError, parse_duration

TargetKind = Literal["Deployment", "StatefulSet"]

MAX_DURATION = timedelta(days=31)
MAX_LEAD_TIME = timedelta(hours=24)
MAX_RAMP_UP = timedelta(hours=24)
MAX_COOLDOWN = timedelta(hours=24)
MAX_STABILIZATION_WINDOW = timedelta(hours=1)
MAX_NODE_LEAD_TIME = timedelta(hours=2)
EARLIEST_YEAR = 2000
LATEST_YEAR = 2200
MAX_REPLICAS = 100_000
MAX_LOAD = 1e12  # expectedPeak, capacityPerReplica, targetPerReplica
MAX_HEADROOM = 10
_CRON_CHECKED_FROM = datetime(2000, 1, 1)


class SpecError(ValueError):
    """The spec cannot be acted on; the message says why."""


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
    )


def _duration(at_most: timedelta) -> Any:
    """A before-validator parsing a duration string of at most ``at_most``."""

    def parse(value: Any) -> timedelta:
        if isinstance(value, timedelta) and timedelta(0) <= value <= at_most:
            return value
        if not isinstance(value, str):
            raise ValueError("must be a duration string such as 90s, 15m, 4h or 1h30m")
        try:
            return parse_duration(value, at_most=at_most)
        except DurationError as exc:
            raise ValueError(str(exc)) from exc

    return parse


class Schedule(_Model):
    start: datetime | None = None
    cron: str | None = None
    time_zone: str = "UTC"
    duration: timedelta

    _parse_duration = field_validator("duration", mode="before")(_duration(MAX_DURATION))

    @field_validator("start", mode="before")
    @classmethod
    def _start_has_offset(cls, value: Any) -> Any:
        if value is None:
            return None
        parsed = value
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as exc:
                raise ValueError(f"{value!r} is not an RFC 3339 timestamp") from exc
        if not isinstance(parsed, datetime):
            raise ValueError("must be an RFC 3339 timestamp such as 2026-12-31T20:00:00+08:00")
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise ValueError(f"{value!r} needs a UTC offset, e.g. +08:00 or Z")
        if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
            raise ValueError(f"{value!r} is not in the years {EARLIEST_YEAR} to {LATEST_YEAR}")
        return parsed

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Asia/Shanghai)") from exc
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value.split()) != 5:
            raise ValueError(f"cron {value!r} must have 5 fields: minute hour day month weekday")
        try:
            next(CronSim(value, _CRON_CHECKED_FROM))
        except StopIteration:
            raise ValueError(f"cron {value!r} never fires") from None
        except (CronSimError, ValueError, LookupError, TypeError, ArithmeticError) as exc:
            # cronsim reports most mistakes as CronSimError; anything else it raises on odd
            # input is the same mistake to the SRE.
            raise ValueError(f"cron {value!r} is not valid: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        if (self.start is None) == (self.cron is None):
            raise ValueError("set exactly one of schedule.start and schedule.cron")
        if self.duration <= timedelta(0):
            raise ValueError("schedule.duration must be longer than 0s")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class MetricSpec(_Model):
    query: str = Field(min_length=1)
    target_per_replica: float = Field(gt=0, le=MAX_LOAD)


class ScaleDown(_Model):
    stabilization_window: timedelta = timedelta(minutes=5)
    max_percent_per_minute: int = Field(default=20, ge=1, le=100)

    _parse_window = field_validator("stabilization_window", mode="before")(
        _duration(MAX_STABILIZATION_WINDOW)
    )


NodeCapacityMechanism = Literal["Auto", "CapacityBuffer", "Placeholders"]


class NodeCapacity(_Model):
    """``spec.nodeCapacity``: reserve room on nodes ahead of the pod pre-warm (opt-in)."""

    prewarm: bool = False
    lead_time: timedelta | None = None  # None: auto, learned from how long nodes took
    mechanism: NodeCapacityMechanism = "Auto"

    @field_validator("lead_time", mode="before")
    @classmethod
    def _lead_time(cls, value: Any) -> Any:
        if value is None or value == "auto":
            return None
        return _duration(MAX_NODE_LEAD_TIME)(value)


class Target(_Model):
    kind: TargetKind = "Deployment"
    name: str = Field(min_length=1)
    capacity_per_replica: float | None = Field(default=None, gt=0, le=MAX_LOAD)
    share: float = Field(default=1.0, gt=0, le=1)
    replicas: int | None = Field(default=None, ge=0, le=MAX_REPLICAS)
    min_replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    max_replicas: int = Field(ge=1, le=MAX_REPLICAS)
    metric: MetricSpec | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Target:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"target {self.name}: minReplicas is above maxReplicas")
        if self.replicas is not None and self.replicas > self.max_replicas:
            raise ValueError(f"target {self.name}: replicas is above maxReplicas")
        return self

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


class TrafficEventSpec(_Model):
    schedule: Schedule
    lead_time: timedelta | None = None  # None: auto
    ramp_up: timedelta = timedelta(0)
    cooldown: timedelta = timedelta(minutes=15)
    expected_peak: float | None = Field(default=None, ge=0, le=MAX_LOAD)
    # expectedPeak: auto -- the highest recorded peak (core.history); this until one is.
    expected_peak_fallback: float | None = Field(default=None, ge=0, le=MAX_LOAD)
    headroom: float = Field(default=0.2, ge=0, le=MAX_HEADROOM)
    suspend: bool = False
    scale_down: ScaleDown = ScaleDown()
    node_capacity: NodeCapacity = NodeCapacity()
    targets: tuple[Target, ...] = Field(min_length=1)

    _peak_auto: bool = PrivateAttr(default=False)

    _parse_ramp_up = field_validator("ramp_up", mode="before")(_duration(MAX_RAMP_UP))
    _parse_cooldown = field_validator("cooldown", mode="before")(_duration(MAX_COOLDOWN))

    @model_validator(mode="wrap")
    @classmethod
    def _auto_peak(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """``expectedPeak: auto`` starts from ``expectedPeakFallback`` (history replaces it)."""
        auto = isinstance(data, dict) and data.get("expectedPeak") == "auto"
        if auto:
            fallback = data.get("expectedPeakFallback", data.get("expected_peak_fallback"))
            if fallback is None:
                raise ValueError(
                    "expectedPeak: auto needs expectedPeakFallback, the peak used until "
                    "past occurrences have been recorded"
                )
            data = {**data, "expectedPeak": fallback}
        model = handler(data)
        if auto and isinstance(model, TrafficEventSpec):
            model._peak_auto = True
        return model

    @property
    def expected_peak_auto(self) -> bool:
        """``expectedPeak: auto``: sized from the recorded history (``core.history``)."""
        # Read from pydantic's private store directly: ``self._peak_auto`` goes through
        # ``__getattr__`` and an AttributeError, about 6 % of a tick with 2,000 events.
        private = self.__pydantic_private__
        return bool(private and private.get("_peak_auto"))

    @field_validator("lead_time", mode="before")
    @classmethod
    def _lead_time(cls, value: Any) -> Any:
        if value is None or value == "auto":
            return None
        return _duration(MAX_LEAD_TIME)(value)

    @model_validator(mode="after")
    def _targets(self) -> TrafficEventSpec:
        seen: set[tuple[str, str]] = set()
        for target in self.targets:
            if target.key in seen:
                raise ValueError(f"target {target.kind}/{target.name} is listed twice")
            seen.add(target.key)
            has_floor = target.replicas is not None or (
                self.expected_peak is not None and target.capacity_per_replica is not None
            )
            if not has_floor and target.metric is None:
                raise ValueError(
                    f"target {target.name} needs a floor (replicas, or expectedPeak with "
                    "capacityPerReplica) or a metric"
                )
        return self

    def floor_of(self, target: Target) -> int:
        """The target's full floor: explicit replicas, else sized from expectedPeak; clamped."""
        if target.replicas is not None:
            wanted = target.replicas
        elif self.expected_peak is not None and target.capacity_per_replica is not None:
            load = self.expected_peak * target.share * (1 + self.headroom)
            needed = load / target.capacity_per_replica  # inf for a tiny capacity: capped
            too_many = not math.isfinite(needed) or needed > target.max_replicas
            wanted = target.max_replicas if too_many else math.ceil(round(needed, 9))
        else:
            wanted = target.min_replicas
        return max(target.min_replicas, min(target.max_replicas, wanted))


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_spec(raw: Any) -> TrafficEventSpec:
    """Validate a spec mapping; raise SpecError with every problem in one message."""
    if not isinstance(raw, dict):
        raise SpecError("spec must be a mapping")
    try:
        return TrafficEventSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_describe(exc)) from None
