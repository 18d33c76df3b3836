"""The drills' figures from sample sequences (benchmarks/drills/figures.py, scenario floors)."""

from __future__ import annotations

import json
import math
import socket
import socketserver
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.drills import scenario
from benchmarks.drills.figures import (
    Hold,
    Sample,
    TargetState,
    floor_at,
    floor_violations,
    lost_handbacks,
    lowered,
)
from benchmarks.drills.harness import audit_writes, by_showtime, showtime_writes
from benchmarks.drills.proxy import DelayProxy
from benchmarks.drills.r1_kill import kill_moments
from tools.loadsource import parse_profile, rate_at


def samples(requested: list[int | None], target: str = "web", start: float = 0.0) -> list[Sample]:
    """One sample a second; None: the target could not be read that second."""
    return [
        Sample(start + i, {} if n is None else {target: TargetState(n)})
        for i, n in enumerate(requested)
    ]


def test_seconds_below_the_floor_count_only_while_held() -> None:
    holds = [Hold("web", since=2, until=6, floor=10)]
    seen = samples([1, 1, 4, 10, 8, 10, 1, 1])
    # below at t=2 (4) and t=4 (8); t=0, 1 (before the deadline) and t=6, 7 (after) do not count
    assert floor_violations(seen, holds) == {"web": 2.0}


def test_the_highest_floor_of_overlapping_holds_applies() -> None:
    holds = [Hold("api", 0, 10, 18), Hold("api", 0, 10, 12), Hold("api", 5, 10, 20)]
    assert floor_at(holds, "api", 1) == 18
    assert floor_at(holds, "api", 5) == 20
    assert floor_at(holds, "api", 10) is None
    assert floor_violations(samples([18, 18, 18, 18, 18, 18, 20], "api"), holds) == {"api": 1.0}


def test_an_unreadable_second_counts_neither_way() -> None:
    holds = [Hold("web", 0, 10, 10)]
    assert floor_violations(samples([10, None, None, 10, 10]), holds) == {}


def test_a_sample_stands_for_the_time_until_the_next() -> None:
    holds = [Hold("web", 0, 100, 10)]
    seen = [
        Sample(0, {"web": TargetState(10)}),
        Sample(1, {"web": TargetState(3)}),
        Sample(4.5, {"web": TargetState(10)}),
    ]
    assert floor_violations(seen, holds) == {"web": 3.5}


def test_lowered_counts_each_step_down_while_held() -> None:
    seen = samples([2, 24, 31, 30, 31, None, 29, 2])
    assert lowered(seen, held_from=1, held_until=7) == {"web": 2}  # 31->30 and 31->29
    assert lowered(seen, held_from=0, held_until=100) == {"web": 3}


def test_raising_is_never_counted_as_lowered() -> None:
    assert lowered(samples([1, 12, 17, 17, 40]), 0, 10) == {}


def test_a_hand_back_is_lost_unless_count_and_annotations_are_as_before() -> None:
    before = {"web": TargetState(2), "checkout": TargetState(2, {"team": "shop"})}
    assert lost_handbacks(before, dict(before)) == []
    assert lost_handbacks(before, {**before, "web": TargetState(3)}) == ["web"]
    left = TargetState(2, {"team": "shop", "showtime.dev/original-replicas": "2"})
    assert lost_handbacks(before, {**before, "checkout": left}) == ["checkout"]
    assert lost_handbacks(before, {"checkout": before["checkout"]}) == ["web"]


def test_the_scenario_floors_are_the_specs() -> None:
    timeline = scenario.Timeline(start=1000.0, live_seconds=180)
    specs = scenario.events("ns", timeline)
    holds = scenario.holds(specs, timeline, grace=20)
    floors = {(h.target, h.floor) for h in holds}
    assert floors == {
        ("web", 24),
        ("db", 6),
        ("checkout", 40),
        ("api", 18),
        ("search", 12),
        ("api", 12),
    }
    assert {(h.since, h.until) for h in holds} == {(1000.0 - 60 + 20, 1180.0)}
    assert max(h.floor for h in holds) == 40  # floors up to 40 pods


def test_kill_moments_are_seeded_and_spread_over_the_three_stages() -> None:
    moments = kill_moments(7, prewarm=0, start=60, end=240, after=330)
    assert moments == kill_moments(7, prewarm=0, start=60, end=240, after=330)
    assert len(moments) == 20
    assert sum(m < 60 for m in moments) == 7
    assert sum(60 <= m < 240 for m in moments) == 7
    assert sum(m >= 240 for m in moments) == 6


def test_audit_writes_are_showtimes_in_the_namespace_without_leases(tmp_path: Path) -> None:
    def entry(
        ns: str, resource: str, agent: str, code: int = 200, stage: str = "ResponseComplete"
    ) -> str:
        return json.dumps(
            {
                "stage": stage,
                "objectRef": {"namespace": ns, "resource": resource},
                "responseStatus": {"code": code},
                "userAgent": agent,
                "requestReceivedTimestamp": "2026-11-22T01:41:35.161093Z",
            }
        )

    ours = "showtime/0.1.0 (drill/showtime-a)"
    log = tmp_path / "audit.log"
    log.write_text(
        "\n".join(
            [
                entry("drill", "deployments", ours),
                entry("drill", "deployments", ours, code=409),  # refused: not a write
                entry("drill", "deployments", ours, stage="ResponseStarted"),
                entry("drill", "leases", ours),  # election bookkeeping
                entry("other", "deployments", ours),
                entry("drill", "deployments", "showtime-drills"),
                "not json",
            ]
        )
        + "\n"
    )
    writes = showtime_writes(log, "drill")
    assert writes == {ours: 1, "showtime-drills": 1}
    assert by_showtime(writes) == 1
    assert (
        audit_writes(log, "drill")[0][0]
        == datetime(2026, 11, 22, 1, 41, 35, 161093, tzinfo=UTC).timestamp()
    )
    assert showtime_writes(log, "drill", offset=log.stat().st_size) == {}


def test_the_proxy_holds_answers_back_but_not_requests() -> None:
    received: list[float] = []

    class Echo(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = self.request.recv(100)
            received.append(time.monotonic())
            self.request.sendall(data)

    with socketserver.TCPServer(("127.0.0.1", 0), Echo) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        proxy = DelayProxy(server.server_address[1]).start()
        try:
            for delay in (0.0, 0.5):
                proxy.delay = delay
                sent = time.monotonic()
                with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
                    sock.sendall(b"ping")
                    assert sock.recv(100) == b"ping"
                answered = time.monotonic() - sent
                assert received[-1] - sent < 0.3  # the request went upstream at once
                assert delay <= answered < delay + 0.4
        finally:
            proxy.close()
            server.shutdown()


def test_the_load_is_at_its_peak_exactly_while_live() -> None:
    timeline = scenario.Timeline(start=1075.0, live_seconds=180)
    base, peak = scenario.LOAD["web"]
    profile = parse_profile(scenario.load_profile("web", timeline, now=1000.0), initial=base)
    assert rate_at(profile, 74) == base  # the start is 75 s away
    assert rate_at(profile, 75 + 10) == peak  # after a 10 s ramp
    assert rate_at(profile, 75 + 179) == peak
    assert rate_at(profile, 75 + 181) == base
    assert math.ceil(peak / scenario.PER_REPLICA["web"]) == 31  # above web's floor of 24
