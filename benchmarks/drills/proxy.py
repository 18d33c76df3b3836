"""A delaying TCP proxy on 127.0.0.1, between the operator and Prometheus (drill R3).

What lives here: ``DelayProxy``, an asyncio server in its own thread that forwards each
connection to ``upstream`` and holds every answer back for ``delay`` seconds (settable
while it runs: 0 passes answers straight through). Requests go upstream at once, so
Prometheus works as usual and only the answer is late, as with an overloaded server.
Bounded: at most ``max_connections`` at a time; the thread ends on ``close``.

What does not: anything beyond 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class DelayProxy:
    def __init__(self, upstream_port: int, *, max_connections: int = 64) -> None:
        self.upstream_port = upstream_port
        self.delay = 0.0
        self.port = 0
        self.connections = 0
        self._limit = max_connections
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._serve, name="delay-proxy", daemon=True)

    def start(self) -> DelayProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("delay proxy did not start")
        return self

    def close(self) -> None:
        """Stop listening, end every open connection, stop the thread."""
        if not self._thread.is_alive():
            return
        done = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        done.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.connections >= self._limit:
            client_w.close()
            return
        self.connections += 1
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            self.connections -= 1
            client_w.close()
            return
        try:
            await asyncio.gather(
                self._pipe(client_r, up_w, delayed=False),
                self._pipe(up_r, client_w, delayed=True),
            )
        finally:
            self.connections -= 1
            for writer in (client_w, up_w):
                writer.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, delayed: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(65536):
                if delayed and self.delay > 0:
                    await asyncio.sleep(self.delay)
                writer.write(chunk)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()
