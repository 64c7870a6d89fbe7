"""A fake Slack Web API on loopback: answers the methods the bot calls, records every call,
keeps the channels' messages, and can be told to fail (e.g. 429 with Retry-After).

It behaves as a workspace where the app was installed from manifest.yml: the bot token has
the manifest's scopes (in the `x-oauth-scopes` header, as Slack sends them) unless a test
takes some away, and knows the channels a test adds with `add_channel`; a channel id it was
not told of is a public channel the bot is in.

It is as strict as Slack: a message or view outside Block Kit's limits is refused
(`invalid_blocks`, `invalid_arguments`: see block_kit_limits), a post in a channel the bot
has not joined answers `not_in_channel`, an archived one `is_archived`, a private one the
bot is not in `channel_not_found`. Messages people type are kept as Slack keeps them:
`text` HTML-escaped, with a `rich_text` block. A trigger (see `issue_trigger_id`) opens a
view within 3 seconds of the request that brought it, else views.open answers
`expired_trigger_id`; views.update with the hash of an older version answers
`hash_conflict`."""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.fakes.block_kit_limits import message_problems, view_problems

TEAM_ID = "T0TEST"
BOT_USER_ID = "U0BOT"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
BOT_NAME = "textbot"
MANIFEST = Path(__file__).parents[2] / "manifest.yml"


def slack_escape(typed: str) -> str:
    """What Slack puts in a message's `text` for what a person typed: the three characters
    of its markup escaped as HTML entities."""
    return typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rich_text_block(typed: str) -> dict[str, Any]:
    """The rich_text block Slack's composer adds to a message: the text as typed."""
    return {
        "type": "rich_text",
        "block_id": "typed",
        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": typed}]}],
    }


TRIGGER_SECONDS = 3  # how long Slack lets a trigger open a view
_triggers = itertools.count(1)


def issue_trigger_id(now: float | None = None) -> str:
    """A trigger_id as Slack puts in a command or an interaction, which records when it was
    issued (the fake checks its age, as Slack does)."""
    issued_ms = round((time.time() if now is None else now) * 1000)
    return f"{next(_triggers)}.{issued_ms}.trigger"


def trigger_age(trigger_id: str, now: float | None = None) -> float | None:
    """Seconds since the trigger was issued; None for one not issued by issue_trigger_id."""
    parts = str(trigger_id).split(".")
    if len(parts) != 3 or parts[2] != "trigger" or not parts[1].isdigit():
        return None
    return (time.time() if now is None else now) - int(parts[1]) / 1000


def manifest_bot_scopes() -> set[str]:
    return set(yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"])


@dataclass
class SlackCall:
    method: str
    params: dict[str, Any]
    answer: dict[str, Any] | None = None  # what the fake answered, once it has


@dataclass
class ChannelMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    updates: int = 0
    username: str | None = None
    reactions: list[str] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None

    @property
    def all_text(self) -> str:
        """The fallback text and every text in the blocks, for assertions."""
        return self.text + "\n" + json.dumps(self.blocks)

    def shown(self) -> list[ShownText]:
        """The texts the post shows: a catch-up post's each (its section, and the context
        below it for the rest), any other post as one."""
        metadata = self.metadata
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        payload = (metadata or {}).get("event_payload") or {}
        if "message_ids" not in payload:
            return [ShownText(self.text, self.all_text, self.thread_ts)]
        pairs = zip(self.blocks[0::2], self.blocks[1::2], strict=True)
        return [
            ShownText(section["text"]["text"], json.dumps(context), self.thread_ts)
            for section, context in pairs
        ]


@dataclass(frozen=True)
class ShownText:
    """One text as a thread shows it."""

    text: str
    all_text: str
    thread_ts: str | None


@dataclass
class FakeChannel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    is_archived: bool = False


@dataclass
class Refusal:
    """A call the fake refused as Slack would, for its payload."""

    method: str
    error: str
    problems: list[str]


_MESSAGE_METHODS = {"chat.postMessage", "chat.update", "chat.postEphemeral"}
_VIEW_METHODS = {"views.open", "views.update", "views.push", "views.publish"}
_POSTING_METHODS = {"chat.postMessage", "chat.postEphemeral"}


@dataclass
class _Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[SlackCall] = []
        self.messages: dict[tuple[str, str], ChannelMessage] = {}
        self.responses: list[dict[str, Any]] = []  # what was posted to response_urls
        self.usergroups: dict[str, list[str]] = {}
        self.admins: set[str] = set()
        self.display_names: dict[str, str] = {}  # user id: the display name in their profile
        self.scopes: set[str] = manifest_bot_scopes()
        self.channels: dict[str, FakeChannel] = {}
        self.refusals: list[Refusal] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._held: dict[str, threading.Event] = {}
        self._delays: dict[str, float] = {}
        self.trigger_seconds: float = TRIGGER_SECONDS
        self.views: dict[str, dict[str, Any]] = {}  # view id: the view as last opened or updated
        self.socket_acks: list[dict[str, Any]] = []
        self.uploads: dict[str, bytes] = {}
        # Files people shared (add_file): id -> (file object, content); and the
        # Authorization header of every request to download one.
        self.shared_files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self.file_downloads: list[tuple[str, str | None]] = []
        self._files = itertools.count(1)
        self._socket_outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self._lock = threading.Lock()
        self.url = ""  # set when served
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/response/{key}", self._response_url, methods=["POST"]),
                Route("/upload/{file_id}", self._upload, methods=["POST"]),
                Route("/files-pri/{team_file}/{name}", self._download, methods=["GET"]),
                Route("/files-pri/{team_file}/download/{name}", self._download, methods=["GET"]),
                WebSocketRoute("/socket", self._socket),
            ]
        )

    # --- scripting and inspection -------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, key: str = "r") -> str:
        return f"{self.url}/response/{key}"

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        error: str = "ratelimited",
    ) -> None:
        headers = {"Retry-After": str(retry_after)} if status == 429 else {}
        with self._lock:
            self._failures.setdefault(method, []).extend(
                [_Failure(status, {"ok": False, "error": error}, headers)] * times
            )

    def hold(self, method: str) -> threading.Event:
        """Answer calls to `method` only once the returned event is set (the calls are
        recorded when they arrive): shows whether a caller waits for that answer."""
        release = threading.Event()
        with self._lock:
            self._held[method] = release
        return release

    def delay(self, method: str, seconds: float) -> None:
        """Answer calls to `method` only after `seconds` (a slow Slack): a caller that
        waits for it before views.open outlasts the trigger."""
        with self._lock:
            self._delays[method] = seconds

    def methods_called(self) -> list[str]:
        """The methods called so far, in the order they were called."""
        with self._lock:
            return [c.method for c in self.calls]

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        private: bool = False,
        member: bool = True,
        archived: bool = False,
    ) -> FakeChannel:
        channel = FakeChannel(channel_id, name, private, member, archived)
        with self._lock:
            self.channels[channel_id] = channel
        return channel

    def take_refusals(self) -> list[Refusal]:
        """The payloads refused so far (a test that provokes them takes them, so that the
        fixture's check at the end does not report them)."""
        with self._lock:
            taken, self.refusals = self.refusals, []
        return taken

    def calls_to(self, method: str) -> list[SlackCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[ChannelMessage]:
        with self._lock:
            return sorted(
                (
                    m
                    for m in self.messages.values()
                    if m.channel == channel and m.thread_ts == thread_ts
                ),
                key=lambda m: float(m.ts),
            )

    def channel_messages(self, channel: str) -> list[ChannelMessage]:
        """Every message in the channel, its threads' replies too, in the order posted (one
        pass, for tests that look at thousands)."""
        with self._lock:
            found = [m for m in self.messages.values() if m.channel == channel]
        return sorted(found, key=lambda m: float(m.ts))

    def top_level(self, channel: str) -> list[ChannelMessage]:
        with self._lock:
            return sorted(
                (m for m in self.messages.values() if m.channel == channel and m.thread_ts is None),
                key=lambda m: float(m.ts),
            )

    # --- the API ------------------------------------------------------------------------
    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        raw = await request.body()
        if raw:
            if request.headers.get("content-type", "").startswith("application/json"):
                params.update(json.loads(raw))
            else:
                params.update(parse_qsl(raw.decode()))
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        params = await self._params(request)
        call = SlackCall(method, params)
        with self._lock:
            self.calls.append(call)
            queue = self._failures.get(method)
            failure = queue.pop(0) if queue else None
            release = self._held.get(method)
            delay = self._delays.get(method, 0)
        while release is not None and not release.is_set():
            await asyncio.sleep(0.01)
        if delay:
            await asyncio.sleep(delay)
        if failure:
            call.answer = failure.body
            return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)
        response = await self._answer(request, method, params)
        call.answer = json.loads(bytes(response.body))
        return response

    async def _answer(self, request: Request, method: str, params: dict[str, Any]) -> Response:
        if method == "apps.connections.open":
            if request.headers.get("authorization") != f"Bearer {APP_TOKEN}":
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            return JSONResponse({"ok": True, "url": self.url.replace("http", "ws") + "/socket"})
        if request.headers.get("authorization") != f"Bearer {BOT_TOKEN}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method"})
        with self._lock:
            scopes = ",".join(sorted(self.scopes))
        answer = self._refusal(method, params) or handler(params)
        return JSONResponse(answer, headers={"x-oauth-scopes": scopes})

    def _refusal(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """Slack's answer to a payload it does not take, or to a post where the bot may not
        post; None when the call may go ahead."""
        if method in _MESSAGE_METHODS:
            if method != "chat.update" and not params.get("text") and not params.get("blocks"):
                return {"ok": False, "error": "no_text"}
            problems = message_problems(params.get("blocks"), params.get("text"))
            if problems:
                error = "msg_too_long" if problems[0].startswith("text:") else "invalid_blocks"
                with self._lock:
                    self.refusals.append(Refusal(method, error, problems))
                return {"ok": False, "error": error, "errors": problems}
        if method in _VIEW_METHODS:
            problems = view_problems(params.get("view"))
            if problems:
                with self._lock:
                    self.refusals.append(Refusal(method, "invalid_arguments", problems))
                return {
                    "ok": False,
                    "error": "invalid_arguments",
                    "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]},
                }
        if method in _POSTING_METHODS:
            return self._channel_refusal(str(params.get("channel", "")))
        return None

    def _channel_refusal(self, channel_id: str) -> dict[str, Any] | None:
        with self._lock:
            channel = self.channels.get(channel_id)
        if channel is None or (channel.is_member and not channel.is_archived):
            return None
        if channel.is_private and not channel.is_member:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "is_archived"}
        return {"ok": False, "error": "not_in_channel"}

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://test.slack.com/",
            "team": "Test",
            "team_id": TEAM_ID,
            "user": BOT_NAME,
            "user_id": BOT_USER_ID,
            "bot_id": "B0BOT",
        }

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        age = trigger_age(str(params.get("trigger_id", "")))
        if age is not None and age > self.trigger_seconds:
            return {"ok": False, "error": "expired_trigger_id"}
        view = dict(params["view"])
        view["id"] = f"V{next(self._views):08d}"
        view["hash"] = f"{time.monotonic_ns()}.h"
        with self._lock:
            self.views[view["id"]] = view
        return {"ok": True, "view": view}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = str(params.get("view_id", ""))
        with self._lock:
            shown = self.views.get(view_id)
            if shown is None:  # a view the test made up: taken as it is
                return {"ok": True, "view": params.get("view")}
            if params.get("hash") and params["hash"] != shown["hash"]:
                return {"ok": False, "error": "hash_conflict"}
            view = {**params["view"], "id": view_id, "hash": f"{time.monotonic_ns()}.h"}
            self.views[view_id] = view
        return {"ok": True, "view": view}

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params["channel"]
        ts = self._next_ts()
        message = ChannelMessage(
            channel=channel,
            ts=ts,
            text=params.get("text", ""),
            blocks=params.get("blocks") or [],
            thread_ts=params.get("thread_ts"),
            username=params.get("username"),
            metadata=params.get("metadata"),
        )
        with self._lock:
            self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": message.text}}

    def _listed(self, message: ChannelMessage, params: dict[str, Any]) -> dict[str, Any]:
        listed: dict[str, Any] = {"type": "message", "ts": message.ts, "text": message.text}
        if message.thread_ts:
            listed["thread_ts"] = message.thread_ts
        if message.metadata and params.get("include_all_metadata") in ("1", "true", True):
            listed["metadata"] = message.metadata
        return listed

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages, newest first, in one page (`oldest` is not applied: the
        fake's timestamps are not times)."""
        newest_first = reversed(self.top_level(params["channel"]))
        return {"ok": True, "messages": [self._listed(m, params) for m in newest_first]}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        """The thread's parent and its replies, oldest first, in one page."""
        channel, ts = params["channel"], params["ts"]
        with self._lock:
            parent = self.messages.get((channel, ts))
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        thread = [parent, *self.thread(channel, ts)]
        return {"ok": True, "messages": [self._listed(m, params) for m in thread]}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (params["channel"], params["ts"])
        with self._lock:
            message = self.messages.get(key)
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message.text = params.get("text", message.text)
            message.blocks = params.get("blocks") or message.blocks
            message.updates += 1
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            message = self.messages.get((params["channel"], params["timestamp"]))
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            if params["name"] in message.reactions:
                return {"ok": False, "error": "already_reacted"}
            message.reactions.append(params["name"])
        return {"ok": True}

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._files):08d}"
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = (
            params["files"] if isinstance(params["files"], list) else json.loads(params["files"])
        )
        shared = []
        with self._lock:
            for item in files:
                content = self.uploads.get(item["id"])
                if content is None:
                    return {"ok": False, "error": "file_not_found"}
                shared.append({"id": item["id"], "title": item.get("title"), "size": len(content)})
            # A shared file shows as a message of its own in the thread.
            ts = self._next_ts()
            self.messages[(params["channel_id"], ts)] = ChannelMessage(
                channel=params["channel_id"],
                ts=ts,
                text="",
                blocks=[],
                thread_ts=params.get("thread_ts"),
                files=shared,
            )
        return {"ok": True, "files": shared}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("usergroup", "")
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.usergroups[group]}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = params.get("user", "")
        admin = user in self.admins
        real_name = user.title()
        profile = {"display_name": self.display_names.get(user, ""), "real_name": real_name}
        return {
            "ok": True,
            "user": {
                "id": user,
                "name": user.lower(),
                "real_name": real_name,
                "profile": profile,
                "is_admin": admin,
                "is_owner": False,
            },
        }

    def _usergroups_list(self, params: dict[str, Any]) -> dict[str, Any]:
        groups = [{"id": g, "handle": g.lower(), "name": f"Group {g}"} for g in self.usergroups]
        return {"ok": True, "usergroups": groups}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": params.get("view")}

    def _conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        """A bot joins public channels only (channels:join); not archived ones."""
        channel_id = str(params.get("channel", ""))
        with self._lock:
            known = self.channels.get(channel_id)
            if channel_id.startswith(("G", "D")) or (known is not None and known.is_private):
                return {"ok": False, "error": "method_not_supported_for_channel_type"}
            if known is not None and known.is_archived:
                return {"ok": False, "error": "is_archived"}
            if "channels:join" not in self.scopes:
                return {"ok": False, "error": "missing_scope", "needed": "channels:join"}
            if known is not None:
                known.is_member = True
        return {"ok": True, "channel": {"id": channel_id}}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            channel = self.channels.get(params.get("channel", ""))
            scopes = set(self.scopes)
        # Like Slack, a private channel is invisible to a bot that is not in it.
        if channel is None or (channel.is_private and not channel.is_member):
            return {"ok": False, "error": "channel_not_found"}
        needed = "groups:read" if channel.is_private else "channels:read"
        if needed not in scopes:
            return {
                "ok": False,
                "error": "missing_scope",
                "needed": needed,
                "provided": ",".join(sorted(scopes)),
            }
        return {
            "ok": True,
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": not channel.is_private,
                "is_group": channel.is_private,
                "is_private": channel.is_private,
                "is_archived": channel.is_archived,
                "is_member": channel.is_member,
            },
        }

    def add_file(
        self, content: bytes, *, name: str, mimetype: str, filetype: str | None = None
    ) -> dict[str, Any]:
        """A file a person uploaded; returns the file object as Slack puts it in the
        file_share event (its URLs on this server: downloads need the bot token, with
        files:read)."""
        file_id = f"F{next(self._files):08d}"
        base = f"{self.url}/files-pri/{TEAM_ID}-{file_id}"
        file = {
            "id": file_id,
            "created": 1700000000,
            "timestamp": 1700000000,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype or name.rpartition(".")[2].lower(),
            "pretty_type": (filetype or name.rpartition(".")[2]).upper(),
            "user": "U0ALICE",
            "user_team": TEAM_ID,
            "editable": False,
            "size": len(content),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": True,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{base}/{name}",
            "url_private_download": f"{base}/download/{name}",
            "permalink": f"https://test.slack.com/files/U0ALICE/{file_id}/{name}",
            "permalink_public": f"https://slack-files.com/{TEAM_ID}-{file_id}-abc",
            "has_rich_preview": False,
            "file_access": "visible",
        }
        with self._lock:
            self.shared_files[file_id] = (file, content)
        return file

    async def _download(self, request: Request) -> Response:
        """A file's bytes, for a token with files:read; else, as Slack does, its sign-in
        page (HTML, 200) for no or a wrong token, and 404 for no such file."""
        authorization = request.headers.get("authorization")
        file_id = request.path_params["team_file"].removeprefix(f"{TEAM_ID}-")
        with self._lock:
            self.file_downloads.append((file_id, authorization))
            found = self.shared_files.get(file_id)
            may_read = "files:read" in self.scopes
        if authorization != f"Bearer {BOT_TOKEN}" or not may_read:
            return Response("<!DOCTYPE html><html>Sign in</html>", media_type="text/html")
        if found is None:
            return Response("not found", status_code=404)
        file, content = found
        return Response(content, media_type=file["mimetype"])

    async def _upload(self, request: Request) -> Response:
        content = await request.body()
        with self._lock:
            self.uploads[request.path_params["file_id"]] = content
        return Response("OK - " + str(len(content)))

    def add_user_message(
        self,
        channel: str,
        text: str,
        *,
        user: str,
        thread_ts: str | None,
        markup: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> ChannelMessage:
        """A message a person typed (the bot hears of it through an event), kept as Slack
        keeps it: `text` escaped, what was typed in a rich_text block; or, for links,
        mentions and marks, Slack's `markup` and `blocks` as given."""
        ts = self._next_ts()
        message = ChannelMessage(
            channel=channel,
            ts=ts,
            text=slack_escape(text) if markup is None else markup,
            blocks=[rich_text_block(text)] if blocks is None else blocks,
            thread_ts=thread_ts,
            username=user,
        )
        with self._lock:
            self.messages[(channel, ts)] = message
        return message

    async def _response_url(self, request: Request) -> Response:
        payload = json.loads(await request.body())
        with self._lock:
            self.responses.append({"key": request.path_params["key"], **payload})
        return Response("ok")

    # --- Socket Mode ------------------------------------------------------------------------
    def push_socket_envelope(self, kind: str, payload: dict[str, Any], envelope_id: str) -> None:
        """Deliver a request over the Socket Mode connection, as Slack does."""
        self._socket_outbox.put(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": True,
            }
        )

    async def _socket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"type": "hello", "num_connections": 1})

        async def relay_outbox() -> None:
            while True:
                try:
                    envelope = self._socket_outbox.get_nowait()
                except queue.Empty:
                    await asyncio.sleep(0.02)
                    continue
                await websocket.send_json(envelope)

        relay = asyncio.create_task(relay_outbox())
        try:
            while True:
                ack = json.loads(await websocket.receive_text())
                with self._lock:
                    self.socket_acks.append(ack)
        except WebSocketDisconnect:
            pass
        finally:
            relay.cancel()
