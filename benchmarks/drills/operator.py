"""The operator under test as a process: ``showtime run`` with kill -9 and restart.

What lives here: ``Operator`` (one ``python -m showtime.cli run`` watching the drill's
namespace, ticking every ``TICK_SECONDS``, its metrics on a free port of 127.0.0.1, its
log appended to a file), ``kill`` (SIGKILL: no clean-up, as an OOM kill or a lost node),
``wait_in_control`` (seconds from the start of the process to its first completed tick,
read from ``showtime_tick_duration_seconds_count`` on its metrics endpoint) and
``metrics`` (the endpoint parsed).

What does not: deciding when to kill (the drills).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parents[2]
TICK_SECONDS = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Operator:
    def __init__(self, namespace: str, log_path: Path, **env: str) -> None:
        self.log_path = log_path
        self.metrics_port = free_port()
        self.env = {
            "SHOWTIME_NAMESPACE": namespace,
            "SHOWTIME_TICK": f"{TICK_SECONDS}s",
            "SHOWTIME_DEFAULT_LEAD_TIME": "60s",
            "SHOWTIME_LOG_FORMAT": "console",
            "SHOWTIME_METRICS_PORT": str(self.metrics_port),
            "SHOWTIME_LIVENESS_PORT": "0",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.starts = 0

    def start(self) -> Operator:
        assert not self.alive(), "already running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts} at {time.time():.1f} =====\n".encode())
            log.flush()
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "showtime.cli", "run"],
                cwd=REPO_ROOT,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        """SIGKILL: nothing is cleaned up, state is left as it is."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def metrics(self) -> dict[str, float]:
        """Every sample of the metrics endpoint, keyed ``name{label="v",...}``."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as answer:
            text = answer.read().decode()
        found: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                found[f"{s.name}{{{labels}}}" if labels else s.name] = float(s.value)
        return found

    def ticks(self) -> float:
        try:
            return self.metrics().get("showtime_tick_duration_seconds_count", 0.0)
        except OSError:
            return 0.0

    def wait_in_control(self, timeout: float = 60.0) -> float | None:
        """Seconds from this start to the first completed tick; None if not within timeout."""
        deadline = self.started_at + timeout
        while time.monotonic() < deadline and self.alive():
            if self.ticks() >= 1:
                return time.monotonic() - self.started_at
            time.sleep(0.1)
        return None
