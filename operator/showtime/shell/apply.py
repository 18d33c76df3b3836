"""The apply step of a tick: carry out ``Decisions`` through the ``Gateway``.

Targets are written side by side (bounded concurrency), each target's writes in the order
``decide`` gave them; a write the server refuses stops that target's remaining writes, and
a conflict (the object changed since it was read) asks for another tick at once, which
decides again from what the cluster now says. Status patches follow, and beside them the
Events, aggregated by ``events.EventRecorder``. Node capacity reservations (placeholder
Deployments, CapacityBuffers) are created, patched and deleted beside the targets; a
create that finds the name taken asks for another tick.
Nothing is decided here; one object's failed write
never stops another's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import structlog

from showtime.cluster.kube import Conflict, Gateway
from showtime.core.observed import (
    Decisions,
    HpaWrite,
    ReservationWrite,
    StatusWrite,
    TargetAction,
    WorkloadWrite,
)
from showtime.shell.events import EventRecorder

log = structlog.get_logger("showtime.shell.apply")


@dataclass
class ApplyReport:
    writes: int = 0
    status_writes: int = 0
    errors: int = 0
    conflicts: int = 0
    events_posted: int = 0  # Kubernetes Events created or counted up


class Applier:
    """Carries out a tick's decisions. ``report_behind``: the status patches and Events of a
    tick go out while the loop waits for the next one (``reported`` waits for them before
    that tick reads the cluster); off, ``apply`` returns once they are written too."""

    def __init__(
        self,
        gateway: Gateway,
        recorder: EventRecorder,
        write_concurrency: int,
        report_behind: bool = False,
    ) -> None:
        self._gateway = gateway
        self._recorder = recorder
        self._slots = asyncio.Semaphore(write_concurrency)
        self.report_behind = report_behind
        self._reporting: asyncio.Task[None] | None = None

    async def apply(self, decisions: Decisions, report: ApplyReport) -> None:
        await asyncio.gather(
            *(self._target(action, report) for action in decisions.targets),
            *(self._reservation(write, report) for write in decisions.reservations),
        )
        await self.reported()  # never two ticks' status patches at once
        if self.report_behind:
            report.status_writes += len(decisions.statuses)  # sent, answered later
            self._reporting = asyncio.create_task(self._report(decisions, ApplyReport()))
        else:
            await self._report(decisions, report)

    async def reported(self) -> None:
        """Wait for the status patches and Events of the previous tick, if still going."""
        reporting, self._reporting = self._reporting, None
        if reporting is None:
            return
        try:
            await reporting
        except Exception:  # each write handles its own failure; this is a safety net
            log.exception("reporting failed")

    def abandon(self) -> None:
        """Stop what is still being reported (the loop is stopping)."""
        if self._reporting is not None:
            self._reporting.cancel()
            self._reporting = None

    async def _report(self, decisions: Decisions, report: ApplyReport) -> None:
        """Status patches and, beside them, the Events: both only report what was done."""
        statuses = asyncio.gather(*(self._status(write, report) for write in decisions.statuses))
        _, (posted, failed) = await asyncio.gather(statuses, self._recorder.post(decisions.notices))
        report.events_posted += posted
        report.errors += failed

    async def _target(self, action: TargetAction, report: ApplyReport) -> None:
        namespace, kind, name = action.key
        log_ = log.bind(namespace=namespace, target=f"{kind}/{name}")
        for write in action.writes:
            try:
                if isinstance(write, WorkloadWrite):
                    await self._send(
                        self._gateway.patch_workload(
                            write.key,
                            annotations=write.annotations,
                            replicas=write.replicas,
                            resource_version=write.resource_version or None,
                        ),
                        report,
                        kind,
                        "patch",
                    )
                else:
                    await self._send(self._hpa(write), report, "HorizontalPodAutoscaler", "patch")
            except Conflict:
                report.conflicts += 1
                log_.info("changed meanwhile; deciding again", write=type(write).__name__)
                return
            except Exception as exc:  # this target only
                report.errors += 1
                log_.warning("write failed", error=str(exc))
                return
        if action.before != action.after:
            log_.info(
                "scaled",
                before=action.before,
                after=action.after,
                reason=action.reason,
                events=list(action.holders),
            )

    async def _reservation(self, write: ReservationWrite, report: ApplyReport) -> None:
        gateway, kind, namespace, name = self._gateway, write.kind, write.namespace, write.name
        call: Awaitable[Any]
        if write.verb == "create":
            call = gateway.create_reservation(kind, namespace, write.body or {})
        elif write.verb == "patch":
            call = gateway.patch_reservation(kind, namespace, name, write.body or {})
        else:
            call = gateway.delete_reservation(kind, namespace, name)
        try:
            await self._send(call, report, kind, write.verb)
        except Conflict:  # the name is taken (an old one still going): decide again
            report.conflicts += 1
            return
        except Exception as exc:  # this reservation only
            report.errors += 1
            log.warning(
                "reservation not written", kind=kind, namespace=namespace, name=name, error=str(exc)
            )
            return
        log.info("node capacity", verb=write.verb, kind=kind, namespace=namespace, name=name)

    def _hpa(self, write: HpaWrite) -> Awaitable[Any]:
        return self._gateway.patch_hpa(
            write.namespace,
            write.name,
            min_replicas=write.min_replicas,  # None removes the field (merge patch)
            resource_version=write.resource_version or None,
        )

    async def _status(self, write: StatusWrite, report: ApplyReport) -> None:
        try:
            await self._send(
                self._gateway.patch_status(write.namespace, write.name, write.patch),
                report,
                "TrafficEvent",
                "status",
            )
            report.status_writes += 1
        except Exception as exc:
            report.errors += 1
            log.warning(
                "status not written",
                namespace=write.namespace,
                trafficevent=write.name,
                error=str(exc),
            )

    async def _send(self, call: Awaitable[Any], report: ApplyReport, kind: str, verb: str) -> None:
        async with self._slots:
            await call
        report.writes += 1  # counted per kind and verb by the gateway (api_writes_total)
