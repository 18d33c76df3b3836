"""``python -m benchmarks.drills``: run the reliability drills and print their table.

What lives here: the command line, applying the TrafficEvent CRD to the drill cluster,
running the chosen drills one after the other (a drill that crashes gets a failed row and
the others still run) and writing the Markdown table to ``--out``. It needs the
environment of ``hack/drill-cluster.sh env`` (``make drills`` sets it up and deletes the
cluster afterwards). What does not: the drills themselves (``r1_kill`` ...).
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from . import r1_kill, r2_prometheus, r3_slow_prometheus, r4_apiserver, r7_churn, report
from .harness import REPO_ROOT, Context, Row

DRILLS: dict[str, Callable[[Context], Row]] = {
    "R1": r1_kill.run,
    "R2": r2_prometheus.run,
    "R3": r3_slow_prometheus.run,
    "R4": r4_apiserver.run,
    "R7": r7_churn.run,
}


def _optional_r5() -> None:
    try:
        module = importlib.import_module(".r5_failover", __package__)
    except ImportError:  # leader election is not there yet
        return
    DRILLS["R5"] = module.run


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.drills", description=__doc__)
    p.add_argument("--drills", default="", help="comma list, e.g. R1,R3 (default: all)")
    p.add_argument("--seed", type=int, default=12, help="R1's kill moments")
    p.add_argument("--outage", type=float, default=300, help="R2: Prometheus down, seconds")
    p.add_argument("--live", type=float, default=180, help="live stage of an event, seconds")
    p.add_argument("--out", type=Path, default=None, help="also write the table here")
    p.add_argument("--workdir", type=Path, default=None, help="operator logs (default: tmp)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    _optional_r5()
    args = _args(argv)
    chosen = [d.strip().upper() for d in args.drills.split(",") if d.strip()] or sorted(DRILLS)
    unknown = [d for d in chosen if d not in DRILLS]
    if unknown:
        print(f"drills: unknown {unknown}; known: {', '.join(sorted(DRILLS))}", file=sys.stderr)
        return 2
    env = {k: os.environ.get(k, "") for k in ("KUBECONFIG", "DRILL_AUDIT_LOG")}
    if not all(env.values()):
        print('drills: run `eval "$(hack/drill-cluster.sh env)"` first', file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="showtime-drills-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        kubeconfig=env["KUBECONFIG"],
        workdir=workdir,
        prometheus_port=urlparse(os.environ["SHOWTIME_PROMETHEUS_URL"]).port or 9290,
        prom_targets_dir=Path(os.environ["SHOWTIME_PROM_TARGETS_DIR"]),
        audit_log=Path(env["DRILL_AUDIT_LOG"]),
        seed=args.seed,
        outage_seconds=args.outage,
        live_seconds=args.live,
    )
    subprocess.run(
        ["kubectl", "apply", "--server-side", "-f", str(REPO_ROOT / "crds/trafficevent.yaml")],
        check=True,
        timeout=60,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        ["kubectl", "wait", "--for=condition=Established", "crd/trafficevents.showtime.dev"],
        check=True,
        timeout=60,
        stdout=subprocess.DEVNULL,
    )
    began, load_before = datetime.now(UTC), os.getloadavg()[1]
    rows: list[Row] = []
    for name in chosen:
        print(f"drills: {name} starts {datetime.now(UTC):%H:%M:%S} (logs in {workdir})", flush=True)
        started = time.monotonic()
        try:
            rows.append(DRILLS[name](ctx))
        except Exception as exc:
            traceback.print_exc()
            rows.append(Row(name, "crashed", measured=f"{type(exc).__name__}: {exc}"))
        print(f"drills: {name} took {time.monotonic() - started:.0f} s", flush=True)
        print(report.table(rows[-1:]), flush=True)
    text = (
        f"Drills run {began:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores (5-minute load average "
        f"{load_before:.1f} at the start, {os.getloadavg()[1]:.1f} at the end), seed {args.seed}, "
        f"live {args.live:g} s, outage {args.outage:g} s\n\n"
        + report.table(rows)
        + ("\n\n" + report.notes(rows) if report.notes(rows) else "")
    )
    print("\n" + text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if all(r.holds for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
