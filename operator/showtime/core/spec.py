"""The TrafficEvent spec as validated, typed data.

``parse_spec`` turns the ``spec`` mapping of a TrafficEvent (as the API server stores it, or
as a user wrote it in a file for ``showtime plan``) into frozen pydantic models, applying the
same defaults as the CRD and the checks the CRD cannot make (cron syntax, time zone). Every
problem becomes one ``SpecError`` with a message an SRE can act on. No I/O lives here.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from showtime.core.durations import DurationError, parse_duration

TargetKind = Literal["Deployment", "StatefulSet"]


class SpecError(ValueError):
    """The spec cannot be acted on; the message says why."""


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a duration string such as 90s, 15m, 4h or 1h30m")
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from exc


class Schedule(_Model):
    start: datetime | None = None
    cron: str | None = None
    time_zone: str = "UTC"
    duration: timedelta

    _parse_duration = field_validator("duration", mode="before")(_duration)

    @field_validator("start", mode="before")
    @classmethod
    def _start_has_offset(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as exc:
                raise ValueError(f"{value!r} is not an RFC 3339 timestamp") from exc
            if parsed.tzinfo is None:
                raise ValueError(f"{value!r} needs a UTC offset, e.g. +08:00 or Z")
            return parsed
        return value

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
            CronSim(value, datetime(2000, 1, 1))
        except CronSimError as exc:
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
    target_per_replica: float = Field(gt=0)


class ScaleDown(_Model):
    stabilization_window: timedelta = timedelta(minutes=5)
    max_percent_per_minute: int = Field(default=20, ge=1, le=100)

    _parse_window = field_validator("stabilization_window", mode="before")(_duration)


class Target(_Model):
    kind: TargetKind = "Deployment"
    name: str = Field(min_length=1)
    capacity_per_replica: float | None = Field(default=None, gt=0)
    share: float = Field(default=1.0, gt=0, le=1)
    replicas: int | None = Field(default=None, ge=0)
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(ge=1)
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
    expected_peak: float | None = Field(default=None, ge=0)
    headroom: float = Field(default=0.2, ge=0)
    suspend: bool = False
    scale_down: ScaleDown = ScaleDown()
    targets: tuple[Target, ...] = Field(min_length=1)

    _parse_durations = field_validator("ramp_up", "cooldown", mode="before")(_duration)

    @field_validator("lead_time", mode="before")
    @classmethod
    def _lead_time(cls, value: Any) -> Any:
        if value is None or value == "auto":
            return None
        return _duration(value)

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
            wanted = math.ceil(round(load / target.capacity_per_replica, 9))
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
