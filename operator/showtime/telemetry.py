"""The operator's own observability: its Prometheus metrics and its logging setup.

What lives here: the metric objects the operator exports (in a dedicated registry,
``REGISTRY``), among them ``EVENT_SERIES``, the collector of the per-event and per-target
gauges (one row per TrafficEvent, rendered at scrape time: ``showtime.eventseries``) and
``forget_event``, which drops an event's row; the HTTP endpoint that serves them
(``start_metrics_server``), and ``configure_logging``, which routes structlog and stdlib
logging (kopf's own lines included) through one renderer.

What does not: deciding *what* to record (``shell.gauges`` computes an event's row, the
reconciler and the metric source record), reading Prometheus (``metricsource``), and the
operator's configuration.
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

from showtime.eventseries import STAGES, EventSeries

__all__ = [
    "API_WRITES",
    "EVENT_SERIES",
    "LEADER",
    "LEADER_TRANSITIONS",
    "METRIC_QUERY_DURATION",
    "METRIC_QUERY_FAILURES",
    "REGISTRY",
    "STAGES",
    "TICK_DURATION",
    "configure_logging",
    "forget_event",
    "start_metrics_server",
]

#: The registry every Showtime metric lives in (plus process/platform/GC collectors).
#: Dedicated, so tests and embedders never collide with the global default registry.
REGISTRY: Final = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

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
#: The per-event and per-target gauges (showtime_event_*, showtime_target_*,
#: showtime_metric_sample): one row per TrafficEvent, set by ``shell.gauges.record_event``.
EVENT_SERIES: Final = EventSeries()
REGISTRY.register(EVENT_SERIES)


def forget_event(namespace: str, event: str) -> None:
    """Drop every per-event series of a deleted TrafficEvent, so none of them goes stale."""
    EVENT_SERIES.forget(namespace, event)


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
