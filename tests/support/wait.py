"""Bounded polling: wait for a condition instead of sleeping and hoping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    """The condition did not hold before the deadline (a test failure, not an error)."""


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float,
    interval: float = 0.5,
    message: str = "condition",
    *,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns a truthy value.

    Returns that value (a predicate returning ``X | None`` yields an ``X``). Raises
    :class:`WaitTimeoutError` naming ``message``, the last value seen and the last
    ignored exception once ``timeout`` seconds have passed. Exceptions of the types
    in ``ignore`` (e.g. ``ApiException`` while an object is being created) count as
    "not yet"; any other exception propagates at once.
    """
    if timeout <= 0 or interval <= 0:
        raise ValueError("timeout and interval must be positive")
    deadline = time.monotonic() + timeout
    last: object = None
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
        except ignore as exc:
            last_error = exc
        else:
            if value:
                return value
            last = value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            detail = f"last value: {last!r}"
            if last_error is not None:
                detail += f"; last ignored error: {last_error!r}"
            raise WaitTimeoutError(f"timed out after {timeout:g}s waiting for {message} ({detail})")
        time.sleep(min(interval, remaining))
