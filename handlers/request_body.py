"""Reading a request's body with a size limit, before anything parses or logs it."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The body is over the limit; what was read of it is dropped."""


async def read_body(request: Request, *, limit: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as it is known to be over `limit` bytes:
    from Content-Length before reading anything, else by counting while it streams in."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
