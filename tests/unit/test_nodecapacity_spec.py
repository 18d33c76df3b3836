"""``spec.nodeCapacity`` parses with the CRD's defaults and refuses what the CRD refuses."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from showtime.core.spec import SpecError, parse_spec

CRD = Path(__file__).resolve().parents[2] / "crds" / "trafficevent.yaml"


def raw(**node_capacity: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedule": {"start": "2026-12-31T20:00:00+08:00", "duration": "1h"},
        "targets": [{"name": "api", "replicas": 30, "maxReplicas": 50}],
    }
    if node_capacity:
        spec["nodeCapacity"] = node_capacity
    return spec


def test_node_capacity_is_off_unless_asked_for() -> None:
    spec = parse_spec(raw())
    assert spec.node_capacity.prewarm is False
    assert spec.node_capacity.lead_time is None
    assert spec.node_capacity.mechanism == "Auto"


@pytest.mark.parametrize(
    ("lead", "expected"),
    [("auto", None), ("8m", timedelta(minutes=8)), ("2h", timedelta(hours=2)), ("0s", timedelta())],
)
def test_lead_time_is_auto_or_a_duration(lead: str, expected: timedelta | None) -> None:
    spec = parse_spec(raw(prewarm=True, leadTime=lead, mechanism="Placeholders"))
    assert spec.node_capacity.prewarm is True
    assert spec.node_capacity.lead_time == expected
    assert spec.node_capacity.mechanism == "Placeholders"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"leadTime": "3h"}, r"nodeCapacity\.leadTime: must be at most 2h"),
        ({"leadTime": "soon"}, r"nodeCapacity\.leadTime"),
        ({"mechanism": "Overprovisioning"}, r"nodeCapacity\.mechanism"),
        ({"prewarm": True, "size": 3}, r"nodeCapacity\.size"),
    ],
)
def test_bad_node_capacity_is_invalid_with_a_message(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(raw(**fields))


def test_crd_declares_the_same_fields_and_defaults() -> None:
    crd = yaml.safe_load(CRD.read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    node = spec["properties"]["nodeCapacity"]
    props = node["properties"]
    assert node.get("description")  # kubectl explain te.spec.nodeCapacity
    assert all(p.get("description") for p in props.values())
    assert props["prewarm"]["default"] is False
    assert props["leadTime"]["default"] == "auto"
    assert props["mechanism"]["default"] == "Auto"
    assert props["mechanism"]["enum"] == ["Auto", "CapacityBuffer", "Placeholders"]
    # No default for the object itself: events without it stay as they were stored.
    assert "default" not in node
