"""``showtime run``: assemble the operator's shell and hand it to kopf.

Settings are read and checked first (a bad one stops the operator with a message naming
it), then logging, the operator's metrics endpoint, the Kubernetes gateway, the Prometheus
source and the reconciler. kopf runs the handlers in ``showtime.shell.handlers``.

kopf is given the operator's identity: the pod's namespace and name when the downward
API provides them, else user, host and process id. Left to itself kopf asks the password
database for the user name, and the image's uid has no entry there. The same identity
holds the leader Lease (``shell.leadership``; on by default in a pod), labels this
replica's write counts and is in its user agent. With leader election every write goes
through a ``FencedGateway``: only the leader's reach the API server.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import socket
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

import kopf
import structlog

from showtime import telemetry
from showtime.cluster.kube import Gateway, KubeGateway, api_client, load_kube_config
from showtime.cluster.lease import KubeLeases
from showtime.shell import handlers
from showtime.shell.history import HistoryKeeper
from showtime.shell.leadership import ElectionTiming, FencedGateway, LeaderElector
from showtime.shell.reconciler import Reconciler
from showtime.shell.settings import Settings, SettingsError, load_settings
from showtime.shell.startup import port_problem, versions
from showtime.sources.batching import BatchingSource
from showtime.sources.history import HistorySource

if TYPE_CHECKING:  # kopf types the identity with a NewType it does not export
    from kopf._core.engines.peering import Identity


def _now() -> datetime:
    return datetime.now(UTC)


def operator_identity(pod_name: str | None, pod_namespace: str | None) -> str:
    """Who this operator is, for kopf; never needs a passwd entry for the uid."""
    if pod_name:
        return f"{pod_namespace}/{pod_name}" if pod_namespace else pod_name
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a uid without a passwd entry and no USER/LOGNAME set
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}/{os.getpid()}-{os.urandom(3).hex()}"


def _port_problems(settings: Settings) -> list[str]:
    checks = [
        (settings.metrics_address, settings.metrics_port, "SHOWTIME_METRICS_PORT", "metrics"),
        (settings.liveness_address, settings.liveness_port, "SHOWTIME_LIVENESS_PORT", "liveness"),
    ]
    found = [port_problem(a, p, var, f"{what} endpoint") for a, p, var, what in checks]
    return [problem for problem in found if problem]


def leader_elector(settings: Settings, identity: str, leases: KubeLeases) -> LeaderElector:
    timing = ElectionTiming(
        lease_duration=settings.lease_duration.total_seconds(),
        renew_deadline=settings.renew_deadline.total_seconds(),
        retry_period=settings.retry_period.total_seconds(),
    )
    return LeaderElector(leases, str(settings.lease_home), settings.lease_name, identity, timing)


def run_operator() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"showtime: {exc}", file=sys.stderr)
        return 2
    for problem in _port_problems(settings):  # a taken port: one line, not a traceback
        print(f"showtime: {problem}", file=sys.stderr)
        return 2
    telemetry.configure_logging(settings.log_format, settings.log_level)
    if settings.log_level != "DEBUG":
        # kopf logs every handler call at INFO ("Handler 'changed' succeeded"): noise here.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    log = structlog.get_logger("showtime")
    telemetry.start_metrics_server(settings.metrics_port, settings.metrics_address)
    load_kube_config()
    identity = operator_identity(settings.pod_name, settings.pod_namespace)
    api = api_client(identity)
    gateway: Gateway = KubeGateway(
        settings.namespace, api=api, identity=identity, write_threads=settings.write_concurrency
    )
    elector = None
    if settings.elect_leader:
        timeout = settings.renew_deadline.total_seconds() / 2
        elector = leader_elector(settings, identity, KubeLeases(api, timeout_seconds=timeout))
        gateway = FencedGateway(gateway, elector)
    reconciler = Reconciler(
        gateway,
        BatchingSource(  # up to 50 distinct queries per request
            settings.prometheus_url, timeout=settings.prometheus_timeout.total_seconds()
        ),
        default_lead_time=settings.default_lead_time,
        node_capacity={
            "default_node_lead_time": settings.default_node_lead_time,
            "placeholder_image": settings.placeholder_image,
        },
        clock=_now,
        write_concurrency=settings.write_concurrency,
        history=HistoryKeeper(gateway, HistorySource(settings.prometheus_url), _now),
        leadership=elector,
    )
    log.info(
        "starting",
        versions=versions(),
        identity=identity,
        namespace=settings.namespace or "*",
        prometheus=settings.prometheus_url,
        tick=settings.tick.total_seconds(),
        handlers=handlers.__name__,
        leader_election=f"{settings.lease_home}/{settings.lease_name}" if elector else "off",
    )
    liveness = f"http://{settings.liveness_address}:{settings.liveness_port}/healthz"
    asyncio.run(
        kopf.operator(
            standalone=True,
            identity=cast("Identity", identity),
            clusterwide=settings.namespace is None,
            namespaces=[settings.namespace] if settings.namespace else [],
            liveness_endpoint=liveness if settings.liveness_port else None,
            memo=kopf.Memo(reconciler=reconciler, tick=settings.tick, elector=elector),
        )
    )
    return 0
