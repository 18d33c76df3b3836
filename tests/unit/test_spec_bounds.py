"""Values that would overflow are refused with a message, never with an exception later.

SPEC.md §1 "Bad input": what the CRD cannot refuse (an old CRD, a file given to ``showtime
plan``) must give phase Invalid with a message, and a spec that parsed must be plannable at
any instant: one absurd TrafficEvent must never break the operator's tick for the others.
The bounds are the CRD's; ``test_crd_agrees_with_spec_bounds`` keeps the two in step.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from showtime.core import spec as bounds
from showtime.core.durations import DurationError, parse_duration
from showtime.core.planner import plan_event
from showtime.core.spec import SpecError, TrafficEventSpec, parse_spec

CRD = Path(__file__).resolve().parents[2] / "crds" / "trafficevent.yaml"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def raw(schedule: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedule": {"start": "2026-12-31T20:00:00+08:00", "duration": "4h", **(schedule or {})},
        "expectedPeak": 1000,
        "targets": [{"name": "api", "capacityPerReplica": 100, "maxReplicas": 50}],
    }
    spec.update(fields)
    return spec


def cron_raw(cron: str, **fields: Any) -> dict[str, Any]:
    spec = raw(**fields)
    spec["schedule"] = {"cron": cron, "duration": spec["schedule"]["duration"]}
    return spec


def plans_everywhere(spec: TrafficEventSpec) -> None:
    """Planning the spec at far-apart instants and lead times raises nothing."""
    for now in (datetime(1, 1, 1, tzinfo=UTC), NOW, datetime(9999, 12, 31, 23, 59, tzinfo=UTC)):
        for lead in (timedelta(0), timedelta(minutes=5), timedelta.max):
            plan_event(spec, now=now, lead_time=spec.lead_time or lead)
    for target in spec.targets:
        spec.floor_of(target)


# --- the observed failure -------------------------------------------------------------------


def test_an_absurd_duration_is_invalid_not_an_overflow() -> None:
    with pytest.raises(SpecError, match=r"schedule\.duration: must be at most 744h"):
        parse_spec(raw({"duration": "99999999999h"}))


@pytest.mark.parametrize("text", ["99999999999h", "9" * 40 + "ms", "1h" * 100])
def test_durations_module_refuses_absurd_values(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


# --- each bound: refused just above, accepted at the bound --------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"schedule": {"duration": "745h"}}, r"schedule\.duration: must be at most 744h"),
        ({"schedule": {"duration": "2678400001ms"}}, r"schedule\.duration: must be at most 744h"),
        ({"leadTime": "24h1s"}, r"leadTime: must be at most 24h"),
        ({"rampUp": "1441m"}, r"rampUp: must be at most 24h"),
        ({"cooldown": "86401s"}, r"cooldown: must be at most 24h"),
        ({"nodeCapacity": {"leadTime": "2h1s"}}, r"nodeCapacity\.leadTime: must be at most 2h"),
        (
            {"scaleDown": {"stabilizationWindow": "61m"}},
            r"scaleDown\.stabilizationWindow: must be at most 1h",
        ),
        ({"schedule": {"start": "9999-12-31T20:00:00Z"}}, "years 2000 to 2200"),
        ({"schedule": {"start": "1999-12-31T23:59:59Z"}}, "years 2000 to 2200"),
        ({"schedule": {"start": "0001-01-01T00:00:00+23:59"}}, "years 2000 to 2200"),
        ({"expectedPeak": 1e13}, "expectedPeak"),
        ({"expectedPeak": float("inf")}, "expectedPeak"),
        ({"expectedPeak": float("nan")}, "expectedPeak"),
        ({"headroom": 10.5}, "headroom"),
        ({"targets": [{"name": "a", "replicas": 1, "maxReplicas": 100_001}]}, "maxReplicas"),
        (
            {"targets": [{"name": "a", "capacityPerReplica": 1e13, "maxReplicas": 5}]},
            "capacityPerReplica",
        ),
        (
            {
                "targets": [
                    {
                        "name": "a",
                        "maxReplicas": 5,
                        "metric": {"query": "q", "targetPerReplica": 1e13},
                    }
                ]
            },
            "targetPerReplica",
        ),
    ],
)
def test_values_past_the_bounds_are_invalid(fields: dict[str, Any], message: str) -> None:
    schedule = fields.pop("schedule", None)
    with pytest.raises(SpecError, match=message):
        parse_spec(raw(schedule, **fields))


@pytest.mark.parametrize(
    "fields",
    [
        {"schedule": {"duration": "744h"}, "leadTime": "24h", "rampUp": "24h", "cooldown": "24h"},
        {"schedule": {"duration": "2678400000ms"}},
        {"schedule": {"start": "2000-01-01T00:00:00+14:00"}},  # 1999 in UTC: the year as written
        {"schedule": {"start": "2200-12-31T23:59:59-12:00"}},
        {"scaleDown": {"stabilizationWindow": "1h"}},
        {"nodeCapacity": {"prewarm": True, "leadTime": "2h"}},
        {"expectedPeak": 1e12, "headroom": 10},
        {
            "targets": [
                {"name": "a", "capacityPerReplica": 1e-300, "maxReplicas": 100_000},
                {
                    "name": "b",
                    "capacityPerReplica": 1e12,
                    "replicas": 100_000,
                    "maxReplicas": 100_000,
                },
            ]
        },
    ],
)
def test_values_at_the_bounds_are_planned(fields: dict[str, Any]) -> None:
    schedule = fields.pop("schedule", None)
    spec = parse_spec(raw(schedule, **fields))
    plans_everywhere(spec)


def test_a_tiny_capacity_is_capped_at_max_replicas() -> None:
    spec = parse_spec(
        raw(
            expectedPeak=1e12,
            headroom=10,
            targets=[{"name": "a", "capacityPerReplica": 1e-300, "maxReplicas": 7}],
        )
    )
    assert spec.floor_of(spec.targets[0]) == 7


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 0 31 2 *", "is not valid"),
        ("0 0 30 2 *", "is not valid"),
        ("99 * * * *", "is not valid"),
        ("*/0 * * * *", "is not valid"),
        ("0 0 * * 8#9", "is not valid"),
    ],
)
def test_crons_that_cannot_fire_are_invalid(cron: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(cron_raw(cron))


# --- one source of numbers ------------------------------------------------------------------


def _crd_spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return dict(schema["properties"]["spec"])


def _sum_limit_ms(field_schema: dict[str, Any]) -> int:
    """The ``... .sum() <= N`` of a duration field's CEL rules, in milliseconds."""
    limits = [
        int(found.group(1))
        for rule in field_schema["x-kubernetes-validations"]
        if (found := re.search(r"\.sum\(\)\s*<=\s*([0-9]+)", rule["rule"]))
    ]
    assert len(limits) == 1, field_schema
    return limits[0]


def test_crd_agrees_with_spec_bounds() -> None:
    schema = _crd_spec_schema()
    props = schema["properties"]
    target = props["targets"]["items"]["properties"]
    durations = {
        "schedule.duration": (props["schedule"]["properties"]["duration"], bounds.MAX_DURATION),
        "leadTime": (props["leadTime"], bounds.MAX_LEAD_TIME),
        "rampUp": (props["rampUp"], bounds.MAX_RAMP_UP),
        "cooldown": (props["cooldown"], bounds.MAX_COOLDOWN),
        "scaleDown.stabilizationWindow": (
            props["scaleDown"]["properties"]["stabilizationWindow"],
            bounds.MAX_STABILIZATION_WINDOW,
        ),
        "nodeCapacity.leadTime": (
            props["nodeCapacity"]["properties"]["leadTime"],
            bounds.MAX_NODE_LEAD_TIME,
        ),
    }
    for name, (field_schema, limit) in durations.items():
        assert _sum_limit_ms(field_schema) == limit // timedelta(milliseconds=1), name
    for name in ("replicas", "minReplicas", "maxReplicas"):
        assert target[name]["maximum"] == bounds.MAX_REPLICAS, name
    assert props["expectedPeak"]["maximum"] == bounds.MAX_LOAD
    assert target["capacityPerReplica"]["maximum"] == bounds.MAX_LOAD
    metric = target["metric"]["properties"]
    assert metric["targetPerReplica"]["maximum"] == bounds.MAX_LOAD
    assert props["headroom"]["maximum"] == bounds.MAX_HEADROOM
    start_rules = " ".join(
        r["rule"] for r in props["schedule"]["properties"]["start"]["x-kubernetes-validations"]
    )
    assert f">= {bounds.EARLIEST_YEAR}" in start_rules
    assert f"<= {bounds.LATEST_YEAR}" in start_rules


# --- property: parsed means plannable --------------------------------------------------------


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` 15 times in 16, else ``odd``: most specs parse, each field is sometimes odd."""
    return st.integers(0, 15).flatmap(lambda i: odd if i == 0 else usual)


_UNITS = st.sampled_from(["ms", "s", "m", "h"])
_ABSURD_DURATIONS = st.one_of(
    st.lists(
        st.tuples(st.one_of(st.integers(0, 10**6), st.integers(0, 10**30)), _UNITS),
        min_size=1,
        max_size=4,
    ).map(lambda parts: "".join(f"{n}{u}" for n, u in parts)),
    st.sampled_from(["99999999999h", "745h", "24h1ms", "1d", "", "-1h", "1.5h"]),
)


def durations(limit: timedelta, *, least_ms: int = 0) -> st.SearchStrategy[Any]:
    """Durations within ``limit`` (often right at it, in any unit), sometimes absurd ones."""
    top = limit // timedelta(milliseconds=1)
    millis = st.one_of(st.integers(least_ms, top), st.sampled_from([least_ms, top, top - 1]))
    written = millis.flatmap(
        lambda ms: st.sampled_from(
            [f"{ms}ms"]
            + ([f"{ms // 1000}s"] if ms % 1000 == 0 else [])
            + ([f"{ms // 3_600_000}h{ms % 3_600_000 // 60_000}m"] if ms % 60_000 == 0 else [])
        )
    )
    return mostly(written, _ABSURD_DURATIONS)


starts = st.builds(
    lambda y, mo, d, h, off: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:30:00{off}",
    mostly(st.one_of(st.integers(2000, 2200), st.sampled_from([2000, 2200])), st.integers(1, 9999)),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    mostly(st.sampled_from(["Z", "+14:00", "-12:00", "+05:30"]), st.sampled_from(["+23:59", ""])),
)
crons = mostly(
    st.sampled_from(
        [
            "* * * * *",
            "*/2 * * * *",
            "0 0 29 2 *",
            "0 0 * 2 1#5",
            "30 2 * * *",
            "0-59 2 * * *",
            "0 0 L * *",
            "0 0 1 1 *",
            "59 23 31 12 *",
        ]
    ),
    st.lists(
        st.sampled_from(["*", "0", "59", "*/7", "1-5", "L", "31", "2#5", "99", "-1", "a"]),
        min_size=5,
        max_size=5,
    ).map(" ".join),
)
_ODD_NUMBERS = st.one_of(
    st.integers(-1, 10**20), st.floats(allow_nan=True, allow_infinity=True), st.just(1e13)
)


def loads(least: float) -> st.SearchStrategy[Any]:
    usual = st.one_of(
        st.floats(least, 1e12), st.sampled_from([least, 1e12, 1e-300]).filter(lambda x: x >= least)
    )
    return mostly(usual, _ODD_NUMBERS)


@st.composite
def raw_specs(draw: st.DrawFn) -> dict[str, Any]:
    schedule: dict[str, Any] = {"duration": draw(durations(bounds.MAX_DURATION, least_ms=1))}
    if draw(st.booleans()):
        schedule["start"] = draw(starts)
    else:
        schedule["cron"] = draw(crons)
        schedule["timeZone"] = draw(
            st.sampled_from(["UTC", "Europe/Berlin", "Pacific/Kiritimati", "America/St_Johns"])
        )
    most = draw(mostly(st.one_of(st.integers(1, 100_000), st.just(100_000)), _ODD_NUMBERS))
    target: dict[str, Any] = {
        "name": "api",
        "maxReplicas": most,
        "capacityPerReplica": draw(loads(1e-300)),
        "share": draw(st.one_of(st.just(1.0), st.floats(1e-300, 1.0))),
    }
    if draw(st.booleans()):
        target["replicas"] = draw(
            mostly(st.integers(0, most if isinstance(most, int) else 1), _ODD_NUMBERS)
        )
    if draw(st.booleans()):
        target["metric"] = {"query": "q", "targetPerReplica": draw(loads(1e-300))}
    return {
        "schedule": schedule,
        "leadTime": draw(st.one_of(st.just("auto"), durations(bounds.MAX_LEAD_TIME))),
        "rampUp": draw(durations(bounds.MAX_RAMP_UP)),
        "cooldown": draw(durations(bounds.MAX_COOLDOWN)),
        "expectedPeak": draw(loads(0.0)),
        "headroom": draw(mostly(st.floats(0, bounds.MAX_HEADROOM), _ODD_NUMBERS)),
        "scaleDown": {"stabilizationWindow": draw(durations(bounds.MAX_STABILIZATION_WINDOW))},
        "targets": [target],
    }


leads = st.one_of(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=48)),
    st.sampled_from([timedelta.max, timedelta.min, timedelta(hours=24)]),
)
instants = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59),
        timezones=st.just(UTC),
    ),
    st.datetimes(
        min_value=datetime(1999, 1, 1), max_value=datetime(2201, 12, 31), timezones=st.just(UTC)
    ),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_specs(), instants, leads)
def test_a_spec_either_is_invalid_or_plans_at_any_instant(
    raw_spec: dict[str, Any], now: datetime, lead: timedelta
) -> None:
    try:
        spec = parse_spec(raw_spec)
    except SpecError:
        return  # a clean refusal, with a message (SpecError is never raised without one)
    plan_event(spec, now=now, lead_time=lead)
    for target in spec.targets:
        floor = spec.floor_of(target)
        assert target.min_replicas <= floor <= target.max_replicas
