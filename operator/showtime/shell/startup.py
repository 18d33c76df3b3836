"""What ``showtime run`` checks and says before it starts: ports and versions.

``port_problem`` tells whether an address and port can be listened on (a metrics or
liveness port that another process holds), as one line naming the variable that changes
it, so the operator stops with that line instead of a traceback from deep inside
prometheus_client or kopf. ``versions`` is what the start-up log line reports: Showtime's
version and those of its runtime dependencies, as installed.

What does not live here: starting the endpoints (``telemetry``, kopf), settings.
"""

from __future__ import annotations

import re
import socket
from importlib.metadata import PackageNotFoundError, requires, version


def port_problem(address: str, port: int, variable: str, what: str) -> str | None:
    """``None`` when ``address:port`` is free to listen on; else one line saying what to do."""
    if port == 0:
        return None
    try:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
            probe.bind((address, port))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return (
            f"cannot listen on {address}:{port} for the {what} ({reason}); "
            f"set {variable} to a free port (0: {'off' if 'liveness' in what else 'any free port'})"
        )
    return None


def versions() -> dict[str, str]:
    """Showtime's installed version and its runtime dependencies', by distribution name."""
    found = {"showtime": _version("showtime")}
    try:
        needed = requires("showtime") or []
    except PackageNotFoundError:
        needed = []
    for requirement in needed:
        if "extra ==" in requirement:
            continue
        name = re.split(r"[<>=!~\[; (]", requirement, maxsplit=1)[0].strip()
        if name:
            found[name] = _version(name)
    return found


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
