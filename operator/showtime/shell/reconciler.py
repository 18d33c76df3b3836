"""The tick: read the cluster, ask the planner, write only what differs.

Every tick starts from what the cluster says (TrafficEvents with their status, workloads
with Showtime's annotations, HPAs, and pods for learning lead times), so a
restarted operator carries on exactly where the last one stopped. The decisions come from
the pure modules (``planner``, ``targets``, ``status``); this module only gathers their
inputs, evaluates each distinct metric query once, and applies their outputs through a
``Gateway``. It holds no state a restart would need: its caches (parsed specs, learned
lead times) are rebuilt from the cluster.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from showtime import telemetry
from showtime.cluster.kube import (
    GROUP,
    KIND,
    VERSION,
    Gateway,
    Snapshot,
    WorkloadKey,
    involved_object,
)
from showtime.core.leadtime import LeadTime, learn_lead_time, pod_time_to_ready
from showtime.core.planner import (
    HOLDING_STAGES,
    EventPlan,
    Reason,
    Stage,
    effective_lead_time,
    plan_event,
    wish_for,
)
from showtime.core.spec import SpecError, TrafficEventSpec, parse_spec
from showtime.core.status import (
    MetricReport,
    StatusInput,
    TargetReport,
    build_status,
    settle_status,
)
from showtime.core.targets import (
    ALL_ANNOTATIONS,
    Claim,
    HandBackState,
    HpaView,
    Mode,
    TargetDecision,
    TargetView,
    decide_target,
)
from showtime.core.timestamps import parse_timestamp
from showtime.sources.metricsource import (
    FailureReason,
    MetricFailure,
    MetricResult,
    MetricSource,
    Sample,
)

log = structlog.get_logger("showtime.shell.reconciler")
EventKey = tuple[str, str]  # (namespace, name)
QUERYING_STAGES = HOLDING_STAGES | {Stage.SCHEDULED}


@dataclass
class TickReport:
    events: int = 0
    queries: int = 0
    writes: int = 0
    status_writes: int = 0
    errors: int = 0
    seconds: float = 0.0


@dataclass
class _Event:
    obj: dict[str, Any]
    namespace: str
    name: str
    spec: TrafficEventSpec | None = None
    error: str | None = None
    plan: EventPlan | None = None
    deleting: bool = False
    reports: list[TargetReport] = field(default_factory=list)

    @property
    def status(self) -> dict[str, Any]:
        value: dict[str, Any] = self.obj.get("status") or {}
        return value

    @property
    def involved(self) -> dict[str, Any]:
        return involved_object(self.obj, kind=KIND, api_version=f"{GROUP}/{VERSION}")


def pod_owner(pod: Mapping[str, Any]) -> WorkloadKey | None:
    """The Deployment or StatefulSet a pod belongs to, from its owner reference."""
    meta = pod.get("metadata", {})
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "ReplicaSet" and "-" in ref.get("name", ""):
            return (meta.get("namespace", ""), "Deployment", ref["name"].rsplit("-", 1)[0])
        if ref.get("kind") == "StatefulSet":
            return (meta.get("namespace", ""), "StatefulSet", ref.get("name", ""))
    return None


class Reconciler:
    def __init__(
        self,
        gateway: Gateway,
        metrics: MetricSource,
        *,
        default_lead_time: timedelta,
        clock: Callable[[], datetime],
        write_concurrency: int = 16,
        query_budget: timedelta = timedelta(seconds=8),
    ) -> None:
        self._gateway = gateway
        self._metrics = metrics
        self._default_lead = default_lead_time
        self._clock = clock
        self._query_budget = query_budget
        self._writes = asyncio.Semaphore(write_concurrency)
        self._lock = asyncio.Lock()
        self._poke = asyncio.Event()
        self._specs: dict[tuple[str, int], TrafficEventSpec | SpecError] = {}
        self._lead_times: dict[WorkloadKey, LeadTime] = {}
        self._gauged: dict[EventKey, Any] = {}  # what the gauges show, to skip no-op updates

    # -- driving ---------------------------------------------------------------------------

    def poke(self) -> None:
        """Ask for a tick now (a TrafficEvent changed)."""
        self._poke.set()

    async def run_forever(self, interval: timedelta) -> None:
        while True:
            try:
                report = await self.tick()
                log.debug("tick", **report.__dict__)
            except Exception:  # the loop must survive anything one tick runs into
                log.exception("tick failed")
            try:
                await asyncio.wait_for(self._poke.wait(), timeout=interval.total_seconds())
                await asyncio.sleep(0.2)  # gather a burst of changes into one tick
            except TimeoutError:
                pass
            self._poke.clear()

    async def release(self, namespace: str, name: str) -> TickReport:
        """Tick as if the event were gone: hand-back of its targets starts now."""
        return await self.tick(releasing={(namespace, name)})

    async def tick(self, releasing: Iterable[EventKey] = ()) -> TickReport:
        async with self._lock:
            started = time.perf_counter()
            report = TickReport()
            await self._tick(report, set(releasing))
            report.seconds = time.perf_counter() - started
            telemetry.TICK_DURATION.observe(report.seconds)
            return report

    # -- one tick --------------------------------------------------------------------------

    async def _tick(self, report: TickReport, releasing: set[EventKey]) -> None:
        now = self._clock()
        # Pods come from a watch-fed cache: learning lead times every tick costs little
        # and a new workload's start-up is known at once.
        snap = await self._gateway.snapshot()
        self._learn_lead_times(snap.pods)
        events = [self._load_event(obj, releasing) for obj in snap.events]
        self._forget_old_specs(snap.events)
        report.events = len(events)
        for event in events:
            self._plan(event, now)
        results = await self._query_metrics(events, report)
        claims = self._claims(events, snap, results)
        await self._apply_targets(snap, claims, events, now, report)
        await self._write_statuses(events, now, report)

    def _load_event(self, obj: dict[str, Any], releasing: set[EventKey]) -> _Event:
        meta = obj.get("metadata", {})
        event = _Event(obj, meta.get("namespace", ""), meta.get("name", ""))
        event.deleting = bool(meta.get("deletionTimestamp")) or (
            (event.namespace, event.name) in releasing
        )
        key = (str(meta.get("uid")), int(meta.get("generation") or 0))
        parsed = self._specs.get(key)
        if parsed is None:
            try:
                parsed = parse_spec(obj.get("spec"))
            except SpecError as exc:
                parsed = exc
            self._specs[key] = parsed
        if isinstance(parsed, SpecError):
            event.error = str(parsed)
        else:
            event.spec = parsed
        return event

    def _forget_old_specs(self, objects: list[dict[str, Any]]) -> None:
        """Keep parsed specs only for the (uid, generation) pairs the cluster still has."""
        live = {
            (
                str(o.get("metadata", {}).get("uid")),
                int(o.get("metadata", {}).get("generation") or 0),
            )
            for o in objects
        }
        for key in [k for k in self._specs if k not in live]:
            del self._specs[key]

    def _plan(self, event: _Event, now: datetime) -> None:
        if event.spec is None:
            return
        learned = {
            t.key: self._learned(event.namespace, t.kind, t.name) for t in event.spec.targets
        }
        lead = effective_lead_time(event.spec, learned, self._default_lead)
        started = None
        start_at = parse_timestamp(event.status.get("nextStart"))
        prewarm_at = parse_timestamp(event.status.get("prewarmAt"))
        if start_at is not None and prewarm_at is not None:
            started = (start_at, prewarm_at)
        event.plan = plan_event(event.spec, now=now, lead_time=lead, prewarm_started=started)

    def _learned(self, namespace: str, kind: str, name: str) -> timedelta | None:
        found = self._lead_times.get((namespace, kind, name))
        return found.value if found is not None and found.learned else None

    def _learn_lead_times(self, pods: list[dict[str, Any]]) -> None:
        durations: dict[WorkloadKey, list[timedelta]] = {}
        for pod in pods:
            owner = pod_owner(pod)
            took = pod_time_to_ready(pod) if owner is not None else None
            if owner is not None and took is not None:
                durations.setdefault(owner, []).append(took)
        self._lead_times = {
            key: learn_lead_time(values, default=self._default_lead)
            for key, values in durations.items()
        }

    async def _query_metrics(
        self, events: list[_Event], report: TickReport
    ) -> Mapping[str, MetricResult]:
        queries: set[str] = set()
        for event in events:
            if event.spec is None or event.plan is None or event.deleting:
                continue
            if event.plan.stage in QUERYING_STAGES:
                queries.update(t.metric.query for t in event.spec.targets if t.metric)
        report.queries = len(queries)
        if not queries:
            return {}
        try:
            return await asyncio.wait_for(
                self._metrics.query(sorted(queries)), self._query_budget.total_seconds()
            )
        except TimeoutError:
            # A hanging Prometheus must not stall the tick: every query counts as timed out.
            failure = MetricFailure(
                FailureReason.TIMEOUT,
                f"no answer within the tick's budget of {self._query_budget.total_seconds():g}s",
            )
            return dict.fromkeys(queries, failure)

    def _claims(
        self, events: list[_Event], snap: Snapshot, results: Mapping[str, MetricResult]
    ) -> dict[WorkloadKey, list[Claim]]:
        claims: dict[WorkloadKey, list[Claim]] = {}
        for event in events:
            spec, plan = event.spec, event.plan
            if spec is None or plan is None:
                continue
            previous = {
                (t.get("kind"), t.get("name")): t.get("desiredReplicas")
                for t in event.status.get("targets") or []
            }
            query_invalid = any(
                isinstance(results.get(t.metric.query), MetricFailure)
                and results[t.metric.query].reason is FailureReason.QUERY_INVALID  # type: ignore[union-attr]
                for t in spec.targets
                if t.metric
            )
            for target in spec.targets:
                key = (event.namespace, target.kind, target.name)
                workload = snap.workloads.get(key)
                result = results.get(target.metric.query) if target.metric else None
                metric = _metric_report(target.metric.query, result) if target.metric else None
                floor_now = plan.floors.get(target.key)
                desired, reason = 0, Reason.NONE
                holds = plan.holding and floor_now is not None and not query_invalid
                if holds and workload is not None and not event.deleting:
                    assert floor_now is not None
                    last = previous.get((target.kind, target.name))
                    wish = wish_for(
                        target,
                        floor_now,
                        sample_value=result.value if isinstance(result, Sample) else None,
                        metric_failed=isinstance(result, MetricFailure),
                        last_desired=last if isinstance(last, int) else None,
                    )
                    desired, reason = wish.desired, wish.reason
                    claims.setdefault(key, []).append(
                        Claim(
                            event.name,
                            wish.desired,
                            wish.reason,
                            spec.scale_down.stabilization_window,
                            spec.scale_down.max_percent_per_minute,
                        )
                    )
                status = (workload or {}).get("status", {})
                event.reports.append(
                    TargetReport(
                        kind=target.kind,
                        name=target.name,
                        found=workload is not None,
                        mode=(Mode.HPA if key in snap.hpas else Mode.REPLICAS).value,
                        desired=desired,
                        ready=int(status.get("readyReplicas") or 0),
                        reason=reason,
                        floor=spec.floor_of(target),
                        metric=metric,
                    )
                )
        return claims

    async def _apply_targets(
        self,
        snap: Snapshot,
        claims: dict[WorkloadKey, list[Claim]],
        events: list[_Event],
        now: datetime,
        report: TickReport,
    ) -> None:
        by_name = {(e.namespace, e.name): e for e in events}
        keys = set(claims)
        for key, workload in snap.workloads.items():
            annotations = workload.get("metadata", {}).get("annotations") or {}
            if any(name in annotations for name in ALL_ANNOTATIONS):
                keys.add(key)
        jobs = []
        for key in keys:
            found = snap.workloads.get(key)
            if found is None:
                continue
            workload = found
            view = _target_view(workload, snap.hpas.get(key))
            decision = decide_target(view, claims.get(key, []), now=now)
            holders = [by_name[(key[0], c.event)] for c in claims.get(key, [])]
            jobs.append(self._apply_one(key, workload, view, decision, holders, report))
        await asyncio.gather(*jobs)

    async def _apply_one(
        self,
        key: WorkloadKey,
        workload: dict[str, Any],
        view: TargetView,
        decision: TargetDecision,
        holders: list[_Event],
        report: TickReport,
    ) -> None:
        annotations = workload.get("metadata", {}).get("annotations") or {}
        current = {k: annotations[k] for k in ALL_ANNOTATIONS if k in annotations}
        wanted: dict[str, str | None]
        if decision.state is not None:
            wanted = dict(decision.state.to_annotations())
            wanted.update({k: None for k in current if k not in wanted})
        else:
            wanted = {k: None for k in current}
        annotate = wanted != {k: current.get(k) for k in wanted} and bool(wanted)
        namespace, kind, name = key
        log_ = log.bind(namespace=namespace, target=f"{kind}/{name}")
        try:
            if annotate and decision.state is not None:
                await self._write(
                    self._gateway.patch_annotations(key, wanted), report, kind, "annotate"
                )
            if decision.write is not None:
                before = view.hpa.min_replicas if view.hpa is not None else view.replicas
                if decision.mode is Mode.HPA and view.hpa is not None:
                    await self._write(
                        self._gateway.set_hpa_min_replicas(
                            namespace, view.hpa.name, decision.write
                        ),
                        report,
                        "HorizontalPodAutoscaler",
                        "patch",
                    )
                    what = f"HPA {view.hpa.name} minReplicas of {kind}/{name}"
                else:
                    await self._write(
                        self._gateway.scale(key, decision.write), report, kind, "scale"
                    )
                    what = f"{kind}/{name}"
                message = f"{what}: {before} → {decision.write} ({decision.reason.value})"
                log_.info(
                    "scaled",
                    before=before,
                    after=decision.write,
                    reason=decision.reason.value,
                    events=[f"{h.namespace}/{h.name}" for h in holders],
                )
                await self._announce(workload, holders, "Scaled", message, kind, report)
                if decision.capped_by_hpa and view.hpa is not None:
                    cap = (
                        f"{what}: desired {decision.desired} is above the HPA's maxReplicas "
                        f"{view.hpa.max_replicas}; capped"
                    )
                    for holder in holders:
                        await self._post(holder.involved, "Warning", "HPACapped", cap, report)
            if annotate and decision.state is None:
                await self._write(
                    self._gateway.patch_annotations(key, wanted), report, kind, "annotate"
                )
        except Exception as exc:  # one target's failure must not stop the others
            report.errors += 1
            log_.warning("write failed", error=str(exc))

    async def _announce(
        self,
        workload: dict[str, Any],
        holders: list[_Event],
        reason: str,
        message: str,
        kind: str,
        report: TickReport,
    ) -> None:
        if holders:
            for holder in holders:
                await self._post(holder.involved, "Normal", reason, message, report)
        else:
            target = involved_object(workload, kind=kind, api_version="apps/v1")
            await self._post(target, "Normal", "HandBack", message, report)

    async def _write(self, call: Awaitable[None], report: TickReport, kind: str, verb: str) -> None:
        async with self._writes:
            await call
        report.writes += 1
        telemetry.API_WRITES.labels(kind=kind, verb=verb).inc()

    async def _post(
        self, involved: Mapping[str, Any], type_: str, reason: str, message: str, report: TickReport
    ) -> None:
        try:
            async with self._writes:
                await self._gateway.post_event(involved, type_, reason, message)
        except Exception as exc:
            report.errors += 1
            log.warning("event not posted", reason=reason, error=str(exc))

    async def _write_statuses(
        self, events: list[_Event], now: datetime, report: TickReport
    ) -> None:
        async def one(event: _Event) -> None:
            log_ = log.bind(namespace=event.namespace, event=event.name)
            generation = int(event.obj.get("metadata", {}).get("generation") or 0)
            new, notices = build_status(
                event.status,
                StatusInput(generation, event.plan, event.error, tuple(event.reports)),
                now=now,
            )
            new = settle_status(event.status, new, now=now)
            self._record_gauges(event, new)
            try:
                if any(new.get(k) != event.status.get(k) for k in new):
                    await self._write(
                        self._gateway.patch_status(event.namespace, event.name, new),
                        report,
                        KIND,
                        "status",
                    )
                    report.status_writes += 1
                for notice in notices:
                    log_.info(
                        "event", type=notice.type, reason=notice.reason, message=notice.message
                    )
                    await self._post(
                        event.involved, notice.type, notice.reason, notice.message, report
                    )
            except Exception as exc:
                report.errors += 1
                log_.warning("status not written", error=str(exc))

        await asyncio.gather(*(one(e) for e in events if not e.deleting))

    def _record_gauges(self, event: _Event, status: Mapping[str, Any]) -> None:
        shown = (status.get("phase"), status.get("targets"))
        if self._gauged.get((event.namespace, event.name)) == shown:
            return
        self._gauged[(event.namespace, event.name)] = shown
        telemetry.set_event_stage(event.namespace, event.name, str(status.get("phase")))
        for target in status.get("targets") or []:
            name = str(target.get("name"))
            telemetry.set_target_replicas(
                event.namespace,
                event.name,
                str(target.get("kind")),
                name,
                desired=int(target.get("desiredReplicas") or 0),
                ready=int(target.get("readyReplicas") or 0),
            )
            metric = target.get("metric")
            value = metric.get("value") if metric is not None else None
            telemetry.set_metric_sample(event.namespace, event.name, name, value)

    def forget(self, namespace: str, name: str) -> None:
        """Drop what the gauges show for a deleted event."""
        self._gauged.pop((namespace, name), None)
        telemetry.forget_event(namespace, name)


def _metric_report(query: str, result: MetricResult | None) -> MetricReport:
    if isinstance(result, Sample):
        return MetricReport(query, value=result.value, timestamp=result.timestamp)
    if isinstance(result, MetricFailure):
        return MetricReport(
            query, failure_reason=result.reason.value, failure_message=result.message
        )
    return MetricReport(query)


def _target_view(workload: dict[str, Any], hpa: dict[str, Any] | None) -> TargetView:
    meta = workload.get("metadata", {})
    spec = workload.get("spec", {})
    hpa_view = None
    if hpa is not None:
        hpa_spec = hpa.get("spec", {})
        hpa_view = HpaView(
            name=hpa["metadata"]["name"],
            min_replicas=int(hpa_spec.get("minReplicas") or 1),
            max_replicas=int(hpa_spec.get("maxReplicas") or 1),
        )
    replicas = spec.get("replicas")
    return TargetView(
        replicas=int(replicas if replicas is not None else 1),
        hpa=hpa_view,
        handback=HandBackState.from_annotations(meta.get("annotations") or {}),
    )
