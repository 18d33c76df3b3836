"""Drill R1: kill -9 the operator 20 times through pre-warm, live and hand-back.

The moments are random (seeded: ``Context.seed``), 7 in the pre-warm window, 7 while live
and 6 in the cooldown and hand-back; each kill is followed at once by a restart. A kill
waits for the operator to be back in control first (so every restart is measured).
"Back in control" is the time from the restart to the first completed tick
(``showtime_tick_duration_seconds_count`` on its metrics endpoint); it must stay within
one tick plus the start-up time. Holds when: 0 floor violations, 0 lost hand-backs, 0
replicas lowered while held, and every restart back in control.
"""

from __future__ import annotations

import random
import statistics
import time

from .harness import Context, Row, Run, sleep_until
from .operator import TICK_SECONDS

KILLS = (7, 7, 6)  # pre-warm, live, cooldown + hand-back


def kill_moments(seed: int, prewarm: float, start: float, end: float, after: float) -> list[float]:
    """20 seeded moments spread over [prewarm, start), [start, end), [end, after)."""
    rng = random.Random(seed)
    windows = ((prewarm, start), (start, end), (end, after))
    moments = [
        rng.uniform(lo, hi) for (lo, hi), n in zip(windows, KILLS, strict=True) for _ in range(n)
    ]
    return sorted(moments)


def run(ctx: Context) -> Row:
    row = Row("R1 kill -9", "20 × kill -9 of the operator, restarted at once")
    with Run(ctx, "R1") as drill:
        drill.setup()
        op = drill.operator()
        drill.schedule()
        t = drill.timeline
        first = op.wait_in_control()
        back: list[float] = []
        phases = {"pre-warm": 0, "live": 0, "hand-back": 0}
        for moment in kill_moments(ctx.seed, t.prewarm, t.start, t.end, t.cooldown_end + 30):
            sleep_until(moment)
            at = time.time()
            phases["pre-warm" if at < t.start else "live" if at < t.end else "hand-back"] += 1
            op.kill()
            op.start()
            took = op.wait_in_control()
            back.append(took if took is not None else float("inf"))
        released = drill.wait_released()
        drill.figures(row)
    budget = TICK_SECONDS + (first or 0.0)
    worst = max(back)
    row.measured = (
        f"kills {phases['pre-warm']}/{phases['live']}/{phases['hand-back']} "
        f"(pre-warm/live/hand-back); back in control median {statistics.median(back):.1f} s, "
        f"max {worst:.1f} s (first start {first or 0:.1f} s; bound {budget:.1f} s)"
    )
    row.holds = (
        row.floor_violation_s == 0
        and row.lost_handbacks == 0
        and row.lowered == 0
        and worst <= budget
        and released
    )
    return row
