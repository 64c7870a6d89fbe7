"""Twilio webhooks (and the media URLs Twilio fetches): each module exposes its routes, given
the handler dependencies."""

from starlette.routing import Route

from handlers.deps import HandlerDeps
from handlers.twilio import group_texts, inbound, media, status
from handlers.twilio.signature import TwilioSignature


def routes(deps: HandlerDeps, *, auth_token: str, public_url: str) -> list[Route]:
    signature = TwilioSignature(auth_token=auth_token, public_url=public_url)
    return [
        *inbound.routes(deps, signature),
        *group_texts.routes(deps, signature),
        *status.routes(deps, signature),
        *media.routes(deps),
    ]
