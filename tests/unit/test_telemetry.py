"""The operator's own metrics and logging: series lifecycle, the endpoint, log routing."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import replace

import pytest
import structlog
from prometheus_client import Gauge, generate_latest

from showtime import telemetry
from showtime.eventseries import CONDITIONS, EventRow, TargetRow
from showtime.telemetry import REGISTRY


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def _target(name: str, *, sample: float | None = None) -> TargetRow:
    return TargetRow(
        kind="Deployment",
        name=name,
        desired=5,
        ready=3,
        sample=sample,
        per_replica=None,
        metric_replicas=None,
        floor=None,
        lead=None,
        startup=None,
    )


def _row(stage: str, *targets: TargetRow) -> EventRow:
    return EventRow(
        stage=stage,
        next_start=None,
        prewarm_late=False,
        conditions=(None,) * len(CONDITIONS),
        targets=targets,
    )


def test_event_stage_is_one_hot() -> None:
    telemetry.EVENT_SERIES.put("live", "speech", _row("PreWarming"))
    telemetry.EVENT_SERIES.put("live", "speech", _row("Live"))
    stages = {
        s: _value("showtime_event_stage", namespace="live", event="speech", stage=s)
        for s in telemetry.STAGES
    }
    assert stages.pop("Live") == 1
    assert set(stages.values()) == {0}


def test_an_unknown_stage_shows_beside_the_known_ones_until_the_next_stage() -> None:
    telemetry.EVENT_SERIES.put("live", "odd", _row("Paused"))
    assert _value("showtime_event_stage", namespace="live", event="odd", stage="Paused") == 1
    assert _value("showtime_event_stage", namespace="live", event="odd", stage="Live") == 0
    telemetry.EVENT_SERIES.put("live", "odd", _row("Live"))
    assert _value("showtime_event_stage", namespace="live", event="odd", stage="Paused") is None


def test_forget_event_removes_only_that_events_series() -> None:
    for event in ("gone", "kept"):
        telemetry.EVENT_SERIES.put("ns", event, _row("Live", _target("api", sample=123.0)))
    telemetry.EVENT_SERIES.put("other-ns", "gone", _row("Live"))

    telemetry.forget_event("ns", "gone")

    def series(event: str, namespace: str = "ns") -> list[float | None]:
        return [
            _value("showtime_event_stage", namespace=namespace, event=event, stage="Live"),
            _value(
                "showtime_target_desired_replicas",
                namespace=namespace,
                event=event,
                kind="Deployment",
                target="api",
            ),
            _value(
                "showtime_target_ready_replicas",
                namespace=namespace,
                event=event,
                kind="Deployment",
                target="api",
            ),
            _value("showtime_metric_sample", namespace=namespace, event=event, target="api"),
        ]

    assert series("gone") == [None, None, None, None]
    assert series("kept") == [1.0, 5.0, 3.0, 123.0]
    assert series("gone", namespace="other-ns")[0] == 1.0


def test_missing_sample_is_a_gap_not_zero() -> None:
    telemetry.EVENT_SERIES.put("ns", "gap", _row("Live", _target("api", sample=10.0)))
    telemetry.EVENT_SERIES.put("ns", "gap", _row("Live", _target("api", sample=None)))
    assert _value("showtime_metric_sample", namespace="ns", event="gap", target="api") is None
    assert (
        _value(
            "showtime_target_desired_replicas",
            namespace="ns",
            event="gap",
            kind="Deployment",
            target="api",
        )
        == 5
    )


def test_two_kinds_sharing_a_name_show_one_series_without_the_kind_label() -> None:
    web = _target("web", sample=1.0)
    twin = replace(web, kind="StatefulSet", sample=2.0)
    telemetry.EVENT_SERIES.put("ns", "twins", _row("Live", web, twin))
    text = generate_latest(REGISTRY).decode()
    samples = [line for line in text.splitlines() if 'event="twins"' in line]
    assert [s for s in samples if s.startswith("showtime_metric_sample")] == [
        'showtime_metric_sample{event="twins",namespace="ns",target="web"} 2.0'
    ]
    desired = [s for s in samples if s.startswith("showtime_target_desired_replicas")]
    assert len(desired) == 2


def test_registering_the_series_names_its_families_so_a_clash_is_refused() -> None:
    with pytest.raises(ValueError, match="showtime_event_stage"):
        Gauge("showtime_event_stage", "a second one", registry=REGISTRY)


def test_a_scrape_during_updates_always_shows_whole_rows() -> None:
    """The metrics server's thread renders while the reconciler replaces rows: every scrape
    shows each event with exactly one current stage and all of its targets."""
    stop = threading.Event()
    writes = 0

    def reconcile() -> None:
        nonlocal writes
        while not stop.is_set() and writes < 20_000:
            stage = telemetry.STAGES[writes % len(telemetry.STAGES)]
            for event in ("a", "b", "c"):
                row = _row(stage, _target(f"{event}-1"), _target(f"{event}-2"))
                telemetry.EVENT_SERIES.put("racing", event, row)
            writes += 1

    writer = threading.Thread(target=reconcile)
    writer.start()
    try:
        for _ in range(30):
            text = generate_latest(REGISTRY).decode()
            lines = [line for line in text.splitlines() if 'namespace="racing"' in line]
            current = [
                line
                for line in lines
                if line.startswith("showtime_event_stage") and line.endswith(" 1.0")
            ]
            desired = [line for line in lines if line.startswith("showtime_target_desired")]
            assert len(current) == 3, current
            assert len(desired) == 6, desired
    finally:
        stop.set()
        writer.join(timeout=10)
    assert writes > 0


def test_metrics_server_serves_the_registry_on_loopback() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    telemetry.API_WRITES.labels("replica-a", "Deployment", "patch").inc()
    telemetry.start_metrics_server(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'showtime_api_writes_total{identity="replica-a",kind="Deployment",verb="patch"}' in text
    assert "showtime_tick_duration_seconds_bucket" in text


def test_metrics_server_rejects_bad_ports() -> None:
    with pytest.raises(ValueError, match="port"):
        telemetry.start_metrics_server(70000)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    kopf_objects = logging.getLogger("kopf.objects")
    kopf_level = kopf_objects.level
    kopf_objects.setLevel(logging.NOTSET)  # `showtime run` quietens it; other tests may have run it
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    kopf_objects.setLevel(kopf_level)
    structlog.reset_defaults()


@pytest.mark.usefixtures("restore_logging")
def test_json_logging_structures_stdlib_and_kopf_lines() -> None:
    out = io.StringIO()
    telemetry.configure_logging("json", "INFO", stream=out)
    structlog.get_logger("showtime.test").info("tick done", events=3)
    logging.getLogger("kopf.objects").info(
        "Handler succeeded.",
        extra={"k8s_ref": {"kind": "TrafficEvent", "namespace": "live", "name": "speech"}},
    )
    logging.getLogger("noisy").debug("below the level")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2
    ours, kopfs = lines
    assert ours["event"] == "tick done"
    assert ours["events"] == 3
    assert ours["level"] == "info"
    assert ours["logger"] == "showtime.test"
    assert ours["timestamp"].endswith("Z")
    assert kopfs["event"] == "Handler succeeded."
    assert kopfs["logger"] == "kopf.objects"
    assert (kopfs["k8s_kind"], kopfs["k8s_namespace"], kopfs["k8s_name"]) == (
        "TrafficEvent",
        "live",
        "speech",
    )


@pytest.mark.usefixtures("restore_logging")
def test_console_logging_is_plain_text() -> None:
    out = io.StringIO()
    telemetry.configure_logging("console", "debug", stream=out)
    logging.getLogger("kopf").debug("hello %s", "world")
    assert "hello world" in out.getvalue()
    assert not out.getvalue().lstrip().startswith("{")


@pytest.mark.parametrize(("fmt", "level"), [("xml", "INFO"), ("json", "LOUD")])
def test_logging_config_is_validated(fmt: str, level: str) -> None:
    with pytest.raises(ValueError, match="log"):
        telemetry.configure_logging(fmt, level)  # type: ignore[arg-type]
