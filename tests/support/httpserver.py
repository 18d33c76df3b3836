"""A local HTTP server for fakes of HTTP services (Prometheus), on 127.0.0.1 and a free port.

``serving(Handler)`` runs a ``ThreadingHTTPServer`` with the given handler class in a daemon
thread and yields its base URL; on exit it stops, closes and joins it. What the server
answers is the handler's business, not this module's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
