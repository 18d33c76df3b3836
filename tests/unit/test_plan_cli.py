"""``showtime plan`` on the shipped examples: the numbers an SRE checks before the event.

Each example is planned at a fixed ``--now``; the assertions are the pre-warm instant,
the full-floor instant, the floors (``ceil(expectedPeak * share * (1 + headroom) /
capacityPerReplica)`` or an explicit ``replicas``) and the release after cooldown.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from showtime.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def plan(capsys: pytest.CaptureFixture[str], name: str, now: str) -> list[str]:
    code = main(["plan", "-f", str(EXAMPLES / name), "--now", now])
    out = capsys.readouterr().out
    assert code == 0, out
    return out.splitlines()


def field(lines: list[str], label: str) -> str:
    (line,) = [line for line in lines if line.strip().startswith(f"{label}:")]
    return line.split(":", 1)[1].strip()


def rows(lines: list[str]) -> list[list[str]]:
    """The timeline table, header included."""
    start = next(i for i, line in enumerate(lines) if line.startswith("TIME (UTC)"))
    table = []
    for line in lines[start:]:
        if not line.strip():
            break
        table.append(line.split())
    return table


def test_new_year_speech(capsys: pytest.CaptureFixture[str]) -> None:
    lines = plan(capsys, "new-year-speech.yaml", "2026-12-31T19:00:00+08:00")
    # 20:00 in Shanghai is 12:00 UTC; 10m lead time and a 10m ramp before it.
    assert field(lines, "start") == "2026-12-31T12:00:00Z  (ends 2026-12-31T16:00:00Z)"
    assert field(lines, "pre-warm") == "2026-12-31T11:40:00Z  (full floor by 2026-12-31T11:50:00Z)"
    assert field(lines, "lead time") == "10m (explicit)"
    assert field(lines, "released") == "2026-12-31T16:30:00Z"
    table = rows(lines)
    assert table[0] == ["TIME", "(UTC)", "STAGE", "speech-api", "speech-chat"]
    by_time = {row[0]: row[1:] for row in table[1:]}
    # 120000 req/s * 1.2 / 500 = 288 API replicas; * 0.25 / 1000 = 36 chat replicas.
    assert by_time["2026-12-31T12:00:00Z"] == ["Live", "288", "36"]
    # The ramp starts at the pre-warm instant and is complete by start - leadTime.
    first = by_time["2026-12-31T11:40:00Z"]
    assert first[0] == "PreWarming"
    assert 0 < int(first[1]) < 288
    assert max(int(r[2]) for r in table[1:] if r[1] == "PreWarming") == 288
    # Cooldown decays the floor, then the targets are released.
    assert by_time["2026-12-31T16:00:00Z"] == ["CoolingDown", "288", "36"]
    assert table[-1] == ["2026-12-31T16:30:00Z", "Released", "0", "0"]


@pytest.mark.parametrize(
    ("now", "start_utc"),
    [
        # Thursday in winter: 19:00 CET is 18:00 UTC.
        ("2026-12-31T12:00:00+01:00", "2026-12-31T18:00:00Z"),
        # Wednesday in summer: 19:00 CEST is 17:00 UTC.
        ("2026-07-01T12:00:00+02:00", "2026-07-01T17:00:00Z"),
        # Saturday: the next occurrence is Monday.
        ("2026-07-04T12:00:00+02:00", "2026-07-06T17:00:00Z"),
    ],
)
def test_weekday_lecture_follows_berlin_time(
    capsys: pytest.CaptureFixture[str], now: str, start_utc: str
) -> None:
    lines = plan(capsys, "weekday-lecture.yaml", now)
    assert field(lines, "start").startswith(start_utc)
    # leadTime auto with no pods observed: the assumed 5 minutes.
    assert field(lines, "lead time") == "5m (auto, assumed (no pods observed))"
    start = datetime.fromisoformat(start_utc.replace("Z", "+00:00"))
    prewarm = (start - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert field(lines, "pre-warm").startswith(prewarm)
    table = rows(lines)
    held = [int(r[2]) for r in table[1:] if r[1] in ("PreWarming", "Live")]
    # 6000 req/s * 1.2 / 500 = 15 replicas.
    assert held
    assert set(held) == {15}


def test_weekday_lecture_prewarms_five_minutes_ahead(capsys: pytest.CaptureFixture[str]) -> None:
    lines = plan(capsys, "weekday-lecture.yaml", "2026-12-31T12:00:00+01:00")
    assert field(lines, "pre-warm") == "2026-12-31T17:55:00Z  (full floor by 2026-12-31T17:55:00Z)"
    assert field(lines, "released") == "2026-12-31T19:45:00Z"


def test_hpa_managed_flash_sale(capsys: pytest.CaptureFixture[str]) -> None:
    lines = plan(capsys, "hpa-managed.yaml", "2026-11-11T07:30:00Z")
    assert field(lines, "pre-warm") == "2026-11-11T07:55:00Z  (full floor by 2026-11-11T07:55:00Z)"
    table = rows(lines)
    assert ["2026-11-11T07:55:00Z", "PreWarming", "20"] in table
    assert ["2026-11-11T08:00:00Z", "Live", "20"] in table
    assert table[-1][1:] == ["Released", "0"]


def test_plan_of_a_past_one_off_event_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    lines = plan(capsys, "hpa-managed.yaml", "2027-01-01T00:00:00Z")
    assert field(lines, "stage") == "Completed (nothing to plan)"


def test_a_month_long_event_is_planned_at_its_change_points(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifest = tmp_path / "sale.yaml"
    manifest.write_text(
        "apiVersion: showtime.dev/v1alpha1\nkind: TrafficEvent\nmetadata: {name: sale}\n"
        "spec:\n  schedule: {start: '2026-12-01T00:00:00Z', duration: 744h}\n"
        "  leadTime: 10m\n  cooldown: 24h\n"
        "  targets: [{name: api, replicas: 20, maxReplicas: 40}]\n"
    )
    assert main(["plan", "-f", str(manifest), "--now", "2026-11-30T00:00:00Z"]) == 0
    table = [line.split() for line in capsys.readouterr().out.splitlines() if line[:3] == "202"]
    assert table[0][1:] == ["Scheduled", "0"]
    assert ["2026-12-01T00:00:00Z", "Live", "20"] in table
    assert table[-1] == ["2027-01-02T00:00:00Z", "Released", "0"]
    assert len(table) <= 30  # the change points, not a row every few seconds of 32 days
