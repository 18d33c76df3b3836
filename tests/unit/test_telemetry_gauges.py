"""What the dashboard and the alerts read about one TrafficEvent (shell/gauges.py), from
the status the operator writes: the floor at now, the count the metric asks for,
targetPerReplica, lead and start-up time, conditions, PreWarmLate and the next start.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest

from showtime import telemetry
from showtime.core.observed import ObservedEvent
from showtime.core.spec import parse_spec
from showtime.shell.gauges import record_event

START = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)


def value(name: str, **labels: str) -> float | None:
    return telemetry.REGISTRY.get_sample_value(name, labels)


def event(name: str) -> ObservedEvent:
    spec = parse_spec(
        {
            "schedule": {"start": "2026-12-31T12:00:00Z", "duration": "1h"},
            "leadTime": "10m",
            "rampUp": "10m",
            "targets": [
                {
                    "name": "web",
                    "replicas": 10,
                    "maxReplicas": 20,
                    "metric": {"query": "sum(rate(x[1m]))", "targetPerReplica": 50},
                }
            ],
        }
    )
    return ObservedEvent("live", name, "uid", 1, spec)


def status(phase: str, *, late: bool) -> dict[str, object]:
    return {
        "phase": phase,
        "leadTimeSeconds": 600,
        "nextStart": "2026-12-31T12:00:00Z",
        "prewarmAt": "2026-12-31T11:40:00Z",
        "targets": [
            {
                "kind": "Deployment",
                "name": "web",
                "desiredReplicas": 12,
                "readyReplicas": 9,
                "reason": "Metric",
                "metric": {"query": "q", "value": 560.0, "timestamp": "2026-12-31T12:05:00Z"},
                "leadTime": {"seconds": 600, "p90Seconds": 42.5},
            }
        ],
        "conditions": [
            {"type": "MetricsAvailable", "status": "True", "reason": "SamplesReceived"},
            {
                "type": "PreWarmed",
                "status": "False" if late else "True",
                "reason": "PreWarmLate" if late else "FloorReadyAtStart",
            },
        ],
    }


def test_a_live_event_shows_floor_metric_capacity_lead_time_and_conditions() -> None:
    record_event(event("gauged"), status("Live", late=True), START + timedelta(minutes=5))
    target = {"namespace": "live", "event": "gauged", "target": "web"}
    with_kind = {**target, "kind": "Deployment"}
    assert value("showtime_target_floor_replicas", **with_kind) == 10
    assert value("showtime_target_metric_replicas", **with_kind) == 12  # ceil(560 / 50)
    assert value("showtime_target_desired_replicas", **with_kind) == 12
    assert value("showtime_target_ready_replicas", **with_kind) == 9
    assert value("showtime_target_per_replica", **target) == 50
    assert value("showtime_target_lead_time_seconds", **target) == 600
    assert value("showtime_target_startup_seconds", **target) == 42.5
    event_labels = {"namespace": "live", "event": "gauged"}
    assert value("showtime_event_prewarm_late", **event_labels) == 1
    assert value("showtime_event_condition", **event_labels, condition="MetricsAvailable") == 1
    assert value("showtime_event_condition", **event_labels, condition="PreWarmed") == 0
    assert value("showtime_event_condition", **event_labels, condition="Ready") is None
    assert value("showtime_event_next_start_timestamp_seconds", **event_labels) == (
        START.timestamp()
    )
    assert value("showtime_event_stage", **event_labels, stage="Live") == 1


def test_the_floor_rises_during_pre_warm_and_is_zero_before_it() -> None:
    ramping = START - timedelta(minutes=15)  # halfway through the ramp (11:40 to 11:50)
    record_event(event("ramp"), status("PreWarming", late=False), ramping)
    labels = {"namespace": "live", "event": "ramp", "kind": "Deployment", "target": "web"}
    floor = value("showtime_target_floor_replicas", **labels)
    assert floor is not None
    assert 0 < floor < 10
    record_event(event("ramp"), status("Scheduled", late=False), START - timedelta(hours=1))
    assert value("showtime_target_floor_replicas", **labels) == 0
    assert value("showtime_event_prewarm_late", namespace="live", event="ramp") == 0


def test_a_lost_sample_removes_the_metric_driven_count_and_forget_clears_all() -> None:
    gone = status("Live", late=False)
    targets = gone["targets"]
    assert isinstance(targets, list)
    del targets[0]["metric"]
    record_event(event("lost"), gone, START + timedelta(minutes=5))
    labels = {"namespace": "live", "event": "lost", "kind": "Deployment", "target": "web"}
    assert value("showtime_target_metric_replicas", **labels) is None
    assert value("showtime_target_floor_replicas", **labels) == 10
    telemetry.forget_event("live", "lost")
    assert value("showtime_target_floor_replicas", **labels) is None
    assert (
        value("showtime_event_next_start_timestamp_seconds", namespace="live", event="lost") is None
    )


def scraped(namespace: str) -> set[str]:
    """The sample lines of ``namespace``'s events in one scrape of the operator's registry."""
    text = generate_latest(telemetry.REGISTRY).decode()
    return {line for line in text.splitlines() if f'namespace="{namespace}"' in line}


def test_a_scrape_shows_each_recorded_event_and_nothing_of_a_forgotten_one() -> None:
    now = START + timedelta(minutes=5)
    for name in ("first", "second", "dropped"):
        observed = ObservedEvent("scrape", name, "uid", 1, event(name).spec)
        record_event(observed, status("Live", late=name == "second"), now)
    telemetry.forget_event("scrape", "dropped")

    lines = scraped("scrape")
    for name in ("first", "second"):
        target = f'event="{name}",kind="Deployment",namespace="scrape",target="web"'
        per_target = f'event="{name}",namespace="scrape",target="web"'
        late = "1.0" if name == "second" else "0.0"
        assert {
            f"showtime_target_desired_replicas{{{target}}} 12.0",
            f"showtime_target_ready_replicas{{{target}}} 9.0",
            f"showtime_target_floor_replicas{{{target}}} 10.0",
            f"showtime_target_metric_replicas{{{target}}} 12.0",
            f"showtime_metric_sample{{{per_target}}} 560.0",
            f"showtime_target_per_replica{{{per_target}}} 50.0",
            f"showtime_target_lead_time_seconds{{{per_target}}} 600.0",
            f"showtime_target_startup_seconds{{{per_target}}} 42.5",
            f'showtime_event_stage{{event="{name}",namespace="scrape",stage="Live"}} 1.0',
            f'showtime_event_stage{{event="{name}",namespace="scrape",stage="Scheduled"}} 0.0',
            f'showtime_event_condition{{condition="MetricsAvailable",event="{name}",'
            'namespace="scrape"} 1.0',
            f'showtime_event_prewarm_late{{event="{name}",namespace="scrape"}} {late}',
            f'showtime_event_next_start_timestamp_seconds{{event="{name}",namespace="scrape"}}'
            " 1.7987184e+09",  # START
        } <= lines
        # 7 stages, 2 known conditions (Ready and TargetsFound are not set), PreWarmLate,
        # the next start, and 8 series of the one target
        assert len([line for line in lines if f'event="{name}"' in line]) == 19
    assert not [line for line in lines if 'event="dropped"' in line]


def test_a_target_gone_from_the_status_leaves_no_series_behind() -> None:
    now = START + timedelta(minutes=5)
    record_event(event("shrunk"), status("Live", late=False), now)
    renamed = status("Live", late=False)
    targets = renamed["targets"]
    assert isinstance(targets, list)
    targets[0]["name"] = "api"
    record_event(event("shrunk"), renamed, now)

    lines = {line for line in scraped("live") if 'event="shrunk"' in line}
    assert not [line for line in lines if 'target="web"' in line]
    assert (
        'showtime_target_desired_replicas{event="shrunk",kind="Deployment",namespace="live",'
        'target="api"} 12.0'
    ) in lines
