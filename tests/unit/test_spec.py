"""What only the operator can check, and the spec's defaults and durations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from showtime.core.durations import DurationError, format_duration, parse_duration
from showtime.core.spec import SpecError, parse_spec


def raw(**schedule: Any) -> dict[str, Any]:
    return {
        "schedule": {"duration": "1h", **schedule},
        "targets": [{"name": "api", "replicas": 3, "maxReplicas": 5}],
    }


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"cron": "0 25 * * *"}, "cron '0 25 * * *' is not valid"),
        ({"cron": "0 19 * *"}, "must have 5 fields"),
        ({"cron": "0 19 * * *", "timeZone": "Mars/Olympus"}, "unknown IANA time zone"),
        ({"start": "2026-12-31T20:00:00"}, "needs a UTC offset"),
        ({"start": "tomorrow"}, "not an RFC 3339 timestamp"),
        ({}, "exactly one of schedule.start and schedule.cron"),
    ],
)
def test_operator_side_checks_name_the_problem(schedule: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("*", r"\*")):
        parse_spec(raw(**schedule))


def test_defaults_match_the_crd() -> None:
    spec = parse_spec(raw(cron="0 19 * * 1-5"))
    assert spec.schedule.time_zone == "UTC"
    assert spec.lead_time is None  # auto
    assert spec.headroom == 0.2
    assert spec.cooldown == timedelta(minutes=15)
    assert spec.scale_down.stabilization_window == timedelta(minutes=5)
    assert spec.scale_down.max_percent_per_minute == 20
    assert spec.targets[0].kind == "Deployment"
    assert spec.targets[0].min_replicas == 1


def test_target_without_floor_or_metric_is_refused() -> None:
    bad = raw(cron="0 19 * * *")
    bad["targets"] = [{"name": "api", "capacityPerReplica": 10, "maxReplicas": 5}]
    with pytest.raises(SpecError, match="needs a floor"):
        parse_spec(bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("4h", 14400), ("1h30m", 5400), ("0s", 0), ("1500ms", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "5", "1d", "m5", "1.5h", "-3m"])
def test_malformed_durations(text: str) -> None:
    with pytest.raises(DurationError, match="such as 90s, 15m"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("1h30m", "45s", "0s", "2h"):
        assert format_duration(parse_duration(text)) == text
