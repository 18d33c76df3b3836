"""kopf wiring: start the reconciler loop and poke it when a TrafficEvent changes.

The handlers are deliberately thin. A change to any TrafficEvent only pokes the reconciler
so the next tick comes at once; a deleted one is simply gone from the next tick's snapshot,
and its targets are handed back from what their own annotations say. So Showtime puts no
finalizer on TrafficEvents: without a running operator, deleting one (or its namespace)
never hangs. kopf removes the finalizer that earlier versions added (``FINALIZER``), since
no handler here requires one. All decisions are in the reconciler and the pure core.
Importing this module registers the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from showtime.cluster.kube import GROUP, PLURAL, VERSION
from showtime.shell.reconciler import Reconciler

FINALIZER = "showtime.dev/hand-back"  # added by earlier versions; kopf removes it


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
    memo["loop"] = asyncio.create_task(reconciler.run_forever(memo["tick"]))


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    task: asyncio.Task[None] | None = memo.get("loop")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
