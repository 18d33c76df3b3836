"""A cron that fires more often than its cooldown lasts still pre-warms every occurrence.

SPEC.md §1: the full floor is requested by ``start - leadTime`` of each occurrence. Here an
event fires every minute for 20 s and cools down for 10 minutes, so at any moment about ten
earlier occurrences (including ones from before the event was created) are still cooling
down; the next one must still have its whole floor Ready when it starts, twice in a row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.operator import OperatorProcess
from tests.support.trafficevents import (
    create_event,
    iso,
    make_deployment,
    ready,
    replicas,
    status,
)
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

FLOOR = 5
LEAD = timedelta(seconds=30)


def next_minute_after(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def test_every_occurrence_of_a_frequent_cron_is_prewarmed(
    operator: OperatorProcess, namespace: str, apps_v1: Any, custom: Any
) -> None:
    make_deployment(apps_v1, namespace, "quiz-api", 1, ready_delay_ms=2000)
    create_event(
        custom,
        namespace,
        "quiz",
        {
            "schedule": {"cron": "* * * * *", "duration": "20s"},
            "leadTime": "30s",
            "cooldown": "10m",
            "targets": [{"name": "quiz-api", "replicas": FLOOR, "maxReplicas": 10}],
        },
    )
    # The first start whose pre-warm begins after the operator has had time to start.
    first = next_minute_after(datetime.now(UTC) + LEAD + timedelta(seconds=15))
    for start in (first, first + timedelta(minutes=1)):
        until_start = (start - datetime.now(UTC)).total_seconds()
        assert until_start > LEAD.total_seconds() / 2, f"too late to watch {iso(start)}"

        def reports_this_occurrence(start: datetime = start) -> bool:
            return status(custom, namespace, "quiz").get("nextStart") == iso(start)

        def floor_ready() -> bool:
            return (
                replicas(apps_v1, namespace, "quiz-api") >= FLOOR
                and ready(apps_v1, namespace, "quiz-api") >= FLOOR
            )

        wait_for(
            reports_this_occurrence,
            timeout=until_start,
            message=f"nextStart {iso(start)} before that start",
        )
        wait_for(
            floor_ready,
            timeout=max(0.1, (start - datetime.now(UTC)).total_seconds()),
            interval=0.2,
            message=f"{FLOOR} replicas of quiz-api Ready by {iso(start)}",
        )

        def started(start: datetime = start) -> bool:
            return datetime.now(UTC) >= start

        # Hold the floor through the start instant itself before looking at the next one.
        wait_for(started, timeout=until_start + 1, interval=0.2, message=f"{iso(start)} to come")
        assert floor_ready(), f"floor lost at {iso(start)}"
