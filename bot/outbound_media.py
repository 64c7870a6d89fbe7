"""Pictures out as MMS: fetched from Slack with the bot token when their text is sent, kept
in the database, and served to Twilio (which fetches each MediaUrl itself) at an
unguessable URL under PUBLIC_URL."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

import requests

from bot.db import Database
from bot.sms_gateway import SendFailed
from handlers.twilio.media import MEDIA_PATH
from models.outbound_media import (
    MAX_MMS_BYTES,
    MediaRefused,
    check_picture,
    find_message_media,
    keep_media_available,
    sniff_picture_type,
    store_media_content,
)
from models.tables import Delivery
from models.types import utcnow

logger = logging.getLogger(__name__)

# Where Slack keeps the files people share: the bot token goes there and nowhere else (and
# to the host of SLACK_API_URL: a proxy, a test server).
SLACK_FILE_HOSTS = ("files.slack.com",)


class FileUnavailable(Exception):
    """Slack will not give the file (deleted, not shared with the bot, not Slack's URL)."""


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


class SlackFiles:
    """Downloads shared files with the bot token (scope files:read)."""

    def __init__(self, *, token: str, api_url: str, timeout: float = 10.0):
        self._token = token
        self._hosts = {*SLACK_FILE_HOSTS, _host(api_url)}
        self._timeout = timeout

    def fetch(self, url: str) -> tuple[bytes, str]:
        """(content, content type) of a file at its url_private(_download); FileUnavailable
        for a URL off Slack's file host, a file Slack refuses, or one past Twilio's limit;
        requests' exceptions when Slack could not be reached."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or _host(url) not in self._hosts:
            raise FileUnavailable(f"the file is on {_host(url) or 'no host'}, not Slack's")
        with requests.get(
            url,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=self._timeout,
            stream=True,
        ) as response:
            if response.status_code in (401, 403, 404, 410):
                raise FileUnavailable(f"Slack answered {response.status_code} for the file")
            response.raise_for_status()
            content = b""
            for chunk in response.iter_content(64 * 1024):
                content += chunk
                if len(content) > MAX_MMS_BYTES:
                    raise FileUnavailable(
                        f"the file is larger than {MAX_MMS_BYTES // (1024 * 1024)} MB"
                    )
            return content, response.headers.get("Content-Type", "")


class OutboundPictures:
    """The MediaUrl list of a delivery: its message's pictures, fetched from Slack once
    (the bytes stay with the message, so a retry or a send settled after a crash gives
    Twilio the same URLs), whose URLs answer for another day from each send."""

    def __init__(
        self,
        *,
        database: Database,
        fetch: Callable[[str], tuple[bytes, str]],
        public_url: str,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.database = database
        self.fetch = fetch
        self.clock = clock
        self.base_url = public_url.rstrip("/") + MEDIA_PATH

    def urls_for(self, delivery: Delivery) -> list[str]:
        """Raises SendFailed (permanent: the picture cannot go; transient: Slack could not be
        reached) so that nothing is sent without its picture."""
        with self.database.read_session() as session:
            media = find_message_media(session=session, message_id=delivery.message_id)
        if not media:
            return []
        for item in media:
            if item.content is not None:
                continue
            label = item.name or "the picture"
            if not item.source_url:
                raise SendFailed(f"{label} could not be fetched from Slack", transient=False)
            try:
                content, _ = self.fetch(item.source_url)
            except FileUnavailable as exc:
                raise SendFailed(f"{label} could not be fetched: {exc}", transient=False) from exc
            except requests.RequestException as exc:
                raise SendFailed(
                    f"could not fetch {label} from Slack: {exc}", transient=True
                ) from exc
            content_type = sniff_picture_type(content)
            try:
                check_picture(name=label, content_type=content_type or "", size=len(content))
            except MediaRefused as refused:
                reason = str(refused)
                if content_type is None and content.lstrip()[:1] == b"<":
                    # Slack's sign-in page: the token may not read files.
                    reason = f"Slack did not give {label} (is files:read granted?)"
                raise SendFailed(reason, transient=False) from refused
            with self.database.session() as session, session.begin():
                store_media_content(
                    session=session,
                    media_id=item.id or 0,
                    content=content,
                    content_type=content_type or "",
                    now=self.clock(),
                )
        with self.database.session() as session, session.begin():
            keep_media_available(session=session, message_id=delivery.message_id, now=self.clock())
        return [f"{self.base_url}/{item.token}" for item in media]
