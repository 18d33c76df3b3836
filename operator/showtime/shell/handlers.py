"""kopf wiring: start the reconciler loop and poke it when a TrafficEvent changes.

The handlers are deliberately thin. A change to any TrafficEvent only pokes the reconciler
so the next tick comes at once; a deleted one is simply gone from the next tick's snapshot,
and its targets are handed back from what their own annotations say. So Showtime puts no
finalizer on TrafficEvents: without a running operator, deleting one (or its namespace)
never hangs. kopf removes the finalizer that earlier versions added (``FINALIZER``), since
no handler here requires one. All decisions are in the reconciler and the pure core.
Importing this module registers the handlers.

With leader election (``memo["elector"]``) kopf runs on every replica, but writes only on
the leader: those two writes (removing the old finalizer, posting its own Events) follow
leadership (``kopf_writes``), and a replica that becomes leader ticks at once. On shutdown
the reconciler stops first, then the Lease is released for a standby to take at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from showtime.cluster.kube import GROUP, PLURAL, VERSION
from showtime.shell.leadership import LeaderElector
from showtime.shell.reconciler import Reconciler

FINALIZER = "showtime.dev/hand-back"  # added by earlier versions; kopf removes it
# What kopf looks for to remove on a standby: a name no object carries, so it removes none.
STANDBY_FINALIZER = "showtime.dev/standby-removes-nothing"


def kopf_writes(settings: kopf.OperatorSettings, leading: bool) -> None:
    """Let kopf write (remove ``FINALIZER``, post its Events) only while leading."""
    settings.persistence.finalizer = FINALIZER if leading else STANDBY_FINALIZER
    settings.posting.enabled = leading


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="showtime.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="showtime.dev", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # Showtime posts its own Events
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    reconciler: Reconciler = memo["reconciler"]
    elector: LeaderElector | None = memo.get("elector")
    if elector is not None:
        kopf_writes(settings, elector.is_leader())

        def changed(leading: bool) -> None:
            kopf_writes(settings, leading)
            if leading:
                reconciler.poke()  # decide at once from what the cluster says

        elector.on_change(changed)
        memo["election"] = asyncio.create_task(elector.run())
    memo["loop"] = asyncio.create_task(reconciler.run_forever(memo["tick"]))


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    for name in ("loop", "election"):  # no more writes, then no more Lease renewals
        task: asyncio.Task[None] | None = memo.get(name)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    elector: LeaderElector | None = memo.get("elector")
    if elector is not None:
        await elector.release()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def changed(event: Mapping[str, Any], memo: Any, **_: Any) -> None:
    """Tick at once for a new, deleted or edited event; not for our own status writes."""
    body = event.get("object") or {}
    meta = body.get("metadata", {})
    generation = meta.get("generation")
    observed = (body.get("status") or {}).get("observedGeneration")
    reconciler: Reconciler = memo["reconciler"]
    if event.get("type") == "DELETED":
        reconciler.forget(str(meta.get("namespace") or ""), str(meta.get("name") or ""))
    if event.get("type") in (None, "ADDED", "DELETED") or generation != observed:
        reconciler.poke()
