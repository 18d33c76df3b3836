"""Sizing from history against a real Prometheus holding backfilled occurrences.

The history is written with ``promtool tsdb create-blocks-from openmetrics`` into the data
directory of a Prometheus of this test's own (Debian's ``prometheus``, on a free
127.0.0.1 port, stopped afterwards): the cluster's shared Prometheus is never restarted.
Seven hourly occurrences (cron ``0 * * * *``, 20 minutes each) are backfilled, each with
a known peak of the load and known Ready replicas (``showtime_target_ready_replicas``, the
operator's own gauge). ``showtime recommend`` must print those peaks, the Ready replicas
at them and recommend the highest of the last five as ``expectedPeak``; a running
operator must record the same in ``status.history``.
"""

from __future__ import annotations

import math
import shutil
import socket
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from showtime.cluster.kube import GROUP, PLURAL, VERSION
from tests.support.environment import unavailable
from tests.support.operator import OperatorProcess
from tests.support.trafficevents import make_deployment
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EVENT = "lecture"
TARGET = "hist-api"
LOAD_METRIC = "showtime_history_test_load"
QUERY = f'max({LOAD_METRIC}{{service="{TARGET}"}})'
PEAKS = [1450, 2630, 1980, 3120, 2210, 1720, 2890]  # oldest first, one per hour
READY = [15, 27, 20, 32, 23, 18, 30]
PEAK_AFTER = timedelta(minutes=7)
DURATION = timedelta(minutes=20)
STEP = timedelta(seconds=30)


@dataclass(frozen=True)
class Backfill:
    url: str
    truth: dict[datetime, tuple[int, int]]  # occurrence start -> (peak, ready at peak)


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _openmetrics(namespace: str, now: datetime) -> tuple[str, dict[datetime, tuple[int, int]]]:
    first = _hour(now) - timedelta(hours=len(PEAKS) - 1)
    starts = [first + timedelta(hours=i) for i in range(len(PEAKS))]
    truth = dict(zip(starts, zip(PEAKS, READY, strict=True), strict=True))
    end = now - timedelta(minutes=2)
    load, ready = [], []
    moment = first - timedelta(minutes=10)
    while moment <= end:
        value, replicas = 100.0, 2
        for start, (peak, ready_then) in truth.items():
            if start <= moment < start + DURATION:
                value = float(peak) if moment == start + PEAK_AFTER else 0.6 * peak
                replicas = ready_then
        load.append((moment, value))
        ready.append((moment, replicas))
        moment += STEP
    labels = f'namespace="{namespace}",event="{EVENT}",kind="Deployment",target="{TARGET}"'
    lines = [f"# TYPE {LOAD_METRIC} gauge"]
    lines += [f'{LOAD_METRIC}{{service="{TARGET}"}} {v} {t.timestamp():.0f}' for t, v in load]
    lines += ["# TYPE showtime_target_ready_replicas gauge"]
    lines += [
        f"showtime_target_ready_replicas{{{labels}}} {r} {t.timestamp():.0f}" for t, r in ready
    ]
    lines.append("# EOF")
    return "\n".join(lines) + "\n", truth


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def backfilled(namespace: str, tmp_path: Path) -> Iterator[Backfill]:
    """A Prometheus of this test's own, holding the backfilled occurrences."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        unavailable("prometheus and promtool are needed (apt-get install prometheus)")
    text, truth = _openmetrics(namespace, datetime.now(UTC))
    data = tmp_path / "prometheus-data"
    (tmp_path / "backfill.om").write_text(text)
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q",
         str(tmp_path / "backfill.om"), str(data)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (tmp_path / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
    port = _free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), timeout=60, message=f"Prometheus on {url} ready")
        yield Backfill(url, truth)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _spec() -> dict[str, Any]:
    return {
        "schedule": {"cron": "0 * * * *", "duration": "20m"},
        "expectedPeak": "auto",
        "expectedPeakFallback": 1000,
        "headroom": 0.2,
        "targets": [
            {
                "name": TARGET,
                "capacityPerReplica": 100,
                "maxReplicas": 100,
                "metric": {"query": QUERY, "targetPerReplica": 100},
            }
        ],
    }


def _create_event(custom: Any, namespace: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TrafficEvent",
        "metadata": {"name": EVENT, "namespace": namespace},
        "spec": _spec(),
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def _last_five(truth: dict[datetime, tuple[int, int]], now: datetime) -> list[datetime]:
    ended = [s for s in truth if s + DURATION <= now]
    return sorted(ended, reverse=True)[:5]


def _recommend(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "showtime.cli", "recommend", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _rows(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("START (UTC)"))
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells
    return rows


def _advice(out: str, label: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith(label)]
    return line.split(":", 1)[1].split()[0]


def test_recommend_matches_the_backfilled_peaks(
    crd: None, namespace: str, custom: Any, backfilled: Backfill, tmp_path: Path
) -> None:
    _create_event(custom, namespace)
    # An instant well clear of any occurrence's end, so "the last five that ended" is exact.
    now = _hour(datetime.now(UTC) - timedelta(minutes=30)) + timedelta(minutes=25)
    expected = _last_five(backfilled.truth, now)
    out = _recommend(f"te/{EVENT}", "-n", namespace, "--prometheus", backfilled.url,
                     "--now", now.isoformat())  # fmt: skip
    rows = _rows(out)
    assert sorted(rows) == sorted(s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in expected), out
    for start in expected:
        peak, ready = backfilled.truth[start]
        cells = rows[start.strftime("%Y-%m-%dT%H:%M:%SZ")]
        assert float(cells[2]) == peak, out
        assert cells[3] == (start + PEAK_AFTER).strftime("%Y-%m-%dT%H:%M:%SZ"), out
        assert int(cells[4]) == ready, out
        assert cells[7] == ("yes" if peak > 12 * 100 else "no"), out  # fallback floor 12
    true_peak = max(backfilled.truth[s][0] for s in expected)
    assert float(_advice(out, "expectedPeak")) == true_peak, out
    per_replica = statistics.median(p / r for p, r in (backfilled.truth[s] for s in expected))
    shown = float(_advice(out, f"capacityPerReplica {TARGET}"))
    assert math.isclose(shown, per_replica, rel_tol=0.005), out

    # The same from a file instead of the cluster.
    manifest = tmp_path / "event.yaml"
    manifest.write_text(
        "apiVersion: showtime.dev/v1alpha1\nkind: TrafficEvent\nmetadata:\n"
        f"  name: {EVENT}\n  namespace: {namespace}\nspec:\n"
        + "".join(f"  {line}\n" for line in _yaml(_spec()).splitlines())
    )
    from_file = _recommend("-f", str(manifest), "--prometheus", backfilled.url,
                           "--now", now.isoformat())  # fmt: skip
    assert float(_advice(from_file, "expectedPeak")) == true_peak, from_file


def _columns(namespace: str) -> list[str] | None:
    shown = subprocess.run(
        ["kubectl", "get", "te", "later", "-n", namespace, "-o", "wide", "--no-headers"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()  # fmt: skip
    # NAME PHASE NEXT-START READY AGE LEAD DESIRED
    return shown if len(shown) == 7 and shown[3] != "-" else None


def _yaml(value: Any) -> str:
    import yaml

    return str(yaml.safe_dump(value, sort_keys=False))


def test_the_operator_records_the_backfilled_occurrences_in_status(
    crd: None, namespace: str, custom: Any, apps_v1: Any, backfilled: Backfill, tmp_path: Path
) -> None:
    make_deployment(apps_v1, namespace, "columns-api", 2)
    with OperatorProcess(
        namespace, tmp_path / "operator.log", SHOWTIME_PROMETHEUS_URL=backfilled.url
    ) as proc:
        _create_event(custom, namespace)

        def history() -> list[dict[str, Any]] | None:
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, EVENT)
            found = (obj.get("status") or {}).get("history")
            return found if found and len(found) == 5 else None

        recorded = wait_for(history, timeout=60, message=f"status.history\n{proc.log_tail()}")
        assert recorded is not None
        for entry in recorded:
            start = datetime.fromisoformat(entry["start"].replace("Z", "+00:00"))
            peak, ready = backfilled.truth[start]
            (target,) = entry["targets"]
            assert target["peak"] == peak
            assert target["readyAtPeak"] == ready
        starts = [e["start"] for e in recorded]
        assert starts == sorted(starts, reverse=True)
        # Scheduled: READY is the target's own pods, DESIRED "-" (was 0/0 and 0).
        later = datetime.now(UTC) + timedelta(days=1)
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "TrafficEvent",
            "metadata": {"name": "later", "namespace": namespace},
            "spec": {
                "schedule": {"start": later.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration": "1h"},
                "targets": [{"name": "columns-api", "replicas": 5, "maxReplicas": 10}],
            },
        }
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        columns = wait_for(lambda: _columns(namespace), timeout=30, message="columns")
        assert columns[1] == "Scheduled"
        assert (columns[3], columns[6]) == ("2/2", "-"), columns
        assert "versions=" in proc.log_tail(400)
        assert "kopf" in proc.log_tail(400)
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "later")
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, EVENT)
        wait_for(
            lambda: (
                not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
            ),
            timeout=30,
            message="TrafficEvent deleted",
        )
