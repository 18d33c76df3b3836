"""The operator under test as a process: ``showtime run`` with kill -9 and restart.

What lives here: ``Operator`` (the e2e tests' ``OperatorProcess`` from ``tests.support``:
one ``python -m showtime.cli run`` watching the drill's namespace, here ticking every
``TICK_SECONDS``, its metrics on a free port of 127.0.0.1, its log appended to a file),
``kill`` (SIGKILL: no clean-up, as an OOM kill or a lost node),
``wait_in_control`` (seconds from the start of the process to its first completed tick,
read from ``showtime_tick_duration_seconds_count`` on its metrics endpoint) and
``metrics`` (the endpoint parsed).

What does not: deciding when to kill (the drills).
"""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.operator import OperatorProcess

TICK_SECONDS = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Operator(OperatorProcess):
    """The e2e tests' operator process, ticking like production, its metrics on a free port."""

    def __init__(self, namespace: str, log_path: Path, **env: str) -> None:
        self.metrics_port = free_port()
        super().__init__(
            namespace,
            log_path,
            **{
                "SHOWTIME_TICK": f"{TICK_SECONDS}s",
                "SHOWTIME_DEFAULT_LEAD_TIME": "60s",
                "SHOWTIME_METRICS_PORT": str(self.metrics_port),
                **env,
            },
        )
        self.started_at = 0.0

    def start(self) -> Operator:
        self.started_at = time.monotonic()
        super().start()
        return self

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
