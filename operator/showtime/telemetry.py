"""The operator's own observability: its Prometheus metrics and its logging setup.

What lives here: the metric objects the operator exports (in a dedicated registry,
``REGISTRY``), small helpers that keep per-event label sets consistent
(``set_event_stage``, ``set_target_replicas``, ``set_metric_sample``, ``set_or_remove``,
``forget_event``),
the HTTP endpoint that serves them (``start_metrics_server``), and ``configure_logging``,
which routes structlog and stdlib logging (kopf's own lines included) through one
renderer.

What does not: deciding *what* to record (the reconciler and the metric source call the
helpers), reading Prometheus (``metricsource``), and the operator's configuration.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Final, Literal, TextIO

import structlog
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

__all__ = [
    "API_WRITES",
    "EVENT_CONDITION",
    "EVENT_NEXT_START",
    "EVENT_PREWARM_LATE",
    "EVENT_STAGE",
    "LEADER",
    "LEADER_TRANSITIONS",
    "METRIC_QUERY_DURATION",
    "METRIC_QUERY_FAILURES",
    "METRIC_SAMPLE",
    "REGISTRY",
    "STAGES",
    "TARGET_DESIRED_REPLICAS",
    "TARGET_FLOOR_REPLICAS",
    "TARGET_LEAD_TIME",
    "TARGET_METRIC_REPLICAS",
    "TARGET_PER_REPLICA",
    "TARGET_READY_REPLICAS",
    "TARGET_STARTUP",
    "TICK_DURATION",
    "configure_logging",
    "forget_event",
    "set_event_stage",
    "set_metric_sample",
    "set_or_remove",
    "set_target_replicas",
    "start_metrics_server",
]

#: The registry every Showtime metric lives in (plus process/platform/GC collectors).
#: Dedicated, so tests and embedders never collide with the global default registry.
REGISTRY: Final = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

#: The stages of a TrafficEvent (SPEC §1); ``set_event_stage`` emits 0 for all but one.
STAGES: Final[tuple[str, ...]] = (
    "Scheduled",
    "PreWarming",
    "Live",
    "CoolingDown",
    "Completed",
    "Suspended",
    "Invalid",
)

_QUERY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_TICK_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

TICK_DURATION: Final = Histogram(
    "showtime_tick_duration_seconds",
    "Wall time of one reconcile tick over all TrafficEvents.",
    buckets=_TICK_BUCKETS,
    registry=REGISTRY,
)
API_WRITES: Final = Counter(
    "showtime_api_writes_total",
    "Writes the operator sent to the Kubernetes API (any answer), by replica identity.",
    ["identity", "kind", "verb"],
    registry=REGISTRY,
)
LEADER: Final = Gauge(
    "showtime_leader",
    "1 while this replica holds the leader Lease (it alone writes), else 0.",
    ["identity"],
    registry=REGISTRY,
)
LEADER_TRANSITIONS: Final = Counter(
    "showtime_leader_transitions_total",
    "Times this replica became (acquired) or stopped being (lost) the leader.",
    ["identity", "transition"],
    registry=REGISTRY,
)
METRIC_QUERY_DURATION: Final = Histogram(
    "showtime_metric_query_duration_seconds",
    "Latency of one instant query to the metric source (failed queries included).",
    buckets=_QUERY_BUCKETS,
    registry=REGISTRY,
)
METRIC_QUERY_FAILURES: Final = Counter(
    "showtime_metric_query_failures_total",
    "Metric queries that gave no usable sample, by reason.",
    ["reason"],
    registry=REGISTRY,
)
TARGET_DESIRED_REPLICAS: Final = Gauge(
    "showtime_target_desired_replicas",
    "Replicas Showtime wants for a target on behalf of an event.",
    ["namespace", "event", "kind", "target"],
    registry=REGISTRY,
)
TARGET_READY_REPLICAS: Final = Gauge(
    "showtime_target_ready_replicas",
    "Ready replicas of a target held by an event, as last observed.",
    ["namespace", "event", "kind", "target"],
    registry=REGISTRY,
)
EVENT_STAGE: Final = Gauge(
    "showtime_event_stage",
    "1 for the current stage of a TrafficEvent, 0 for the others.",
    ["namespace", "event", "stage"],
    registry=REGISTRY,
)
METRIC_SAMPLE: Final = Gauge(
    "showtime_metric_sample",
    "Last metric sample read for a target of an event.",
    ["namespace", "event", "target"],
    registry=REGISTRY,
)

TARGET_FLOOR_REPLICAS: Final = Gauge(
    "showtime_target_floor_replicas",
    "The floor an event holds a target at now (the ramp included); 0 while it holds none.",
    ["namespace", "event", "kind", "target"],
    registry=REGISTRY,
)
TARGET_METRIC_REPLICAS: Final = Gauge(
    "showtime_target_metric_replicas",
    "Replicas the metric asks for, ceil(sample / targetPerReplica); absent without a sample.",
    ["namespace", "event", "kind", "target"],
    registry=REGISTRY,
)
TARGET_PER_REPLICA: Final = Gauge(
    "showtime_target_per_replica",
    "A target's metric.targetPerReplica: the sample one Ready replica is sized for.",
    ["namespace", "event", "target"],
    registry=REGISTRY,
)
TARGET_LEAD_TIME: Final = Gauge(
    "showtime_target_lead_time_seconds",
    "The lead time used for a target: learned (leadTime auto) or the event's.",
    ["namespace", "event", "target"],
    registry=REGISTRY,
)
TARGET_STARTUP: Final = Gauge(
    "showtime_target_startup_seconds",
    "Measured p90 time from pod creation to Ready of a target (leadTime auto only).",
    ["namespace", "event", "target"],
    registry=REGISTRY,
)
EVENT_CONDITION: Final = Gauge(
    "showtime_event_condition",
    "A TrafficEvent condition: 1 True, 0 False; absent while Unknown or not set.",
    ["namespace", "event", "condition"],
    registry=REGISTRY,
)
EVENT_PREWARM_LATE: Final = Gauge(
    "showtime_event_prewarm_late",
    "1 when not every floor was Ready at the start (condition PreWarmed, reason PreWarmLate).",
    ["namespace", "event"],
    registry=REGISTRY,
)
EVENT_NEXT_START: Final = Gauge(
    "showtime_event_next_start_timestamp_seconds",
    "Start of the occurrence an event acts on or waits for, in Unix seconds.",
    ["namespace", "event"],
    registry=REGISTRY,
)

_PER_EVENT: Final[tuple[Gauge, ...]] = (
    TARGET_DESIRED_REPLICAS,
    TARGET_READY_REPLICAS,
    EVENT_STAGE,
    METRIC_SAMPLE,
    TARGET_FLOOR_REPLICAS,
    TARGET_METRIC_REPLICAS,
    TARGET_PER_REPLICA,
    TARGET_LEAD_TIME,
    TARGET_STARTUP,
    EVENT_CONDITION,
    EVENT_PREWARM_LATE,
    EVENT_NEXT_START,
)


def set_event_stage(namespace: str, event: str, stage: str) -> None:
    """Mark ``stage`` as the event's current stage (1) and every other known stage 0."""
    for known in (*STAGES, *([] if stage in STAGES else [stage])):
        EVENT_STAGE.labels(namespace, event, known).set(1 if known == stage else 0)


def set_target_replicas(
    namespace: str, event: str, kind: str, target: str, *, desired: int, ready: int | None
) -> None:
    """Record desired (and, when known, ready) replicas of one target of an event."""
    TARGET_DESIRED_REPLICAS.labels(namespace, event, kind, target).set(desired)
    if ready is not None:
        TARGET_READY_REPLICAS.labels(namespace, event, kind, target).set(ready)


def set_metric_sample(namespace: str, event: str, target: str, value: float | None) -> None:
    """Record a target's last metric sample; ``None`` (no data) removes the series.

    Missing data is not zero: a gap in this series is the honest picture of an outage.
    """
    if value is None:
        _remove_exact(METRIC_SAMPLE, {"namespace": namespace, "event": event, "target": target})
    else:
        METRIC_SAMPLE.labels(namespace, event, target).set(value)


def set_or_remove(gauge: Gauge, labels: dict[str, str], value: float | None) -> None:
    """Set one series of ``gauge``; ``None`` removes it (unknown is a gap, never zero)."""
    if value is None:
        _remove_exact(gauge, labels)
    else:
        gauge.labels(**labels).set(value)


def forget_event(namespace: str, event: str) -> None:
    """Drop every per-event series of a deleted TrafficEvent, so none of them goes stale."""
    for gauge in _PER_EVENT:
        _remove_matching(gauge, {"namespace": namespace, "event": event})


def _remove_exact(gauge: Gauge, labels: dict[str, str]) -> None:
    """Remove the one series with exactly ``labels``, if it exists: a dict lookup, not a scan
    (called for every absent value of every event, so a scan would be quadratic)."""
    key = tuple(labels[name] for name in gauge._labelnames)
    if key in gauge._metrics:
        gauge.remove(*key)


def _remove_matching(gauge: Gauge, match: dict[str, str]) -> None:
    # Gauge.remove_by_labels only exists in newer prometheus_client; collect() is portable.
    names: list[str] = list(gauge._labelnames)
    doomed: set[tuple[str, ...]] = set()
    for family in gauge.collect():
        for sample in family.samples:
            if all(sample.labels.get(k) == v for k, v in match.items()):
                doomed.add(tuple(sample.labels[n] for n in names))
    for labelvalues in doomed:
        gauge.remove(*labelvalues)


def start_metrics_server(port: int, addr: str = "127.0.0.1") -> None:
    """Serve ``REGISTRY`` at ``http://addr:port/metrics`` from a daemon thread.

    Binds loopback by default; pass ``addr="0.0.0.0"`` in-cluster so Prometheus can scrape.
    """
    if not 0 <= port <= 65535:
        raise ValueError(f"metrics port must be in 0..65535, got {port}")
    start_http_server(port, addr=addr, registry=REGISTRY)


LogFormat = Literal["json", "console"]


def configure_logging(fmt: LogFormat, level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging (kopf, aiohttp, ...) through one structlog renderer.

    ``json`` renders one JSON object per line, ``console`` a human-readable line; both carry
    an ISO-8601 UTC ``timestamp``, ``level`` and ``logger``. Records from kopf's per-object
    loggers gain ``k8s_kind``/``k8s_namespace``/``k8s_name`` fields. Idempotent: replaces the
    root logger's handlers. ``stream`` defaults to stderr.
    """
    if fmt not in ("json", "console"):
        raise ValueError(f"log format must be 'json' or 'console', got {fmt!r}")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")

    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _kopf_object_ref,
    ]
    renderer: structlog.types.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        shared += [structlog.processors.StackInfoRenderer(), structlog.processors.format_exc_info]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)


def _kopf_object_ref(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Lift kopf's per-object ``k8s_ref`` (a LogRecord extra) into flat fields."""
    record = event_dict.get("_record")
    ref = getattr(record, "k8s_ref", None) if record is not None else None
    if isinstance(ref, dict):
        for key in _REF_KEYS:
            value = ref.get(key)
            if value:
                event_dict.setdefault(f"k8s_{key}", value)
    return event_dict


_REF_KEYS: Final[tuple[str, ...]] = ("kind", "namespace", "name")
