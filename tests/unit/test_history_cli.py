"""``showtime recommend -f``: the table and the recommendation an SRE reads, and its errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import showtime.sources.history as history_source
from showtime.cli import main
from showtime.core.history import OccurrenceRecord, record_occurrence
from showtime.core.schedule import Occurrence
from showtime.core.spec import TrafficEventSpec

MANIFEST = """
apiVersion: showtime.dev/v1alpha1
kind: TrafficEvent
metadata: {name: lecture, namespace: live}
spec:
  schedule: {cron: "0 19 * * *", duration: 1h}
  expectedPeak: 1000
  targets:
    - name: api
      capacityPerReplica: 100
      maxReplicas: 100
      metric: {query: "sum(rate(req[1m]))", targetPerReplica: 80}
"""
PEAKS = {20: 900.0, 19: 1800.0, 18: 1500.0, 17: 1200.0, 16: 1000.0}  # day of November


class FakeSource:
    def __init__(self, url: str, **_: Any) -> None:
        self.url = url

    def occurrence(
        self, spec: TrafficEventSpec, namespace: str, event: str, occurrence: Occurrence
    ) -> OccurrenceRecord:
        peak = PEAKS[occurrence.start.day]
        at = occurrence.start + timedelta(minutes=5)
        return record_occurrence(spec, occurrence, {("Deployment", "api"): [(at, peak)]},
                                 {("Deployment", "api"): [(at, 10.0)]})  # fmt: skip

    def close(self) -> None:
        pass


def test_recommend_prints_each_occurrence_and_the_highest_peak(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(history_source, "HistorySource", FakeSource)
    path = tmp_path / "event.yaml"
    path.write_text(MANIFEST)
    code = main(["recommend", "-f", str(path), "--now", "2026-11-21T12:00:00Z",
                 "--prometheus", "http://127.0.0.1:1"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    table = [line.split() for line in out.splitlines() if line.startswith("2026-11-")]
    assert [row[0] for row in table] == [f"2026-11-{d}T19:00:00Z" for d in (20, 19, 18, 17, 16)]
    assert [float(row[2]) for row in table] == [900, 1800, 1500, 1200, 1000]
    assert [row[7] for row in table] == ["no", "yes", "yes", "no", "no"]  # floor 12 x 100
    assert "expectedPeak: 1800 " in out
    assert "stated: 1000" in out
    assert "capacityPerReplica api: 120 " in out  # median of 90, 180, 150, 120, 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give either te/NAME or -f FILE"),
        (["te/x", "-f", "y.yaml"], "give either te/NAME or -f FILE"),
        (["deploy/x"], "expected te/NAME"),
    ],
)
def test_recommend_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["recommend", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_a_one_off_event_has_no_history(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "event.yaml"
    path.write_text(MANIFEST.replace('cron: "0 19 * * *"', 'start: "2026-12-31T19:00:00Z"'))
    assert main(["recommend", "-f", str(path)]) == 2
    assert "one-off" in capsys.readouterr().err
