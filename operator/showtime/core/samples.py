"""What a metric query gives back: a ``Sample`` or a ``MetricFailure`` with its reason.

Plain data shared by the core (which decides what a failure means for scaling: missing
data is never zero) and the metric sources (which only report). No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class Sample:
    """One number read from the metric source."""

    value: float
    timestamp: datetime  # tz-aware UTC, the sample's own timestamp from Prometheus


class FailureReason(StrEnum):
    """Why a query gave no usable number; values double as condition/event reasons."""

    UNREACHABLE = "PrometheusUnreachable"  # connection refused / DNS / reset
    TIMEOUT = "QueryTimeout"
    HTTP_ERROR = "PrometheusError"  # non-2xx other than bad query
    QUERY_INVALID = "QueryInvalid"  # the PromQL does not parse (HTTP 400, bad_data)
    QUERY_FAILED = "QueryFailed"  # a run-time error (HTTP 422, execution): too many samples...
    EMPTY = "EmptyResult"
    NOT_A_NUMBER = "NaNResult"  # NaN or +-Inf
    AMBIGUOUS = "AmbiguousResult"  # more than one series: message tells to wrap in sum()


@dataclass(frozen=True)
class MetricFailure:
    """A query that gave no usable number, and why."""

    reason: FailureReason
    message: str  # human readable, one line


MetricResult = Sample | MetricFailure
