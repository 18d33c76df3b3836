"""``showtime run``: assemble the operator's shell and hand it to kopf.

Settings are read and checked first (a bad one stops the operator with a message naming
it), then logging, the operator's metrics endpoint, the Kubernetes gateway, the Prometheus
source and the reconciler. kopf runs the handlers in ``showtime.shell.handlers``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime

import kopf
import structlog

from showtime import telemetry
from showtime.cluster.kube import KubeGateway, load_kube_config
from showtime.shell import handlers
from showtime.shell.reconciler import Reconciler
from showtime.shell.settings import SettingsError, load_settings
from showtime.sources.metricsource import PrometheusSource


def _now() -> datetime:
    return datetime.now(UTC)


def run_operator() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"showtime: {exc}", file=sys.stderr)
        return 2
    telemetry.configure_logging(settings.log_format, settings.log_level)
    if settings.log_level != "DEBUG":
        # kopf logs every handler call at INFO ("Handler 'changed' succeeded"): noise here.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    log = structlog.get_logger("showtime")
    telemetry.start_metrics_server(settings.metrics_port, settings.metrics_address)
    load_kube_config()
    reconciler = Reconciler(
        KubeGateway(settings.namespace),
        PrometheusSource(
            settings.prometheus_url, timeout=settings.prometheus_timeout.total_seconds()
        ),
        default_lead_time=settings.default_lead_time,
        clock=_now,
        write_concurrency=settings.write_concurrency,
    )
    log.info(
        "starting",
        namespace=settings.namespace or "*",
        prometheus=settings.prometheus_url,
        tick=settings.tick.total_seconds(),
        handlers=handlers.__name__,
    )
    liveness = f"http://{settings.liveness_address}:{settings.liveness_port}/healthz"
    asyncio.run(
        kopf.operator(
            standalone=True,
            clusterwide=settings.namespace is None,
            namespaces=[settings.namespace] if settings.namespace else [],
            liveness_endpoint=liveness if settings.liveness_port else None,
            memo=kopf.Memo(reconciler=reconciler, tick=settings.tick),
        )
    )
    return 0
