"""Serving an ASGI app on a loopback port from a background thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


def bind_loopback() -> socket.socket:
    """A loopback port for a server. The socket names TCP as its protocol: asyncio turns
    Nagle's algorithm off (TCP_NODELAY) only on connections accepted from such a socket, as
    on those of a server it binds itself. Without it, a kept-alive connection's answer
    written in two parts (headers, then body) waited for the client's delayed ACK: 40 ms a
    call to the fakes, where `textbot serve` (uvicorn binding its own port) answers at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def refusing_port() -> socket.socket:
    """A loopback port that refuses connections for as long as the socket stays open: bound,
    not listening, and not shared (no SO_REUSEADDR), so that no other test's server can take
    it meanwhile, as one could take a port bound and closed again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


class BackgroundServer:
    """uvicorn serving `app` on an already bound socket until stop()."""

    def __init__(self, app: Any, sock: socket.socket | None = None):
        self.sock = sock or bind_loopback()
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
