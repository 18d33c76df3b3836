"""Kubernetes timestamps: RFC 3339 in UTC with a ``Z``, written and read leniently.

Pure helpers shared by the modules that read timestamps off objects (pods, status) and
write them into status. Durations live in ``durations``.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any


@functools.lru_cache(maxsize=4096)
def rfc3339(moment: datetime) -> str:
    """``2026-12-31T12:00:00Z``; cached, since a tick formats the same instants many times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: Any) -> datetime | None:
    """A timestamp from an object, or None when absent or unreadable (never raises)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
