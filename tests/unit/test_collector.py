"""Garbage collection between ticks: a tick walks only what it made; cycles still go."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from showtime.shell.collector import Collector


class Node:
    def __init__(self) -> None:
        self.other: Any = self


def test_objects_alive_between_ticks_are_left_out_of_the_collections_in_a_tick() -> None:
    collector = Collector(every=100)
    cache = [{"metadata": {"name": f"pod-{i}"}} for i in range(10_000)]
    try:
        collector.after_tick()
        assert gc.get_freeze_count() >= len(cache)
    finally:
        collector.stop()
    assert gc.get_freeze_count() == 0


def test_cyclic_garbage_is_collected_within_every_ticks() -> None:
    collector = Collector(every=3)
    try:
        cycle = Node()
        gone = weakref.ref(cycle)
        collector.after_tick()  # frozen while alive
        del cycle
        collector.after_tick()
        assert gone() is not None  # frozen: not collected before its turn
        collector.after_tick()  # the third tick: unfreeze and collect everything
        assert gone() is None
    finally:
        collector.stop()
