"""The ``showtime`` command: ``run`` the operator, or ``plan`` an event without a cluster.

``simulate`` replays a traffic trace against events and other autoscalers' models (the
``showtime.simulate`` package).

``plan`` feeds a manifest to the same pure planner the operator uses and prints a timeline
a person can read: when pre-warm starts and the replicas each target is held at, at every
instant where that changes, and when room on nodes is reserved for an event with
``nodeCapacity.prewarm``. ``run`` builds the shell (settings, logging, metrics, the
Kubernetes gateway, the Prometheus source, the reconciler) and hands it to kopf.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TextIO

import yaml

from showtime.core.durations import DurationError, format_duration, parse_duration
from showtime.core.nodecapacity import NodeLeadTime, node_lead_time, reserve_at
from showtime.core.planner import (
    HOLDING_STAGES,
    MAX_STEPS,
    MIN_STEP_SECONDS,
    Stage,
    effective_lead_time,
    plan_event,
)
from showtime.core.spec import SpecError, TrafficEventSpec, parse_spec
from showtime.core.timestamps import rfc3339
from showtime.recommend import add_parser as add_recommend_parser
from showtime.recommend import recommend_command
from showtime.simulate.command import add_parser as add_simulate_parser
from showtime.simulate.command import simulate_command

MAX_ROWS = 400


def package_version() -> str:
    """The installed package's version (what ``showtime --version`` prints)."""
    try:
        return version("showtime")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="showtime", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the operator against the current kubeconfig or in-cluster")
    plan = sub.add_parser("plan", help="print the pre-warm timeline of a TrafficEvent manifest")
    plan.add_argument("-f", "--file", required=True, help="TrafficEvent YAML ('-' for stdin)")
    plan.add_argument("--now", help="RFC 3339 instant to plan from (default: now)")
    plan.add_argument(
        "--lead-time",
        default="5m",
        help="lead time assumed for leadTime: auto, since no pods are observed (default 5m)",
    )
    add_recommend_parser(sub)
    add_simulate_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "simulate":
        return simulate_command(args, sys.stdout)
    if args.command == "recommend":
        try:
            return recommend_command(args, sys.stdout)
        except (SpecError, ValueError, OSError, yaml.YAMLError) as exc:
            print(f"showtime recommend: {exc}", file=sys.stderr)
            return 2
    if args.command == "run":
        from showtime.shell.run import run_operator  # the heavy imports only when running

        return run_operator()
    try:
        return plan_command(args.file, args.now, args.lead_time, sys.stdout)
    except (SpecError, DurationError, ValueError, OSError, yaml.YAMLError) as exc:
        print(f"showtime plan: {exc}", file=sys.stderr)
        return 2


def _load_manifest(path: str) -> tuple[str, dict[str, Any]]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    documents = [d for d in yaml.safe_load_all(text) if d]
    events = [d for d in documents if isinstance(d, dict) and d.get("kind") == "TrafficEvent"]
    if not events:
        raise ValueError(f"{path}: no TrafficEvent found")
    event = events[0]
    meta = event.get("metadata") or {}
    name = f"{meta.get('namespace', 'default')}/{meta.get('name', '?')}"
    return name, event.get("spec") or {}


def plan_command(path: str, now_text: str | None, lead_text: str, out: TextIO) -> int:
    name, raw = _load_manifest(path)
    spec = parse_spec(raw)
    now = datetime.now(UTC)
    if now_text:
        now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
        if now.tzinfo is None:
            raise ValueError("--now needs a UTC offset, e.g. 2026-12-31T19:00:00+08:00")
    assumed = parse_duration(lead_text)
    for line in render_plan(name, spec, now=now, assumed_lead_time=assumed):
        print(line, file=out)
    return 0


def _change_points(tl: Any, now: datetime) -> list[datetime]:
    """Instants where an occurrence's floor or stage can change, in order, from ``now``."""
    step = timedelta(seconds=5)
    points = {tl.prewarm_at - step, tl.full_at, tl.occurrence.start, tl.occurrence.end}
    points.add(tl.released_at)
    points.add(tl.released_at + step)
    for begin, end in ((tl.prewarm_at, tl.full_at), (tl.occurrence.end, tl.released_at)):
        window = (end - begin).total_seconds()
        steps = max(1, min(MAX_STEPS, int(window // MIN_STEP_SECONDS)))
        points.update(begin + (end - begin) * i / steps for i in range(steps))
    return sorted({max(p, now) for p in points})


ASSUMED_NODE_LEAD_TIME = timedelta(minutes=5)  # the operator's default, with no node learned


def _node_capacity_lines(
    spec: TrafficEventSpec, plan: Any, assumed_node_lead_time: timedelta
) -> list[str]:
    """When room on nodes is reserved (``spec.nodeCapacity.prewarm``) and for how many pods."""
    if not spec.node_capacity.prewarm:
        return []
    lead = node_lead_time(spec, NodeLeadTime(assumed_node_lead_time, "Default"))
    source = "explicit" if lead.source == "Spec" else "auto, assumed (no nodes observed)"
    opens = reserve_at(plan, lead.value)
    pods = ", ".join(f"{t.name} {spec.floor_of(t)}" for t in spec.targets)
    return [
        f"  node room:  {rfc3339(opens) if opens else '-'}  (node lead time "
        f"{format_duration(lead.value)}, {source})",
        f"              pods reserved until start: {pods}, less each target's Ready pods",
    ]


def render_plan(
    name: str, spec: TrafficEventSpec, *, now: datetime, assumed_lead_time: timedelta
) -> list[str]:
    """The lines ``showtime plan`` prints: a summary, then a timeline table."""
    lead = effective_lead_time(spec, {}, assumed_lead_time)
    plan = plan_event(spec, now=now, lead_time=lead)
    lines = [f"TrafficEvent {name}", f"  now:        {rfc3339(now)}"]
    if plan.timeline is None:
        lines.append(f"  stage:      {plan.stage.value} (nothing to plan)")
        return lines
    tl = plan.timeline
    source = "explicit" if spec.lead_time is not None else "auto, assumed (no pods observed)"
    lines += [
        f"  stage:      {plan.stage.value}",
        f"  start:      {rfc3339(tl.occurrence.start)}  (ends {rfc3339(tl.occurrence.end)})",
        f"  pre-warm:   {rfc3339(tl.prewarm_at)}  (full floor by {rfc3339(tl.full_at)})",
        f"  lead time:  {format_duration(plan.lead_time)} ({source})",
        f"  released:   {rfc3339(tl.released_at)}",
        *_node_capacity_lines(spec, plan, ASSUMED_NODE_LEAD_TIME),
        "",
    ]
    names = [t.name for t in spec.targets]
    header = ["TIME (UTC)", "STAGE", *names]
    rows = [header]
    # Visit the instants where a floor can change (the ramp's and cooldown's step edges,
    # start, end, release), from just before pre-warm (or now); keep each change.
    last: tuple[Any, ...] | None = None
    held = False
    for moment in _change_points(tl, now):
        if len(rows) > MAX_ROWS:
            break
        snapshot = plan_event(spec, now=moment, lead_time=lead)
        floors = tuple(snapshot.floors.get(t.key, 0) for t in spec.targets)
        stage = snapshot.stage if snapshot.stage in HOLDING_STAGES or not held else Stage.COMPLETED
        if (stage, floors) != last:
            label = "Released" if held and stage not in HOLDING_STAGES else stage.value
            rows.append([rfc3339(moment), label, *(str(f) for f in floors)])
            last = (stage, floors)
        if held and stage not in HOLDING_STAGES:
            break
        held = held or stage in HOLDING_STAGES
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines += ["", "Replicas shown are floors; a target's metric may raise them while held."]
    return lines


if __name__ == "__main__":
    sys.exit(main())
