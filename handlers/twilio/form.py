"""Reading a Twilio webhook's form: Twilio posts small application/x-www-form-urlencoded
bodies in UTF-8; anything else is refused with a 4xx before it is parsed further."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from handlers.request_body import BodyTooLarge, read_body

# An inbound text is at most 1,600 characters and 10 media URLs, a few KB once encoded.
MAX_WEBHOOK_BYTES = 64 * 1024
# Twilio sends a few dozen fields (two more per attachment).
MAX_WEBHOOK_FIELDS = 200
FORM_TYPE = "application/x-www-form-urlencoded"


class RefusedWebhook(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_form(request: Request) -> FormData:
    """The posted fields (repeated keys kept), or RefusedWebhook."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise RefusedWebhook(415, f"a Twilio webhook is a form post ({FORM_TYPE})")
    try:
        body = await read_body(request, limit=MAX_WEBHOOK_BYTES)
    except BodyTooLarge:
        raise RefusedWebhook(413, f"the body is over {MAX_WEBHOOK_BYTES} bytes") from None
    try:
        fields = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_WEBHOOK_FIELDS,
        )
    except UnicodeDecodeError:
        raise RefusedWebhook(400, "the form is not UTF-8") from None
    except ValueError:
        raise RefusedWebhook(400, f"the form has over {MAX_WEBHOOK_FIELDS} fields") from None
    pairs: list[tuple[str, str | UploadFile]] = list(fields)
    return FormData(pairs)


def text_field(form: FormData, *names: str) -> str:
    """The first of the fields that is set, as text without NUL characters (no phone sends
    one, and PostgreSQL can store none)."""
    for name in names:
        value = form.get(name)
        if value:
            return str(value).replace("\x00", "")
    return ""


_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII digits only: str.isdigit() also takes "²"


def number_field(form: FormData, name: str, *, maximum: int) -> int | None:
    """The field as a whole number from 0 to `maximum`; None if absent or empty."""
    text = str(form.get(name) or "")
    if not text:
        return None
    if not _DIGITS.fullmatch(text) or int(text) > maximum:
        raise RefusedWebhook(400, f"{name} must be a whole number from 0 to {maximum}")
    return int(text)
