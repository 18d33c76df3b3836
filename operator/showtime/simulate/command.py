"""The ``showtime simulate`` subcommand: its options, and reading them into a simulation.

``add_parser`` registers the options on the CLI's subparsers; ``simulate_command`` reads
the events and the trace (a CSV file, or a Prometheus range query), runs ``run.simulate``
with a progress bar on stderr when it takes longer than a moment, and prints ``report``'s
table or JSON; ``--plot`` writes a picture (matplotlib, imported only then).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from showtime.core.durations import DurationError, parse_duration
from showtime.simulate.report import as_json, as_table
from showtime.simulate.run import POLICIES, Progress, SimulationError, load_events, simulate
from showtime.simulate.trace import Trace, TraceError, from_prometheus, parse_time, read_csv
from showtime.simulate.trace import shift_years as shift_trace_years

ERRORS = (SimulationError, TraceError, DurationError, OSError)


def add_parser(sub: Any) -> None:
    """Register ``simulate`` on the CLI's subparsers."""
    simulate = sub.add_parser(
        "simulate",
        help="replay a traffic trace against TrafficEvents, HPA, KEDA, a fixed floor, the oracle",
        description=(
            "Replay a load trace (in the unit of capacityPerReplica) against the events with "
            "the operator's own planner and against models of other autoscalers; print "
            "unserved load and pod-hours for each."
        ),
    )
    simulate.add_argument("-f", "--file", required=True, help="TrafficEvent YAML, one or many")
    source = simulate.add_mutually_exclusive_group(required=True)
    source.add_argument("--trace", help="CSV with a header time,value (time RFC 3339 or Unix s)")
    source.add_argument("--prometheus", metavar="URL", help="read the load from this Prometheus")
    simulate.add_argument("--query", help="with --prometheus: PromQL giving the load (one series)")
    simulate.add_argument("--from", dest="start", help="with --prometheus: RFC 3339 start")
    simulate.add_argument("--to", dest="end", help="with --prometheus: RFC 3339 end")
    simulate.add_argument(
        "--pod-ready", default="30s", help="pod start-up: asked for to Ready (default 30s)"
    )
    simulate.add_argument(
        "--policies",
        default=",".join(POLICIES),
        help=f"comma-separated, of {','.join(POLICIES)},showtime-alone (default: the first five)",
    )
    simulate.add_argument("--target", help="the target to simulate (default: the first one)")
    simulate.add_argument(
        "--metric-window",
        default="auto",
        help="what the metric averages over, e.g. 1m; auto (default): the query's range "
        "selector ([1m] of rate(...[1m])); 0s: the load itself, without lag",
    )
    simulate.add_argument(
        "--shift-years",
        type=int,
        default=0,
        help="move the trace this many calendar years (Showtime takes years 2000 to 2200)",
    )
    simulate.add_argument("--plot", metavar="FILE", help="also draw the replicas to FILE (PNG)")
    simulate.add_argument("-o", "--output", choices=("table", "json"), default="table")


def simulate_command(args: argparse.Namespace, out: TextIO, err: TextIO | None = None) -> int:
    """Run ``showtime simulate``; errors are printed as one line, exit code 2."""
    err = err if err is not None else sys.stderr
    try:
        return _run(args, out, err)
    except ERRORS as exc:
        print(f"showtime simulate: {exc}", file=err)
        return 2


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    pod_ready = parse_duration(args.pod_ready).total_seconds()
    window = getattr(args, "metric_window", "auto")
    metric_window = None if window == "auto" else parse_duration(window).total_seconds()
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    events = load_events(args.file)
    trace = shift_trace_years(_trace(args), args.shift_years)
    progress = Progress(err)
    try:
        simulation = simulate(
            events,
            trace,
            pod_ready=pod_ready,
            policies=policies,
            target_name=args.target,
            record=bool(args.plot),
            progress=progress,
            metric_window=metric_window,
        )
    finally:
        progress.close()
    if args.output == "json":
        json.dump(as_json(simulation, trace), out, indent=2)
        out.write("\n")
    else:
        for line in as_table(simulation, trace):
            print(line, file=out)
    if args.plot:
        from showtime.simulate.plot import PlotUnavailableError, plot

        try:
            plot(simulation, trace, args.plot)
        except PlotUnavailableError as exc:
            raise SimulationError(str(exc)) from None
    return 0


def _trace(args: argparse.Namespace) -> Trace:
    if args.trace:
        return read_csv(args.trace)
    missing = [name for name in ("query", "start", "end") if not getattr(args, name)]
    if missing:
        flags = ", ".join("--" + {"start": "from", "end": "to"}.get(m, m) for m in missing)
        raise SimulationError(f"--prometheus needs {flags}")
    try:
        start, end = parse_time(args.start), parse_time(args.end)
    except ValueError as exc:
        raise SimulationError(f"--from/--to: {exc}") from None
    return from_prometheus(args.prometheus, args.query, start, end)
