"""When occurrences of a TrafficEvent happen: one-off starts and cron in an IANA time zone.

An occurrence is ``[start, start + duration)``. For a cron schedule the expression is read
in ``timeZone``; cronsim follows Debian cron on DST days: a time that does not exist on a
spring-forward day (02:30 in Europe/Berlin on the last Sunday of March) fires at the first
valid minute after the gap (03:00), and a time that occurs twice on a fall-back day fires
once, at its first instance (so on that day, iterating from an instant in the repeated hour
can give a start before it: ``first_start_after`` and ``latest_start_at_or_before`` check
what cronsim gives against the instant). Pure functions; the clock is an argument. Arithmetic on
instants saturates at the ends of the calendar (``shifted``) instead of overflowing, and a
cron that fires no more (or only past the year 9999) simply has no further occurrence.
How occurrences become floors and stages lives in ``planner``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from cronsim import CronSim

from showtime.core.spec import Schedule

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_MAX_STEPS = 100  # cron steps spent setting cronsim's answer straight on a DST day


@dataclass(frozen=True)
class Occurrence:
    start: datetime
    end: datetime


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, or the first or last representable instant if that overflows."""
    try:
        return moment + delta
    except OverflowError:
        return LATEST if delta > timedelta(0) else EARLIEST


def occurrence_at(schedule: Schedule, start: datetime) -> Occurrence:
    return Occurrence(start, shifted(start, schedule.duration))


def latest_start_at_or_before(schedule: Schedule, instant: datetime) -> datetime | None:
    """The start of the last occurrence starting at or before ``instant`` (UTC), if any."""
    if schedule.start is not None:
        start = schedule.start.astimezone(UTC)
        return start if start <= instant else None
    # cronsim in reverse yields starts strictly before its (whole-second) argument; on a
    # fall-back day it can miss one in the repeated hour, which the walk forward finds.
    after = shifted(instant.replace(microsecond=0), _SECOND)
    earlier = islice(_cron_starts(schedule, after, reverse=True), _MAX_STEPS)
    latest = next((s for s in earlier if s <= instant), None)
    if latest is None:
        return None
    for start in islice(_cron_starts(schedule, latest, reverse=False), _MAX_STEPS):
        if start > instant:
            break
        latest = max(latest, start)
    return latest


def first_start_after(schedule: Schedule, instant: datetime) -> datetime | None:
    """The start of the first occurrence starting strictly after ``instant`` (UTC), if any."""
    if schedule.start is not None:
        start = schedule.start.astimezone(UTC)
        return start if start > instant else None
    later = islice(_cron_starts(schedule, instant, reverse=False), _MAX_STEPS)
    return next((s for s in later if s > instant), None)


def _cron_starts(schedule: Schedule, instant: datetime, *, reverse: bool) -> Iterator[datetime]:
    """cronsim's starts (UTC) from ``instant`` on; ends quietly where cronsim gives up."""
    assert schedule.cron is not None
    try:
        for local in CronSim(schedule.cron, instant.astimezone(schedule.zone), reverse=reverse):
            yield local.astimezone(UTC)
    except (OverflowError, ValueError):
        # Only beyond the ends of the calendar. (No firing within cronsim's 50-year horizon
        # ends the iteration as StopIteration does.)
        return


def relevant_occurrences(
    schedule: Schedule,
    *,
    now: datetime,
    lead_time: timedelta,
    cooldown: timedelta,
) -> list[Occurrence]:
    """The occurrences that decide what an event wants at ``now``, earliest first.

    Each occurrence asks for a floor that rises before ``start - leadTime``, is full from
    there to its end, and decays over the cooldown after it; all occurrences of an event
    share that shape. So however many overlap (a cron firing every minute, cooling down for
    a day, has over a thousand in play), the highest floor and the stage come from at most
    four of them, found in four steps of the cron:

    - the last to start at or before ``now``: live, or cooling down and the last to end;
    - the last to start at or before ``now + leadTime``: full floor unless it has ended;
    - the first to start after ``now``: the next one, pre-warming or scheduled;
    - the first to start after ``now + leadTime``: the one ramping up, if any.

    Occurrences already released (``end + cooldown <= now``) are left out, so an empty list
    means the schedule is done.
    """
    horizon = shifted(now, lead_time)
    starts = {
        latest_start_at_or_before(schedule, now),
        latest_start_at_or_before(schedule, horizon),
        first_start_after(schedule, now),
        first_start_after(schedule, horizon),
    }
    found = [occurrence_at(schedule, start) for start in sorted(s for s in starts if s)]
    return [o for o in found if shifted(o.end, cooldown) > now]
