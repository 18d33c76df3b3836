"""kopf wiring: no finalizer on TrafficEvents, and a deletion only pokes the loop."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

import showtime.shell.handlers as handlers


def test_no_handler_needs_a_finalizer_so_a_stopped_operator_blocks_no_deletion() -> None:
    registry: Any = kopf.get_default_registry()
    changing = list(registry._changing.get_all_handlers())
    spawning = list(registry._spawning.get_all_handlers())
    assert [h for h in changing + spawning if h.requires_finalizer] == []
    # kopf removes the finalizer of earlier versions only if it is still the one it knows.
    assert handlers.FINALIZER == "showtime.dev/hand-back"


class Recorder:
    def __init__(self) -> None:
        self.pokes = 0
        self.forgotten: list[tuple[str, str]] = []

    def poke(self) -> None:
        self.pokes += 1

    def forget(self, namespace: str, name: str) -> None:
        self.forgotten.append((namespace, name))


def test_a_deleted_event_pokes_and_is_forgotten_our_own_status_writes_do_not_poke() -> None:
    changed: Any = handlers.changed  # kopf's decorator types it for kopf's own call
    recorder = Recorder()
    memo = {"reconciler": recorder}
    deleted = {"type": "DELETED", "object": {"metadata": {"namespace": "live", "name": "x"}}}
    asyncio.run(changed(event=deleted, memo=memo))
    assert recorder.pokes == 1
    assert recorder.forgotten == [("live", "x")]
    status_only = {
        "type": "MODIFIED",
        "object": {"metadata": {"generation": 2}, "status": {"observedGeneration": 2}},
    }
    asyncio.run(changed(event=status_only, memo=memo))
    assert recorder.pokes == 1
