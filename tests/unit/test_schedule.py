"""Every occurrence of a recurring event is pre-warmed in full, however often the cron fires.

SPEC.md §1: the full floor is requested by ``start - leadTime`` of each occurrence and held
to its end. A cron firing more often than its cooldown lasts has several occurrences cooling
down at once; none of them may hide the next one from the planner, and a tick stays cheap.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim
from hypothesis import given, settings
from hypothesis import strategies as st

from showtime.core.planner import Stage, plan_event
from showtime.core.schedule import first_start_after, latest_start_at_or_before
from showtime.core.spec import TrafficEventSpec, parse_spec

API = ("Deployment", "api")


def cron_spec(cron: str, **fields: Any) -> TrafficEventSpec:
    schedule = {"cron": cron, "duration": fields.pop("duration", "30s")}
    schedule["timeZone"] = fields.pop("timeZone", "UTC")
    return parse_spec(
        {
            "schedule": schedule,
            "targets": [{"name": "api", "replicas": 10, "maxReplicas": 20}],
            **fields,
        }
    )


def test_cooling_occurrences_do_not_hide_the_next_one() -> None:
    # Every 2 minutes for 30 s, cooling 15 m: seven earlier occurrences are still cooling.
    event = cron_spec("*/2 * * * *", cooldown="15m", leadTime="1m")
    start = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
    for now in (start - timedelta(minutes=1), start - timedelta(seconds=1), start):
        plan = plan_event(event, now=now, lead_time=timedelta(minutes=1))
        assert plan.floors[API] == 10, now
        assert plan.timeline is not None
        assert plan.timeline.occurrence.start == start, now
    assert plan.stage is Stage.LIVE


def test_the_next_occurrence_is_reported_while_earlier_ones_cool_down() -> None:
    event = cron_spec("*/2 * * * *", cooldown="15m", leadTime="10s")
    now = datetime(2026, 11, 21, 10, 31, tzinfo=UTC)  # 10:30 ended at 10:30:30
    plan = plan_event(event, now=now, lead_time=timedelta(seconds=10))
    assert plan.stage is Stage.COOLING_DOWN
    assert plan.floors[API] == 10  # 30 s into a 15 m cooldown: still the first step
    soon = plan_event(event, now=now + timedelta(seconds=50), lead_time=timedelta(seconds=10))
    assert soon.stage is Stage.PREWARMING
    assert soon.timeline is not None
    assert soon.timeline.occurrence.start == datetime(2026, 11, 21, 10, 32, tzinfo=UTC)


def test_every_minute_with_a_day_of_cooldown_plans_quickly() -> None:
    # The worst case the bounds allow: an occurrence every minute lasting 31 days, cooling
    # 24 hours, ramping 24 hours: 46,080 occurrences overlap at any instant.
    event = cron_spec("* * * * *", duration="744h", cooldown="24h", rampUp="24h", leadTime="24h")
    now = datetime(2026, 11, 21, 10, 30, 17, tzinfo=UTC)
    rounds = 200
    began = time.perf_counter()
    for i in range(rounds):
        plan = plan_event(event, now=now + timedelta(seconds=7 * i), lead_time=timedelta(hours=24))
    each = (time.perf_counter() - began) / rounds
    assert plan.floors[API] == 10
    assert plan.stage is Stage.LIVE
    assert each < 0.005, f"plan_event took {each * 1000:.2f} ms"


def test_the_repeated_hour_of_a_fall_back_day() -> None:
    # 02:30 happens twice in Berlin on 2026-10-25 and fires once, at the first (00:30 UTC).
    # At 02:08 of the second pass (01:08 UTC) that occurrence is live; the next is tomorrow.
    event = cron_spec("30 2 * * *", timeZone="Europe/Berlin", duration="1h", cooldown="0s")
    now = datetime(2026, 10, 25, 1, 8, tzinfo=UTC)
    assert latest_start_at_or_before(event.schedule, now) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    assert first_start_after(event.schedule, now) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
    plan = plan_event(event, now=now, lead_time=timedelta(minutes=5))
    assert plan.stage is Stage.LIVE
    assert plan.timeline is not None
    assert plan.timeline.occurrence.start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


CRONS = [
    "* * * * *",
    "*/2 * * * *",
    "*/7 * * * *",
    "0,1,2,30 * * * *",
    "*/5 9-17 * * 1-5",
    "0 19 * * 1-5",
    "30 2 * * *",
    "0 */6 * * *",
    "0 0 1 * *",
    "0 0 29 2 *",
]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


@settings(max_examples=300, deadline=None)
@given(
    cron=st.sampled_from(CRONS),
    zone=st.sampled_from(ZONES),
    duration_s=st.integers(1, 3 * 3600),
    cooldown_s=st.integers(0, 24 * 3600),
    lead_s=st.integers(0, 2 * 3600),
    ramp_s=st.integers(0, 3600),
    base_s=st.integers(0, 3 * 366 * 86400),
    skip=st.integers(0, 3),
    fraction=st.floats(0, 1, exclude_max=True),
)
def test_full_floor_from_start_minus_lead_to_the_end_of_every_occurrence(
    cron: str,
    zone: str,
    duration_s: int,
    cooldown_s: int,
    lead_s: int,
    ramp_s: int,
    base_s: int,
    skip: int,
    fraction: float,
) -> None:
    event = cron_spec(
        cron,
        timeZone=zone,
        duration=f"{duration_s}s",
        cooldown=f"{cooldown_s}s",
        leadTime=f"{lead_s}s",
        rampUp=f"{ramp_s}s",
    )
    base = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=base_s)
    starts = CronSim(cron, base.astimezone(ZoneInfo(zone)))
    for _ in range(skip):
        next(starts)
    start = next(starts).astimezone(UTC)
    lead = timedelta(seconds=lead_s)
    window = lead + timedelta(seconds=duration_s)
    now = start - lead + timedelta(microseconds=int(window / timedelta(microseconds=1) * fraction))
    plan = plan_event(event, now=now, lead_time=lead)
    assert plan.floors[API] == 10, (start, now)
    assert plan.stage in (Stage.PREWARMING, Stage.LIVE)


TRANSITIONS = [  # 2026 DST changes in ZONES, and an ordinary day
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 4, 4, 15, tzinfo=UTC),
    datetime(2026, 10, 3, 15, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2026, 6, 1, 12, tzinfo=UTC),
]


LONGEST_GAP = {
    "*/5 9-17 * * 1-5": timedelta(days=4),
    "0 19 * * 1-5": timedelta(days=4),
    "30 2 * * *": timedelta(days=2),
    "0 */6 * * *": timedelta(hours=8),
    "0 0 1 * *": timedelta(days=32),
    "0 0 29 2 *": timedelta(days=8 * 366),
    "0-59 2 * * *": timedelta(days=2),
    "30 1 * * 0": timedelta(days=8),
    "45 2 * * *": timedelta(days=2),
}


@settings(max_examples=300, deadline=None)
@given(
    cron=st.sampled_from([*CRONS, "0-59 2 * * *", "30 1 * * 0", "45 2 * * *"]),
    # Not Lord Howe: cronsim walking across its half-hour fall-back skips the 06:00 of
    # "0 */6 * * *", so a long walk is no reference there (the lookups start near the instant).
    zone=st.sampled_from([z for z in ZONES if z != "Australia/Lord_Howe"]),
    around=st.sampled_from(TRANSITIONS),
    offset_s=st.integers(-5 * 3600, 5 * 3600),
    micro=st.sampled_from([0, 1, 999_999]),
)
def test_neighbouring_starts_agree_with_walking_the_cron_forward(
    cron: str, zone: str, around: datetime, offset_s: int, micro: int
) -> None:
    schedule = cron_spec(cron, timeZone=zone).schedule
    instant = around + timedelta(seconds=offset_s, microseconds=micro)
    back = LONGEST_GAP.get(cron, timedelta(hours=2))  # walking from here sees the previous one
    before, after = None, None
    for local in CronSim(cron, (instant - back).astimezone(ZoneInfo(zone))):
        start = local.astimezone(UTC)
        if start > instant:
            after = start
            break
        if start > (before or start - timedelta(1)):
            before = start
    assert latest_start_at_or_before(schedule, instant) == before
    assert first_start_after(schedule, instant) == after
