"""Operator configuration from ``SHOWTIME_*`` environment variables.

Read once at start; an invalid value stops the operator with a message naming the
variable. The Prometheus address is operator configuration only, never taken from a
TrafficEvent. Nothing else reads the environment.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from showtime.core.durations import DurationError, parse_duration


class SettingsError(ValueError):
    """A SHOWTIME_* variable has a value the operator cannot use."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOWTIME_", frozen=True, extra="ignore")

    prometheus_url: str = "http://127.0.0.1:9090"
    prometheus_timeout: timedelta = timedelta(seconds=5)
    tick: timedelta = timedelta(seconds=10)
    namespace: str | None = None
    default_lead_time: timedelta = timedelta(minutes=5)
    log_format: Literal["json", "console"] = "console"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    metrics_address: str = "127.0.0.1"
    liveness_port: int = Field(default=8080, ge=0, le=65535)
    liveness_address: str = "127.0.0.1"
    write_concurrency: int = Field(default=16, ge=1, le=256)
    # The operator's own pod (downward API in deploy/deployment.yaml): its identity for kopf.
    pod_name: str | None = None
    pod_namespace: str | None = None

    @field_validator("tick", "default_lead_time", "prometheus_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                parsed = parse_duration(value)
            except DurationError as exc:
                raise ValueError(str(exc)) from exc
            if parsed <= timedelta(0):
                raise ValueError("must be longer than 0s")
            return parsed
        return value

    @field_validator("prometheus_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("namespace", "pod_name", "pod_namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        return value or None


def load_settings() -> Settings:
    """Settings from the environment, or SettingsError naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for item in exc.errors():
            name = "SHOWTIME_" + "_".join(str(p) for p in item["loc"]).upper()
            problems.append(f"{name}: {str(item['msg']).removeprefix('Value error, ')}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
