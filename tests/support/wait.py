"""Bounded polling: wait for a condition instead of sleeping and hoping.

What lives here: ``wait_for`` (poll until true) and ``wait_settled`` (poll until a value
stops changing). What does not: anything that knows about Kubernetes objects.
"""

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


def wait_settled(
    read: Callable[[], T],
    *,
    quiet: float,
    timeout: float,
    interval: float = 0.5,
    message: str = "value",
    accept: Callable[[T], bool] = lambda _: True,
) -> T:
    """Poll ``read`` until it has returned the same value for ``quiet`` seconds; return it.

    For assertions about what happens *next* (a sequence of counts or phases): they must
    start from a settled system, not from one still moving (a rate window still sliding,
    a controller still catching up). ``accept`` adds a condition on the settled value
    (e.g. "at least 16"); a value it refuses never counts as settled.
    """
    if quiet <= 0:
        raise ValueError("quiet must be positive")
    current: list[tuple[T, float]] = []  # (value, monotonic time it was first seen)

    def settled() -> tuple[T] | None:
        value = read()
        now = time.monotonic()
        if not current or current[0][0] != value:
            current[:] = [(value, now)]
        since = current[0][1]
        return (value,) if accept(value) and now - since >= quiet else None

    try:
        found = wait_for(settled, timeout=timeout, interval=interval, message=message)
    except WaitTimeoutError:
        seen = (
            f"last {current[0][0]!r}, unchanged for {time.monotonic() - current[0][1]:.1f}s"
            if current
            else "nothing read"
        )
        raise WaitTimeoutError(
            f"timed out after {timeout:g}s waiting for {message} to settle "
            f"(unchanged for {quiet:g}s; {seen})"
        ) from None
    return found[0]
