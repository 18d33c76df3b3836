"""``showtime simulate`` from the command line: output shapes, clear errors, Prometheus.

The trace and events are written to a temporary directory (tests never need ../shared);
``--prometheus`` is answered by a small HTTP server on 127.0.0.1 speaking Prometheus's
range-query API.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from showtime.cli import main
from showtime.simulate.trace import TraceError, read_csv

REPO = Path(__file__).resolve().parents[2]
EVENT = """
apiVersion: showtime.dev/v1alpha1
kind: TrafficEvent
metadata: {name: launch, namespace: live}
spec:
  schedule: {start: "2027-01-15T08:30:00Z", duration: 20m}
  leadTime: 5m
  cooldown: 0s
  expectedPeak: 1000
  headroom: 0
  targets:
  - name: api
    capacityPerReplica: 100
    maxReplicas: 50
    metric: {query: "sum(rate(requests[1m]))", targetPerReplica: 100}
"""


def write_trace(path: Path, rows: list[tuple[str, float]], header: str = "time,value") -> Path:
    path.write_text(header + "\n" + "".join(f"{t},{v}\n" for t, v in rows))
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    event = tmp_path / "event.yaml"
    event.write_text(EVENT)
    rows = [(f"2027-01-15T08:{m:02d}:00Z", 1000.0 if m >= 30 else 100.0) for m in range(60)]
    return event, write_trace(tmp_path / "load.csv", rows)


def test_json_output_has_the_figures_per_policy(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    event, trace = files
    code = main(["simulate", "-f", str(event), "--trace", str(trace), "--pod-ready", "1m"])
    code_json = main(
        ["simulate", "-f", str(event), "--trace", str(trace), "--pod-ready", "1m", "-o", "json"]
    )
    assert code == code_json == 0
    table, answer = capsys.readouterr().out.split("\n{", 1)
    assert "POLICY" in table
    assert "VS ORACLE" in table
    document = json.loads("{" + answer)
    assert [p["policy"] for p in document["policies"]] == [
        "showtime",
        "hpa",
        "keda",
        "fixed",
        "oracle",
    ]
    for row in document["policies"]:
        assert set(row) == {
            "policy",
            "unservedShare",
            "unservedMinutes",
            "peakShortfall",
            "readyPodHours",
            "podHours",
            "readyPodHoursVsOracle",
        }
    by_policy = {p["policy"]: p for p in document["policies"]}
    assert by_policy["oracle"]["unservedShare"] == 0
    assert by_policy["oracle"]["readyPodHoursVsOracle"] == 1
    assert by_policy["showtime"]["unservedShare"] == 0
    assert by_policy["hpa"]["unservedShare"] > 0
    assert document["trace"]["points"] == 60
    assert document["target"]["name"] == "api"
    assert document["podReadySeconds"] == 60


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("when,value\n2027-01-15T08:00:00Z,1\n", "header must be two columns, time and the load"),
        ("time\n", "header must be two columns"),
        ("", "the file is empty"),
        (
            "time,value\n2027-01-15T08:01:00Z,1\n2027-01-15T08:00:00Z,2\n",
            "line 3: time 2027-01-15T08:00:00Z is not after the previous line's",
        ),
        (
            "time,value\n2027-01-15T08:00:00Z,1\n2027-01-15T08:00:00Z,2\n",
            "line 3: time 2027-01-15T08:00:00Z is not after",
        ),
        ("time,value\nyesterday,1\n", "line 2: time 'yesterday' is not RFC 3339"),
        ("time,value\n2027-01-15T08:00:00,1\n", "line 2: time"),
        ("time,value\n2027-01-15T08:00:00Z,lots\n", "line 2: value 'lots' is not a number"),
        ("time,value\n2027-01-15T08:00:00Z,-3\n", "line 2: value '-3' is not a load >= 0"),
        ("time,value\n", "no data points"),
    ],
)
def test_csv_errors_say_what_and_where(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "load.csv"
    path.write_text(content)
    with pytest.raises(TraceError, match=message.replace("(", r"\(").replace("'", "'")):
        read_csv(path)


def test_a_missing_trace_is_one_clear_line_and_exit_code_2(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event, _ = files
    missing = tmp_path / "nowhere.csv"
    assert main(["simulate", "-f", str(event), "--trace", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"showtime simulate: {missing}: no such file"


def test_a_target_without_capacity_is_refused(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, trace = files
    event = tmp_path / "bare.yaml"
    event.write_text(EVENT.replace("capacityPerReplica: 100", "replicas: 10"))
    assert main(["simulate", "-f", str(event), "--trace", str(trace)]) == 2
    assert "needs capacityPerReplica" in capsys.readouterr().err


def test_the_worldcup_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    example = REPO / "examples" / "worldcup98"
    code = main(
        [
            "simulate",
            "-f",
            str(example / "round-of-16.yaml"),
            "--trace",
            str(example / "round-of-16.csv"),
            "--shift-years",
            "28",
            "--policies",
            "showtime,fixed",
            "-o",
            "json",
        ]
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["trace"]["points"] == 4 * 24 * 60
    assert document["target"]["floor"] == 90


def test_plot_writes_a_png(files: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    event, trace = files
    picture = tmp_path / "out.png"
    args = ["simulate", "-f", str(event), "--trace", str(trace), "--policies", "showtime,hpa"]
    assert main([*args, "--plot", str(picture)]) == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class _PrometheusRange(BaseHTTPRequestHandler):
    """``/api/v1/query_range``: a load of 100 before 08:30, 1000 from then, once a minute."""

    asked: list[dict[str, list[str]]] = []  # noqa: RUF012

    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = parse_qs(url.query)
        type(self).asked.append(params)
        start, end = float(params["start"][0]), float(params["end"][0])
        step = float(params["step"][0])
        values = []
        moment = start
        while moment <= end:
            load = 1000 if moment >= 1_800_001_800 else 100
            values.append([moment, str(load)])
            moment += step
        body: dict[str, Any] = {
            "status": "success",
            "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]},
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _PrometheusRange)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_load_can_come_from_a_prometheus_range_query(
    files: tuple[Path, Path], prometheus: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event, _ = files
    _PrometheusRange.asked.clear()
    code = main(
        [
            "simulate",
            "-f",
            str(event),
            "--prometheus",
            prometheus,
            "--query",
            "sum(rate(requests[1m]))",
            "--from",
            "2027-01-15T08:00:00Z",
            "--to",
            "2027-01-15T08:59:00Z",
            "--pod-ready",
            "1m",
            "-o",
            "json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    document = json.loads(capsys.readouterr().out)
    assert document["trace"]["points"] == 60
    assert _PrometheusRange.asked[0]["query"] == ["sum(rate(requests[1m]))"]
    assert _PrometheusRange.asked[0]["step"] == ["60"]
    by_policy = {p["policy"]: p for p in document["policies"]}
    assert by_policy["showtime"]["unservedShare"] == 0


def test_prometheus_needs_query_and_range(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    event, _ = files
    code = main(["simulate", "-f", str(event), "--prometheus", "http://127.0.0.1:9"])
    assert code == 2
    assert "--prometheus needs --query, --from, --to" in capsys.readouterr().err
