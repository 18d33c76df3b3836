"""``showtime simulate``: the policies on small hand-made traces, what a user would read.

Each trace is a few minutes of load in the unit of ``capacityPerReplica``; the figures are
small enough to compute by hand. The Showtime policy goes through the operator's own core
(``core.decide.decide``), which one test counts.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import showtime.simulate.showtime_policy as showtime_policy
from showtime.core.spec import parse_spec
from showtime.simulate import simulate
from showtime.simulate.policies import (
    FixedPolicy,
    HpaPolicy,
    KedaPolicy,
    OraclePolicy,
    Policy,
    Sizing,
    Window,
)
from showtime.simulate.replay import replay
from showtime.simulate.showtime_policy import ShowtimePolicy, SimEvent
from showtime.simulate.trace import Trace, make_trace

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a whole minute
BURST_AT = T0 + 30 * 60  # the announced start: minute 30
BURST_ENDS = T0 + 50 * 60  # and its end, 20 minutes later


def burst_trace(before: float = 100.0, during: float = 1000.0, minutes: int = 60) -> Trace:
    """Flat load, ten times more during the event (minutes 30 to 50), then flat again."""
    return make_trace(
        (T0 + 60 * m, during if BURST_AT <= T0 + 60 * m < BURST_ENDS else before)
        for m in range(minutes)
    )


def event(**overrides: Any) -> SimEvent:
    spec: dict[str, Any] = {
        "schedule": {"start": "2027-01-15T08:30:00Z", "duration": "20m"},
        "leadTime": "5m",
        "cooldown": "0s",
        "expectedPeak": 1000,
        "headroom": 0,
        "targets": [
            {
                "name": "api",
                "capacityPerReplica": 100,
                "minReplicas": 1,
                "maxReplicas": 50,
                "metric": {"query": "sum(rate(requests[1m]))", "targetPerReplica": 100},
            }
        ],
    }
    spec.update(overrides)
    return SimEvent("live", "launch", spec, parse_spec(spec))


def test_the_oracle_serves_everything_with_exactly_the_pods_needed() -> None:
    trace = make_trace([(T0, 250.0), (T0 + 60, 1000.0), (T0 + 120, 0.0)])
    figures = replay(trace, OraclePolicy(Sizing(100, 100, 1, 50)), capacity=100, pod_ready=600)
    assert figures.unserved_seconds == 0
    assert figures.unserved_minutes == 0
    # 3 pods for a minute, 10 for a minute, none for the last: 13 pod-minutes.
    assert figures.ready_pod_seconds == pytest.approx(13 * 60)


def test_a_fixed_floor_on_a_hand_computed_trace() -> None:
    # Load 100, 500, 300 for a minute each; 3 replicas of capacity 100 serve 300.
    trace = make_trace([(T0, 100.0), (T0 + 60, 500.0), (T0 + 120, 300.0)])
    figures = replay(trace, FixedPolicy(3), capacity=100, pod_ready=30)
    assert figures.load_seconds == pytest.approx(900 * 60)
    assert figures.unserved_seconds == pytest.approx(200 * 60)
    assert figures.unserved_share == pytest.approx(200 / 900)
    assert figures.unserved_minutes == 1
    assert figures.peak_shortfall == pytest.approx(200)
    assert figures.ready_pod_hours == pytest.approx(3 * 3 / 60)


def test_the_hpa_lags_a_step_by_the_sync_and_the_pod_start_up() -> None:
    result = simulate([event()], burst_trace(), pod_ready=60, policies=["hpa"])
    hpa = result.figures["hpa"]
    # 900 unserved from the step until pods asked for at the next sync are Ready (60 s+).
    assert hpa.unserved_minutes >= 1
    assert hpa.unserved_seconds >= 900 * 60
    assert hpa.peak_shortfall == pytest.approx(900)


def test_showtime_prewarms_an_announced_burst_and_serves_all_of_it() -> None:
    # Pods take 60 s, the lead time is 5 min: the floor of 10 is Ready before the start.
    result = simulate(
        [event()], burst_trace(), pod_ready=60, policies=["showtime", "showtime-alone", "hpa"]
    )
    assert result.figures["showtime"].unserved_seconds == 0
    assert result.figures["showtime-alone"].unserved_seconds == 0
    assert result.figures["hpa"].unserved_seconds > 0
    # ... and it hands back: after the event the target is not held at the floor all day.
    fixed = simulate([event()], burst_trace(), pod_ready=60, policies=["fixed"])
    assert result.figures["showtime"].ready_pod_seconds < fixed.figures["fixed"].ready_pod_seconds


def test_showtime_is_late_when_pods_start_slower_than_the_lead_time() -> None:
    result = simulate([event()], burst_trace(), pod_ready=600, policies=["showtime"])
    assert result.figures["showtime"].unserved_seconds > 0


def test_keda_opens_its_cron_window_ten_minutes_ahead() -> None:
    result = simulate([event()], burst_trace(), pod_ready=60, policies=["keda"])
    assert result.figures["keda"].unserved_seconds == 0
    late = simulate([event()], burst_trace(), pod_ready=900, policies=["keda"])
    assert late.figures["keda"].unserved_seconds > 0


def test_the_showtime_policy_runs_the_operators_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = showtime_policy.decide

    def counting(observed: Any, results: Any) -> Any:
        calls.append(len(observed.events))
        return real(observed, results)

    monkeypatch.setattr(showtime_policy, "decide", counting)
    simulate([event()], burst_trace(), pod_ready=60, policies=["showtime"])
    assert calls, "the Showtime policy never called core.decide.decide"
    # Far from the event and holding nothing, ticks are skipped: far fewer than one per 10 s.
    assert len(calls) < 60 * 60 / 10


def test_pod_hours_are_compared_with_the_oracle() -> None:
    result = simulate([event()], burst_trace(), pod_ready=60, policies=["fixed", "oracle"])
    oracle = result.figures["oracle"].ready_pod_seconds
    assert result.oracle_ratio("oracle") == pytest.approx(1.0)
    assert result.oracle_ratio("fixed") == pytest.approx(10 * 3600 / oracle)
    assert math.isfinite(result.oracle_ratio("fixed") or math.nan)


def wobbly_trace() -> Trace:
    """Three hours of a load that wobbles around, with the announced burst in it."""
    points = []
    for m in range(180):
        moment = T0 + 60 * m
        base = 1000.0 if BURST_AT <= moment < BURST_ENDS else 150.0
        points.append((moment, base * (1 + 0.3 * math.sin(m / 3.0)) + 40 * (m % 7)))
    return make_trace(points)


def test_skipping_ticks_that_change_nothing_changes_no_figure() -> None:
    trace = wobbly_trace()
    sizing = Sizing(100, 100, 1, 50)
    windows = [Window(BURST_AT - 600, BURST_ENDS, 10)]
    pairs: list[tuple[Policy, Policy]] = [
        (HpaPolicy(sizing), HpaPolicy(sizing, trace)),
        (KedaPolicy(sizing, windows), KedaPolicy(sizing, windows, trace)),
        (
            ShowtimePolicy([event()], ("live", "Deployment", "api"), sizing, pod_ready=60),
            ShowtimePolicy(
                [event()], ("live", "Deployment", "api"), sizing, pod_ready=60, trace=trace
            ),
        ),
    ]
    for every_tick, skipping in pairs:
        slow = replay(trace, every_tick, capacity=100, pod_ready=60)
        fast = replay(trace, skipping, capacity=100, pod_ready=60)
        assert fast.decisions < slow.decisions, every_tick.name
        assert fast.unserved_seconds == pytest.approx(slow.unserved_seconds), every_tick.name
        assert fast.unserved_minutes == slow.unserved_minutes, every_tick.name
        assert fast.ready_pod_seconds == pytest.approx(slow.ready_pod_seconds), every_tick.name
        assert fast.peak_shortfall == pytest.approx(slow.peak_shortfall), every_tick.name
