"""kopf wiring: start the reconciler loop, react to TrafficEvent changes, hand back on delete.

The handlers are deliberately thin. A change to any TrafficEvent only pokes the reconciler
so the next tick comes at once; deleting one runs a tick that treats it as gone (its
targets start going back) before kopf removes the finalizer. All decisions are in the
reconciler and the pure modules it calls. Importing this module registers the handlers.
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

FINALIZER = "showtime.dev/hand-back"


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
def changed(event: Mapping[str, Any], memo: Any, **_: Any) -> None:
    """Tick at once for a new, deleted or edited event; not for our own status writes."""
    body = event.get("object") or {}
    generation = body.get("metadata", {}).get("generation")
    observed = (body.get("status") or {}).get("observedGeneration")
    if event.get("type") in (None, "ADDED", "DELETED") or generation != observed:
        reconciler: Reconciler = memo["reconciler"]
        reconciler.poke()


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def deleted(namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    reconciler: Reconciler = memo["reconciler"]
    namespace = namespace or ""
    await reconciler.release(namespace, name)
    reconciler.forget(namespace, name)
