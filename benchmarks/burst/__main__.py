"""``python -m benchmarks.burst``: one run of HPA, KEDA and Showtime side by side.

What lives here: the run on the cluster of ``KUBECONFIG`` (the bench cluster of
``hack/bench-cluster.sh``; ``make bench-burst`` sets it up and tears it down): one namespace
per pod start-up time, the four Deployments and their autoscalers (``objects``), the load
source (``tools.loadsource``, PUT /profile) that exports the curve to Prometheus, the
Showtime operator (``python -m showtime.cli run``), the load driver until the curve ends,
then the table and the PNG (``report``). Every process it starts is stopped on the way out,
failure or not. What does not: the cluster, Prometheus or KEDA's processes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from kubernetes import client, config

from tools.loadsource import rate_at

from . import compare, objects, report
from .driver import LoadDriver, Target
from .measures import measure
from .scenario import Scenario, profile, timeline

REPO = Path(__file__).resolve().parents[2]
QUERY = 'sum(rate(http_requests_total{loadsource="burst"}[1m]))'
_NOW = datetime.now(UTC)  # Deployments do not depend on the start


def _args(argv: list[str] | None) -> argparse.Namespace:
    d = Scenario()
    p = argparse.ArgumentParser(prog="python -m benchmarks.burst", description=__doc__)
    p.add_argument("--ready-delays", default="30,90", help="pod start-up times, s (comma list)")
    p.add_argument("--baseline", type=float, default=d.baseline)
    p.add_argument("--capacity", type=float, default=d.capacity)
    p.add_argument("--plateau", type=float, default=d.plateau)
    p.add_argument("--decay", type=float, default=d.decay)
    p.add_argument("--gap", type=float, default=d.gap)
    p.add_argument("--hold", type=float, default=d.hold)
    p.add_argument("--keda-margin", type=float, default=600, help="cron window before start, s")
    p.add_argument("--lead-in", type=float, default=None, help="s before the start (margin+60)")
    p.add_argument("--no-keda", action="store_true", default=os.environ.get("BENCH_KEDA") == "0")
    p.add_argument("--png", type=Path, default=REPO / "docs" / "bench-burst.png")
    p.add_argument("--out", type=Path, default=None, help="also write the table/samples here")
    return p.parse_args(argv)


def _kubectl_apply(namespace: str | None, docs: list[dict[str, Any]] | Path) -> None:
    cmd = ["kubectl", "apply", "--server-side", "--force-conflicts"]
    if namespace:
        cmd += ["-n", namespace]
    if isinstance(docs, Path):
        subprocess.run([*cmd, "-f", str(docs)], check=True, capture_output=True, timeout=60)
    else:
        text = yaml.safe_dump_all(docs)
        subprocess.run(
            [*cmd, "-f", "-"], input=text.encode(), check=True, capture_output=True, timeout=60
        )


@contextmanager
def _process(cmd: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _load_source_port(log: Path, proc: subprocess.Popen[bytes], deadline_s: float = 30) -> int:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and proc.poll() is None:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("LISTENING "):
                return int(line.split()[1])
        time.sleep(0.2)
    raise RuntimeError(f"the load source did not start; see {log}")


def _put_profile(port: int, body: Any) -> None:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/profile",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        resp.read()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    delays = [int(x) for x in args.ready_delays.split(",") if x.strip()]
    lead_in = args.lead_in if args.lead_in is not None else args.keda_margin + 60
    scenario = Scenario(
        baseline=args.baseline,
        capacity=args.capacity,
        plateau=args.plateau,
        decay=args.decay,
        gap=args.gap,
        hold=args.hold,
        lead_in=lead_in,
    )
    knobs = objects.Knobs(keda_margin=timedelta(seconds=args.keda_margin))
    with_keda = not args.no_keda
    prom_url = os.environ.get("SHOWTIME_PROMETHEUS_URL", "http://127.0.0.1:9190")
    targets_dir = Path(os.environ["SHOWTIME_PROM_TARGETS_DIR"])
    work = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    print(f"bench-burst: logs in {work}", flush=True)

    api = config.new_client_from_config(os.environ.get("KUBECONFIG"))  # type: ignore[no-untyped-call]
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    _kubectl_apply(None, REPO / "crds" / "trafficevent.yaml")
    subprocess.run(
        [
            "kubectl",
            "wait",
            "--for=condition=Established",
            "crd/trafficevents.showtime.dev",
            "--timeout=60s",
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )

    suffix = uuid.uuid4().hex[:5]
    namespaces = {d: f"burst-{d}s-{suffix}" for d in delays}
    built = time.monotonic()
    with ExitStack() as stack:
        # The operator runs first, so it sees the Deployments' pods start (leadTime: auto).
        stack.enter_context(
            _process(
                [sys.executable, "-m", "showtime.cli", "run"],
                work / "operator.log",
                {
                    "SHOWTIME_PROMETHEUS_URL": prom_url,
                    "SHOWTIME_METRICS_PORT": "0",
                    "SHOWTIME_LIVENESS_PORT": "0",
                    "SHOWTIME_LOG_FORMAT": "console",
                },
            )
        )
        for delay, ns in namespaces.items():
            subprocess.run(
                ["kubectl", "create", "namespace", ns], check=True, capture_output=True, timeout=30
            )
            deployments, _ = objects.variant(
                delay, scenario, _NOW, QUERY, prom_url, knobs, with_keda
            )
            _kubectl_apply(ns, deployments)
        for ns in namespaces.values():  # every Deployment at its baseline, Ready, before t=0
            subprocess.run(
                [
                    "kubectl",
                    "-n",
                    ns,
                    "wait",
                    "--for=condition=Available",
                    "deployment",
                    "--all",
                    f"--timeout={max(delays) * 3 + 60}s",
                ],
                check=True,
                capture_output=True,
                timeout=max(delays) * 3 + 90,
            )
        wall0 = datetime.now(UTC)
        start = (wall0 + timedelta(seconds=lead_in + 59)).replace(second=0, microsecond=0)
        for delay, ns in namespaces.items():
            _, autoscalers = objects.variant(
                delay, scenario, start, QUERY, prom_url, knobs, with_keda
            )
            _kubectl_apply(ns, autoscalers)
        source_log = work / "loadsource.log"
        source = stack.enter_context(
            _process(
                [
                    sys.executable,
                    "-m",
                    "tools.loadsource",
                    "--labels",
                    "bench=burst",
                    "--register",
                    str(targets_dir),
                    "--name",
                    "burst",
                    "--profile",
                    json.dumps({"rate": scenario.baseline}),
                ],
                source_log,
                {},
            )
        )
        port = _load_source_port(source_log, source)
        origin = time.monotonic()
        origin_wall = datetime.now(UTC)
        line = timeline(scenario, (start - origin_wall).total_seconds())
        curve = profile(scenario, line)
        _put_profile(port, curve.to_json())
        print(
            f"bench-burst: announced start {start:%H:%M:%S}Z (in {line.start:.0f} s), "
            f"unannounced burst at +{line.unannounced:.0f} s, end at +{line.end:.0f} s "
            f"({line.end / 60:.1f} min); floor {scenario.floor()}; "
            f"KEDA {'on' if with_keda else 'off'}",
            flush=True,
        )
        names = [a for a in objects.AUTOSCALERS if with_keda or a != "keda"]
        tracked = {(d, n): Target(namespaces[d], n) for d in delays for n in names}
        driver = LoadDriver(
            core,
            apps,
            list(tracked.values()),
            lambda t: rate_at(curve, t),
            knobs.cost_m_per_request(scenario),
            origin,
        )
        stack.callback(driver.close)

        next_note = [60.0]

        def note(t: float) -> None:
            if t >= next_note[0]:
                next_note[0] += 60
                state = ", ".join(
                    f"{d}s/{n}={x.samples[-1].ready}/{x.samples[-1].replicas}"
                    for (d, n), x in tracked.items()
                    if x.samples
                )
                print(
                    f"bench-burst: +{t:4.0f}s load {rate_at(curve, t):6.0f}/s "
                    f"ready/replicas {state}",
                    flush=True,
                )

        driver.run(until=line.end + 15, on_tick=note)
        took = time.monotonic() - built
        for ns in namespaces.values():
            subprocess.run(
                ["kubectl", "delete", "namespace", ns, "--wait=false"],
                capture_output=True,
                timeout=30,
            )

    windows = line.windows()
    bursts = {"announced": line.start, "unannounced": line.unannounced}
    rows = []
    for (delay, name), target in tracked.items():
        for window, span in windows.items():
            m = measure(target.samples, scenario.capacity, span, bursts[window])
            rows.append((f"{delay} s", window, name, m))
    rows.sort(key=lambda r: (int(r[0].split()[0]), r[1] != "announced", names.index(r[2])))
    text = report.table(rows)
    head = (
        f"bench-burst: {len(delays)} pod start-up times × {len(names)} autoscalers in one run, "
        f"{took / 60:.1f} min; load {scenario.baseline:.0f} → {scenario.peak:.0f} req/s, "
        f"capacity {scenario.capacity:.0f} req/s per replica, floor {scenario.floor()}; "
        f"driver: {driver.patches} patches, {driver.errors} errors {driver.error_kinds}"
    )
    print(head)
    print(text)
    record = compare.run_record(
        scenario, line, start, origin_wall.timestamp(), delays, names, QUERY, knobs
    )
    measured = {f"{d}/{n}": tracked[(d, n)].samples for d, n in tracked}
    try:
        versus, _ = compare.compare(record, measured)
    except Exception as exc:  # the measured table above stands on its own
        versus = f"(showtime simulate did not run: {type(exc).__name__}: {exc})"
    print("\nsimulated (showtime simulate on the same curve and events) vs measured:\n")
    print(versus)
    series = {f"{d} s": {n: tracked[(d, n)].samples for n in names} for d in delays}
    marks = {"announced start": line.start, "end": line.event_end, "unannounced": line.unannounced}
    report.plot(series, scenario.capacity, marks, args.png)
    print(f"bench-burst: plot {args.png}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "table.md").write_text(head + "\n\n" + text + "\n\n" + versus + "\n")
        (args.out / "run.json").write_text(json.dumps(record, indent=1))
        (args.out / "samples.json").write_text(
            json.dumps(
                {f"{d}/{n}": [s.__dict__ for s in tracked[(d, n)].samples] for d, n in tracked}
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
