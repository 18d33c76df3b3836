"""``simulate``: events, a trace, a pod start-up and policy names in; figures out.

Reads TrafficEvent manifests (several per file, one per match of a tournament), picks the
simulated target (``--target``, else the first event's first target), sizes the models
from it (``capacityPerReplica``, the metric's ``targetPerReplica``, min and max), builds
each policy and replays the trace against it. This is the function a benchmark reuses:
``simulate(events, trace, pod_ready=..., policies=[...])``. Printing is in ``report``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import yaml

from showtime.core.observed import WorkloadKey
from showtime.core.schedule import first_start_after
from showtime.core.spec import SpecError, Target, parse_spec
from showtime.simulate.metric import MetricView, range_seconds, trailing_mean
from showtime.simulate.policies import (
    KEDA_CRON_OPENS_BEFORE_SECONDS,
    FixedPolicy,
    HpaPolicy,
    KedaPolicy,
    OraclePolicy,
    Policy,
    Sizing,
    Window,
)
from showtime.simulate.replay import Figures, replay
from showtime.simulate.showtime_policy import ShowtimePolicy, SimEvent
from showtime.simulate.trace import Trace

POLICIES = ("showtime", "hpa", "keda", "fixed", "oracle")
EXTRA_POLICIES = ("showtime-alone",)
MAX_WINDOWS = 100_000  # cron occurrences a KEDA model takes from one event


class SimulationError(ValueError):
    """The events or options cannot be simulated; the message says why."""


@dataclass(frozen=True)
class Simulation:
    target: WorkloadKey
    sizing: Sizing
    floor: int  # the highest floor of the events: the fixed policy's count
    pod_ready: float
    figures: dict[str, Figures]  # by policy name, in the order asked; the oracle always
    metric_window: float = 0.0  # s: the metric's range window (0: the load itself)

    def oracle_ratio(self, name: str) -> float | None:
        oracle = self.figures["oracle"].ready_pod_seconds
        return self.figures[name].ready_pod_seconds / oracle if oracle > 0 else None


def load_events(path: str, text: str | None = None) -> list[SimEvent]:
    """Every TrafficEvent in a YAML file (several documents allowed), parsed."""
    if text is None:
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text()
        except FileNotFoundError:
            raise SimulationError(f"{path}: no such file") from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as exc:
        raise SimulationError(f"{path}: not valid YAML: {exc}") from None
    events = []
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "TrafficEvent":
            continue
        meta = document.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "default")), str(meta.get("name", "?"))
        raw = document.get("spec") or {}
        try:
            spec = parse_spec(raw)
        except SpecError as exc:
            raise SimulationError(f"{path}: TrafficEvent {namespace}/{name}: {exc}") from None
        events.append(SimEvent(namespace, name, raw, spec))
    if not events:
        raise SimulationError(f"{path}: no TrafficEvent found")
    return events


def pick_target(events: Sequence[SimEvent], name: str | None) -> tuple[WorkloadKey, Target]:
    """The simulated target: the one named, else the first event's first target."""
    for event in events:
        for target in event.spec.targets:
            if name is None or target.name == name:
                return (event.namespace, target.kind, target.name), target
    raise SimulationError(f"no event has a target named {name!r}")


def simulate(
    events: Sequence[SimEvent],
    trace: Trace,
    *,
    pod_ready: float,
    policies: Sequence[str] = POLICIES,
    target_name: str | None = None,
    record: bool = False,
    progress: Callable[[float], None] | None = None,
    metric_window: float | None = None,
) -> Simulation:
    """Replay ``trace`` against each policy; ``progress`` gets the share done (0..1).

    ``metric_window``: seconds the metric averages over (Showtime's reactive part and
    KEDA's prometheus trigger see the mean load of that window); None: the longest range
    selector of the target's metric query (``[1m]``: 60 s), 0 without a metric.
    """
    unknown = [p for p in policies if p not in POLICIES + EXTRA_POLICIES]
    if unknown:
        known = ", ".join(POLICIES + EXTRA_POLICIES)
        raise SimulationError(f"unknown policy {', '.join(unknown)} (known: {known})")
    key, target = pick_target(events, target_name)
    if target.capacity_per_replica is None:
        raise SimulationError(
            f"target {target.name} needs capacityPerReplica: the load one Ready replica serves"
        )
    metric = target.metric.target_per_replica if target.metric else target.capacity_per_replica
    sizing = Sizing(target.capacity_per_replica, metric, target.min_replicas, target.max_replicas)
    holding = [e for e in events if e.namespace == key[0]]
    floors = {e.name: _floor(e, key) for e in holding}
    floor = max(floors.values(), default=sizing.min_replicas)
    if metric_window is None:
        metric_window = range_seconds(target.metric.query) if target.metric else 0.0
    metric_trace = trailing_mean(trace, metric_window)
    names = list(dict.fromkeys([*policies, "oracle"]))
    figures: dict[str, Figures] = {}
    for done, name in enumerate(names):
        policy = _policy(name, holding, key, sizing, floor, floors, trace, pod_ready, metric_trace)

        def report(share: float, done: int = done) -> None:
            if progress is not None:
                progress((done + share) / len(names))

        figures[name] = replay(
            trace,
            policy,
            capacity=sizing.capacity,
            pod_ready=pod_ready,
            record=record,
            progress=report,
        )
        failures = getattr(policy, "failures", None)
        if failures:
            raise SimulationError(f"the {name} policy: the operator's core failed: {failures[0]}")
    if progress is not None:
        progress(1.0)
    ordered = {name: figures[name] for name in names if name in policies}
    ordered["oracle"] = figures["oracle"]
    return Simulation(key, sizing, floor, pod_ready, ordered, metric_window)


def _floor(event: SimEvent, key: WorkloadKey) -> int:
    for target in event.spec.targets:
        if (target.kind, target.name) == key[1:]:
            return event.spec.floor_of(target)
    return 0


def _policy(
    name: str,
    events: Sequence[SimEvent],
    key: WorkloadKey,
    sizing: Sizing,
    floor: int,
    floors: dict[str, int],
    trace: Trace,
    pod_ready: float,
    metric: Trace,
) -> Policy:
    """The policy ``name``; the ones reading the event's query see ``metric``."""
    if name == "hpa":
        return HpaPolicy(sizing, trace)
    if name == "keda":
        keda = KedaPolicy(sizing, _cron_windows(events, floors, trace), metric)
        return keda if metric is trace else MetricView(keda, metric)
    if name == "fixed":
        return FixedPolicy(floor)
    if name == "oracle":
        return OraclePolicy(sizing)
    showtime = ShowtimePolicy(
        events,
        key,
        sizing,
        pod_ready=pod_ready,
        with_hpa=name == "showtime",
        trace=metric,
    )
    return showtime if metric is trace else MetricView(showtime, metric)


def _cron_windows(events: Sequence[SimEvent], floors: dict[str, int], trace: Trace) -> list[Window]:
    """KEDA's cron trigger per event: open 10 min before each start, until its end."""
    windows = []
    opens_before = timedelta(seconds=KEDA_CRON_OPENS_BEFORE_SECONDS)
    for event in events:
        if not floors.get(event.name) or event.spec.suspend:
            continue
        schedule = event.spec.schedule
        after = datetime.fromtimestamp(trace.start, UTC) - schedule.duration - opens_before
        until = datetime.fromtimestamp(trace.end, UTC) + opens_before
        for _ in range(MAX_WINDOWS):
            start = first_start_after(schedule, after)
            if start is None or start > until:
                break
            opens = (start - opens_before).timestamp()
            closes = (start + schedule.duration).timestamp()
            windows.append(Window(opens, closes, floors[event.name]))
            after = start
    return windows


class Progress:
    """A one-line progress bar on stderr, shown only once a run takes longer than a moment."""

    def __init__(self, out: TextIO = sys.stderr, after: float = 1.0) -> None:
        self.out = out
        self.after = after
        self.began = time.monotonic()
        self.shown = False

    def __call__(self, share: float) -> None:
        elapsed = time.monotonic() - self.began
        if elapsed < self.after and not self.shown:
            return
        self.shown = True
        filled = int(share * 30)
        bar = "#" * filled + "." * (30 - filled)
        self.out.write(f"\rsimulating [{bar}] {share:4.0%} {elapsed:5.1f}s")
        self.out.flush()

    def close(self) -> None:
        if self.shown:
            self.out.write("\n")
            self.out.flush()
