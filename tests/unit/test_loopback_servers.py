"""The loopback servers the fakes and the in-process bot run on answer as promptly as
`textbot serve` does."""

from __future__ import annotations

import asyncio
import socket

from tests.fakes.servers import bind_loopback


def test_connections_to_a_loopback_server_send_without_nagles_delay() -> None:
    # uvicorn serves a bound socket through asyncio's create_server, as here. A connection
    # that keeps Nagle's algorithm holds the second part of an answer (the body after the
    # headers) until the client's delayed ACK of the first: 40 ms a call on a kept-alive
    # connection, which made every Slack post in the tests and benchmarks 40 ms slower.
    async def accepted_connection_nodelay() -> int:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[int] = loop.create_future()

        class Server(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        sock = bind_loopback()
        server = await loop.create_server(Server, sock=sock)
        try:
            _, writer = await asyncio.open_connection(*sock.getsockname())
            nodelay = await asyncio.wait_for(accepted, 5)
            writer.close()
            return nodelay
        finally:
            server.close()

    assert asyncio.run(accepted_connection_nodelay()) != 0
