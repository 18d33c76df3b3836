"""Duration strings as TrafficEvent manifests and settings write them: ``90s``, ``15m``, ``1h30m``.

The grammar is Go's without fractions or days: one or more ``<digits><unit>`` with unit
``h``, ``m``, ``s`` or ``ms``. The CRD schema uses the same regular expression, so what the
API server accepts this module parses. Pure functions only.
"""

from __future__ import annotations

import re
from datetime import timedelta

DURATION_PATTERN = r"^([0-9]+(ms|h|m|s))+$"
_PART = re.compile(r"([0-9]+)(ms|h|m|s)")
_WHOLE = re.compile(DURATION_PATTERN)
_UNIT_MS = {"h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}


class DurationError(ValueError):
    """A string is not a duration such as 90s, 15m, 4h or 1h30m."""


def parse_duration(text: str) -> timedelta:
    """Parse ``text`` into a timedelta, or raise DurationError naming the accepted forms."""
    candidate = text.strip()
    if not _WHOLE.match(candidate):
        raise DurationError(f"{text!r} is not a duration such as 90s, 15m, 4h or 1h30m")
    millis = sum(int(n) * _UNIT_MS[unit] for n, unit in _PART.findall(candidate))
    return timedelta(milliseconds=millis)


def format_duration(value: timedelta) -> str:
    """Render a timedelta the way a person writes it: ``1h30m``, ``45s``, ``0s``."""
    total = int(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    parts.append(f"{seconds}s" if seconds or not (hours or minutes) else "")
    return sign + "".join(parts)
