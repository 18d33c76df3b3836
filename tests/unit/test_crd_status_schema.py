"""Everything the operator writes to status is declared in the CRD, so nothing is pruned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from showtime.core.leadtime import StartupMemory
from showtime.core.planner import Reason, plan_event
from showtime.core.spec import parse_spec
from showtime.core.status import MetricReport, StatusInput, TargetReport, build_status

CRD = Path(__file__).resolve().parents[2] / "crds" / "trafficevent.yaml"
START = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)


def undeclared(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    if isinstance(value, dict):
        props = schema.get("properties", {})
        missing = []
        for key, item in value.items():
            if key not in props:
                missing.append(f"{path}.{key}")
            else:
                missing += undeclared(item, props[key], f"{path}.{key}")
        return missing
    if isinstance(value, list):
        return [m for item in value for m in undeclared(item, schema.get("items", {}), path)]
    return []


def test_status_fields_are_in_the_schema() -> None:
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    spec = parse_spec(
        {
            "schedule": {"start": "2026-12-31T12:00:00Z", "duration": "1h"},
            "leadTime": "5m",
            "targets": [{"name": "api", "replicas": 3, "maxReplicas": 9}],
        }
    )
    now = START + timedelta(seconds=5)
    plan = plan_event(spec, now=now, lead_time=timedelta(minutes=5))
    metric = MetricReport("q", value=1.0, timestamp=START)
    workload = ("live", "StatefulSet", "api")
    memory = StartupMemory.from_records(
        [
            (
                workload,
                {"recent": [{"pod": "a1", "seconds": 12.5, "readyAt": "2026-12-31T11:00:00Z"}]},
            )
        ]
    )
    estimate = memory.estimate(workload, default=timedelta(minutes=5), pods_to_add=3, ordered=True)
    report = TargetReport(
        "StatefulSet",
        "api",
        True,
        "Replicas",
        3,
        3,
        Reason.METRIC,
        3,
        metric,
        lead_time=memory.to_record(workload, estimate),
    )
    status, _ = build_status({}, StatusInput(1, plan, None, (report,)), now=now)
    assert "preWarmCheckedFor" in status
    assert undeclared(status, schema, "status") == []
