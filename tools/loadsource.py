"""A synthetic load source for tests and demos: a counter whose rate follows a profile.

What lives here: the rate-profile model and its exact integral (pure functions:
``parse_profile``, ``rate_at``, ``integral``), ``LoadCounter`` (a monotonic counter that
survives profile replacement), a stdlib ``ThreadingHTTPServer`` serving ``GET /metrics``
(Prometheus text format, ``http_requests_total{<labels>}``), ``GET /profile`` and
``PUT /profile``, Prometheus file_sd registration, and the CLI
(``python -m tools.loadsource``).

What does not: anything the operator itself runs, and anything that listens beyond
127.0.0.1. Test helpers that drive it as a subprocess live in ``tests/support``.

A profile is a list of segments, relative to the moment it is set::

    [{"at": 0, "rate": 100}, {"at": 60, "rate": 1000, "ramp": 30}]

means 100/s from now, from t=60s ramping linearly to 1000/s over 30s, then holding.
``{"rate": 500}`` is a constant. Before the first segment's ``at`` (and as the start of
its ramp) the rate is the ``initial`` rate: the previous profile's rate at the switch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, Final

__all__ = [
    "LoadCounter",
    "Profile",
    "Segment",
    "integral",
    "main",
    "parse_profile",
    "rate_at",
    "render_metrics",
]

METRIC: Final = "http_requests_total"
_MAX_BODY: Final = 64 * 1024
_MAX_SEGMENTS: Final = 1000


@dataclass(frozen=True)
class Segment:
    """From ``at`` seconds, move linearly to ``rate``/s over ``ramp`` seconds, then hold."""

    at: float
    rate: float
    ramp: float = 0.0


@dataclass(frozen=True)
class Profile:
    """Segments sorted by ``at``, not overlapping; ``initial`` is the rate before the first."""

    segments: tuple[Segment, ...]
    initial: float = 0.0

    def to_json(self) -> list[dict[str, float]]:
        return [{"at": s.at, "rate": s.rate, "ramp": s.ramp} for s in self.segments]


def parse_profile(raw: Any, *, initial: float = 0.0) -> Profile:
    """Validate a JSON profile (a list of segments, or ``{"rate": r}``); ValueError if bad."""
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
        raise ValueError("profile must be a non-empty list of segments or {'rate': r}")
    if len(items) > _MAX_SEGMENTS:
        raise ValueError(f"profile has more than {_MAX_SEGMENTS} segments")
    segments: list[Segment] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"segment {i} must be an object, got {item!r}")
        unknown = set(item) - {"at", "rate", "ramp"}
        if unknown:
            raise ValueError(f"segment {i} has unknown fields {sorted(unknown)}")
        if "rate" not in item:
            raise ValueError(f"segment {i} needs a rate")
        at = _number(item.get("at", 0), f"segment {i} at")
        rate = _number(item["rate"], f"segment {i} rate")
        ramp = _number(item.get("ramp", 0), f"segment {i} ramp")
        if at < 0 or rate < 0 or ramp < 0:
            raise ValueError(f"segment {i}: at, rate and ramp must be >= 0")
        if segments:
            prev = segments[-1]
            if at < prev.at + prev.ramp:
                raise ValueError(
                    f"segment {i} starts at {at}s, before segment {i - 1} ends its ramp "
                    f"at {prev.at + prev.ramp}s"
                )
        segments.append(Segment(at=at, rate=rate, ramp=ramp))
    init = _number(initial, "initial rate")
    if init < 0:
        raise ValueError("initial rate must be >= 0")
    return Profile(segments=tuple(segments), initial=init)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _pieces(profile: Profile) -> list[tuple[float, float, float, float]]:
    """The rate as linear pieces ``(t0, t1, r0, r1)`` covering ``[0, inf)``."""
    pieces: list[tuple[float, float, float, float]] = []
    t, r = 0.0, profile.initial
    for seg in profile.segments:
        if seg.at > t:
            pieces.append((t, seg.at, r, r))
        end = seg.at + seg.ramp
        if end > seg.at:  # not `ramp > 0`: a tiny ramp can vanish in float rounding
            pieces.append((seg.at, end, r, seg.rate))
        t, r = end, seg.rate
    pieces.append((t, math.inf, r, r))
    return pieces


def rate_at(profile: Profile, t: float) -> float:
    """The profile's rate (per second) ``t`` seconds after it was set."""
    for t0, t1, r0, r1 in _pieces(profile):
        if t < t1:
            if t <= t0 or math.isinf(t1):
                return r0
            return r0 + (r1 - r0) * (t - t0) / (t1 - t0)
    return profile.segments[-1].rate  # unreachable: the last piece is open-ended


def integral(profile: Profile, t: float) -> float:
    """Exact count of events in ``[0, t]`` seconds after the profile was set."""
    total = 0.0
    for t0, t1, r0, r1 in _pieces(profile):
        if t <= t0:
            break
        span = min(t, t1) - t0
        # the trapezoid under the piece up to t (exact for a linear rate); a fraction, not
        # a slope, so that a vanishingly short ramp cannot overflow
        part = 0.0 if math.isinf(t1) else span / (t1 - t0)
        total += span * (r0 + (r0 + (r1 - r0) * part)) / 2
    return total


class LoadCounter:
    """A thread-safe counter whose rate follows a replaceable profile; never decreases."""

    def __init__(self, profile: Profile, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._profile = profile
        self._since = clock()
        self._base = 0.0

    def value(self) -> float:
        with self._lock:
            return self._base + integral(self._profile, self._clock() - self._since)

    def rate(self) -> float:
        with self._lock:
            return rate_at(self._profile, self._clock() - self._since)

    def profile(self) -> Profile:
        with self._lock:
            return self._profile

    def elapsed(self) -> float:
        with self._lock:
            return self._clock() - self._since

    def replace(self, raw: Any) -> Profile:
        """Switch to a new profile (JSON form) from now; the count carries over."""
        with self._lock:
            now = self._clock()
            elapsed = now - self._since
            profile = parse_profile(raw, initial=rate_at(self._profile, elapsed))
            self._base += integral(self._profile, elapsed)
            self._profile, self._since = profile, now
            return profile


def render_metrics(counter: LoadCounter, labels: Mapping[str, str]) -> str:
    """Prometheus text exposition of the counter (and its current rate, for debugging)."""
    lbl = "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"
    return (
        f"# HELP {METRIC} Synthetic requests, the integral of the load profile.\n"
        f"# TYPE {METRIC} counter\n"
        f"{METRIC}{lbl} {counter.value()!r}\n"
        "# HELP loadsource_rate_per_second Rate the load profile prescribes right now.\n"
        "# TYPE loadsource_rate_per_second gauge\n"
        f"loadsource_rate_per_second{lbl} {counter.rate()!r}\n"
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def parse_labels(text: str) -> dict[str, str]:
    """``"a=b,c=d"`` → ``{"a": "b", "c": "d"}``; label names must be Prometheus-valid."""
    labels: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        valid = name and (name[0].isalpha() or name[0] == "_")
        if not sep or not valid or not all(c.isalnum() or c == "_" for c in name):
            raise ValueError(f"bad label {part!r}: want name=value")
        if name.startswith("__"):
            raise ValueError(f"label {name!r} is reserved")
        labels[name] = value.strip()
    return labels


def make_server(
    counter: LoadCounter, labels: Mapping[str, str], port: int = 0
) -> ThreadingHTTPServer:
    """A loopback HTTP server for ``counter`` (not yet serving)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "showtime-loadsource/1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep stdout/stderr quiet: stdout carries only LISTENING

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, render_metrics(counter, labels), "text/plain; version=0.0.4")
            elif path == "/profile":
                self._send_json(200, _describe(counter))
            else:
                self._send(404, "not found\n", "text/plain")

        def do_PUT(self) -> None:
            if self.path.split("?", 1)[0] != "/profile":
                self._send(404, "not found\n", "text/plain")
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                if not 0 < length <= _MAX_BODY:
                    raise ValueError(f"body must be 1..{_MAX_BODY} bytes")
                counter.replace(json.loads(self.rfile.read(length)))
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                self._send_json(400, {"error": str(exc)})
                return
            self._send_json(200, _describe(counter))

        def _send_json(self, code: int, body: object) -> None:
            self._send(code, json.dumps(body) + "\n", "application/json")

        def _send(self, code: int, text: str, ctype: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def _describe(counter: LoadCounter) -> dict[str, Any]:
    profile = counter.profile()
    return {
        "profile": profile.to_json(),
        "initial": profile.initial,
        "elapsed": counter.elapsed(),
        "rate": counter.rate(),
        "count": counter.value(),
    }


def write_sd_file(directory: Path, name: str, port: int) -> Path:
    """Atomically write a Prometheus file_sd target file ``directory/name.json``."""
    path = directory / f"{name}.json"
    tmp = directory / f".{name}.json.tmp"  # not matched by *.json while half-written
    targets = [{"targets": [f"127.0.0.1:{port}"], "labels": {"loadsource": name}}]
    tmp.write_text(json.dumps(targets) + "\n")
    os.replace(tmp, path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.loadsource",
        description="Serve http_requests_total on 127.0.0.1 with a rate that follows a profile.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--labels", default="", help="name=value,... on the counter")
    parser.add_argument("--profile", default='{"rate": 0}', help="JSON profile")
    parser.add_argument("--register", type=Path, help="file_sd directory to register in")
    parser.add_argument("--name", help="file_sd file name (default loadsource-<port>)")
    args = parser.parse_args(argv)
    try:
        labels = parse_labels(args.labels)
        counter = LoadCounter(parse_profile(json.loads(args.profile)))
    except ValueError as exc:
        parser.error(str(exc))
    if args.register is not None and not args.register.is_dir():
        parser.error(f"--register {args.register}: not a directory")
    if args.name is not None and (not args.name or "/" in args.name or args.name.startswith(".")):
        parser.error(f"--name {args.name!r}: want a plain file name")

    server = make_server(counter, labels, args.port)
    port = server.server_address[1]
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    serving = threading.Thread(target=server.serve_forever, name="loadsource", daemon=True)
    serving.start()
    sd_file: Path | None = None
    try:
        if args.register is not None:
            sd_file = write_sd_file(args.register, args.name or f"loadsource-{port}", port)
        print(f"LISTENING {port}", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        if sd_file is not None:
            sd_file.unlink(missing_ok=True)
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
