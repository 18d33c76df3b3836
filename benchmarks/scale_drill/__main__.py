"""``python -m benchmarks.scale_drill``: run the scale drill R6 and print its table.

Needs the cluster of ``hack/scale-cluster.sh up`` (``eval "$(hack/scale-cluster.sh env)"``;
``make drill-scale`` does both). Steps, each bounded in time: the Deployments and their
pods (made once, kept between runs), a reset to the same starting state, fresh
TrafficEvents, the operator started, then watched through its first take-hold, a steady
window, the burst group's take-hold and a steady window after it. The table goes to stdout
and to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes import client

from benchmarks.scale_drill import fleet
from benchmarks.scale_drill.figures import Expected, Phases, table, writes_of
from benchmarks.scale_drill.operator import Operator, Sampler, slow_ticks
from showtime.cluster.kube import load_kube_config

CREATE_ALLOWANCE = timedelta(minutes=3)  # for creating the events before the operator starts
QUIET_TICKS = 2  # ticks with at most QUIET_WRITES Deployment writes end a take-hold
QUIET_WRITES = 10  # staggered events take hold a few at a time in the steady window


def wait_quiet(sampler: Sampler, after: float, seconds: float) -> float:
    """When the take-hold that began at ``after`` is over: QUIET_TICKS quiet ticks in a row."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ticks = [t for t in sampler.samples.ticks if t.ended >= after]
        busy = [i for i, t in enumerate(ticks) if writes_of([t], "Deployment") > QUIET_WRITES]
        if busy and len(ticks) - (busy[-1] + 1) >= QUIET_TICKS:
            return ticks[busy[-1] + 1].ended
        time.sleep(1)
    print(f"  take-hold not over within {seconds:.0f}s; going on")
    return time.monotonic()


def sleep_until(moment: datetime) -> None:
    left = (moment - datetime.now(UTC)).total_seconds()
    if left > 0:
        time.sleep(left)


def monotonic_at(moment: datetime) -> float:
    return time.monotonic() + (moment - datetime.now(UTC)).total_seconds()


def expected(size: fleet.Size, counts: dict[str, int]) -> Expected:
    def targets(group: str) -> int:
        total = 0
        for n in range(fleet.NAMESPACES):
            for e in range(size.events_per_namespace):
                index = n * size.events_per_namespace + e
                if fleet.group_of(index) == group:
                    total += 2 + index % 2
        return total

    return Expected(
        counts.get("live", 0),
        targets("live"),
        counts.get("burst", 0),
        targets("burst"),
        counts.get("staggered", 0),
        targets("staggered"),
        sum(counts.values()) // 5,  # every fifth event has a metric (fleet.event_spec)
    )


def run(args: argparse.Namespace) -> str:
    load_kube_config()
    api = client.ApiClient()
    api.configuration.connection_pool_maxsize = 32
    apps: Any = client.AppsV1Api(api)
    core: Any = client.CoreV1Api(api)
    custom: Any = client.CustomObjectsApi(api)
    size = fleet.Size(args.deployments, args.events)
    have = fleet.existing_deployments(apps)
    if have < size.deployments:
        fleet.create_deployments(apps, core, size)
    fleet.reset(apps, custom, size)
    wanted, existing, ready = fleet.wait_ready(apps, args.ready_seconds)
    print(f"pods: {wanted} wanted, {existing} exist, {ready} Ready")

    begin = datetime.now(UTC) + CREATE_ALLOWANCE
    settle = timedelta(seconds=args.settle_seconds)
    steady = timedelta(seconds=args.steady_seconds)
    timeline = fleet.Timeline(
        start=begin,
        burst_at=begin + settle + steady,
        stagger_from=begin + settle,
        stagger_until=begin + settle + steady - timedelta(seconds=20),
    )
    counts = fleet.create_events(custom, size, timeline)
    sleep_until(begin)
    log_path = Path(args.out).with_suffix(".operator.log")
    operator = Operator(os.environ["KUBECONFIG"], os.environ["SHOWTIME_PROMETHEUS_URL"], log_path)
    total = (settle + steady + timedelta(seconds=args.after_seconds)).total_seconds() + 600
    operator.start()
    started, started_wall = time.monotonic(), time.time()
    sampler = Sampler(operator, max_seconds=total)
    sampler.start()
    notes: dict[str, str] = {}
    try:
        print(f"operator started (pid {operator.pid}, log {log_path})", flush=True)
        steady_from = wait_quiet(sampler, started, settle.total_seconds() + 300)
        first = sampler.samples.ticks[0].ended - started if sampler.samples.ticks else float("nan")
        notes["start to first tick"] = f"{first:.0f} s"
        print(f"first take-hold over after {steady_from - started:.0f}s", flush=True)
        burst_at = monotonic_at(timeline.burst_at)
        while time.monotonic() < burst_at and operator.alive():
            time.sleep(1)
        burst_until = wait_quiet(sampler, burst_at, 400)
        print(f"burst take-hold over after {burst_until - burst_at:.0f}s", flush=True)
        ended = time.monotonic() + args.after_seconds
        while time.monotonic() < ended and operator.alive():
            time.sleep(1)
        notes["series on /metrics"] = str(operator.series_count())
    finally:
        sampler.stop()
        operator.stop()
    wanted, existing, ready = fleet.pod_counts(apps)
    notes["size"] = (
        f"{sum(counts.values())} TrafficEvents, {size.deployments} Deployments, "
        f"{existing} pods ({ready} Ready)"
    )
    phases = Phases(started, steady_from, burst_at, burst_until, time.monotonic())
    slow = slow_ticks(log_path, started, started_wall)
    return table(sampler.samples, phases, expected(size, counts), notes, slow)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=5000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--settle-seconds", type=int, default=180)
    parser.add_argument("--steady-seconds", type=int, default=180)
    parser.add_argument("--after-seconds", type=int, default=120)
    parser.add_argument("--ready-seconds", type=int, default=1800, help="wait for the pods")
    parser.add_argument("--out", default=os.path.expanduser("~/.cache/showtime/scale/r6.md"))
    args = parser.parse_args()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result = run(args)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"R6 scale drill, {stamp}\n\n{result}\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
