"""What the per-event gauges cost: memory held for 2,000 TrafficEvents and the time of a scrape.

Records 2,000 events (2 or 3 targets each, half of the targets with a metric) through
``shell.gauges.record_event``, as the reconciler does once per event and tick, and prints
the memory that stays allocated (tracemalloc) and the RSS growth, then the time of one
``generate_latest`` over ``telemetry.REGISTRY``. Prints numbers; asserts nothing. The RSS
growth is printed with ``--no-trace`` only (tracemalloc's own books would inflate it).

``--dump FILE`` writes the per-event part of the scrape, sorted, so two versions of the
gauges can be compared line by line. Run: ``.venv/bin/python -m benchmarks.event_series``.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import generate_latest

from showtime import telemetry
from showtime.core.observed import ObservedEvent
from showtime.core.spec import parse_spec
from showtime.shell.gauges import record_event

START = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
NOW = START + timedelta(minutes=5)
PER_EVENT_PREFIXES = ("showtime_event_", "showtime_target_", "showtime_metric_sample")


def _targets(index: int) -> list[tuple[str, bool]]:
    """(name, has a metric) of the 2 or 3 targets of event ``index``; half have a metric."""
    count = 2 + index % 2
    return [(f"web-{index}-{j}", (index + j) % 2 == 0) for j in range(count)]


def build_event(index: int) -> tuple[ObservedEvent, dict[str, Any]]:
    targets = _targets(index)
    spec = parse_spec(
        {
            "schedule": {"start": "2026-12-31T12:00:00Z", "duration": "1h"},
            "leadTime": "10m",
            "rampUp": "10m",
            "targets": [
                {
                    "name": name,
                    "replicas": 10,
                    "maxReplicas": 40,
                    **({"metric": {"query": "q", "targetPerReplica": 50}} if metric else {}),
                }
                for name, metric in targets
            ],
        }
    )
    status: dict[str, Any] = {
        "phase": "Live",
        "leadTimeSeconds": 600,
        "nextStart": "2026-12-31T12:00:00Z",
        "prewarmAt": "2026-12-31T11:40:00Z",
        "targets": [
            {
                "kind": "Deployment",
                "name": name,
                "desiredReplicas": 12 + index % 7,
                "readyReplicas": 9 + index % 5,
                **({"metric": {"query": "q", "value": 560.0 + index}} if metric else {}),
                "leadTime": {"seconds": 600, "p90Seconds": 40.0 + index % 11},
            }
            for name, metric in targets
        ],
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "TargetsFound", "status": "True"},
            {"type": "MetricsAvailable", "status": "True"},
            {"type": "PreWarmed", "status": "False", "reason": "PreWarmLate"},
        ],
    }
    return ObservedEvent(f"ns-{index % 50}", f"event-{index}", f"uid-{index}", 1, spec), status


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--dump", help="write the per-event scrape lines, sorted, to this file")
    parser.add_argument(
        "--no-trace", action="store_true", help="skip tracemalloc (its own books inflate RSS)"
    )
    args = parser.parse_args()

    inputs = [build_event(i) for i in range(args.events)]
    generate_latest(telemetry.REGISTRY)  # warm up imports and caches outside the measure
    gc.collect()
    rss_before = _rss_kib()
    if not args.no_trace:
        tracemalloc.start()
    for observed, status in inputs:
        record_event(observed, status, NOW)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rss_after = _rss_kib()

    timings = []
    text = b""
    for _ in range(5):
        began = time.perf_counter()
        text = generate_latest(telemetry.REGISTRY)
        timings.append(time.perf_counter() - began)
    lines = [
        line
        for line in text.decode().splitlines()
        if line.startswith(PER_EVENT_PREFIXES)
        or (line.startswith("#") and any(p in line for p in PER_EVENT_PREFIXES))
    ]
    samples = sum(1 for line in lines if not line.startswith("#"))
    del text
    gc.collect()
    rss_scraped = _rss_kib()

    again = time.perf_counter()
    for observed, status in inputs:
        record_event(observed, status, NOW)
    rerecord = time.perf_counter() - again

    print(f"events: {args.events}, per-event series: {samples}")
    if not args.no_trace:
        print(f"held (tracemalloc): {held / 2**20:.1f} MiB, {held / max(samples, 1):.0f} B/series")
    else:
        print(
            f"RSS growth: {(rss_after - rss_before) / 1024:.1f} MiB after recording, "
            f"{(rss_scraped - rss_before) / 1024:.1f} MiB after 5 scrapes"
        )
    best, median = min(timings) * 1000, sorted(timings)[2] * 1000
    print(f"generate_latest: best {best:.0f} ms, median {median:.0f} ms")
    print(f"record_event, all events again (unchanged): {rerecord * 1000:.0f} ms")
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as out:
            out.write("\n".join(sorted(lines)) + "\n")


if __name__ == "__main__":
    main()
