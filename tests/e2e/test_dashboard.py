"""The dashboard's queries against a real operator: every panel and annotation returns data.

An operator runs one short TrafficEvent (pre-warm, live with a metric asking for more
than the floor, cooldown) while the local Prometheus scrapes it (registered through
``$SHOWTIME_PROM_TARGETS_DIR`` with ``job="showtime"``, as a ServiceMonitor would label
it) and a load source. One target's query never returns data, so the failure panels
have something to show. Then every query of deploy/monitoring/dashboard.json, with the
variables set to this test's namespace, must return series over the scenario, and the
matplotlib rendering of them (tools/dashboard_plot.py) must be written. With
``SHOWTIME_DASHBOARD_PICTURE=docs/dashboard.png`` the picture goes there (README).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from showtime.cluster.kube import GROUP, PLURAL, VERSION
from tests.support.environment import unavailable
from tests.support.kube import POD_READY_DELAY, deployment
from tests.support.loadsource import load_source, prom_targets_dir
from tests.support.operator import REPO_ROOT, OperatorProcess
from tests.support.trafficevents import create_event, iso, soon
from tests.support.wait import wait_for
from tools.dashboard_plot import panel_queries, plot, query_range

pytestmark = [pytest.mark.e2e]

PROMETHEUS = os.environ.get("SHOWTIME_PROMETHEUS_URL", "http://127.0.0.1:9090")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def scraped_operator(crd: None, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    """An operator for ``namespace`` whose /metrics the local Prometheus scrapes."""
    targets = prom_targets_dir()
    if targets is None:
        unavailable('SHOWTIME_PROM_TARGETS_DIR is not set: eval "$(make -s env)"')
    port = free_port()
    proc = OperatorProcess(
        namespace,
        tmp_path / "operator.log",
        SHOWTIME_METRICS_PORT=str(port),
        SHOWTIME_DEFAULT_LEAD_TIME="20s",
    ).start()
    sd_file = targets / f"showtime-operator-{namespace}.json"
    staging = targets / f".showtime-operator-{namespace}.json.tmp"
    staging.write_text(
        json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"job": "showtime"}}])
    )
    os.replace(staging, sd_file)
    try:
        yield proc
    finally:
        sd_file.unlink(missing_ok=True)
        proc.stop()
        print(proc.log_tail())


def phase(custom: Any, namespace: str) -> str | None:
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "launch")
    value = (obj.get("status") or {}).get("phase")
    return str(value) if value is not None else None


def test_every_panel_of_the_dashboard_shows_data_from_a_running_operator(
    scraped_operator: OperatorProcess,
    namespace: str,
    apps_v1: Any,
    custom: Any,
    tmp_path: Path,
) -> None:
    began = time.time()
    service = f"svc-{uuid.uuid4().hex[:6]}"
    with load_source(labels={"service": service}, profile={"rate": 300}, register=True):
        ready_delay = {POD_READY_DELAY: "2000"}
        apps_v1.create_namespaced_deployment(namespace, deployment("web", 1, ready_delay))
        apps_v1.create_namespaced_deployment(namespace, deployment("cache", 1, ready_delay))
        create_event(
            custom,
            namespace,
            "launch",
            {
                "schedule": {"start": iso(soon(45)), "duration": "60s"},
                "leadTime": "auto",
                "rampUp": "20s",
                "cooldown": "40s",
                "scaleDown": {"stabilizationWindow": "0s", "maxPercentPerMinute": 100},
                "targets": [
                    {
                        "name": "web",
                        "replicas": 3,
                        "maxReplicas": 10,
                        "metric": {
                            "query": f'sum(rate(http_requests_total{{service="{service}"}}[20s]))',
                            "targetPerReplica": 50,
                        },
                    },
                    {
                        "name": "cache",
                        "replicas": 2,
                        "maxReplicas": 4,
                        # Never any data: the failure panels and MetricsAvailable=0.
                        "metric": {
                            "query": f'sum(showtime_e2e_absent_total{{service="{service}"}})',
                            "targetPerReplica": 10,
                        },
                    },
                ],
            },
        )
        queries = panel_queries({"namespace": namespace, "job": "showtime"})

        def empty() -> list[str]:
            now = time.time()
            return [
                f"{q.panel}: {q.expr}"
                for q in queries
                if not query_range(PROMETHEUS, q.expr, began, now)
            ]

        # The metric drives web above its floor of 3 (300/s at 50 per replica: 6).
        wait_for(
            lambda: apps_v1.read_namespaced_deployment("web", namespace).spec.replicas == 6,
            timeout=150,
            message="web scaled to 6 on the metric",
        )
        wait_for(
            lambda: phase(custom, namespace) == "CoolingDown",
            timeout=120,
            message="the event cooling down",
        )
        if os.environ.get("SHOWTIME_DASHBOARD_PICTURE"):  # the README's: the whole event
            wait_for(
                lambda: phase(custom, namespace) == "Completed",
                timeout=90,
                message="the event completed",
            )
        # Prometheus may be restarted by a serial test meanwhile: unreachable is "not yet".
        wait_for(
            lambda: not empty(),
            timeout=60,
            interval=5,
            message="data in every panel",
            ignore=(OSError,),
        )
    picture = Path(os.environ.get("SHOWTIME_DASHBOARD_PICTURE") or tmp_path / "dashboard.png")
    if not picture.is_absolute():
        picture = REPO_ROOT / picture
    ended = time.time()
    wait_for(
        lambda: plot(
            PROMETHEUS, began, ended, picture, {"namespace": namespace, "job": "showtime"}
        ),
        timeout=60,
        interval=5,
        message="the dashboard picture drawn",
        ignore=(OSError,),
    )
    assert picture.stat().st_size > 20_000
