"""Drill R3: every Prometheus answer takes 30 s (a delaying proxy on 127.0.0.1).

The operator reads Prometheus through ``proxy.DelayProxy``; answers pass straight
through until 60 s after the start (the metric has raised ``web`` and ``search`` above
their floors), then each is held back 30 s until the end of the live stage. The budget of
a tick is the tick interval (10 s): a tick that takes longer delays the next one. Tick
durations come from the operator's ``showtime_tick_duration_seconds`` histogram (one
process, never restarted here). Holds when: no tick over budget, nothing lowered while
held, 0 floor violations, 0 lost hand-backs.
"""

from __future__ import annotations

from .harness import Context, Row, Run, sleep_until
from .monitor import read_states
from .operator import TICK_SECONDS
from .proxy import DelayProxy

DELAY_SECONDS = 30.0


def run(ctx: Context) -> Row:
    row = Row("R3 slow Prometheus", f"answers delayed {DELAY_SECONDS:g} s (proxy) while live")
    proxy = DelayProxy(ctx.prometheus_port).start()
    try:
        with Run(ctx, "R3") as drill:
            drill.setup()
            op = drill.operator(SHOWTIME_PROMETHEUS_URL=f"http://127.0.0.1:{proxy.port}")
            drill.schedule()
            t = drill.timeline
            sleep_until(t.start + 60)
            held = read_states(ctx.apps, ctx.autoscaling, drill.namespace)
            before = op.metrics()
            proxy.delay = DELAY_SECONDS
            sleep_until(t.end)
            during = op.metrics()
            proxy.delay = 0.0
            released = drill.wait_released()
            after = op.metrics()
            drill.figures(row)
    finally:
        proxy.close()
    key = "showtime_tick_duration_seconds"
    ticks = after[f"{key}_count"]
    within = after[f'{key}_bucket{{le="{float(TICK_SECONDS)}"}}']
    slow_ticks = during[f"{key}_count"] - before[f"{key}_count"]
    slow_sum = during[f"{key}_sum"] - before[f"{key}_sum"]
    buckets = sorted(
        (float(k.split('le="')[1].rstrip('"}')), v)
        for k, v in during.items()
        if k.startswith(f"{key}_bucket") and "+Inf" not in k
    )
    slow_before = {le: before.get(f'{key}_bucket{{le="{le}"}}', 0.0) for le, _ in buckets}
    worst = next((le for le, v in buckets if v - slow_before[le] >= slow_ticks), float("inf"))
    row.measured = (
        f"web, search at {held['web'].requested}, {held['search'].requested} (floors 24, 12) "
        f"when it slowed; {int(ticks - within)} of {int(ticks)} ticks over the "
        f"{TICK_SECONDS} s budget; while slow "
        f"{int(slow_ticks)} ticks, mean {slow_sum / max(slow_ticks, 1):.1f} s, all ≤ {worst:g} s"
    )
    row.holds = (
        ticks == within
        and row.floor_violation_s == 0
        and row.lost_handbacks == 0
        and row.lowered == 0
        and released
    )
    return row
