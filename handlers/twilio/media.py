"""GET /media/{token}: the pictures of outbound MMS, which Twilio fetches from their
MediaUrl. The token is the only key (Twilio sends no credentials): unknown or expired, 404."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from handlers.deps import HandlerDeps
from models.outbound_media import find_served_media

MEDIA_PATH = "/media"


def routes(deps: HandlerDeps) -> list[Route]:
    def find(token: str) -> tuple[bytes, str] | None:
        with deps.read_session() as session:
            media = find_served_media(session=session, token=token, now=deps.clock())
            return None if media is None else (media.content or b"", media.content_type)

    async def handle_media_request(request: Request) -> Response:
        """Twilio fetches a picture to send: its bytes, as the picture type they are."""
        found = await run_in_threadpool(find, request.path_params["token"])
        if found is None:
            return PlainTextResponse("not found", status_code=404)
        content, content_type = found
        return Response(
            content,
            media_type=content_type,
            headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
        )

    return [Route(MEDIA_PATH + "/{token}", handle_media_request, methods=["GET", "HEAD"])]
