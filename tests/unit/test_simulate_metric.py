"""``showtime simulate``: the metric answers the mean of its range window, not the load.

A ``rate(...[1m])`` query lags a moving load by about half a minute; Showtime's reactive
part and KEDA's prometheus trigger act on that, the pods serve the real load. Before this
model the simulator gave them the load itself, and predicted 1.27 x the oracle's
pod-seconds for a run of ``make bench-burst`` that measured 1.36 x.
"""

from __future__ import annotations

from typing import Any

import pytest

from showtime.core.spec import parse_spec
from showtime.simulate import simulate
from showtime.simulate.metric import range_seconds, trailing_mean
from showtime.simulate.showtime_policy import SimEvent
from showtime.simulate.trace import make_trace

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.mark.parametrize(
    ("query", "seconds"),
    [
        ("sum(rate(http_requests_total[1m]))", 60),
        ('sum(rate(x{a="b"}[90s])) * 60', 90),
        ("max_over_time(rate(x[30s])[5m:15s])", 300),
        ("avg(rate(x[1h30m]))", 5400),
        ("sum(up)", 0),
    ],
)
def test_the_window_is_the_longest_range_selector(query: str, seconds: float) -> None:
    assert range_seconds(query) == seconds


def test_a_one_minute_window_answers_the_mean_of_the_last_minute() -> None:
    # One point a second: 100 for a minute, then 1000.
    trace = make_trace((T0 + s, 100.0 if s < 60 else 1000.0) for s in range(180))
    metric = trailing_mean(trace, 60)
    at = dict(zip(metric.times, metric.values, strict=True))
    assert at[T0 + 30] == pytest.approx(100)
    assert at[T0 + 90] == pytest.approx(550)  # half the minute at 100, half at 1000
    assert at[T0 + 120] == pytest.approx(1000)
    # One point a minute: followed every 30 s in between, where the mean is half-way.
    coarse = make_trace((T0 + 60 * m, 100.0 if m < 2 else 1000.0) for m in range(5))
    metric = trailing_mean(coarse, 60)
    at = dict(zip(metric.times, metric.values, strict=True))
    assert at[T0 + 120] == pytest.approx(100)
    assert at[T0 + 150] == pytest.approx(550)
    assert at[T0 + 180] == pytest.approx(1000)
    assert trailing_mean(coarse, 0) is coarse


def decay_event(query: str) -> SimEvent:
    spec: dict[str, Any] = {
        "schedule": {"start": "2027-01-15T08:05:00Z", "duration": "3m"},
        "leadTime": "2m",
        "cooldown": "2m",
        "expectedPeak": 1000,
        "headroom": 0,
        "scaleDown": {"stabilizationWindow": "0s", "maxPercentPerMinute": 100},
        "targets": [
            {
                "name": "api",
                "capacityPerReplica": 50,
                "minReplicas": 2,
                "maxReplicas": 60,
                "metric": {"query": query, "targetPerReplica": 50},
            }
        ],
    }
    return SimEvent("live", "lecture", spec, parse_spec(spec))


def test_showtime_follows_a_decay_as_late_as_its_rate_window() -> None:
    """1000 req/s fall to 100 over 2 min after the event: a 1-minute rate holds pods longer."""

    def load(s: int) -> float:
        ends = 8 * 60  # 08:08, the event's end
        if s < ends:
            return 1000.0 if s >= 5 * 60 else 100.0
        return max(100.0, 1000.0 - 7.5 * (s - ends))

    trace = make_trace((T0 + s, load(s)) for s in range(15 * 60))
    events = [decay_event("sum(rate(requests_total[1m]))")]
    lagged = simulate(events, trace, pod_ready=30, policies=["showtime-alone"])
    instant = simulate(events, trace, pod_ready=30, policies=["showtime-alone"], metric_window=0)
    assert lagged.metric_window == 60
    more = lagged.figures["showtime-alone"].ready_pod_seconds
    less = instant.figures["showtime-alone"].ready_pod_seconds
    # About 4.5 pods (a 30 s lag of a 7.5 req/s/s decay, 50 req/s a pod) for the 2 minutes.
    assert 300 < more - less < 800
    assert lagged.figures["showtime-alone"].unserved_seconds == 0
