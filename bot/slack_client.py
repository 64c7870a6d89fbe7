"""The Slack Web API client: slack_sdk's WebClient, keeping its connections open.

The SDK opens a new connection for every call (to Slack, a TCP and TLS handshake each
time): a modal's views.open pays for one before /text can answer, and the mirror once a
post. Here calls go through a pool of kept-alive connections; everything else (retries,
rate limits, errors, responses) is the SDK's own, fed what urllib would have given it."""

from __future__ import annotations

import http.client
import io
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

import urllib3
from slack_sdk import WebClient

# Threads that call Slack at once: Bolt's lazy listeners and the mirror's posts.
KEPT_CONNECTIONS = 16


class KeepAliveWebClient(WebClient):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.connections = urllib3.PoolManager(
            maxsize=KEPT_CONNECTIONS, ssl_context=self.ssl, retries=False
        )

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if self.proxy is not None:
            return super()._perform_urllib_http_request_internal(url, req)  # type: ignore[no-any-return]
        try:
            response = self.connections.request(
                req.get_method(),
                url,
                body=req.data,  # type: ignore[arg-type]
                headers=dict(req.header_items()),
                timeout=self.timeout,
                retries=False,
                redirect=False,
            )
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise TimeoutError(str(exc)) from exc  # as a read that times out in urllib
        except urllib3.exceptions.ProtocolError as exc:
            # The connection was cut (RemoteDisconnected, ConnectionResetError): raised as
            # itself, as urllib does, so that the SDK's connection retry handler sees it.
            cause = exc.args[1] if len(exc.args) > 1 else None
            raise (cause if isinstance(cause, OSError) else URLError(exc)) from exc
        except urllib3.exceptions.HTTPError as exc:  # no connection could be made
            # The reason as urllib gives it: the socket's error (e.g. connection refused).
            cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
            raise URLError(cause) from exc
        headers = http.client.HTTPMessage()
        for name, value in response.headers.items():
            headers[name] = value
        if response.status >= 400:  # as urllib raises them, for the SDK's error handling
            reason = response.reason or ""
            raise HTTPError(url, response.status, reason, headers, io.BytesIO(response.data))
        if headers.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": headers, "body": response.data}
        body = response.data.decode(headers.get_content_charset() or "utf-8")
        return {"status": response.status, "headers": headers, "body": body}
