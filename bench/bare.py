"""The baseline app: answers 200 to any POST, served exactly as `textbot serve` serves.

Run: python -m bench.bare PORT
"""

from __future__ import annotations

import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.server import run_server


async def ok(_: Request) -> Response:
    return Response("ok")


app = Starlette(routes=[Route("/{path:path}", ok, methods=["POST"])])

if __name__ == "__main__":
    run_server(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
