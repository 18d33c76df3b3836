"""``showtime plan`` shows when node capacity is reserved, and for how many pods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from showtime.cli import main


def plan(capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: dict[str, Any]) -> list[str]:
    manifest = tmp_path / "event.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "showtime.dev/v1alpha1",
                "kind": "TrafficEvent",
                "metadata": {"name": "lecture"},
                "spec": spec,
            }
        )
    )
    code = main(["plan", "-f", str(manifest), "--now", "2026-12-31T11:00:00Z"])
    out = capsys.readouterr().out
    assert code == 0, out
    return out.splitlines()


SPEC: dict[str, Any] = {
    "schedule": {"start": "2026-12-31T12:00:00Z", "duration": "1h"},
    "leadTime": "5m",
    "rampUp": "5m",
    "targets": [
        {"name": "api", "replicas": 300, "maxReplicas": 400},
        {"name": "chat", "replicas": 20, "maxReplicas": 40},
    ],
}


def test_plan_shows_when_node_capacity_is_reserved(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = plan(capsys, tmp_path, {**SPEC, "nodeCapacity": {"prewarm": True, "leadTime": "8m"}})
    (room,) = [line for line in lines if line.strip().startswith("node room:")]
    # Pre-warm at 11:50 (5m lead + 5m ramp); room on nodes 8m before that.
    assert "2026-12-31T11:42:00Z" in room
    assert "8m, explicit" in room
    assert any("api 300, chat 20" in line for line in lines)


def test_auto_assumes_the_default_and_without_prewarm_nothing_is_shown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = plan(capsys, tmp_path, {**SPEC, "nodeCapacity": {"prewarm": True}})
    (room,) = [line for line in lines if line.strip().startswith("node room:")]
    assert "2026-12-31T11:45:00Z" in room
    assert "auto, assumed" in room
    lines = plan(capsys, tmp_path, SPEC)
    assert not [line for line in lines if "node room" in line]
