"""Simulated against measured: ``showtime simulate`` replays the very run of ``make bench-burst``.

What lives here: ``simulated_samples`` (one contender of one variant through
``showtime.simulate`` on the run's own curve, start and TrafficEvent, turned into the
driver's 1 s ``Sample``s so that ``measures.measure`` judges both alike), ``table`` (the
Markdown "simulated vs measured" table) and ``python -m benchmarks.burst.compare DIR``,
which rebuilds that table from a finished run's ``run.json`` and ``samples.json`` (written
by ``--out``), so the comparison can be redone after changing the simulator.

How each contender is simulated (``--policies`` of ``showtime simulate``):

* HPA: ``hpa``, its metric at 70 % of a replica's capacity (the HPA's CPU target);
* KEDA: ``keda`` (cron window 10 min before the announced start, plus the prometheus
  trigger at ``targetPerReplica``);
* Showtime: ``showtime-alone`` with the run's TrafficEvent; Showtime + HPA: ``showtime``
  (next to the HPA model, also at 70 %); the flat-floor event likewise.

The pods become Ready the configured delay after the count rises (kwok adds about a second
on the cluster). What does not live here: the cluster run (``__main__``).
"""

from __future__ import annotations

import bisect
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tools.loadsource import rate_at

from . import objects
from .measures import Measures, Sample, measure
from .report import LABELS
from .scenario import Scenario, Timeline, profile

POLICY = {
    "hpa": "hpa",
    "keda": "keda",
    "showtime": "showtime-alone",
    "showtime-hpa": "showtime",
    "showtime-flat": "showtime-alone",
}


def _event(
    name: str, scenario: Scenario, start: datetime, query: str, knobs: objects.Knobs
) -> dict[str, Any]:
    with_hpa = name in ("hpa", "showtime-hpa")
    if with_hpa:  # the HPA scales on 70 % CPU: 70 % of a replica's capacity per replica
        knobs = replace(knobs, metric_target_fraction=knobs.hpa_cpu_target / 100)
    flat = name in ("keda", "showtime-flat")  # KEDA's cron window follows the announced start
    return objects.traffic_event(name, name, scenario, start, query, knobs, ramp=not flat)


def simulated_samples(
    name: str,
    delay: float,
    scenario: Scenario,
    line: Timeline,
    start: datetime,
    origin_wall: float,
    query: str,
    knobs: objects.Knobs,
) -> list[Sample]:
    """One contender through ``showtime simulate``, as 1 s samples from the run's origin."""
    from showtime.simulate import simulate  # the product's simulator, not a copy
    from showtime.simulate.run import load_events
    from showtime.simulate.trace import make_trace

    curve = profile(scenario, line)
    end = int(line.end) + 1
    loads = [rate_at(curve, t) for t in range(end + 1)]
    trace = make_trace(((origin_wall + t, load) for t, load in enumerate(loads)), source="bench")
    events = load_events(name, yaml.safe_dump(_event(name, scenario, start, query, knobs)))
    policy = POLICY[name]
    result = simulate(events, trace, pod_ready=float(delay), policies=[policy], record=True)
    steps = result.figures[policy].timeline  # (unix t, replicas, ready), in order
    times = [t for t, _r, _ready in steps]
    samples = []
    for t in range(end + 1):
        i = max(0, bisect.bisect_right(times, origin_wall + t) - 1)
        _at, replicas, ready = steps[i]
        samples.append(Sample(float(t), loads[t], ready, replicas))
    return samples


def table(rows: Sequence[tuple[str, str, str, Measures, Measures]]) -> str:
    """(variant, window, autoscaler, measured, simulated) -> Markdown."""
    out = [
        "| pods Ready after | burst | autoscaler | unserved measured | unserved simulated "
        "| ÷ oracle measured | ÷ oracle simulated |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for variant, window, name, real, sim in rows:
        out.append(
            f"| {variant} | {window} | {LABELS.get(name, name)} "
            f"| {100 * real.unserved_share:.2f} % | {100 * sim.unserved_share:.2f} % "
            f"| {real.pod_seconds_ratio:.2f} | {sim.pod_seconds_ratio:.2f} |"
        )
    return "\n".join(out)


def run_record(
    scenario: Scenario,
    line: Timeline,
    start: datetime,
    origin_wall: float,
    delays: Sequence[int],
    names: Sequence[str],
    query: str,
    knobs: objects.Knobs,
) -> dict[str, Any]:
    """What ``compare`` needs to replay a run: written next to samples.json."""
    return {
        "scenario": scenario.__dict__,
        "line": line.__dict__,
        "start": start.astimezone(UTC).isoformat(),
        "origin_wall": origin_wall,
        "delays": list(delays),
        "names": list(names),
        "query": query,
        "keda_margin_s": knobs.keda_margin.total_seconds(),
    }


def compare(
    record: Mapping[str, Any], measured: Mapping[str, Sequence[Sample]]
) -> tuple[str, list[tuple[str, str, str, Measures, Measures]]]:
    """The table for a run: ``measured`` maps "delay/name" to the driver's samples."""
    from datetime import timedelta

    scenario = Scenario(**record["scenario"])
    line = Timeline(**record["line"])
    start = datetime.fromisoformat(record["start"])
    knobs = objects.Knobs(keda_margin=timedelta(seconds=record["keda_margin_s"]))
    bursts = {"announced": line.start, "unannounced": line.unannounced}
    rows = []
    for delay in record["delays"]:
        for name in record["names"]:
            real = measured.get(f"{delay}/{name}")
            if not real:
                continue
            sim = simulated_samples(
                name,
                delay,
                scenario,
                line,
                start,
                record["origin_wall"],
                record["query"],
                knobs,
            )
            for window, span in line.windows().items():
                rows.append(
                    (
                        f"{delay} s",
                        window,
                        name,
                        measure(real, scenario.capacity, span, bursts[window]),
                        measure(sim, scenario.capacity, span, bursts[window]),
                    )
                )
    rows.sort(key=lambda r: (int(r[0].split()[0]), r[1] != "announced"))
    return table(rows), rows


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.burst.compare RESULT_DIR (run.json, samples.json)")
        return 2
    folder = Path(args[0])
    record = json.loads((folder / "run.json").read_text())
    raw = json.loads((folder / "samples.json").read_text())
    measured = {key: [Sample(**s) for s in samples] for key, samples in raw.items()}
    text, _rows = compare(record, measured)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
