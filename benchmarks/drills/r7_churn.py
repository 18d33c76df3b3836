"""Drill R7: 1,000 Deployment edits a minute by another client during an event.

Two copies of the scenario run side by side, each in its own namespace with its own
operator: one with churn, one without (the baseline). From 30 s before pre-warm to the
end of the live stage a client (user agent ``showtime-drills``) patches an annotation or
a label of the five targets and five unrelated Deployments, round-robin, at 1,000 edits a
minute (paced; at most that many per minute, bounded in count). Showtime's writes are
counted in the kube-apiserver audit log (its user agents, per namespace). Holds when: the
churned operator wrote no more than the baseline (+10 % for timing), 0 floor violations
(no missed floor) and 0 lost hand-backs in both.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from .harness import Context, Row, Run, audit_writes, by_showtime, sleep_until
from .scenario import CHURN_PREFIX, TARGETS, UNRELATED

EDITS_PER_MINUTE = 1000


def churn(apps: Any, namespace: str, until: float, stop: threading.Event) -> tuple[int, int]:
    """Edit Deployments at EDITS_PER_MINUTE until ``until``; (done, failed)."""
    names = [t.name for t in TARGETS if t.kind == "Deployment"] + list(UNRELATED)
    interval = 60.0 / EDITS_PER_MINUTE
    limit = int((until - time.time()) / interval) + 1
    done = failed = 0
    began = time.monotonic()
    for i in range(max(0, limit)):
        if stop.is_set() or time.time() >= until:
            break
        name = names[i % len(names)]
        where = "annotations" if i % 2 == 0 else "labels"
        body = {"metadata": {where: {f"{CHURN_PREFIX}churn": str(i)}}}
        try:
            apps.patch_namespaced_deployment(name, namespace, body, _request_timeout=5)
            done += 1
        except Exception:
            failed += 1
        time.sleep(max(0.0, began + (i + 1) * interval - time.monotonic()))
    return done, failed


def run(ctx: Context) -> Row:
    row = Row("R7 watch churn", f"{EDITS_PER_MINUTE:,} Deployment edits/min during an event")
    with Run(ctx, "R7") as churned, Run(ctx, "R7-base") as base:
        for drill in (churned, base):
            drill.setup()
            drill.operator()
        churned.schedule()
        base.schedule()
        t = churned.timeline
        sleep_until(t.prewarm - 30)
        stop = threading.Event()
        began = time.time()
        done, failed = churn(ctx.apps, churned.namespace, t.end, stop)
        rate = done / max(1e-9, (time.time() - began) / 60)
        released = churned.wait_released() and base.wait_released()
        writes, base_writes = churned.writes(), base.writes()
        conflicts = [
            by_showtime(
                Counter(
                    a
                    for _, a in audit_writes(ctx.audit_log, d.namespace, d.audit_from, refused=True)
                )
            )
            for d in (churned, base)
        ]
        base_row = base.figures(Row("baseline", ""))
        churned.figures(row)
    ours, theirs = by_showtime(writes), by_showtime(base_writes)
    row.measured = (
        f"{done:,} edits ({rate:,.0f}/min, {failed} failed); Showtime's writes {ours} with churn, "
        f"{theirs} without (and refused for a conflict: {conflicts[0]} and {conflicts[1]}); "
        f"baseline: floor short {base_row.floor_violation_s:g} s, "
        f"lost {base_row.lost_handbacks}"
    )
    row.notes += base_row.notes
    row.holds = (
        ours <= theirs * 1.1 + 2
        and row.floor_violation_s == 0
        and row.lost_handbacks == 0
        and base_row.floor_violation_s == 0
        and base_row.lost_handbacks == 0
        and released
    )
    return row
