"""The operator's own metrics and logging: series lifecycle, the endpoint, log routing."""

from __future__ import annotations

import io
import json
import logging
import socket
import urllib.request
from collections.abc import Iterator

import pytest
import structlog

from showtime import telemetry
from showtime.telemetry import REGISTRY


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_event_stage_is_one_hot() -> None:
    telemetry.set_event_stage("live", "speech", "PreWarming")
    telemetry.set_event_stage("live", "speech", "Live")
    stages = {
        s: _value("showtime_event_stage", namespace="live", event="speech", stage=s)
        for s in telemetry.STAGES
    }
    assert stages.pop("Live") == 1
    assert set(stages.values()) == {0}


def test_forget_event_removes_only_that_events_series() -> None:
    for event in ("gone", "kept"):
        telemetry.set_event_stage("ns", event, "Live")
        telemetry.set_target_replicas("ns", event, "Deployment", "api", desired=5, ready=3)
        telemetry.set_metric_sample("ns", event, "api", 123.0)
    telemetry.set_event_stage("other-ns", "gone", "Live")

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
    telemetry.set_metric_sample("ns", "gap", "api", 10.0)
    telemetry.set_metric_sample("ns", "gap", "api", None)
    assert _value("showtime_metric_sample", namespace="ns", event="gap", target="api") is None


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
