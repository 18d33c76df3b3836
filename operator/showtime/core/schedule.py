"""When occurrences of a TrafficEvent happen: one-off starts and cron in an IANA time zone.

An occurrence is ``[start, start + duration)``. For a cron schedule the expression is read
in ``timeZone``; cronsim follows Debian cron on DST days: a time that does not exist on a
spring-forward day (02:30 in Europe/Berlin on the last Sunday of March) fires at the first
valid minute after the gap (03:00), and a time that occurs twice on a fall-back day fires
once, at its first instance. Pure functions; the clock is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronsim import CronSim

from showtime.core.spec import Schedule


@dataclass(frozen=True)
class Occurrence:
    start: datetime
    end: datetime


def relevant_occurrences(
    schedule: Schedule, *, now: datetime, linger: timedelta, count: int = 2
) -> list[Occurrence]:
    """Occurrences that are not yet over at ``now``, earliest first, at most ``count``.

    An occurrence is over once ``end + linger`` has passed (linger is the cooldown), so the
    first element is the one live or cooling down at ``now`` if there is one, else the next
    one to come. A one-off schedule gives at most one occurrence; an empty list means done.
    """
    if schedule.start is not None:
        start = schedule.start.astimezone(UTC)
        end = start + schedule.duration
        return [Occurrence(start, end)] if end + linger > now else []
    assert schedule.cron is not None
    # Any occurrence starting after this instant still has end + linger > now.
    horizon = (now - schedule.duration - linger).astimezone(schedule.zone)
    found: list[Occurrence] = []
    for local_start in CronSim(schedule.cron, horizon):
        start = local_start.astimezone(UTC)
        found.append(Occurrence(start, start + schedule.duration))
        if len(found) >= count:
            break
    return found
