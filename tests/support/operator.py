"""Run the real operator (``showtime run``) as a child process for e2e tests.

The process watches one namespace (``SHOWTIME_NAMESPACE``) so tests stay isolated, ticks
every second, and writes its log to a file that a failing test prints. ``kill()`` is a
SIGKILL, the way a node failure or an OOM kill ends an operator.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[2]


class OperatorProcess:
    def __init__(self, namespace: str, log_path: Path, **env: str) -> None:
        self.namespace = namespace
        self.log_path = log_path
        self.env = {
            "SHOWTIME_NAMESPACE": namespace,
            "SHOWTIME_TICK": "1s",
            "SHOWTIME_DEFAULT_LEAD_TIME": "120s",  # distinct from what tests learn
            "SHOWTIME_LOG_FORMAT": "console",
            "SHOWTIME_METRICS_PORT": "0",
            "SHOWTIME_LIVENESS_PORT": "0",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> OperatorProcess:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start #{self.starts} =====\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "showtime.cli", "run"],
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup handlers, no finalizers released, state left as it is."""
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

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
