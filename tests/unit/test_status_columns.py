"""What ``kubectl get te`` shows in READY and DESIRED (``-o wide``) in each stage.

While Scheduled a target already has its pods: READY shows them (ready/total), DESIRED
shows ``-`` since the event holds nothing yet. Before issue 11 both said 0 (``0/0``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from showtime.core.planner import Reason, plan_event
from showtime.core.spec import parse_spec
from showtime.core.status import StatusInput, TargetReport, build_status

START = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
SPEC = parse_spec(
    {
        "schedule": {"start": "2026-12-31T12:00:00Z", "duration": "1h"},
        "leadTime": "5m",
        "targets": [
            {"name": "api", "replicas": 10, "maxReplicas": 20},
            {"name": "chat", "replicas": 4, "maxReplicas": 20},
        ],
    }
)


def columns(minutes: float, *targets: TargetReport) -> tuple[Any, Any]:
    now = START + timedelta(minutes=minutes)
    plan = plan_event(SPEC, now=now, lead_time=timedelta(minutes=5))
    status, _ = build_status({}, StatusInput(1, plan, None, targets), now=now)
    return status["ready"], status["desired"]


def target(name: str, desired: int, ready: int, current: int | None, found: bool = True) -> Any:
    reason = Reason.FLOOR if desired else Reason.NONE
    return TargetReport("Deployment", name, found, "Replicas", desired, ready, reason, 10,
                        current=current)  # fmt: skip


def test_scheduled_shows_the_targets_own_pods_and_no_desired_count() -> None:
    shown = columns(-60, target("api", 0, 2, 3), target("chat", 0, 1, 1))
    assert shown == ("3/4", "-")


def test_scheduled_with_no_target_found_shows_dashes() -> None:
    assert columns(-60, target("api", 0, 0, None, found=False)) == ("-", "-")


def test_while_held_ready_and_desired_are_the_events() -> None:
    assert columns(-4, target("api", 10, 6, 10), target("chat", 4, 4, 4)) == ("10/14", "14")
