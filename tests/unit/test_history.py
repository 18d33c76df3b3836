"""Sizing from history, pure: records per occurrence, the recommendation, expectedPeak: auto.

An SRE reads these numbers in ``showtime recommend`` and in ``status.history``; the floor
of an ``expectedPeak: auto`` event is sized from them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from showtime.core.history import (
    KEEP,
    merged_history,
    missing_occurrences,
    past_occurrences,
    recommend,
    record_occurrence,
    records_from_status,
    resolve_expected_peak,
)
from showtime.core.schedule import Occurrence
from showtime.core.spec import SpecError, parse_spec

T0 = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)


def spec(**extra: Any) -> Any:
    raw: dict[str, Any] = {
        "schedule": {"cron": "0 19 * * *", "duration": "1h"},
        "expectedPeak": 1000,
        "headroom": 0.2,
        "targets": [
            {
                "name": "api",
                "capacityPerReplica": 100,
                "maxReplicas": 100,
                "metric": {"query": "sum(rate(x[1m]))", "targetPerReplica": 80},
            }
        ],
    }
    raw.update(extra)
    return parse_spec(raw)


def series(start: datetime, values: list[float], step: int = 60) -> list[tuple[datetime, float]]:
    return [(start + timedelta(seconds=i * step), v) for i, v in enumerate(values)]


def test_a_record_keeps_the_peak_the_ready_replicas_then_and_the_load_each_served() -> None:
    s = spec()
    occurrence = Occurrence(T0, T0 + timedelta(hours=1))
    load = series(T0, [200, 900, 1500, 1100])
    ready = series(T0, [12, 12, 15, 15])
    record = record_occurrence(
        s, occurrence, {("Deployment", "api"): load}, {("Deployment", "api"): ready}
    )
    (target,) = record.targets
    assert target.peak == 1500
    assert target.peak_at == T0 + timedelta(minutes=2)
    assert target.ready_at_peak == 15
    assert target.per_ready_replica == 100
    assert target.floor == 12  # ceil(1000 * 1.2 / 100)
    assert target.floor_exceeded is True  # 1500 > 12 * 100


def test_without_data_the_record_says_so_rather_than_zero() -> None:
    s = spec()
    record = record_occurrence(s, Occurrence(T0, T0 + timedelta(hours=1)), {}, {})
    (target,) = record.targets
    assert target.peak is None
    assert target.floor_exceeded is None
    assert recommend(s, [record]).expected_peak is None


def test_ready_replicas_unknown_leaves_the_per_replica_load_unknown() -> None:
    s = spec()
    load = {("Deployment", "api"): series(T0, [300, 700])}
    (target,) = record_occurrence(s, Occurrence(T0, T0 + timedelta(hours=1)), load, {}).targets
    assert target.peak == 700
    assert target.ready_at_peak is None
    assert target.per_ready_replica is None
    assert target.floor_exceeded is False


def test_recommendation_is_the_highest_peak_per_share_and_the_median_served_load() -> None:
    s = spec(targets=[
        {"name": "api", "capacityPerReplica": 100, "share": 0.5, "maxReplicas": 100,
         "metric": {"query": "q", "targetPerReplica": 80}},
    ])  # fmt: skip
    records = []
    for day, (peak, ready) in enumerate([(400, 5), (600, 5), (500, 4)]):
        start = T0 - timedelta(days=day)
        load = {("Deployment", "api"): series(start, [peak / 2, peak])}
        replicas = {("Deployment", "api"): series(start, [ready, ready])}
        records.append(
            record_occurrence(s, Occurrence(start, start + timedelta(hours=1)), load, replicas)
        )
    advice = recommend(s, records)
    assert advice.expected_peak == 1200  # 600 carried at share 0.5
    assert advice.from_occurrences == 3
    (target,) = advice.targets
    assert target.capacity_per_replica == 120  # median of 80, 120, 125
    assert target.exceeded == 0  # floor 6 x 100 = 600, never above


def test_past_occurrences_are_the_last_ones_that_ended_newest_first() -> None:
    s = spec()
    now = T0 + timedelta(minutes=30)  # today's occurrence is still running
    found = past_occurrences(s, now)
    assert len(found) == KEEP
    assert found[0].start == T0 - timedelta(days=1)
    assert [o.start for o in found] == sorted((o.start for o in found), reverse=True)
    assert past_occurrences(parse_spec({**_one_off()}), now) == []


def _one_off() -> dict[str, Any]:
    return {
        "schedule": {"start": "2026-11-20T19:00:00Z", "duration": "1h"},
        "targets": [{"name": "api", "replicas": 3, "maxReplicas": 5}],
    }


def test_status_history_keeps_the_last_five_and_reads_back() -> None:
    s = spec()
    status: dict[str, Any] = {}
    for day in range(7):
        start = T0 - timedelta(days=day)
        load = {("Deployment", "api"): series(start, [100.0 * (day + 1)])}
        record = record_occurrence(s, Occurrence(start, start + timedelta(hours=1)), load, {})
        status = {"history": merged_history(status, [record])}
    assert len(status["history"]) == KEEP
    back = records_from_status(status)
    assert [r.start for r in back] == [T0 - timedelta(days=d) for d in range(KEEP)]
    assert max(t.peak or 0 for r in back for t in r.targets) == 500  # older ones dropped


def test_missing_occurrences_skips_what_status_already_has() -> None:
    s = spec()
    now = T0 + timedelta(hours=2)
    first = missing_occurrences(s, now=now, status={})
    assert len(first) == KEEP
    record = record_occurrence(s, first[0], {}, {})
    later = missing_occurrences(s, {"history": merged_history({}, [record])}, now)
    assert first[0] not in later
    assert len(later) == KEEP - 1


def test_expected_peak_auto_uses_the_highest_recorded_peak_else_the_fallback() -> None:
    s = spec(expectedPeak="auto", expectedPeakFallback=1000)
    assert s.expected_peak_auto
    assert s.floor_of(s.targets[0]) == 12  # the fallback: ceil(1000 * 1.2 / 100)
    assert resolve_expected_peak(s, {}).expected_peak == 1000
    start = T0 - timedelta(days=1)
    load = {("Deployment", "api"): series(start, [800, 2000, 1900])}
    record = record_occurrence(s, Occurrence(start, start + timedelta(hours=1)), load, {})
    resolved = resolve_expected_peak(s, {"history": merged_history({}, [record])})
    assert resolved.expected_peak == 2000
    assert resolved.floor_of(resolved.targets[0]) == 24  # ceil(2000 * 1.2 / 100): headroom on top


def test_a_stated_peak_is_never_replaced_by_history() -> None:
    s = spec()
    start = T0 - timedelta(days=1)
    load = {("Deployment", "api"): series(start, [5000])}
    record = record_occurrence(s, Occurrence(start, start + timedelta(hours=1)), load, {})
    assert resolve_expected_peak(s, {"history": merged_history({}, [record])}).expected_peak == 1000


def test_expected_peak_auto_needs_a_fallback() -> None:
    with pytest.raises(SpecError, match="expectedPeakFallback"):
        spec(expectedPeak="auto")


def test_a_mangled_status_history_falls_back_rather_than_crashing() -> None:
    s = spec(expectedPeak="auto", expectedPeakFallback=700)
    junk = {"history": [{"start": "x"}, 3, {"start": "2026-11-19T19:00:00Z", "end": 4}]}
    assert resolve_expected_peak(s, junk).expected_peak == 700
