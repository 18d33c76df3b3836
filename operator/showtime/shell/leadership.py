"""Leader election among replicas of the operator: one writes, the others stand by.

``LeaderElector`` keeps a coordination.k8s.io/v1 Lease the way client-go's leaderelection
does. Every ``retry_period`` it reads the Lease and, if ``core.leadership.judge`` allows,
writes itself in as holder with the resourceVersion it read (a renewal, or a take-over of a
free or expired Lease); the API server lets only one of two such writes through. A standby
wakes when the hold it watches would run out, so a take-over comes at most one lease
duration after the leader's last renewal was seen, plus one read.

Fencing: this replica counts as leader (``is_leader``) only until ``renew_deadline`` after
the start of its last successful renewal, by its own monotonic clock. A standby takes over
no sooner than ``lease_duration`` after it saw that renewal, so with lease duration >
renew deadline the old leader has stopped writing before the new one starts (the gap, 5 s
with the defaults, covers a write already on the wire). ``FencedGateway`` checks
``is_leader`` right before every write it passes on, whoever calls it (the tick's apply,
its Events, the history keeper); a refused write raises ``NotLeading``.

``AlwaysLeader`` is leadership with election off (one process, ``showtime run`` locally).
What does not live here: the take-over rule (``core.leadership``), the Lease calls
(``cluster.lease``), what kopf may write (``shell.handlers``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from showtime import telemetry
from showtime.cluster.kube import Gateway, Snapshot, WorkloadKey
from showtime.cluster.lease import LeaseApi
from showtime.cluster.requests import GatewayError, NotFound
from showtime.core.leadership import (
    LeaseRecord,
    Verdict,
    claimed,
    expires_in,
    judge,
    lease_record,
    lease_spec,
    released,
)

log = structlog.get_logger("showtime.shell.leadership")

MIN_WAIT_SECONDS = 0.1  # never spin, even right at an expiry


class Leadership(Protocol):
    def is_leader(self) -> bool: ...


class AlwaysLeader:
    """Leader election off: this process is the only one, and always writes."""

    def is_leader(self) -> bool:
        return True


@dataclass(frozen=True)
class ElectionTiming:
    """client-go's three durations, in seconds (defaults: 15, 10, 2)."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("need lease duration > renew deadline > retry period > 0")


class LeaderElector:
    def __init__(
        self,
        api: LeaseApi,
        namespace: str,
        name: str,
        identity: str,
        timing: ElectionTiming = ElectionTiming(),
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.identity = identity
        self.namespace, self.name = namespace, name
        self.timing = timing
        self._api = api
        self._clock = clock
        self._wall = wall
        self._renewed_at: float | None = None  # start of the last successful renewal
        self._seen: LeaseRecord | None = None  # the Lease as last read ...
        self._seen_at: float | None = None  # ... and when it was first read that way
        self._leading = False  # as last reported (gauge, log, listeners)
        self._listeners: list[Callable[[bool], None]] = []
        telemetry.LEADER.labels(identity=identity).set(0)

    # -- asking ----------------------------------------------------------------------------

    def is_leader(self) -> bool:
        """Leader now: renewed less than ``renew_deadline`` ago. Checked before every write."""
        renewed = self._renewed_at
        return renewed is not None and self._clock() - renewed < self.timing.renew_deadline

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(leading)`` whenever this replica becomes or stops being leader."""
        self._listeners.append(listener)

    # -- driving ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Take or renew the Lease for ever; cancel to stop (then ``release``)."""
        log.info(
            "leader election",
            identity=self.identity,
            lease=f"{self.namespace}/{self.name}",
            duration=self.timing.lease_duration,
            renew_deadline=self.timing.renew_deadline,
            retry_period=self.timing.retry_period,
        )
        while True:  # noqa: ASYNC110 (a timed loop: nothing to wait for but the clock)
            await asyncio.sleep(await self.step())

    async def step(self) -> float:
        """One read and, if allowed, one write of the Lease; seconds until the next step."""
        started = self._clock()
        try:
            await asyncio.wait_for(self._attempt(started), self._attempt_timeout())
        except GatewayError as exc:  # a Conflict: someone else wrote first; else no answer
            log.debug("lease not written", error=str(exc))
        except TimeoutError:
            log.warning("lease not written", error="no answer in time")
        except Exception:  # the election must outlive anything one step runs into
            log.exception("lease step failed")
        self.report()
        return self._next_wait()

    async def release(self) -> None:
        """Stop leading and free the Lease, so a standby takes over at its next read."""
        was_leading = self.is_leader()
        self._renewed_at = None  # fenced first: nothing is written from here on
        self.report()
        if not was_leading:
            return
        try:
            lease = await self._api.get_lease(self.namespace, self.name)
            record = lease_record(lease)
            if record.holder == self.identity:
                await self._api.replace_lease(
                    self.namespace,
                    self.name,
                    lease_spec(released(record, self._wall())),
                    str(lease["metadata"]["resourceVersion"]),
                )
                log.info("lease released", identity=self.identity)
        except GatewayError as exc:  # the standby then waits for the hold to run out
            log.warning("lease not released", error=str(exc))

    def report(self) -> None:
        """Tell the gauge, the log and the listeners if leadership changed."""
        leading = self.is_leader()
        if leading == self._leading:
            return
        self._leading = leading
        telemetry.LEADER.labels(identity=self.identity).set(1 if leading else 0)
        change = "acquired" if leading else "lost"
        telemetry.LEADER_TRANSITIONS.labels(identity=self.identity, transition=change).inc()
        log.info(f"leadership {change}", identity=self.identity, holder=self._holder())
        for listener in self._listeners:
            listener(leading)

    # -- one step --------------------------------------------------------------------------

    async def _attempt(self, started: float) -> None:
        duration = self.timing.lease_duration
        try:
            lease = await self._api.get_lease(self.namespace, self.name)
        except NotFound:
            record = claimed(None, self.identity, self._wall(), duration)
            answer = await self._api.create_lease(self.namespace, self.name, lease_spec(record))
            self._won(answer, started)
            return
        record = lease_record(lease)
        now = self._clock()
        if record != self._seen:
            self._seen, self._seen_at = record, now
        if judge(record, self.identity, now, self._seen_at) is Verdict.FOLLOW:
            self._renewed_at = None  # someone else holds it: never write again on an old hold
            return
        mine = claimed(record, self.identity, self._wall(), duration)
        answer = await self._api.replace_lease(
            self.namespace, self.name, lease_spec(mine), str(lease["metadata"]["resourceVersion"])
        )
        self._won(answer, started)

    def _won(self, answer: Mapping[str, Any], started: float) -> None:
        self._renewed_at = started
        self._seen, self._seen_at = lease_record(answer), self._clock()

    def _attempt_timeout(self) -> float:
        return self.timing.renew_deadline / 2

    def _next_wait(self) -> float:
        period = self.timing.retry_period
        seen, seen_at = self._seen, self._seen_at
        if self.is_leader() or seen is None or seen_at is None or not seen.holder:
            return period
        # Someone else's hold: wake when it would run out, if that is sooner.
        return max(MIN_WAIT_SECONDS, min(period, expires_in(seen, self._clock(), seen_at)))

    def _holder(self) -> str:
        return self._seen.holder if self._seen is not None else ""


class NotLeading(GatewayError):  # noqa: N818 (like Conflict, NotFound)
    """A write this replica did not send: it is not the leader (any more)."""


class FencedGateway:
    """A ``Gateway`` whose writes go through only while ``leadership.is_leader()``."""

    def __init__(self, gateway: Gateway, leadership: Leadership) -> None:
        self._gateway = gateway
        self._leadership = leadership

    def _fence(self) -> None:
        if not self._leadership.is_leader():
            raise NotLeading(0, "this replica is not the leader: write not sent", "NotLeading")

    async def snapshot(self) -> Snapshot:
        return await self._gateway.snapshot()

    async def patch_workload(
        self,
        key: WorkloadKey,
        *,
        annotations: Mapping[str, str | None] | None = None,
        replicas: int | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        self._fence()
        return await self._gateway.patch_workload(
            key, annotations=annotations, replicas=replicas, resource_version=resource_version
        )

    async def patch_hpa(
        self,
        namespace: str,
        name: str,
        *,
        min_replicas: int | None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        self._fence()
        return await self._gateway.patch_hpa(
            namespace, name, min_replicas=min_replicas, resource_version=resource_version
        )

    async def patch_status(
        self,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        self._fence()
        return await self._gateway.patch_status(
            namespace, name, status, resource_version=resource_version
        )

    async def create_event(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._fence()
        return await self._gateway.create_event(body)

    async def patch_event(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._fence()
        return await self._gateway.patch_event(namespace, name, patch)

    # Node capacity reservations (H4): fenced like every other write.
    async def create_reservation(
        self, kind: str, namespace: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._fence()
        return await self._gateway.create_reservation(kind, namespace, body)

    async def patch_reservation(
        self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._fence()
        return await self._gateway.patch_reservation(kind, namespace, name, patch)

    async def delete_reservation(self, kind: str, namespace: str, name: str) -> None:
        self._fence()
        await self._gateway.delete_reservation(kind, namespace, name)
