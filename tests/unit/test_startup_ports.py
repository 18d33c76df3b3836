"""A metrics or liveness port that is already taken stops ``showtime run`` with one line
naming the variable to change (before issue 11: a traceback from prometheus_client)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from showtime.shell.startup import versions

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def run(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "showtime.cli", "run"],
        cwd=REPO,
        env={**os.environ, "KUBECONFIG": "/nonexistent", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "other"),
    [("SHOWTIME_METRICS_PORT", "SHOWTIME_LIVENESS_PORT"),
     ("SHOWTIME_LIVENESS_PORT", "SHOWTIME_METRICS_PORT")],
)  # fmt: skip
def test_a_taken_port_is_one_line_naming_the_variable(
    taken_port: int, variable: str, other: str
) -> None:
    done = run(**{variable: str(taken_port), other: "0"})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert variable in line
    assert f"127.0.0.1:{taken_port}" in line


def test_the_start_up_reports_the_versions_of_showtime_and_its_dependencies() -> None:
    found = versions()
    assert found["showtime"] == "0.1.0"
    assert {"kopf", "kubernetes", "pydantic", "structlog"} <= set(found)
    assert "unknown" not in found.values()
