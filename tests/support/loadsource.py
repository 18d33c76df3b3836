"""Test helper: run ``python -m tools.loadsource`` as a subprocess and drive it.

What lives here: ``load_source(...)``, a context manager that starts the load source,
reads its port from the ``LISTENING <port>`` line, optionally registers it for the local
Prometheus (file_sd directory from ``SHOWTIME_PROM_TARGETS_DIR``), and always stops it;
and ``LoadSourceProcess`` with ``set_profile``/``get_profile``/``scrape``/``stop``.
Every wait is bounded.

What does not: the load-source logic itself (``tools.loadsource``) and waiting for
Prometheus to ingest samples (tests poll the metric source for that).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

TARGETS_DIR_ENV = "SHOWTIME_PROM_TARGETS_DIR"


def prom_targets_dir() -> Path | None:
    """The local Prometheus' file_sd directory, if the environment names one."""
    value = os.environ.get(TARGETS_DIR_ENV)
    return Path(value) if value else None


@dataclass
class LoadSourceProcess:
    """A running load source on 127.0.0.1."""

    process: subprocess.Popen[str]
    port: int
    labels: dict[str, str]
    sd_file: Path | None
    _stderr: IO[str] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_profile(self, profile: Any, timeout: float = 5.0) -> dict[str, Any]:
        """Replace the rate profile (JSON form, e.g. ``{"rate": 1000}``); returns its state."""
        body = json.dumps(profile).encode()
        request = urllib.request.Request(
            f"{self.url}/profile",
            data=body,
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            state: dict[str, Any] = json.load(response)
        return state

    def get_profile(self, timeout: float = 5.0) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/profile", timeout=timeout) as response:
            state: dict[str, Any] = json.load(response)
        return state

    def scrape(self, timeout: float = 5.0) -> str:
        """The ``/metrics`` text, as Prometheus would scrape it."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=timeout) as response:
            text: str = response.read().decode()
        return text

    def stderr_text(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (so it removes its file_sd entry), then SIGKILL after ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self.sd_file is not None:  # it removes it itself; this covers a SIGKILL
            self.sd_file.unlink(missing_ok=True)
        self._stderr.close()


@contextmanager
def load_source(
    *,
    labels: Mapping[str, str],
    profile: Any,
    register: bool | None = None,
    name: str | None = None,
    start_timeout: float = 20.0,
) -> Iterator[LoadSourceProcess]:
    """Start a load source; stop it on exit.

    ``register``: ``None`` registers in ``$SHOWTIME_PROM_TARGETS_DIR`` when it is set,
    ``True`` requires it, ``False`` never registers.
    """
    targets = prom_targets_dir() if register is not False else None
    if register is True and targets is None:
        raise RuntimeError(f'{TARGETS_DIR_ENV} is not set; run: eval "$(make -s env)"')
    cmd = [
        sys.executable,
        "-m",
        "tools.loadsource",
        "--port",
        "0",
        "--labels",
        ",".join(f"{k}={v}" for k, v in labels.items()),
        "--profile",
        json.dumps(profile),
    ]
    if targets is not None:
        cmd += ["--register", str(targets)]
        if name is not None:
            cmd += ["--name", name]
    stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - owned by LoadSourceProcess
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        port = _read_port(process, start_timeout)
    except BaseException:
        process.kill()
        process.wait(timeout=10)
        stderr.seek(0)
        detail = stderr.read().strip()
        stderr.close()
        if process.stdout is not None:
            process.stdout.close()
        if detail:
            raise RuntimeError(f"load source failed to start: {detail}") from None
        raise
    sd_file = None
    if targets is not None:
        sd_file = targets / f"{name or f'loadsource-{port}'}.json"
    source = LoadSourceProcess(process, port, dict(labels), sd_file, stderr)
    try:
        yield source
    finally:
        source.stop()


def _read_port(process: subprocess.Popen[str], timeout: float) -> int:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"load source printed no LISTENING line within {timeout}s")
            if selector.select(timeout=left):
                line = process.stdout.readline()
                if not line:
                    raise RuntimeError(f"load source exited (code {process.wait(timeout=5)})")
                word, _, port = line.strip().partition(" ")
                if word != "LISTENING" or not port.isdigit():
                    raise RuntimeError(f"unexpected first line from load source: {line!r}")
                return int(port)
