"""From the sampler's ticks and memory readings to the drill's figures and Markdown table.

Pure: ticks are split by when they ended into the phases of the run (the first take-hold,
steady, the burst's take-hold, steady again), and each figure is computed from its phase.
Targets (R6): steady tick p99 under 1 s and RSS under 300 MiB.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.scale_drill.operator import Samples, SlowTick, Tick

P99_TARGET_SECONDS = 1.0
RSS_TARGET_MIB = 300.0


@dataclass(frozen=True)
class Phases:
    """Monotonic moments that split the run."""

    started: float  # the operator was started
    steady_from: float  # the first take-hold is over
    burst_at: float  # the burst group's pre-warm begins
    burst_until: float  # its take-hold is over
    ended: float


@dataclass(frozen=True)
class Expected:
    """Changes the run needed: per group, events and targets that take hold."""

    live_events: int
    live_targets: int
    burst_events: int
    burst_targets: int
    staggered_events: int
    staggered_targets: int
    metric_queries: int


def quantile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank quantile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def writes_of(ticks: Sequence[Tick], kind: str) -> float:
    return sum(v for tick in ticks for k, v in tick.writes.items() if k.startswith(f"{kind}/"))


def steady_ticks(samples: Samples, phases: Phases) -> list[Tick]:
    return [t for t in samples.ticks if in_steady(t.ended, phases)]


def in_steady(moment: float, phases: Phases) -> bool:
    return phases.steady_from <= moment < phases.burst_at or moment >= phases.burst_until


def slow_row(slow: Sequence[SlowTick], phases: Phases) -> tuple[str, str, str]:
    """How many steady ticks took 1 s or more, and where their time went on average."""
    steady = [t for t in slow if in_steady(t.ended, phases)]
    if not steady:
        return ("steady ticks of 1 s or more", "0", "")
    steps: dict[str, float] = {}
    for tick in steady:
        for step, seconds in tick.phases.items():
            steps[step] = steps.get(step, 0.0) + seconds / len(steady)
    spent = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(steps.items(), key=lambda kv: -kv[1]))
    writes = statistics.median(t.writes for t in steady)
    return (
        "steady ticks of 1 s or more",
        str(len(steady)),
        f"mean: {spent}; median writes {writes:.0f}",
    )


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "-"


def table(
    samples: Samples,
    phases: Phases,
    expected: Expected,
    notes: dict[str, str],
    slow: Sequence[SlowTick] = (),
) -> str:
    first = [t for t in samples.ticks if t.ended < phases.steady_from]
    steady = steady_ticks(samples, phases)
    burst = [t for t in samples.ticks if phases.burst_at <= t.ended < phases.burst_until]
    exact = [t.seconds for t in steady if t.exact]
    p50, p99 = quantile(exact, 0.5), quantile(exact, 0.99)
    # Steady ticks that wrote no target, and those in which staggered events took hold.
    quiet = [t.seconds for t in steady if t.exact and not writes_of([t], "Deployment")]
    holding = [t.seconds for t in steady if t.exact and writes_of([t], "Deployment")]
    rss_all = [m for _, m in samples.rss]
    rss_steady = [
        m
        for at, m in samples.rss
        if phases.steady_from <= at < phases.burst_at or at >= phases.burst_until
    ]
    peak, steady_rss = max(rss_all, default=math.nan), statistics.median(rss_steady or [math.nan])
    burst_hold = max(burst, key=lambda t: writes_of([t], "Deployment"), default=None)
    first_hold = max(first, key=lambda t: writes_of([t], "Deployment"), default=None)
    staggered_writes = writes_of(steady, "Deployment")
    queries = [t.queries for t in steady if t.exact and t.queries]
    rows = [
        ("steady tick p50 / p99", f"{p50:.2f} s / {p99:.2f} s", f"{len(exact)} ticks"),
        (
            "p99 target < 1 s",
            "met" if p99 < P99_TARGET_SECONDS else "MISSED",
            "README before: median 0.16–0.4 s at 1,000 events",
        ),
        (
            "  of which without target writes",
            f"{quantile(quiet, 0.5):.2f} s / {quantile(quiet, 0.99):.2f} s",
            f"{len(quiet)} ticks (p50 / p99)",
        ),
        (
            "  of which staggered events took hold",
            f"{quantile(holding, 0.5):.2f} s / {quantile(holding, 0.99):.2f} s",
            f"{len(holding)} ticks (p50 / p99)",
        ),
        slow_row(slow, phases),
        (
            "take-hold tick (burst)",
            f"{burst_hold.seconds:.1f} s" if burst_hold else "-",
            f"{expected.burst_events} events, {expected.burst_targets} targets; "
            f"{writes_of(burst, 'Deployment'):.0f} Deployment and "
            f"{writes_of(burst, 'TrafficEvent'):.0f} status writes, "
            f"{writes_of(burst, 'Event'):.0f} Events over {len(burst)} ticks",
        ),
        (
            "take-hold tick (at start)",
            f"{first_hold.seconds:.1f} s" if first_hold else "-",
            f"{expected.live_events} live events, {expected.live_targets} targets; "
            f"{writes_of(first, 'Deployment'):.0f} Deployment writes over {len(first)} ticks",
        ),
        ("RSS peak / steady", f"{peak:.0f} / {steady_rss:.0f} MiB", "VmRSS every 0.5 s"),
        (
            "RSS target < 300 MiB",
            "met" if peak < RSS_TARGET_MIB else "MISSED",
            "README before: about 150 MiB peak at 1,000 events",
        ),
        (
            "writes per change (burst)",
            f"{ratio(writes_of(burst, 'Deployment'), expected.burst_targets)} per target, "
            f"{ratio(writes_of(burst, 'TrafficEvent'), expected.burst_events)} status per event",
            "1.00 is one merge patch per target and per event",
        ),
        (
            "writes per change (steady)",
            f"{ratio(staggered_writes, expected.staggered_targets)} per target",
            f"{staggered_writes:.0f} Deployment, {writes_of(steady, 'TrafficEvent'):.0f} status "
            f"writes in {len(steady)} ticks; {expected.staggered_events} staggered events "
            f"({expected.staggered_targets} targets) took hold",
        ),
        (
            "metric requests per tick",
            f"{statistics.median(queries):.0f}" if queries else "-",
            f"{expected.metric_queries} distinct queries (Scheduled and holding events with a "
            "metric); one request each, or 50 per request batched",
        ),
    ]
    rows += [(k, v, "") for k, v in notes.items()]
    lines = ["| figure | value | notes |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)
