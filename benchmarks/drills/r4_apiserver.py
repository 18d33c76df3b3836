"""Drill R4: kube-apiserver killed (-9) and restarted mid-event; then the same for etcd.

30 s after the start kube-apiserver is killed and started again at once (the way kwokctl
runs it: ``controlplane.restart_component``); once it answers /readyz and 30 s later, the
same for etcd. Then the drill raises the keynote event's floor for ``db`` (6 to 8): the
operator can only follow through a watch and a write that work again, so the time from
the edit to ``db`` asking for 8 shows it reconnected by itself (never restarted: the same
process throughout). Holds when: the operator process survived, followed the edit within
two ticks, 0 lost hand-backs, 0 floor violations, nothing lowered while held.
"""

from __future__ import annotations

import time

from showtime.cluster.kube import GROUP, PLURAL, VERSION

from . import controlplane
from .figures import Hold
from .harness import GRACE_SECONDS, Context, Row, Run, sleep_until
from .monitor import read_states
from .operator import TICK_SECONDS

RAISED_FLOOR = 8


def _restart(ctx: Context, component: str) -> float:
    """kill -9 and start again; seconds until /readyz answers (2 min at most)."""
    began = time.monotonic()
    controlplane.restart_component(component)
    deadline = began + 120
    while not controlplane.api_ready(ctx.kubeconfig) and time.monotonic() < deadline:
        time.sleep(0.2)
    return time.monotonic() - began


def run(ctx: Context) -> Row:
    row = Row("R4 API server restart", "kill -9 kube-apiserver, restart; then etcd")
    with Run(ctx, "R4") as drill:
        drill.setup()
        op = drill.operator()
        drill.schedule()
        t = drill.timeline
        sleep_until(t.start + 30)
        api_down = _restart(ctx, "kube-apiserver")
        time.sleep(30)
        etcd_down = _restart(ctx, "etcd")
        time.sleep(5)
        edited = time.time()
        patch = {"spec": {"targets": _raised(drill.specs["keynote"]["targets"])}}
        ctx.custom.patch_namespaced_custom_object(
            GROUP, VERSION, drill.namespace, PLURAL, "keynote", patch
        )
        drill.holds.append(Hold("db", edited + GRACE_SECONDS, t.end, RAISED_FLOOR))
        followed = None
        while time.time() < edited + 4 * TICK_SECONDS:
            try:
                if (
                    read_states(ctx.apps, ctx.autoscaling, drill.namespace)["db"].requested
                    >= RAISED_FLOOR
                ):
                    followed = time.time() - edited
                    break
            except Exception:
                pass
            time.sleep(0.5)
        released = drill.wait_released()
        survived = op.alive() and op.starts == 1
        drill.figures(row)
    row.measured = (
        f"kube-apiserver back in {api_down:.1f} s, etcd in {etcd_down:.1f} s; operator "
        f"{'kept running' if survived else 'DIED'}; floor edit after the restarts followed in "
        + (f"{followed:.1f} s" if followed is not None else "NEVER (40 s)")
    )
    row.holds = (
        survived
        and followed is not None
        and followed <= 2 * TICK_SECONDS + 5
        and row.lost_handbacks == 0
        and row.floor_violation_s == 0
        and row.lowered == 0
        and released
    )
    return row


def _raised(targets: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{**t, "replicas": RAISED_FLOOR} if t["name"] == "db" else t for t in targets]
