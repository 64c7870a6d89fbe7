"""The dev phone answers only on this machine, unless a setting opens it to others."""

from __future__ import annotations

import ipaddress

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

REMOTE_CLIENT = (
    "The dev phone answers only on the machine running textbot (this request came from "
    "{client}). Open http://127.0.0.1:PORT/phone there, or set DEV_PHONE_ALLOW_REMOTE=true "
    "to let other machines use it.\n"
)
# A loopback client naming another host is how a web page reaches a local server through
# DNS rebinding, so the name must be a local one too.
REMOTE_NAME = (
    "The dev phone answers only when addressed as localhost or 127.0.0.1 (this request "
    "asked for {host}). Set DEV_PHONE_ALLOW_REMOTE=true to allow other names.\n"
)


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    if host_header.startswith("["):  # [::1]:3000
        return host_header[1 : host_header.find("]")]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def refusal(scope: Scope) -> str | None:
    """Why this request may not use the dev phone, or None if it may."""
    client = scope.get("client")
    client_host = client[0] if client else "an unknown address"
    if not is_loopback(client_host):
        return REMOTE_CLIENT.format(client=client_host)
    host = _hostname(Headers(scope=scope).get("host", ""))
    if host and not is_loopback(host):
        return REMOTE_NAME.format(host=host)
    return None


class LoopbackOnly:
    """ASGI middleware: 403 with a plain explanation for anyone but this machine."""

    def __init__(self, app: ASGIApp, *, allow_remote: bool) -> None:
        self.app = app
        self.allow_remote = allow_remote

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = None if self.allow_remote or scope["type"] != "http" else refusal(scope)
        if reason:
            await PlainTextResponse(reason, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)
