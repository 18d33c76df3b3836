"""The TrafficEvent CRD refuses bad input at `kubectl apply` with a message an SRE understands.

SPEC.md §1 "Bad input": everything the schema and its CEL rules can check is refused by the
API server, so `kubectl apply --server-side` exits non-zero and names the problem. Valid
manifests are accepted and stored with the documented defaults. These tests need only the
API server: no operator runs.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "trafficevent.yaml"
FIELD_MANAGER = "showtime-e2e"
KUBECTL_TIMEOUT = 60.0

Manifest = dict[str, Any]


def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the kubectl on PATH (see `make -s env`) and return its result; never raises on exit."""
    return subprocess.run(
        ["kubectl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=KUBECTL_TIMEOUT,
        check=False,
    )


def apply(manifest: Manifest, namespace: str) -> subprocess.CompletedProcess[str]:
    return kubectl(
        "apply",
        "--server-side",
        f"--field-manager={FIELD_MANAGER}",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=yaml.safe_dump(manifest, sort_keys=False),
    )


def get_event(name: str, namespace: str) -> Manifest:
    result = kubectl("get", "trafficevent", name, "-n", namespace, "-o", "json")
    assert result.returncode == 0, result.stderr
    stored: Manifest = json.loads(result.stdout)
    return stored


@pytest.fixture
def ns(crd: None, namespace: str) -> str:
    """A fresh namespace, once the CRD (conftest ``crd``) is Established and kubectl sees it."""
    wait_for(
        lambda: kubectl("get", "trafficevents", "-n", namespace).returncode == 0,
        timeout=30,
        message="kubectl to list trafficevents",
    )
    return namespace


# --- manifests ------------------------------------------------------------------------------


def one_off(name: str) -> Manifest:
    """A valid one-off event relying on every default."""
    return {
        "apiVersion": "showtime.dev/v1alpha1",
        "kind": "TrafficEvent",
        "metadata": {"name": name},
        "spec": {
            "schedule": {"start": "2026-12-31T20:00:00+08:00", "duration": "4h"},
            "expectedPeak": 120000,
            "targets": [{"name": "lecture-api", "capacityPerReplica": 500, "maxReplicas": 300}],
        },
    }


def recurring(name: str) -> Manifest:
    """A valid recurring event with every field set, as in SPEC.md §1."""
    return {
        "apiVersion": "showtime.dev/v1alpha1",
        "kind": "TrafficEvent",
        "metadata": {"name": name},
        "spec": {
            "schedule": {"cron": "0 19 * * 1-5", "timeZone": "Asia/Shanghai", "duration": "1h30m"},
            "leadTime": "10m",
            "rampUp": "5m",
            "cooldown": "0s",
            "expectedPeak": 5000,
            "headroom": 0.5,
            "suspend": True,
            "scaleDown": {"stabilizationWindow": "90s", "maxPercentPerMinute": 50},
            "targets": [
                {
                    "kind": "StatefulSet",
                    "name": "lecture-api",
                    "capacityPerReplica": 250.5,
                    "share": 0.25,
                    "replicas": 40,
                    "minReplicas": 0,
                    "maxReplicas": 300,
                    "metric": {
                        "query": 'sum(rate(http_requests_total{service="lecture-api"}[1m]))',
                        "targetPerReplica": 400,
                    },
                },
                # Same name, other kind: a different target.
                {"name": "lecture-api", "maxReplicas": 10, "replicas": 10},
                # Metric only: no floor needed.
                {
                    "name": "chat.v2",
                    "maxReplicas": 10,
                    "metric": {"query": "vector(1)", "targetPerReplica": 0.5},
                },
            ],
        },
    }


_DELETE = object()


def edited(base: Manifest, edits: dict[str, Any]) -> Manifest:
    """Copy of ``base`` with dotted paths set (``spec.targets.0.name``) or deleted (_DELETE)."""
    result = copy.deepcopy(base)
    for path, value in edits.items():
        *parents, leaf = path.split(".")
        node: Any = result
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(leaf)] = value
        elif value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    return result


def target(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "capacityPerReplica": 100, "maxReplicas": 10, **fields}


# --- accepted -------------------------------------------------------------------------------


def test_one_off_is_accepted_with_defaults(ns: str) -> None:
    result = apply(one_off("new-year-speech"), ns)
    assert result.returncode == 0, result.stderr

    spec = get_event("new-year-speech", ns)["spec"]
    assert spec["schedule"] == {
        "start": "2026-12-31T20:00:00+08:00",
        "duration": "4h",
        "timeZone": "UTC",
    }
    assert spec["leadTime"] == "auto"
    assert spec["rampUp"] == "0s"
    assert spec["cooldown"] == "15m"
    assert spec["headroom"] == 0.2
    assert spec["suspend"] is False
    assert spec["scaleDown"] == {"stabilizationWindow": "5m", "maxPercentPerMinute": 20}
    assert spec["targets"] == [
        {
            "kind": "Deployment",
            "name": "lecture-api",
            "capacityPerReplica": 500,
            "share": 1.0,
            "minReplicas": 1,
            "maxReplicas": 300,
        }
    ]


def test_recurring_is_accepted_as_written(ns: str) -> None:
    manifest = recurring("evening-lecture")
    result = apply(manifest, ns)
    assert result.returncode == 0, result.stderr

    spec = get_event("evening-lecture", ns)["spec"]
    expected = copy.deepcopy(manifest["spec"])
    for t in expected["targets"]:
        t.setdefault("kind", "Deployment")
        t.setdefault("share", 1.0)
        t.setdefault("minReplicas", 1)
    assert spec == expected


@pytest.mark.parametrize(
    "edits",
    [
        pytest.param({"spec.schedule.start": "2026-12-31T12:00:00Z"}, id="start-utc-z"),
        pytest.param({"spec.schedule.start": "2028-02-29T08:00:00.250-05:30"}, id="start-leap-day"),
        pytest.param({"spec.schedule.duration": "1h0m30s500ms"}, id="duration-compound"),
        pytest.param({"spec.leadTime": "0s"}, id="lead-time-zero"),
        pytest.param({"spec.expectedPeak": 0, "spec.headroom": 0}, id="zero-peak-and-headroom"),
        pytest.param(
            {"spec.expectedPeak": "auto", "spec.expectedPeakFallback": 1000}, id="peak-auto"
        ),
        pytest.param({"spec.targets.0.share": 1}, id="share-one"),
        pytest.param({"spec.targets.0.replicas": 300}, id="replicas-at-cap"),
        pytest.param({"spec.expectedPeak": _DELETE, "spec.targets.0.replicas": 0}, id="zero-floor"),
        pytest.param({"spec.targets": [target(f"api-{i}") for i in range(50)]}, id="fifty-targets"),
        # The bounds (SPEC.md §1 "Bad input"; numbers in showtime.core.spec), at the bound.
        pytest.param({"spec.schedule.duration": "744h"}, id="duration-31-days"),
        pytest.param({"spec.schedule.duration": "2678400000ms"}, id="duration-31-days-in-ms"),
        pytest.param(
            {"spec.leadTime": "24h", "spec.rampUp": "1440m", "spec.cooldown": "86400s"},
            id="lead-ramp-cooldown-24h",
        ),
        pytest.param({"spec.scaleDown": {"stabilizationWindow": "1h"}}, id="window-1h"),
        pytest.param({"spec.schedule.start": "2000-01-01T00:00:00+14:00"}, id="start-2000"),
        pytest.param({"spec.schedule.start": "2200-12-31T23:59:59-12:00"}, id="start-2200"),
        pytest.param(
            {"spec.targets.0.maxReplicas": 100000, "spec.targets.0.replicas": 100000},
            id="replicas-100000",
        ),
        pytest.param(
            {
                "spec.expectedPeak": 1e12,
                "spec.headroom": 10,
                "spec.targets.0.capacityPerReplica": 1e12,
            },
            id="load-1e12",
        ),
    ],
)
def test_edge_values_are_accepted(ns: str, edits: dict[str, Any]) -> None:
    result = apply(edited(one_off("edge"), edits), ns)
    assert result.returncode == 0, result.stderr


def test_printer_columns(ns: str) -> None:
    assert apply(one_off("columns"), ns).returncode == 0

    plain = kubectl("get", "te", "-n", ns)
    assert plain.returncode == 0, plain.stderr
    header = plain.stdout.splitlines()[0].split()
    assert header == ["NAME", "PHASE", "NEXT", "START", "READY", "AGE"]

    wide = kubectl("get", "te", "-n", ns, "-o", "wide")
    assert wide.returncode == 0, wide.stderr
    header = wide.stdout.splitlines()[0].split()
    assert header == ["NAME", "PHASE", "NEXT", "START", "READY", "AGE", "LEAD", "DESIRED"]

    by_category = kubectl("get", "showtime", "-n", ns, "-o", "name")
    assert by_category.returncode == 0, by_category.stderr
    assert "trafficevent.showtime.dev/columns" in by_category.stdout.split()


# --- refused --------------------------------------------------------------------------------


def case(name: str, edits: dict[str, Any], message: str | tuple[str, ...]) -> Any:
    """A bad-input case: ``edits`` applied to a valid one-off event named ``name``.

    ``message``: what kubectl's stderr must contain (every part, if a tuple).
    """
    parts = (message,) if isinstance(message, str) else message
    return pytest.param(name, edits, parts, id=name)


BAD_INPUT = [
    # schedule: exactly one of start / cron
    case(
        "both-start-and-cron",
        {"spec.schedule.cron": "0 19 * * *"},
        "schedule needs exactly one of start (a one-off event) or cron",
    ),
    case(
        "neither-start-nor-cron",
        {"spec.schedule.start": _DELETE},
        "schedule needs exactly one of start (a one-off event) or cron",
    ),
    case(
        "cron-empty",
        {"spec.schedule.start": _DELETE, "spec.schedule.cron": ""},
        "schedule.cron must not be empty",
    ),
    case(
        "cron-blank",
        {"spec.schedule.start": _DELETE, "spec.schedule.cron": "   "},
        "schedule.cron must not be empty",
    ),
    # timestamps
    case(
        "start-without-offset",
        {"spec.schedule.start": "2026-12-31T20:00:00"},
        "schedule.start must be an RFC 3339 timestamp with an offset",
    ),
    case(
        "start-with-space",
        {"spec.schedule.start": "2026-12-31 20:00:00+08:00"},
        "schedule.start must be an RFC 3339 timestamp with an offset",
    ),
    case(
        "start-prose",
        {"spec.schedule.start": "tomorrow at eight"},
        "schedule.start must be an RFC 3339 timestamp with an offset",
    ),
    case(
        "start-month-13",
        {"spec.schedule.start": "2026-13-01T20:00:00Z"},
        "schedule.start must be an RFC 3339 timestamp with an offset",
    ),
    case(
        "start-feb-29-non-leap",
        {"spec.schedule.start": "2026-02-29T20:00:00Z"},
        "schedule.start is not a date that exists",
    ),
    case(
        "start-april-31",
        {"spec.schedule.start": "2026-04-31T20:00:00Z"},
        "schedule.start is not a date that exists",
    ),
    # durations
    case(
        "duration-prose",
        {"spec.schedule.duration": "4 hours"},
        "schedule.duration must be a duration such as 90s, 15m, 4h or 1h30m",
    ),
    case(
        "duration-days",
        {"spec.schedule.duration": "1d"},
        "schedule.duration must be a duration such as 90s, 15m, 4h or 1h30m",
    ),
    case(
        "duration-fraction",
        {"spec.schedule.duration": "1.5h"},
        "schedule.duration must be a duration such as 90s, 15m, 4h or 1h30m",
    ),
    case(
        "duration-no-unit",
        {"spec.schedule.duration": "90"},
        "schedule.duration must be a duration such as 90s, 15m, 4h or 1h30m",
    ),
    case(
        "duration-zero",
        {"spec.schedule.duration": "0m0s"},
        "schedule.duration must be longer than zero",
    ),
    case(
        "duration-missing",
        {"spec.schedule.duration": _DELETE},
        "spec.schedule.duration: Required value",
    ),
    case(
        "lead-time-word",
        {"spec.leadTime": "soon"},
        'leadTime must be "auto" or a duration such as 90s, 15m, 4h or 1h30m',
    ),
    case(
        "lead-time-negative",
        {"spec.leadTime": "-5m"},
        'leadTime must be "auto" or a duration such as 90s, 15m, 4h or 1h30m',
    ),
    case(
        "ramp-up-prose",
        {"spec.rampUp": "5 min"},
        "rampUp must be a duration such as",
    ),
    case(
        "cooldown-no-unit",
        {"spec.cooldown": "15"},
        "cooldown must be a duration such as",
    ),
    # bounds: nothing the API server accepts may overflow the operator (numbers in spec.py)
    case(
        "duration-over-31-days",
        {"spec.schedule.duration": "745h"},
        "schedule.duration must be at most 744h (31 days)",
    ),
    case(
        "duration-absurd",
        {"spec.schedule.duration": "99999999999h"},
        "schedule.duration must be at most 744h (31 days)",
    ),
    case(
        "duration-thirteen-digits",
        {"spec.schedule.duration": "1000000000000ms"},
        "schedule.duration must be at most 744h (31 days)",
    ),
    case(
        "duration-parts-add-up",
        {"spec.schedule.duration": "999999999999h999999999999h"},
        "schedule.duration must be at most 744h (31 days)",
    ),
    case("lead-time-over-a-day", {"spec.leadTime": "24h1s"}, "leadTime must be at most 24h"),
    case("ramp-up-over-a-day", {"spec.rampUp": "1441m"}, "rampUp must be at most 24h"),
    case("cooldown-over-a-day", {"spec.cooldown": "86401s"}, "cooldown must be at most 24h"),
    case(
        "stabilization-window-over-an-hour",
        {"spec.scaleDown": {"stabilizationWindow": "61m"}},
        "scaleDown.stabilizationWindow must be at most 1h",
    ),
    case(
        "start-year-9999",
        {"spec.schedule.start": "9999-12-31T20:00:00Z"},
        "schedule.start must be in the years 2000 to 2200",
    ),
    case(
        "start-year-1999",
        {"spec.schedule.start": "1999-12-31T23:59:59Z"},
        "schedule.start must be in the years 2000 to 2200",
    ),
    case(
        "max-replicas-above-100000",
        {"spec.targets.0.maxReplicas": 100001},
        "maxReplicas in body should be less than or equal to 100000",
    ),
    case(
        "expected-peak-above-1e12",
        {"spec.expectedPeak": 1e13},
        "expectedPeak in body should be less than or equal to 1000000000000",
    ),
    case(
        "expected-peak-auto-without-fallback",
        {"spec.expectedPeak": "auto"},
        "expectedPeak: auto needs expectedPeakFallback",
    ),
    case(
        "expected-peak-other-string",
        {"spec.expectedPeak": "lots", "spec.expectedPeakFallback": 1000},
        "expectedPeak must be a whole number or auto",
    ),
    case(
        "capacity-above-1e12",
        {"spec.targets.0.capacityPerReplica": 1e13},
        "capacityPerReplica in body should be less than or equal to 1000000000000",
    ),
    case(
        "target-per-replica-above-1e12",
        {"spec.targets.0.metric": {"query": "vector(1)", "targetPerReplica": 1e13}},
        "targetPerReplica in body should be less than or equal to 1000000000000",
    ),
    case(
        "headroom-above-10",
        {"spec.headroom": 10.5},
        "headroom in body should be less than or equal to 10",
    ),
    case(
        "stabilization-window-upper-case",
        {"spec.scaleDown": {"stabilizationWindow": "5M"}},
        "scaleDown.stabilizationWindow must be a duration such as",
    ),
    # numbers
    case(
        "capacity-zero",
        {"spec.targets.0.capacityPerReplica": 0},
        "capacityPerReplica in body should be greater than 0",
    ),
    case(
        "capacity-negative",
        {"spec.targets.0.capacityPerReplica": -500},
        "capacityPerReplica in body should be greater than 0",
    ),
    case(
        "target-per-replica-zero",
        {"spec.targets.0.metric": {"query": "vector(1)", "targetPerReplica": 0}},
        "targetPerReplica in body should be greater than 0",
    ),
    case(
        "max-replicas-zero",
        {"spec.targets.0.maxReplicas": 0},
        "maxReplicas in body should be greater than or equal to 1",
    ),
    case(
        "max-replicas-missing",
        {"spec.targets.0.maxReplicas": _DELETE},
        "spec.targets[0].maxReplicas: Required value",
    ),
    case(
        "min-above-max",
        {"spec.targets.0.minReplicas": 301},
        ("spec.targets[0].minReplicas:", "minReplicas must not be greater than maxReplicas"),
    ),
    case(
        "replicas-above-max",
        {"spec.targets.0.replicas": 301},
        ("spec.targets[0].replicas:", "replicas must not be greater than maxReplicas"),
    ),
    case(
        "replicas-negative",
        {"spec.targets.0.replicas": -1},
        "replicas in body should be greater than or equal to 0",
    ),
    case(
        "share-zero",
        {"spec.targets.0.share": 0},
        "share in body should be greater than 0",
    ),
    case(
        "share-above-one",
        {"spec.targets.0.share": 1.5},
        "share in body should be less than or equal to 1",
    ),
    case(
        "headroom-negative",
        {"spec.headroom": -0.1},
        "headroom in body should be greater than or equal to 0",
    ),
    case(
        "expected-peak-negative",
        {"spec.expectedPeak": -1},
        "expectedPeak in body should be greater than or equal to 0",
    ),
    case(
        "max-percent-zero",
        {"spec.scaleDown": {"maxPercentPerMinute": 0}},
        "maxPercentPerMinute in body should be greater than or equal to 1",
    ),
    case(
        "max-percent-above-100",
        {"spec.scaleDown": {"maxPercentPerMinute": 101}},
        "maxPercentPerMinute in body should be less than or equal to 100",
    ),
    # targets
    case(
        "targets-empty",
        {"spec.targets": []},
        "should have at least 1 items",
    ),
    case(
        "targets-missing",
        {"spec.targets": _DELETE},
        "spec.targets: Required value",
    ),
    case(
        "targets-too-many",
        {"spec.targets": [target(f"api-{i}") for i in range(51)]},
        "must have at most 50 items",
    ),
    case(
        "targets-duplicate",
        {"spec.targets": [target("api"), target("web"), target("api")]},
        "Deployment/api is listed more than once",
    ),
    case(
        "targets-duplicate-by-default-kind",
        # kind defaults to Deployment, so these two are the same target
        {"spec.targets": [target("api"), target("api", kind="Deployment")]},
        "targets must be unique: each kind/name pair may appear only once",
    ),
    case(
        "kind-unsupported",
        {"spec.targets.0.kind": "DaemonSet"},
        'Unsupported value: "DaemonSet"',
    ),
    case(
        "target-name-invalid",
        {"spec.targets.0.name": "Lecture_API"},
        "targets[].name must be a Kubernetes object name",
    ),
    case(
        "metric-query-blank",
        {"spec.targets.0.metric": {"query": " ", "targetPerReplica": 1}},
        "metric.query must not be empty",
    ),
    case(
        "metric-query-missing",
        {"spec.targets.0.metric": {"targetPerReplica": 1}},
        "spec.targets[0].metric.query: Required value",
    ),
    # floor or metric
    case(
        "no-floor-no-metric-without-peak",
        {"spec.expectedPeak": _DELETE},
        "target Deployment/lecture-api needs a floor or a metric",
    ),
    case(
        "no-floor-no-metric-without-capacity",
        {
            "spec.targets": [
                target("api", replicas=3),
                {"kind": "StatefulSet", "name": "db", "maxReplicas": 5},
            ]
        },
        "target StatefulSet/db needs a floor or a metric",
    ),
    # unknown fields (kubectl's strict field validation)
    case(
        "unknown-spec-field",
        {"spec.leadtime": "10m"},
        ".spec.leadtime: field not declared in schema",
    ),
    case(
        "unknown-target-field",
        {"spec.targets.0.capacityPerPod": 500},
        ".spec.targets[0].capacityPerPod: field not declared in schema",
    ),
]


@pytest.mark.parametrize(("name", "edits", "message"), BAD_INPUT)
def test_bad_input_is_refused(
    ns: str, name: str, edits: dict[str, Any], message: tuple[str, ...]
) -> None:
    result = apply(edited(one_off(name), edits), ns)
    assert result.returncode != 0, f"accepted:\n{result.stdout}"
    for part in message:
        assert part in result.stderr
    assert kubectl("get", "trafficevent", name, "-n", ns).returncode != 0


def test_crd_is_structural(crd: None) -> None:
    """No part of the spec keeps unknown fields, and the API server found it structural.

    (Only status.heldSpec, the operator's copy of the last valid spec, keeps them.)
    """
    schema = yaml.safe_load(CRD_FILE.read_text())["spec"]["versions"][0]["schema"]
    spec_schema = json.dumps(schema["openAPIV3Schema"]["properties"]["spec"])
    assert "x-kubernetes-preserve-unknown-fields" not in spec_schema
    result = kubectl("get", "crd", "trafficevents.showtime.dev", "-o", "json")
    assert result.returncode == 0, result.stderr
    conditions = {c["type"]: c for c in json.loads(result.stdout)["status"]["conditions"]}
    assert conditions["Established"]["status"] == "True"
    assert conditions["NamesAccepted"]["status"] == "True"
    assert "NonStructuralSchema" not in conditions
