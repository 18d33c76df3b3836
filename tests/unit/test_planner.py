"""The planner's schedule, floors, ramp, cooldown and reactive wishes, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from showtime.core.planner import Reason, Stage, effective_lead_time, plan_event, wish_for
from showtime.core.spec import parse_spec

START = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)


def spec(**overrides: Any) -> Any:
    raw: dict[str, Any] = {
        "schedule": {"start": "2026-12-31T20:00:00+08:00", "duration": "4h"},
        "leadTime": "5m",
        "cooldown": "10m",
        "expectedPeak": 120000,
        "targets": [{"name": "api", "capacityPerReplica": 500, "maxReplicas": 300}],
    }
    raw.update(overrides)
    return parse_spec(raw)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("minutes", "stage", "floor"),
    [
        (-60, Stage.SCHEDULED, None),
        (-5.01, Stage.SCHEDULED, None),
        (-5, Stage.PREWARMING, 288),  # full floor requested at start - leadTime
        (-1, Stage.PREWARMING, 288),
        (0, Stage.LIVE, 288),
        (239, Stage.LIVE, 288),
        (240, Stage.COOLING_DOWN, 288),
        (245, Stage.COOLING_DOWN, 144),
        (249.9, Stage.COOLING_DOWN, 29),
        (250, Stage.COMPLETED, None),
    ],
)
def test_one_off_stages_and_floor(minutes: float, stage: Stage, floor: int | None) -> None:
    plan = plan_event(spec(), now=at(minutes), lead_time=timedelta(minutes=5))
    assert plan.stage is stage
    assert plan.floors.get(("Deployment", "api")) == floor


def test_ramp_rises_in_steps_ending_at_start_minus_lead() -> None:
    event = spec(rampUp="10m")
    lead = timedelta(minutes=5)
    values = [
        plan_event(event, now=at(m), lead_time=lead).floors.get(("Deployment", "api"))
        for m in (-15.5, -15, -14, -10, -6.01, -6, -5)
    ]
    assert values == [None, 29, 58, 173, 260, 288, 288]


def test_explicit_replicas_overrides_expected_peak_and_is_clamped() -> None:
    event = spec(
        targets=[{"name": "api", "replicas": 40, "capacityPerReplica": 1, "maxReplicas": 300}]
    )
    assert event.floor_of(event.targets[0]) == 40
    low = spec(
        expectedPeak=10,
        targets=[{"name": "a", "capacityPerReplica": 500, "minReplicas": 3, "maxReplicas": 9}],
    )
    assert low.floor_of(low.targets[0]) == 3
    high = spec(targets=[{"name": "a", "capacityPerReplica": 1, "maxReplicas": 9}])
    assert high.floor_of(high.targets[0]) == 9


def test_share_and_headroom_size_the_floor() -> None:
    event = spec(
        expectedPeak=1000,
        headroom=0.5,
        targets=[{"name": "a", "capacityPerReplica": 100, "share": 0.4, "maxReplicas": 50}],
    )
    assert event.floor_of(event.targets[0]) == 6  # 1000 * 0.4 * 1.5 / 100


def test_suspended_event_holds_nothing() -> None:
    plan = plan_event(spec(suspend=True), now=at(1), lead_time=timedelta(minutes=5))
    assert plan.stage is Stage.SUSPENDED
    assert not plan.holding
    assert plan.floors == {}


def test_auto_lead_time_takes_the_slowest_target_or_the_default() -> None:
    event = spec(
        leadTime="auto",
        targets=[
            {"name": "a", "replicas": 2, "maxReplicas": 5},
            {"name": "b", "replicas": 2, "maxReplicas": 5},
        ],
    )
    default = timedelta(minutes=5)
    assert effective_lead_time(event, {}, default) == default
    learned = {("Deployment", "a"): timedelta(seconds=60), ("Deployment", "b"): None}
    assert effective_lead_time(event, learned, default) == default
    learned = {
        ("Deployment", "a"): timedelta(seconds=60),
        ("Deployment", "b"): timedelta(seconds=90),
    }
    assert effective_lead_time(event, learned, default) == timedelta(seconds=90)
    assert effective_lead_time(spec(leadTime="2m"), learned, default) == timedelta(minutes=2)


def test_a_begun_prewarm_is_kept_when_the_learned_lead_time_shrinks() -> None:
    event = spec(leadTime="auto")
    begun = (START, at(-5))
    plan = plan_event(event, now=at(-3), lead_time=timedelta(minutes=1), prewarm_started=begun)
    assert plan.stage is Stage.PREWARMING
    assert plan.lead_time == timedelta(minutes=5)
    # A pre-warm reported for another occurrence does not count.
    other = (START + timedelta(days=1), at(-5))
    plan = plan_event(event, now=at(-3), lead_time=timedelta(minutes=1), prewarm_started=other)
    assert plan.stage is Stage.SCHEDULED


def test_cron_event_reports_next_occurrence_in_its_zone() -> None:
    event = spec(schedule={"cron": "0 19 * * 1-5", "timeZone": "Asia/Shanghai", "duration": "90m"})
    now = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # a Saturday
    plan = plan_event(event, now=now, lead_time=timedelta(minutes=5))
    assert plan.stage is Stage.SCHEDULED
    assert plan.timeline is not None
    assert plan.timeline.occurrence.start == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    live = plan_event(
        event, now=datetime(2026, 11, 23, 11, 30, tzinfo=UTC), lead_time=timedelta(minutes=5)
    )
    assert live.stage is Stage.LIVE


def test_cron_after_cooldown_is_scheduled_for_the_next_day() -> None:
    event = spec(schedule={"cron": "0 19 * * *", "timeZone": "UTC", "duration": "1h"})
    plan = plan_event(
        event, now=datetime(2026, 11, 21, 20, 30, tzinfo=UTC), lead_time=timedelta(minutes=5)
    )
    assert plan.stage is Stage.SCHEDULED
    assert plan.timeline is not None
    assert plan.timeline.occurrence.start == datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


def test_overlapping_cron_occurrences_take_the_higher_floor() -> None:
    # Every 10 minutes, lasting 8, cooling 5: the next pre-warm overlaps the cooldown.
    event = spec(schedule={"cron": "*/10 * * * *", "duration": "8m"}, cooldown="5m", leadTime="3m")
    plan = plan_event(
        event, now=datetime(2026, 11, 21, 10, 8, 30, tzinfo=UTC), lead_time=timedelta(minutes=3)
    )
    assert plan.stage is Stage.PREWARMING
    assert plan.floors[("Deployment", "api")] == 288


@pytest.mark.parametrize(
    ("zone", "cron", "after", "expected_utc"),
    [
        # 02:30 does not exist on 2026-03-29 in Berlin: it fires at 03:00 local (01:00 UTC).
        (
            "Europe/Berlin",
            "30 2 * * *",
            datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        ),
        # 02:30 happens twice on 2026-10-25 in Berlin: it fires once, at the first (00:30 UTC).
        (
            "Europe/Berlin",
            "30 2 * * *",
            datetime(2026, 10, 24, 12, 0, tzinfo=UTC),
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        ),
        (
            "America/New_York",
            "0 8 * * 1-5",
            datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
            datetime(2026, 11, 2, 13, 0, tzinfo=UTC),
        ),
    ],
)
def test_cron_is_dst_correct(zone: str, cron: str, after: datetime, expected_utc: datetime) -> None:
    event = spec(schedule={"cron": cron, "timeZone": zone, "duration": "10m"}, cooldown="0s")
    plan = plan_event(event, now=after, lead_time=timedelta(minutes=1))
    assert plan.timeline is not None
    assert plan.timeline.occurrence.start == expected_utc


@pytest.mark.parametrize(
    ("floor", "sample", "failed", "last", "desired", "reason"),
    [
        (10, None, False, None, 10, Reason.FLOOR),
        (10, 3000.0, False, None, 10, Reason.FLOOR),  # reactive 8 < floor
        (10, 8001.0, False, None, 21, Reason.METRIC),  # ceil(8001/400)
        (10, 1e9, False, None, 50, Reason.CAP),
        (10, None, True, 30, 30, Reason.METRIC),  # missing data is not zero: keep last
        (10, None, True, 5, 10, Reason.FLOOR),
        (0, 0.0, False, None, 2, Reason.FLOOR),  # never below minReplicas
    ],
)
def test_wish_combines_floor_and_metric(
    floor: int,
    sample: float | None,
    failed: bool,
    last: int | None,
    desired: int,
    reason: Reason,
) -> None:
    event = spec(
        targets=[
            {
                "name": "api",
                "replicas": 10,
                "minReplicas": 2,
                "maxReplicas": 50,
                "metric": {"query": "up", "targetPerReplica": 400},
            }
        ]
    )
    wish = wish_for(
        event.targets[0], floor, sample_value=sample, metric_failed=failed, last_desired=last
    )
    assert (wish.desired, wish.reason) == (desired, reason)


def test_a_learned_lead_time_longer_than_a_day_is_taken_as_a_day() -> None:
    # Pods that once took two days to be Ready must not pre-warm two days ahead (or overflow).
    plan = plan_event(spec(), now=at(-25 * 60), lead_time=timedelta(days=2))
    assert plan.lead_time == timedelta(hours=24)
    assert plan.stage is Stage.SCHEDULED
    assert plan_event(spec(), now=at(-24 * 60), lead_time=timedelta.max).stage is Stage.PREWARMING


def test_a_begun_prewarm_is_kept_while_earlier_occurrences_cool_down() -> None:
    # Every 2 minutes, cooling 15 m; the 10:30 pre-warm began at 10:28:30 (lead 90 s), and
    # the learned lead time has since shrunk to 10 s.
    event = spec(schedule={"cron": "*/2 * * * *", "duration": "30s"}, cooldown="15m")
    start = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
    begun = (start, start - timedelta(seconds=90))
    now = start - timedelta(seconds=60)
    plan = plan_event(event, now=now, lead_time=timedelta(seconds=10), prewarm_started=begun)
    assert plan.stage is Stage.PREWARMING
    assert plan.timeline is not None
    assert plan.timeline.occurrence.start == start
    assert plan.lead_time == timedelta(seconds=90)
    assert plan.floors[("Deployment", "api")] == 288


def test_a_huge_sample_asks_for_max_replicas_instead_of_overflowing() -> None:
    from showtime.core.planner import REACTIVE_LIMIT, reactive_replicas

    assert reactive_replicas(1e300, 1e-10) == REACTIVE_LIMIT
    assert reactive_replicas(float("inf"), 1.0) == REACTIVE_LIMIT
    assert reactive_replicas(250.0, 100.0) == 3
