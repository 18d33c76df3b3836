"""Duration strings as TrafficEvent manifests and settings write them: ``90s``, ``15m``, ``1h30m``.

The grammar is Go's without fractions or days: one or more ``<digits><unit>`` with unit
``h``, ``m``, ``s`` or ``ms``. The CRD schema uses the same regular expression, so what the
API server accepts this module parses. Absurd values (longer than ``LONGEST``, or text
longer than ``MAX_TEXT``) are refused here with a DurationError, never an OverflowError;
the tighter per-field bounds of a TrafficEvent live in ``spec``. Pure functions only.
"""

from __future__ import annotations

import re
from datetime import timedelta

DURATION_PATTERN = r"^([0-9]+(ms|h|m|s))+$"
_PART = re.compile(r"([0-9]+)(ms|h|m|s)")
_WHOLE = re.compile(DURATION_PATTERN)
_UNIT_MS = {"h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
LONGEST = timedelta(days=3650)  # 87600h: no duration Showtime reads means more than 10 years
MAX_TEXT = 64  # characters; the CRD allows 32


class DurationError(ValueError):
    """A string is not a duration such as 90s, 15m, 4h or 1h30m."""


def parse_duration(text: str, *, at_most: timedelta = LONGEST) -> timedelta:
    """Parse ``text`` into a timedelta, or raise DurationError naming the accepted forms.

    A value longer than ``at_most`` (by default ``LONGEST``) is refused with a message
    naming the limit, e.g. ``must be at most 24h``.
    """
    candidate = text.strip()
    if len(candidate) > MAX_TEXT or not _WHOLE.match(candidate):
        raise DurationError(f"{text!r} is not a duration such as 90s, 15m, 4h or 1h30m")
    millis = sum(int(n) * _UNIT_MS[unit] for n, unit in _PART.findall(candidate))
    limit = min(at_most, LONGEST)
    if millis > limit // timedelta(milliseconds=1):
        raise DurationError(f"must be at most {describe_limit(limit)}, not {candidate}")
    return timedelta(milliseconds=millis)


def describe_limit(limit: timedelta) -> str:
    """``744h (31 days)``, ``24h``, ``1h``: a limit as messages and the CRD state it."""
    days = limit // timedelta(days=1)
    exact_days = days >= 2 and limit == timedelta(days=days)
    return format_duration(limit) + (f" ({days} days)" if exact_days else "")


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
