"""POST /twilio/messages: a customer's text arrives."""

from __future__ import annotations

import logging

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from handlers import texts
from handlers.blocks import contact_label
from handlers.deps import HandlerDeps
from handlers.twilio.signature import TwilioSignature
from models.away import queue_away_reply
from models.conversations import add_notice
from models.inbound import receive_text
from models.optouts import Keyword
from models.phone import try_parse_phone
from models.tables import Line

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _media(form: FormData) -> list[dict[str, str]]:
    count = str(form.get("NumMedia") or "0")
    return [
        {
            "url": str(form.get(f"MediaUrl{i}") or ""),
            "content_type": str(form.get(f"MediaContentType{i}") or ""),
        }
        for i in range(int(count) if count.isdigit() else 0)
        if form.get(f"MediaUrl{i}")
    ]


def routes(deps: HandlerDeps, signature: TwilioSignature) -> list[Route]:
    async def handle_inbound_sms(request: Request) -> Response:
        """Stage the text (committed before we answer), then answer empty TwiML; the
        inbound router puts it in its conversation and the Slack thread shows it shortly
        after."""
        form = await signature.verified_form(request)
        if form is None:
            return PlainTextResponse("invalid signature", status_code=403)
        sid = str(form.get("MessageSid") or form.get("SmsSid") or "")
        to = str(form.get("To") or "")
        sender = str(form.get("From") or "")
        if not sid or not sender or not to:
            return PlainTextResponse("MessageSid, From and To are required", status_code=400)
        await deps.stage_inbound(
            {
                "message_sid": sid,
                "to_number": to,
                "from_number": sender,
                "body": str(form.get("Body") or ""),
                "media": _media(form) or None,
                "messaging_service_sid": str(form.get("MessagingServiceSid") or "") or None,
                "opt_out_type": str(form.get("OptOutType") or "") or None,
            }
        )
        deps.after_inbound_stored()
        try:
            deps.work_queued()
        except Exception:  # the text is stored: never answer 5xx now
            logger.exception("could not wake the workers after inbound %s", sid)
        return Response(EMPTY_TWIML, media_type="text/xml")

    return [Route("/twilio/messages", handle_inbound_sms, methods=["POST"])]


def store_inbound_text(
    session: Session,
    deps: HandlerDeps,
    *,
    line: Line,
    sid: str,
    sender: str,
    body: str,
    media: list[dict[str, str]] | None = None,
    opt_out_type: str | None = None,
) -> bool:
    """Store an inbound text in its conversation, with the notices it calls for (opt-out,
    routing, canceled schedules); False if this MessageSid was stored before. Used by the
    webhook and by the reconciliation that imports texts the webhook missed."""
    received = receive_text(
        session=session,
        line=line,
        from_phone=try_parse_phone(sender, region=deps.default_region) or sender,
        body=body,
        provider_sid=sid,
        media=media,
        opt_out_type=opt_out_type,
        cancel_scheduled_on_reply=deps.cancel_scheduled_on_reply,
    )
    if received is None:
        logger.info("inbound text %s seen before; ignored", sid)
        return False
    who = contact_label(received.contact)
    notices = []
    if received.other_open_conversations:
        notices.append(
            texts.ROUTED_NOTICE.format(
                who=who, others=received.other_open_conversations, line=line.name
            )
        )
    if received.canceled_scheduled:
        notices.append(texts.SCHEDULED_CANCELED_BY_REPLY.format(who=who))
    keyword_notice = _keyword_notice(received.keyword, received.opt_out_changed)
    if keyword_notice:
        notices.append(
            keyword_notice.format(who=who, line=line.name, keyword=received.message.body.strip())
        )
    for notice in notices:
        add_notice(session=session, conversation=received.conversation, text=notice)
    if received.keyword is None:
        queue_away_reply(
            session=session,
            line=line,
            conversation=received.conversation,
            contact=received.contact,
            now=deps.clock(),
        )
    logger.info(
        "inbound text %s stored in conversation %s",
        sid,
        received.conversation.id,
        extra={"message_sid": sid, "conversation_id": received.conversation.id},
    )
    return True


def _keyword_notice(keyword: Keyword | None, changed: bool) -> str | None:
    if keyword == Keyword.STOP and changed:
        return texts.OPTED_OUT_NOTICE
    if keyword == Keyword.START and changed:
        return texts.OPTED_IN_NOTICE
    if keyword == Keyword.HELP:
        return texts.HELP_NOTICE
    return None
