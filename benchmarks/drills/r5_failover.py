"""Drill R5: two replicas with leader election; kill -9 the leader during the ramp.

Two ``showtime run`` processes (identities ``<namespace>/showtime-a`` and ``-b``, as the
downward API names pods; leader election on, the Lease in the drill namespace, its
default timing). Once the leader has requested every floor and the pods are still coming
up (the ramp), it is killed (-9); the standby's ``showtime_leader`` gauge, read every
0.25 s from both metrics endpoints, gives the takeover time. The killed replica is then
started again under the same identity, as a kubelet restarts a container, and must stay
standby. Writes per replica come from the audit log (the user agent names the identity;
Lease writes left out). Holds when: never two leaders at once (by the gauges), no write
by a replica while the other led, 0 floor violations, 0 lost hand-backs.
"""

from __future__ import annotations

import threading
import time

from .harness import Context, Row, Run, audit_writes, sleep_until
from .monitor import read_states
from .operator import Operator

NAMES = ("showtime-a", "showtime-b")


def _leading(op: Operator) -> bool | None:
    if not op.alive():
        return None
    try:
        return any(v == 1 for k, v in op.metrics().items() if k.startswith("showtime_leader{"))
    except OSError:
        return None


def _floors_requested(ctx: Context, drill: Run) -> bool:
    states = read_states(ctx.apps, ctx.autoscaling, drill.namespace)
    floors: dict[str, int] = {}
    for h in drill.holds:
        floors[h.target] = max(floors.get(h.target, 0), h.floor)
    return all(states[t].requested >= f for t, f in floors.items())


def run(ctx: Context) -> Row:
    row = Row("R5 leader failover", "2 replicas; kill -9 the leader during the ramp")
    with Run(ctx, "R5") as drill:
        drill.setup()
        ops = {
            name: drill.operator(
                SHOWTIME_LEADER_ELECTION="true",
                SHOWTIME_POD_NAME=name,
                SHOWTIME_POD_NAMESPACE=drill.namespace,
            )
            for name in NAMES
        }
        gauges: list[tuple[float, dict[str, bool | None]]] = []
        stop = threading.Event()

        def sample() -> None:
            deadline = time.monotonic() + 1800
            while not stop.wait(0.25) and time.monotonic() < deadline:
                gauges.append((time.time(), {n: _leading(op) for n, op in ops.items()}))

        sampler = threading.Thread(target=sample, name="leader-gauges", daemon=True)
        sampler.start()
        drill.schedule()
        t = drill.timeline
        sleep_until(t.prewarm)
        deadline = time.time() + 60
        while time.time() < deadline and not _floors_requested(ctx, drill):
            time.sleep(0.5)
        leader = next((n for n, op in ops.items() if _leading(op)), None)
        takeover = None
        if leader is not None:
            standby = next(n for n in NAMES if n != leader)
            killed_at = time.time()
            ops[leader].kill()
            while time.time() < killed_at + 90 and takeover is None:
                if _leading(ops[standby]):
                    takeover = time.time()
                time.sleep(0.1)
            ops[leader].start()  # same identity, as a kubelet restarts the container
        released = drill.wait_released()
        stop.set()
        sampler.join(timeout=5)
        writes = audit_writes(ctx.audit_log, drill.namespace, drill.audit_from)
        drill.figures(row)
    both = sum(1 for _, seen in gauges if all(seen.values()))
    if leader is None or takeover is None:
        row.measured = (
            f"no {'leader' if leader is None else 'takeover'} seen; both leading {both} samples"
        )
        return row
    per = {n: [at for at, agent in writes if f"/{n})" in agent] for n in NAMES}
    # A write by the killed replica after its kill (restarted as standby), or by the
    # standby before it took over: two writers.
    stray = sum(at > killed_at for at in per[leader]) + sum(at < takeover for at in per[standby])
    row.measured = (
        f"takeover {takeover - killed_at:.1f} s after the kill (Lease 15 s); writes "
        f"{leader} {len(per[leader])} then {standby} {len(per[standby])}; writes out of turn "
        f"{stray}; samples with two leaders {both} of {len(gauges)}"
    )
    row.holds = (
        both == 0
        and stray == 0
        and row.floor_violation_s == 0
        and row.lost_handbacks == 0
        and row.lowered == 0
        and released
    )
    return row
