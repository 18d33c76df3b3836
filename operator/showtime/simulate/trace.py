"""A load curve: reading it from a CSV file or a Prometheus range query.

A ``Trace`` is a step function: each point's value holds from its time until the next
point's; the last point lasts as long as the usual spacing between points. Times are Unix
seconds (floats, for a fast replay). Reading checks the file and says exactly what is
wrong and where (the header, a time that does not move forward, a value that is not a
number). No simulation here.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PROMETHEUS_STEP_SECONDS = 60
PROMETHEUS_POINTS_PER_QUERY = 10_000  # Prometheus refuses more than 11,000 per query


class TraceError(ValueError):
    """The trace cannot be read; the message says where and why."""


@dataclass(frozen=True)
class Trace:
    times: Sequence[float]  # Unix seconds, strictly increasing
    values: Sequence[float]  # load from that time until the next point's
    step: float  # how long the last point lasts: the median spacing

    @property
    def start(self) -> float:
        return self.times[0]

    @property
    def end(self) -> float:
        return self.times[-1] + self.step

    def __len__(self) -> int:
        return len(self.times)


def make_trace(points: Iterable[tuple[float, float]], *, source: str = "trace") -> Trace:
    """A trace from ``(unix seconds, value)`` pairs already in order."""
    times: list[float] = []
    values: list[float] = []
    for when, value in points:
        if times and when <= times[-1]:
            raise TraceError(f"{source}: time {_iso(when)} is not after {_iso(times[-1])}")
        if not math.isfinite(value) or value < 0:
            raise TraceError(f"{source}: value {value!r} at {_iso(when)} is not a load >= 0")
        times.append(when)
        values.append(value)
    if not times:
        raise TraceError(f"{source}: no data points")
    spacings = [b - a for a, b in itertools.pairwise(times)]
    step = statistics.median(spacings) if spacings else 60.0
    return Trace(times, values, step)


def parse_time(text: str) -> float:
    """RFC 3339 with an offset or ``Z``, or Unix seconds, as Unix seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (add Z or +02:00)")
    return moment.timestamp()


def read_csv(path: str | Path) -> Trace:
    """Read ``time,value`` (any name for the value column; times RFC 3339 or Unix seconds)."""
    name = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise TraceError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{name}: cannot be read: {exc}") from None
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None:
        raise TraceError(f"{name}: the file is empty; expected a header line time,value")
    if len(header) != 2 or header[0].strip().lower() != "time":
        raise TraceError(
            f"{name}: line 1: the header must be two columns, time and the load "
            f"(e.g. time,value), not {','.join(header)!r}"
        )
    return make_trace(_points(rows, name), source=name)


def _points(rows: Iterable[list[str]], name: str) -> Iterable[tuple[float, float]]:
    previous: float | None = None
    for number, row in enumerate(rows, start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != 2:
            raise TraceError(f"{name}: line {number}: expected 2 columns, found {len(row)}")
        try:
            when = parse_time(row[0])
        except ValueError:
            raise TraceError(
                f"{name}: line {number}: time {row[0]!r} is not RFC 3339 "
                "(e.g. 1998-06-10T15:30:00Z) or Unix seconds"
            ) from None
        try:
            value = float(row[1])
        except ValueError:
            raise TraceError(f"{name}: line {number}: value {row[1]!r} is not a number") from None
        if previous is not None and when <= previous:
            raise TraceError(
                f"{name}: line {number}: time {row[0]} is not after the previous line's "
                f"{_iso(previous)}; the trace must be in time order without repeats"
            )
        if not math.isfinite(value) or value < 0:
            raise TraceError(f"{name}: line {number}: value {row[1]!r} is not a load >= 0")
        previous = when
        yield when, value


def from_prometheus(url: str, query: str, start: float, end: float) -> Trace:
    """The load from a Prometheus range query, one point a minute (in chunks Prometheus takes)."""
    from prometheus_api_client import PrometheusConnect  # only when asked for

    if end <= start:
        raise TraceError("--to must be after --from")
    client = PrometheusConnect(url=url, disable_ssl=True)
    points: dict[float, float] = {}
    chunk = PROMETHEUS_STEP_SECONDS * PROMETHEUS_POINTS_PER_QUERY
    begin = start
    while begin < end:
        until = min(end, begin + chunk)
        try:
            series = client.custom_query_range(
                query,
                start_time=datetime.fromtimestamp(begin, UTC),
                end_time=datetime.fromtimestamp(until, UTC),
                step=str(PROMETHEUS_STEP_SECONDS),
            )
        except Exception as exc:  # the client raises several kinds; all mean the same here
            raise TraceError(f"Prometheus at {url}: {type(exc).__name__}: {exc}") from None
        if len(series) > 1:
            raise TraceError(
                f"the query returns {len(series)} series; wrap it in sum(...) to get one load"
            )
        for when, value in series[0]["values"] if series else []:
            number = float(value)
            if math.isfinite(number):
                points[float(when)] = number
        begin = until + PROMETHEUS_STEP_SECONDS
    if not points:
        raise TraceError(f"the query returned no data between {_iso(start)} and {_iso(end)}")
    return make_trace(sorted(points.items()), source=f"Prometheus at {url}")


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")


def shift_years(trace: Trace, years: int) -> Trace:
    """The same trace ``years`` calendar years later: same dates and times of day.

    Showtime takes event starts from the year 2000 on; an older trace is moved instead
    (28 years keeps the weekdays too: 1998's calendar is 2026's).
    """
    if years == 0:
        return trace
    first, last = trace.times[0], trace.times[-1]
    offsets = {_shifted(first, years) - first, _shifted(last, years) - last}
    if len(offsets) == 1 and last - first < 300 * 86400:  # no 29 February between
        offset = offsets.pop()
        return Trace([t + offset for t in trace.times], trace.values, trace.step)
    return Trace([_shifted(t, years) for t in trace.times], trace.values, trace.step)


def _shifted(when: float, years: int) -> float:
    moment = datetime.fromtimestamp(when, UTC)
    try:
        return moment.replace(year=moment.year + years).timestamp()
    except ValueError:  # 29 February in a year that has none
        raise TraceError(
            f"{_iso(when)} does not exist {years} years later; shift by a multiple of 4"
        ) from None
