"""Invariants of the planner, checked over generated specs and instants (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from showtime.core.planner import Reason, plan_event, wish_for
from showtime.core.spec import TrafficEventSpec, parse_spec
from showtime.core.targets import Claim, TargetView, decide_target

START = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)


@st.composite
def specs(draw: st.DrawFn) -> TrafficEventSpec:
    max_replicas = draw(st.integers(1, 500))
    min_replicas = draw(st.integers(0, max_replicas))
    target: dict[str, object] = {
        "name": "api",
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "capacityPerReplica": draw(st.floats(0.5, 10_000)),
        "share": draw(st.floats(0.01, 1.0)),
    }
    if draw(st.booleans()):
        target["replicas"] = draw(st.integers(0, max_replicas))
    if draw(st.booleans()):
        target["metric"] = {"query": "q", "targetPerReplica": draw(st.floats(0.1, 1000))}
    return parse_spec(
        {
            "schedule": {"start": START.isoformat(), "duration": f"{draw(st.integers(1, 600))}m"},
            "leadTime": f"{draw(st.integers(0, 3600))}s",
            "rampUp": f"{draw(st.integers(0, 3600))}s",
            "cooldown": f"{draw(st.integers(0, 3600))}s",
            "expectedPeak": draw(st.floats(0, 1e6)),
            "headroom": draw(st.floats(0, 2)),
            "targets": [target],
        }
    )


instants = st.integers(-3 * 3600, 12 * 3600).map(lambda s: START + timedelta(seconds=s))
samples = st.one_of(st.none(), st.floats(0, 1e7))


@settings(max_examples=300, deadline=None)
@given(specs(), instants, samples, st.booleans(), st.one_of(st.none(), st.integers(0, 1000)))
def test_desired_stays_within_min_and_max(
    spec: TrafficEventSpec, now: datetime, sample: float | None, failed: bool, last: int | None
) -> None:
    assert spec.lead_time is not None
    plan = plan_event(spec, now=now, lead_time=spec.lead_time)
    target = spec.targets[0]
    floor = plan.floors.get(target.key)
    if floor is None:
        return
    wish = wish_for(target, floor, sample_value=sample, metric_failed=failed, last_desired=last)
    assert target.min_replicas <= wish.desired <= target.max_replicas
    assert floor >= target.min_replicas


@settings(max_examples=200, deadline=None)
@given(specs())
def test_full_floor_is_requested_by_start_minus_lead_time(spec: TrafficEventSpec) -> None:
    assert spec.lead_time is not None
    full_at = START - spec.lead_time
    for moment in (full_at, full_at + (START - full_at) / 2, START - timedelta(microseconds=1)):
        plan = plan_event(spec, now=moment, lead_time=spec.lead_time)
        if moment >= full_at:
            assert plan.floors.get(spec.targets[0].key) == spec.floor_of(spec.targets[0])


@settings(max_examples=200, deadline=None)
@given(specs(), st.lists(st.integers(0, 3 * 3600), min_size=2, max_size=30))
def test_ramp_never_goes_down_before_start(spec: TrafficEventSpec, offsets: list[int]) -> None:
    assert spec.lead_time is not None
    window_start = START - spec.lead_time - spec.ramp_up
    moments = sorted(window_start + timedelta(seconds=o) for o in offsets)
    values = [
        plan_event(spec, now=m, lead_time=spec.lead_time).floors.get(spec.targets[0].key, 0)
        for m in moments
        if m < START
    ]
    assert values == sorted(values)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 500),
    st.lists(st.integers(1, 500), min_size=1, max_size=4),
    st.integers(1, 100),
)
def test_held_target_never_below_the_strongest_wish_when_scaling_up(
    current: int, wishes: list[int], percent: int
) -> None:
    claims = [Claim(f"e{i}", w, Reason.FLOOR, timedelta(0), percent) for i, w in enumerate(wishes)]
    decision = decide_target(TargetView(current), claims, now=START)
    value = decision.replicas if decision.replicas is not None else current
    if max(wishes) >= current:
        assert value == max(wishes)
    else:  # scaling down: by at most percent (at least one replica) per minute
        assert value >= current - max(1, -(-current * percent // 100))
        assert value >= max(wishes)
