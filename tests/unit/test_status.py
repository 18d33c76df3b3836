"""Status, conditions and the Events that announce changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from showtime.core.planner import Reason, plan_event
from showtime.core.spec import parse_spec
from showtime.core.status import (
    MetricReport,
    StatusInput,
    TargetReport,
    build_status,
    condition_of,
    metric_refresh_due,
    refresh_phase,
    settle_status,
)

START = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
SPEC = parse_spec(
    {
        "schedule": {"start": "2026-12-31T12:00:00Z", "duration": "1h"},
        "leadTime": "5m",
        "targets": [{"name": "api", "replicas": 10, "maxReplicas": 20}],
    }
)


def report(ready: int, desired: int = 10, **kw: Any) -> TargetReport:
    return TargetReport(
        "Deployment", "api", True, "Replicas", desired, ready, Reason.FLOOR, 10, **kw
    )


def status_at(minutes: float, previous: dict[str, Any], *targets: TargetReport) -> Any:
    now = START + timedelta(minutes=minutes)
    plan = plan_event(SPEC, now=now, lead_time=timedelta(minutes=5))
    return build_status(previous, StatusInput(3, plan, None, targets), now=now)


def test_stage_change_is_announced_once() -> None:
    status, notices = status_at(-4, {}, report(2))
    assert status["phase"] == "PreWarming"
    assert [n.reason for n in notices] == ["PreWarming"]
    again, notices = status_at(-3, status, report(5))
    assert notices == []
    assert again["prewarmAt"] == "2026-12-31T11:55:00Z"
    assert again["nextStart"] == "2026-12-31T12:00:00Z"
    assert again["leadTimeSeconds"] == 300
    assert again["ready"] == "5/10"


def test_prewarmed_is_judged_once_at_start() -> None:
    status, _ = status_at(-1, {}, report(10))
    live, notices = status_at(0.1, status, report(10))
    prewarmed = condition_of(live, "PreWarmed")
    assert prewarmed is not None
    assert prewarmed["status"] == "True"
    # Later ticks do not judge it again even if pods go away.
    later, notices = status_at(5, live, report(3))
    assert condition_of(later, "PreWarmed") == prewarmed
    assert "PreWarmLate" not in [n.reason for n in notices]


def test_late_prewarm_warns() -> None:
    status, _ = status_at(-1, {}, report(4))
    live, notices = status_at(0.1, status, report(6))
    prewarmed = condition_of(live, "PreWarmed")
    assert prewarmed is not None
    assert (prewarmed["status"], prewarmed["reason"]) == ("False", "PreWarmLate")
    assert ("Warning", "PreWarmLate") in [(n.type, n.reason) for n in notices]
    assert "6/10" in prewarmed["message"]


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first, _ = status_at(-4, {}, report(2))
    ready = condition_of(first, "Ready")
    assert ready is not None
    assert ready["status"] == "False"
    second, _ = status_at(-3, first, report(3))
    assert condition_of(second, "Ready")["lastTransitionTime"] == ready["lastTransitionTime"]  # type: ignore[index]
    third, _ = status_at(-2, second, report(10))
    assert condition_of(third, "Ready")["status"] == "True"  # type: ignore[index]
    assert condition_of(third, "Ready")["lastTransitionTime"] == "2026-12-31T11:58:00Z"  # type: ignore[index]


def test_metrics_outage_warns_once_and_recovery_clears() -> None:
    failing = MetricReport("q", failure_reason="PrometheusUnreachable", failure_message="refused")
    status, notices = status_at(1, {}, report(10, metric=failing))
    assert ("Warning", "MetricsUnavailable") in [(n.type, n.reason) for n in notices]
    cond = condition_of(status, "MetricsAvailable")
    assert cond is not None
    assert (cond["status"], cond["reason"]) == ("False", "PrometheusUnreachable")
    timeout = MetricReport("q", failure_reason="QueryTimeout", failure_message="slow")
    status2, notices = status_at(2, status, report(10, metric=timeout))
    assert [n for n in notices if n.reason == "MetricsUnavailable"] == []
    ok = MetricReport("q", value=5.0, timestamp=START)
    status3, _ = status_at(3, status2, report(10, metric=ok))
    assert condition_of(status3, "MetricsAvailable")["status"] == "True"  # type: ignore[index]


def test_invalid_spec_sets_ready_false_and_warns_once() -> None:
    now = START
    status, notices = build_status({}, StatusInput(1, None, "bad cron"), now=now)
    assert status["phase"] == "Invalid"
    assert condition_of(status, "Ready")["reason"] == "InvalidSpec"  # type: ignore[index]
    assert [n.reason for n in notices] == ["InvalidSpec"]
    _, again = build_status(status, StatusInput(1, None, "bad cron"), now=now)
    assert again == []


def test_metric_sample_in_status_settles_between_refreshes() -> None:
    old: dict[str, Any] = {
        "targets": [
            {
                "kind": "Deployment",
                "name": "api",
                "desiredReplicas": 10,
                "metric": {"query": "q", "value": 100.0, "timestamp": "2026-12-31T12:00:00Z"},
            }
        ]
    }
    new: dict[str, Any] = {
        "targets": [
            {
                "kind": "Deployment",
                "name": "api",
                "desiredReplicas": 10,
                "metric": {"query": "q", "value": 103.0, "timestamp": "2026-12-31T12:00:10Z"},
            }
        ]
    }
    kept = settle_status(old, new, now=START + timedelta(seconds=10))
    assert kept["targets"][0]["metric"]["value"] == 100.0
    moved: dict[str, Any] = {
        "targets": [
            {**new["targets"][0], "metric": {**new["targets"][0]["metric"], "value": 150.0}}
        ]
    }
    assert settle_status(old, moved, now=START)["targets"][0]["metric"]["value"] == 150.0
    # Refreshed every 5 minutes, not every minute: 400 events with a metric in the scale
    # drill R6 made ~67 status writes a tick at once a minute.
    still = settle_status(old, new, now=START + timedelta(seconds=290))
    assert still["targets"][0]["metric"]["value"] == 100.0
    stale = settle_status(old, new, now=START + timedelta(seconds=301))
    assert stale["targets"][0]["metric"]["value"] == 103.0


def test_events_shown_together_refresh_their_samples_spread_over_five_minutes() -> None:
    """400 events with a metric, their samples first shown in one tick (the scale drill R6),
    must not all refresh in one tick five minutes later."""
    shown = {
        "targets": [{"metric": {"query": "q", "value": 1.0, "timestamp": "2026-12-31T12:00:00Z"}}]
    }
    first_due = []
    for n in range(400):
        phase = refresh_phase(f"uid-{n}")
        due = next(
            second
            for second in range(0, 310, 10)
            if metric_refresh_due(shown, now=START + timedelta(seconds=second), phase=phase)
        )
        first_due.append(due)
    assert max(first_due) <= 300
    per_tick = max(first_due.count(second) for second in set(first_due))
    assert per_tick <= 40  # of 400: spread over the 30 ticks of the period
