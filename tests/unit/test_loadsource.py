"""The load source: exact profile integrals, monotonic replacement, and its HTTP server."""

from __future__ import annotations

import json
import math
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.loadsource import load_source
from tools.loadsource import (
    LoadCounter,
    Profile,
    Segment,
    integral,
    make_server,
    parse_labels,
    parse_profile,
    rate_at,
    render_metrics,
    write_sd_file,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_constant() -> None:
    profile = parse_profile({"rate": 500})
    assert profile == Profile((Segment(0.0, 500.0),))
    assert rate_at(profile, 0) == rate_at(profile, 1e6) == 500
    assert integral(profile, 0) == 0
    assert integral(profile, 10) == 5000


def test_step() -> None:
    profile = parse_profile([{"at": 0, "rate": 100}, {"at": 60, "rate": 1000}])
    assert rate_at(profile, 59.9) == 100
    assert rate_at(profile, 60) == 1000
    assert integral(profile, 60) == 6000
    assert integral(profile, 70) == 6000 + 10_000


def test_ramp() -> None:
    profile = parse_profile([{"at": 0, "rate": 100}, {"at": 60, "rate": 1000, "ramp": 30}])
    assert rate_at(profile, 60) == 100
    assert rate_at(profile, 75) == pytest.approx(550)
    assert rate_at(profile, 90) == 1000
    assert rate_at(profile, 500) == 1000
    # 60 s at 100, a 30 s trapezoid from 100 to 1000, then 10 s at 1000
    assert integral(profile, 75) == pytest.approx(6000 + 15 * (100 + 550) / 2)
    assert integral(profile, 100) == pytest.approx(6000 + 30 * 550 + 10_000)


def test_before_the_first_segment_the_initial_rate_holds() -> None:
    profile = parse_profile([{"at": 10, "rate": 50, "ramp": 10}], initial=20)
    assert rate_at(profile, 5) == 20
    assert rate_at(profile, 15) == pytest.approx(35)
    assert integral(profile, 20) == pytest.approx(200 + 10 * 35)


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"at": 0},
        [{"at": 0, "rate": -1}],
        [{"at": 0, "rate": "100"}],
        [{"at": 0, "rate": float("nan")}],
        [{"at": 0, "rate": 1, "burst": 2}],
        [{"at": 0, "rate": 1, "ramp": 30}, {"at": 10, "rate": 2}],
        [{"at": 0, "rate": True}],
        "fast",
    ],
)
def test_bad_profiles_are_rejected(raw: object) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        parse_profile(raw)


def test_replacing_the_profile_keeps_the_counter_monotonic() -> None:
    clock = FakeClock()
    counter = LoadCounter(parse_profile({"rate": 1000}), clock=clock)
    clock.now += 10
    assert counter.value() == 10_000
    counter.replace({"rate": 1})  # a drop in rate must not drop the count
    assert counter.value() == 10_000
    clock.now += 10
    assert counter.value() == 10_010
    counter.replace([{"at": 0, "rate": 101, "ramp": 10}])  # ramps from the current rate
    assert counter.rate() == 1
    clock.now += 10
    assert counter.value() == pytest.approx(10_010 + 10 * 51)
    assert counter.rate() == 101


def test_a_rejected_profile_changes_nothing() -> None:
    clock = FakeClock()
    counter = LoadCounter(parse_profile({"rate": 10}), clock=clock)
    clock.now += 1
    with pytest.raises(ValueError, match="rate"):
        counter.replace({"rate": -5})
    assert counter.value() == 10
    assert counter.rate() == 10


segments = st.lists(
    st.tuples(
        st.floats(0, 100),  # gap before the segment
        st.floats(0, 10_000),  # rate
        st.floats(0, 100),  # ramp
    ),
    min_size=1,
    max_size=6,
)


def _build(parts: list[tuple[float, float, float]]) -> list[dict[str, float]]:
    out, t = [], 0.0
    for gap, rate, ramp in parts:
        t += gap
        out.append({"at": t, "rate": rate, "ramp": ramp})
        t += ramp
    return out


@given(segments, st.floats(0, 1000), st.floats(0, 1000))
def test_integral_is_monotonic_and_matches_the_rate(
    parts: list[tuple[float, float, float]], t1: float, t2: float
) -> None:
    profile = parse_profile(_build(parts))
    lo, hi = sorted((t1, t2))
    assert integral(profile, hi) >= integral(profile, lo) - 1e-6
    # over a short window the count grows by between the least and the most rate seen...
    h = 1e-3
    grown = integral(profile, lo + h) - integral(profile, lo)
    rates = [profile.initial, *(seg.rate for seg in profile.segments)]
    assert min(rates) * h - 1e-6 <= grown <= max(rates) * h + 1e-6
    # ...and where the rate is linear across the window, by exactly the midpoint rate
    kinks = {x for seg in profile.segments for x in (seg.at, seg.at + seg.ramp)}
    if not any(lo <= x <= lo + h for x in kinks):
        expected = rate_at(profile, lo + h / 2) * h
        assert math.isclose(grown, expected, rel_tol=1e-6, abs_tol=1e-6)


def test_labels() -> None:
    assert parse_labels("namespace=live, service=lecture-api") == {
        "namespace": "live",
        "service": "lecture-api",
    }
    assert parse_labels("") == {}
    for bad in ("novalue", "1x=a", "__name__=x", "a-b=c"):
        with pytest.raises(ValueError, match="label"):
            parse_labels(bad)


def test_exposition_escapes_label_values() -> None:
    counter = LoadCounter(parse_profile({"rate": 0}))
    text = render_metrics(counter, {"a": 'x"y\\z'})
    assert 'http_requests_total{a="x\\"y\\\\z"} 0.0' in text
    assert "# TYPE http_requests_total counter" in text


def test_sd_file(tmp_path: Path) -> None:
    path = write_sd_file(tmp_path, "demo", 1234)
    assert path == tmp_path / "demo.json"
    assert json.loads(path.read_text())[0]["targets"] == ["127.0.0.1:1234"]
    assert [p.name for p in tmp_path.iterdir()] == ["demo.json"]


@pytest.fixture
def served() -> Iterator[tuple[str, FakeClock]]:
    clock = FakeClock()
    counter = LoadCounter(parse_profile({"rate": 100}), clock=clock)
    server = make_server(counter, {"service": "api"})
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", clock
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _put(url: str, body: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, data=body, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_server_serves_the_counter(served: tuple[str, FakeClock]) -> None:
    url, clock = served
    clock.now += 3
    assert 'http_requests_total{service="api"} 300.0\n' in _get(f"{url}/metrics")
    status, state = _put(f"{url}/profile", b'[{"at": 0, "rate": 1000}]')
    assert status == 200
    assert state["rate"] == 1000
    clock.now += 1
    assert 'http_requests_total{service="api"} 1300.0\n' in _get(f"{url}/metrics")
    assert json.loads(_get(f"{url}/profile"))["profile"] == [{"at": 0, "rate": 1000, "ramp": 0}]


def test_server_rejects_bad_profiles(served: tuple[str, FakeClock]) -> None:
    url, _ = served
    status, body = _put(f"{url}/profile", b"not json")
    assert status == 400
    assert "error" in body
    status, body = _put(f"{url}/profile", b'{"rate": -1}')
    assert status == 400
    assert ">= 0" in str(body["error"])


def test_subprocess_helper_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOWTIME_PROM_TARGETS_DIR", str(tmp_path))
    with load_source(labels={"service": "unit"}, profile={"rate": 50}, name="unit") as source:
        sd = json.loads((tmp_path / "unit.json").read_text())
        assert sd[0]["targets"] == [f"127.0.0.1:{source.port}"]
        assert 'http_requests_total{service="unit"}' in source.scrape()
        assert source.set_profile({"rate": 7})["rate"] == 7
        assert source.get_profile()["profile"] == [{"at": 0, "rate": 7, "ramp": 0}]
    assert source.process.returncode == 0  # stopped by SIGTERM, cleanly
    assert list(tmp_path.iterdir()) == []  # and it deregistered itself
