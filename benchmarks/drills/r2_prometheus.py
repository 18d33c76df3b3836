"""Drill R2: Prometheus stopped for ``Context.outage_seconds`` (5 min) mid-event.

Prometheus goes down 60 s after the start, once the metric has raised ``web`` and
``search`` above their floors, and comes back ``outage_seconds`` later; the live stage
lasts the outage plus 150 s. Holds when: no replica lowered while held (nor during the
outage), the ``MetricsAvailable`` condition of each event with a metric went False during
the outage and True again after it, exactly one Warning (reason ``MetricsUnavailable``,
counts summed as the operator aggregates repeats) per such event, 0 floor violations and
0 lost hand-backs.
"""

from __future__ import annotations

import time

from . import controlplane
from .figures import lowered
from .harness import Context, Row, Run, sleep_until
from .monitor import read_states

METRIC_EVENTS = ("keynote", "stream")  # the events whose targets have a metric
OUTAGE_AT = 60  # s after the start: the metric has raised web and search by then


def warnings(ctx: Context, namespace: str, event: str) -> int:
    items = ctx.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={event},reason=MetricsUnavailable"
    ).items
    return sum(int(e.count or 1) for e in items if e.type == "Warning")


def run(ctx: Context) -> Row:
    outage = ctx.outage_seconds
    row = Row("R2 Prometheus outage", f"Prometheus stopped {outage / 60:g} min mid-event")
    with Run(ctx, "R2", live_seconds=OUTAGE_AT + outage + 90) as drill:
        drill.setup()
        drill.operator()
        drill.schedule()
        t = drill.timeline
        sleep_until(t.start + OUTAGE_AT)
        held = read_states(ctx.apps, ctx.autoscaling, drill.namespace)
        raised = {n: held[n].requested for n in ("web", "search")}
        down_at = time.time()
        controlplane.prometheus("stop")
        sleep_until(down_at + outage)
        controlplane.prometheus("start")
        up_at = time.time()
        released = drill.wait_released()
        during = lowered(drill.monitor.samples, down_at, up_at + 10)
        set_at = {
            e: drill.monitor.condition_seen(e, "False", down_at, up_at) for e in METRIC_EVENTS
        }
        cleared_at = {
            e: drill.monitor.condition_seen(e, "True", up_at, t.end) for e in METRIC_EVENTS
        }
        counts = {e: warnings(ctx, drill.namespace, e) for e in METRIC_EVENTS}
        drill.figures(row)
    set_in = [a - down_at for a in set_at.values() if a is not None]
    cleared_in = [a - up_at for a in cleared_at.values() if a is not None]
    row.measured = (
        f"web, search at {raised['web']}, {raised['search']} (floors 24, 12) when it stopped; "
        f"lowered during outage {sum(during.values())}; MetricsAvailable=False after "
        f"{max(set_in, default=float('nan')):.0f} s, True again "
        f"{max(cleared_in, default=float('nan')):.0f} s after Prometheus was back "
        f"({len(set_in)}/{len(METRIC_EVENTS)} set, {len(cleared_in)}/{len(METRIC_EVENTS)} "
        f"cleared); Warnings per event {counts}"
    )
    row.holds = (
        not during
        and len(set_in) == len(cleared_in) == len(METRIC_EVENTS)
        and all(n == 1 for n in counts.values())
        and row.floor_violation_s == 0
        and row.lost_handbacks == 0
        and row.lowered == 0
        and released
    )
    return row
