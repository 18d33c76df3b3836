"""Kubernetes Events, aggregated: one Event per change of state, repeats counted.

``EventRecorder`` posts the core's notices the way client-go's event aggregator does: a
notice of the same object, type and reason within ``window`` of the last one bumps that
Event's ``count`` and ``lastTimestamp`` (and updates its message) instead of creating
another; such notices within one tick are posted once, their messages joined. What it
remembers is only a cache of the Events it posted (lost on restart: then the next repeat
simply starts a new Event).
Deciding which notices exist is the core's business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from showtime.cluster.kube import Gateway
from showtime.cluster.requests import event_body
from showtime.core.observed import Involved, Notice
from showtime.core.timestamps import rfc3339

log = structlog.get_logger("showtime.shell.events")
Key = tuple[str, str, str, str, str]  # namespace, kind, name, type, reason


@dataclass
class _Posted:
    name: str
    count: int
    at: datetime


class EventRecorder:
    def __init__(
        self,
        gateway: Gateway,
        clock: Callable[[], datetime],
        *,
        window: timedelta = timedelta(minutes=10),
        concurrency: int = 16,
    ) -> None:
        self._gateway = gateway
        self._clock = clock
        self._window = window
        self._posted: dict[Key, _Posted] = {}
        self._slots = asyncio.Semaphore(concurrency)

    async def post(self, notices: Iterable[Notice]) -> tuple[int, int]:
        """Post (or count) each distinct notice; returns (Events written, not written)."""
        now = self._clock()
        self._prune(now)
        distinct: dict[Key, tuple[Notice, int]] = {}
        for notice in notices:
            key = _key(notice)
            if key in distinct:
                first, times = distinct[key]
                if notice.message not in first.message:
                    first = Notice(
                        first.involved,
                        first.type,
                        first.reason,
                        f"{first.message}; {notice.message}",
                    )
                distinct[key] = (first, times + 1)
            else:
                distinct[key] = (notice, 1)
        results = await asyncio.gather(
            *(self._one(key, notice, times, now) for key, (notice, times) in distinct.items())
        )
        failed = sum(1 for ok in results if not ok)
        return len(results) - failed, failed

    async def _one(self, key: Key, notice: Notice, times: int, now: datetime) -> bool:
        previous = self._posted.get(key)
        try:
            async with self._slots:
                if previous is not None:
                    count = previous.count + times
                    await self._gateway.patch_event(
                        notice.involved.namespace,
                        previous.name,
                        {
                            "count": count,
                            "lastTimestamp": rfc3339(now),
                            "message": notice.message[:1024],
                        },
                    )
                    self._posted[key] = _Posted(previous.name, count, now)
                    return True
                body = event_body(
                    _involved(notice.involved), notice.type, notice.reason, notice.message, now
                )
                body["count"] = times
                created = await self._gateway.create_event(body)
            name = str((created.get("metadata") or {}).get("name", ""))
            self._posted[key] = _Posted(name, times, now)
            log.info(
                "event",
                object=f"{notice.involved.kind}/{notice.involved.namespace}/{notice.involved.name}",
                type=notice.type,
                reason=notice.reason,
                message=notice.message,
            )
            return True
        except Exception as exc:
            self._posted.pop(key, None)  # start afresh next time
            log.warning("event not posted", reason=notice.reason, error=str(exc))
            return False

    def _prune(self, now: datetime) -> None:
        for key in [k for k, p in self._posted.items() if now - p.at > self._window]:
            del self._posted[key]


def _key(notice: Notice) -> Key:
    i = notice.involved
    return (i.namespace, i.kind, i.name, notice.type, notice.reason)


def _involved(involved: Involved) -> dict[str, Any]:
    return {
        "apiVersion": involved.api_version,
        "kind": involved.kind,
        "name": involved.name,
        "namespace": involved.namespace,
        "uid": involved.uid,
    }
