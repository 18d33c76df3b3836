"""Operator configuration from ``SHOWTIME_*`` environment variables.

Read once at start; an invalid value stops the operator with a message naming the
variable. The Prometheus address is operator configuration only, never taken from a
TrafficEvent. Nothing else reads the environment.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
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
    default_node_lead_time: timedelta = timedelta(minutes=5)  # no node learned from yet
    placeholder_image: str = Field(default="registry.k8s.io/pause:3.10", min_length=1)
    log_format: Literal["json", "console"] = "console"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    metrics_address: str = "127.0.0.1"
    liveness_port: int = Field(default=8080, ge=0, le=65535)
    liveness_address: str = "127.0.0.1"
    write_concurrency: int = Field(default=16, ge=1, le=256)
    # The operator's own pod (downward API in deploy/deployment.yaml): its identity for kopf
    # and for leader election.
    pod_name: str | None = None
    pod_namespace: str | None = None
    # Leader election (a coordination.k8s.io Lease): unset, on in a pod (SHOWTIME_POD_NAMESPACE
    # set) and off elsewhere. The Lease lives in lease_namespace, else the pod's namespace,
    # else the watched one.
    leader_election: bool | None = None
    lease_name: str = "showtime"
    lease_namespace: str | None = None
    lease_duration: timedelta = timedelta(seconds=15)
    renew_deadline: timedelta = timedelta(seconds=10)
    retry_period: timedelta = timedelta(seconds=2)

    @property
    def elect_leader(self) -> bool:
        """Whether this replica takes part in leader election."""
        return (
            self.pod_namespace is not None if self.leader_election is None else self.leader_election
        )

    @property
    def lease_home(self) -> str | None:
        """The namespace of the leader Lease."""
        return self.lease_namespace or self.pod_namespace or self.namespace

    @model_validator(mode="after")
    def _election(self) -> Settings:
        if not self.elect_leader:
            return self
        if not self.lease_home:
            raise ValueError(
                "leader election needs a namespace for its Lease: set SHOWTIME_LEASE_NAMESPACE "
                "(or SHOWTIME_NAMESPACE), or SHOWTIME_LEADER_ELECTION=false"
            )
        if not self.lease_duration > self.renew_deadline > self.retry_period:
            raise ValueError(
                "leader election needs SHOWTIME_LEASE_DURATION > SHOWTIME_RENEW_DEADLINE > "
                "SHOWTIME_RETRY_PERIOD"
            )
        return self

    @field_validator(
        "tick",
        "default_lead_time",
        "prometheus_timeout",
        "lease_duration",
        "renew_deadline",
        "retry_period",
        mode="before",
    )
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

    @field_validator("default_node_lead_time", mode="before")
    @classmethod
    def _node_lead_time(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_duration(value)
            except DurationError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("prometheus_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("namespace", "pod_name", "pod_namespace", "lease_namespace")
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
            message = str(item["msg"]).removeprefix("Value error, ")
            if not item["loc"]:  # a rule over several variables names them itself
                problems.append(message)
                continue
            name = "SHOWTIME_" + "_".join(str(p) for p in item["loc"]).upper()
            problems.append(f"{name}: {message}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
