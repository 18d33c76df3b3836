"""Reading past occurrences from Prometheus: range queries for sizing from history.

What lives here: ``HistorySource``, which for one past occurrence of a TrafficEvent asks
Prometheus (``GET /api/v1/query_range`` through prometheus-api-client) for each target's
``metric.query`` and for the Ready replicas the operator itself exported then, and hands
the series to the pure ``core.history.record_occurrence``. Blocking: the shell runs it in
a worker thread within a time budget, never inside a tick.

Where Ready replicas come from: the operator's own gauge
``showtime_target_ready_replicas{namespace, event, kind, target}`` (``telemetry``), which
Prometheus has when it scrapes the operator (``deploy/service.yaml``, port 9102). It is
what the operator saw of the target while the event held it, the same number as
``status.targets[].readyReplicas``. There is no kube-state-metrics here, so
``kube_deployment_status_replicas_ready`` is not used. Without that series the record says
nothing about Ready replicas (``readyAtPeak`` absent) rather than guessing.

What does not live here: instant queries for the tick (``metricsource``), deciding which
occurrences to fetch and when (``shell.history``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from showtime.core.history import OccurrenceRecord, Series, record_occurrence
from showtime.core.schedule import Occurrence
from showtime.core.spec import Target, TrafficEventSpec

MAX_POINTS = 1000  # per series and occurrence; Prometheus itself refuses above 11,000
MIN_STEP = timedelta(seconds=15)
READY_METRIC = "showtime_target_ready_replicas"


class HistoryError(RuntimeError):
    """Prometheus could not be read; the message says why."""


def step_for(occurrence: Occurrence) -> timedelta:
    """The range-query resolution: at least 15 s, at most ``MAX_POINTS`` points."""
    span = (occurrence.end - occurrence.start).total_seconds()
    return max(MIN_STEP, timedelta(seconds=math.ceil(span / MAX_POINTS)))


def ready_query(namespace: str, event: str, target: Target) -> str:
    labels = f'namespace="{namespace}",event="{event}",kind="{target.kind}",target="{target.name}"'
    return f"max({READY_METRIC}{{{labels}}})"


class HistorySource:
    """Range queries against one Prometheus (the operator's ``SHOWTIME_PROMETHEUS_URL``)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._client = PrometheusConnect(url=self.url, retry=Retry(0, read=False))

    def close(self) -> None:
        self._client.close()

    def occurrence(
        self, spec: TrafficEventSpec, namespace: str, event: str, occurrence: Occurrence
    ) -> OccurrenceRecord:
        """What one past occurrence saw, per target with a metric. Raises ``HistoryError``."""
        step = step_for(occurrence)
        loads: dict[tuple[str, str], Series] = {}
        ready: dict[tuple[str, str], Series] = {}
        for target in spec.targets:
            if target.metric is None:
                continue
            loads[target.key] = self._series(target.metric.query, occurrence, step)
            ready[target.key] = self._series(
                ready_query(namespace, event, target), occurrence, step
            )
        return record_occurrence(spec, occurrence, loads, ready)

    def _series(self, query: str, occurrence: Occurrence, step: timedelta) -> Series:
        try:
            result = self._client.custom_query_range(
                query,
                start_time=occurrence.start,
                end_time=occurrence.end,
                step=f"{int(step.total_seconds())}s",
                params={"timeout": f"{self.timeout:g}s"},
                timeout=self.timeout,
            )
        except Exception as exc:  # requests' errors and the client's own: one kind here
            raise HistoryError(f"{type(exc).__name__}: {exc}"[:300]) from exc
        return parse_matrix(result)


def parse_matrix(result: Any) -> Series:
    """One series from a range query's ``result``; none when there are none or several."""
    if not isinstance(result, list) or len(result) != 1 or not isinstance(result[0], Mapping):
        return ()
    points = []
    for pair in result[0].get("values") or []:
        try:
            when, raw = pair
            value = float(raw)
            points.append((datetime.fromtimestamp(float(when), tz=UTC), value))
        except (TypeError, ValueError, OverflowError):
            continue
    return tuple(p for p in points if math.isfinite(p[1]))
