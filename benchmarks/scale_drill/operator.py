"""The operator under test: ``showtime run`` as a process, and a sampler of what it does.

``Operator`` starts ``showtime run`` against the drill's cluster and Prometheus on free
loopback ports (its log goes to a file), and stops it. ``Sampler`` reads, twice a second,
only the series it needs from the operator's metrics endpoint (``name[]`` filter, so the
operator does not render every per-event gauge) and its resident memory from
``/proc/<pid>/status``. Each time the tick counter moves, the sampler records a ``Tick``:
its duration (the difference of the histogram's sum, exact when one tick ended in the
interval), the API writes and metric queries made since the previous tick. Figures are
computed in ``figures``; nothing is judged here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

SAMPLE_SECONDS = 0.5
SERIES = (
    "showtime_tick_duration_seconds_count",
    "showtime_tick_duration_seconds_sum",
    "showtime_api_writes_total",
    "showtime_metric_query_duration_seconds_count",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Reading:
    at: float  # monotonic
    ticks: float
    tick_seconds: float
    writes: dict[str, float]  # "kind/verb" -> count
    queries: float


@dataclass(frozen=True)
class Tick:
    ended: float  # monotonic, when the sampler saw it (within SAMPLE_SECONDS)
    seconds: float
    exact: bool  # False: several ticks ended in one interval; seconds is their mean
    writes: dict[str, float]
    queries: float


@dataclass
class Samples:
    ticks: list[Tick] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, MiB)


def parse(text: str, at: float) -> Reading:
    values: dict[str, float] = {}
    writes: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        if name_labels.startswith("showtime_api_writes_total{"):
            labels = dict(
                part.split("=", 1)
                for part in name_labels[len("showtime_api_writes_total{") : -1].split(",")
            )
            key = f"{labels.get('kind', '').strip(chr(34))}/{labels.get('verb', '').strip(chr(34))}"
            writes[key] = writes.get(key, 0.0) + float(value)
        else:
            values[name_labels.split("{")[0]] = float(value)
    return Reading(
        at,
        values.get("showtime_tick_duration_seconds_count", 0.0),
        values.get("showtime_tick_duration_seconds_sum", 0.0),
        writes,
        values.get("showtime_metric_query_duration_seconds_count", 0.0),
    )


@dataclass(frozen=True)
class SlowTick:
    """A tick the operator logged as slow (1 s or more), with the seconds of each step."""

    ended: float  # monotonic
    seconds: float
    phases: dict[str, float]
    writes: int


def slow_ticks(log_path: Path, started: float, started_wall: float) -> list[SlowTick]:
    """The operator's "slow tick" log lines, their wall-clock times mapped to monotonic."""
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        if '"slow tick"' not in line:
            continue
        try:
            entry = json.loads(line)
            wall = datetime.fromisoformat(entry["timestamp"]).timestamp()
            found.append(
                SlowTick(
                    started + (wall - started_wall),
                    float(entry["seconds"]),
                    {str(k): float(v) for k, v in entry.get("phases", {}).items()},
                    int(entry.get("writes", 0)),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return found


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Operator:
    def __init__(self, kubeconfig: str, prometheus_url: str, log_path: Path) -> None:
        self.metrics_port = free_port()
        self.log_path = log_path
        self._env = {
            **os.environ,
            "KUBECONFIG": kubeconfig,
            "SHOWTIME_PROMETHEUS_URL": prometheus_url,
            "SHOWTIME_METRICS_PORT": str(self.metrics_port),
            "SHOWTIME_LIVENESS_PORT": str(free_port()),
            "SHOWTIME_LOG_FORMAT": "json",
            "SHOWTIME_LOG_LEVEL": "INFO",
            "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2"),  # as the image sets it
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        command = [sys.executable, "-m", "showtime.cli", "run"]
        self._process = subprocess.Popen(
            command, env=self._env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        if self._log is not None:
            self._log.close()

    def read(self, timeout: float = 5.0) -> Reading | None:
        query = "&".join(f"name[]={name}" for name in SERIES)
        url = f"http://127.0.0.1:{self.metrics_port}/metrics?{query}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                return parse(answer.read().decode(), time.monotonic())
        except OSError:
            return None

    def series_count(self) -> int:
        """How many series the full metrics endpoint serves (what Prometheus would scrape)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=30) as answer:
            lines = answer.read().decode().splitlines()
        return sum(1 for line in lines if line and not line.startswith("#"))


class Sampler:
    """Samples the operator in a thread until ``stop``; bounded by ``max_seconds``."""

    def __init__(self, operator: Operator, max_seconds: float) -> None:
        self.samples = Samples()
        self._operator = operator
        self._max_seconds = max_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        deadline = time.monotonic() + self._max_seconds
        previous: Reading | None = None
        while not self._stop.is_set() and time.monotonic() < deadline:
            memory = rss_mib(self._operator.pid)
            if memory is not None:
                self.samples.rss.append((time.monotonic(), memory))
            reading = self._operator.read()
            if reading is not None:
                # ``previous`` is the reading at the last tick's end: what a long tick writes
                # is counted from there, not only what it wrote since the last sample
                if previous is not None and reading.ticks > previous.ticks:
                    self.samples.ticks.append(between(previous, reading))
                if previous is None or reading.ticks != previous.ticks:
                    previous = reading
            self._stop.wait(SAMPLE_SECONDS)


def between(before: Reading, after: Reading) -> Tick:
    count = after.ticks - before.ticks
    writes = {
        key: after.writes.get(key, 0.0) - before.writes.get(key, 0.0)
        for key in after.writes
        if after.writes.get(key, 0.0) != before.writes.get(key, 0.0)
    }
    return Tick(
        ended=after.at,
        seconds=(after.tick_seconds - before.tick_seconds) / count,
        exact=count == 1,
        writes=writes,
        queries=after.queries - before.queries,
    )
