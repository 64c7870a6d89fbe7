"""The dev phone's simulated carrier (landlines, STOP, the inbound webhook) and its page's
API, called as a browser on this machine or on another would."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from bot.dev_phone import DevPhone, DevPhoneLine
from bot.runtime import Runtime
from bot.server import create_asgi_app
from bot.settings import Settings
from bot.sms_gateway import SendFailed, TwilioGateway
from bot.sms_simulator import SimulatedCarrier
from bot.workers import WorkerLoop
from models.inbound import stage_inbound_texts
from models.tables import Message
from tests.factories import make_line
from tests.fakes.servers import BackgroundServer
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.slack_driver import SIGNING_SECRET, wait_until

SALES = "+12025550100"
JANE = "+12025550123"
LANDLINE = "+12025550199"
PUBLIC = "https://textbot.example"


class Recorder:
    """A loopback server standing in for the bot's webhooks: records each post and checks
    its signature against the public URL Twilio would have signed."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.posts: list[tuple[str, dict[str, str], bool]] = []
        self.answer = 200
        self.app = Starlette(routes=[Route("/twilio/{hook}", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        signed = self.validator.validate(
            PUBLIC + request.url.path, form, request.headers.get("x-twilio-signature", "")
        )
        self.posts.append((request.url.path, form, signed))
        return Response("nope" if self.answer >= 400 else "", status_code=self.answer)


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder(AUTH_TOKEN)
    server = BackgroundServer(recorder.app).start()
    yield recorder, server.url
    server.stop()


@pytest.fixture
def carrier(recorder: tuple[Recorder, str]) -> Iterator[tuple[SimulatedCarrier, str]]:
    """A carrier as the bot runs it: callbacks and the inbound webhook name PUBLIC_URL and
    reach the recorder over loopback."""
    _, local = recorder
    carrier = SimulatedCarrier(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        callback_delay=0.01,
        landlines=[LANDLINE],
        inbound_webhook=f"{PUBLIC}/twilio/messages",
        conversations_webhook=f"{PUBLIC}/twilio/conversations",
        reach=lambda url: url.replace(PUBLIC, local),
    )
    server = BackgroundServer(carrier.app).start()
    yield carrier, server.url
    server.stop()


def _gateway(url: str) -> TwilioGateway:
    return TwilioGateway(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_url=url,
        status_callback_url=f"{PUBLIC}/twilio/status",
    )


# --- the carrier -------------------------------------------------------------------------


def test_a_text_to_a_landline_is_sent_then_undelivered_with_30006(carrier, recorder) -> None:
    sim, url = carrier
    accepted = _gateway(url).send(to=LANDLINE, body="Hi", from_number=SALES)
    rec, _ = recorder
    wait_until(lambda: len(rec.posts) == 2, what="two status callbacks")
    statuses = [(form["MessageStatus"], form.get("ErrorCode")) for _, form, _ in rec.posts]
    assert statuses == [("sent", None), ("undelivered", "30006")]
    assert all(path == "/twilio/status" and signed for path, _, signed in rec.posts)
    assert rec.posts[0][1]["MessageSid"] == accepted.sid
    assert sim.sent_to(LANDLINE)[0].error_code == 30006


def test_a_mobile_gets_sent_then_delivered(carrier, recorder) -> None:
    _, url = carrier
    _gateway(url).send(to=JANE, body="Hi", from_number=SALES)
    rec, _ = recorder
    wait_until(lambda: len(rec.posts) == 2, what="two status callbacks")
    assert [form["MessageStatus"] for _, form, _ in rec.posts] == ["sent", "delivered"]


def test_after_stop_the_carrier_refuses_with_21610_until_start(carrier, recorder) -> None:
    sim, url = carrier
    gateway = _gateway(url)
    sim.text_in(sender=JANE, to=SALES, body="Stop")
    with pytest.raises(SendFailed) as refused:
        gateway.send(to=JANE, body="Still there?", from_number=SALES)
    assert refused.value.code == 21610 and not refused.value.transient
    assert sim.opted_out(JANE) == [SALES]
    # Only that line: another of the account's numbers may still text the phone.
    gateway.send(to=JANE, body="From support", from_number="+12025550101")

    sim.text_in(sender=JANE, to=SALES, body="START")
    assert sim.opted_out(JANE) == []
    assert gateway.send(to=JANE, body="Welcome back", from_number=SALES).sid.startswith("SM")


def test_a_text_in_reaches_the_webhook_signed_for_the_public_url(carrier, recorder) -> None:
    sim, _ = carrier
    rec, _ = recorder
    message = sim.text_in(sender=JANE, to=SALES, body="Hello?")
    [(path, form, signed)] = rec.posts
    assert path == "/twilio/messages" and signed
    assert form["From"] == JANE and form["To"] == SALES and form["Body"] == "Hello?"
    assert form["MessageSid"] == message.sid and form["AccountSid"] == ACCOUNT_SID
    assert message.webhook_status == 200 and message.webhook_problem is None


def test_a_webhook_refusal_is_noted_and_the_text_stays_in_the_log(carrier, recorder) -> None:
    sim, _ = carrier
    rec, _ = recorder
    rec.answer = 403
    message = sim.text_in(sender=JANE, to=SALES, body="Hello?")
    assert message.webhook_problem == "the bot answered 403: nope"
    assert message in sim.messages


def test_changes_since_a_cursor(carrier) -> None:
    sim, _ = carrier
    first = sim.receive(sender=JANE, to=SALES, body="one")
    changed, cursor = sim.changes_since(0)
    assert changed == [first]
    second = sim.receive(sender=JANE, to=SALES, body="two")
    changed, later = sim.changes_since(cursor)
    assert changed == [second] and later > cursor
    assert sim.changes_since(later) == ([], later)


# --- the page's API ----------------------------------------------------------------------


def _call(
    app: Any,
    method: str,
    path: str,
    *,
    client: str = "127.0.0.1",
    base_url: str = "http://127.0.0.1:3000",
    **options: Any,
) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 51000))
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
            return await http.request(method, path, **options)

    return asyncio.run(call())


@pytest.fixture
def phone_app(carrier) -> Starlette:
    sim, _ = carrier
    lines = [DevPhoneLine(number=SALES, name="Sales")]
    return Starlette(routes=DevPhone(carrier=sim, lines=lambda: lines).routes())


@pytest.mark.parametrize("path", ["/phone", "/phone/api/changes", "/phone/api/lines"])
def test_other_machines_are_refused_with_an_explanation(phone_app, path) -> None:
    response = _call(phone_app, "GET", path, client="10.0.0.5")
    assert response.status_code == 403
    assert "only on the machine running textbot (this request came from 10.0.0.5)" in (
        response.text
    )
    assert "DEV_PHONE_ALLOW_REMOTE=true" in response.text


def test_another_host_name_is_refused_even_from_loopback(phone_app) -> None:
    """What a DNS-rebinding page would send from the developer's own browser."""
    response = _call(phone_app, "GET", "/phone", base_url="http://rebind.example:3000")
    assert response.status_code == 403 and "asked for rebind.example" in response.text


@pytest.mark.parametrize(
    ("client", "base_url"),
    [
        ("127.0.0.1", "http://127.0.0.1:3000"),
        ("127.0.0.1", "http://localhost:3000"),
        ("::1", "http://[::1]:3000"),
    ],
)
def test_this_machine_gets_the_page(phone_app, client, base_url) -> None:
    response = _call(phone_app, "GET", "/phone", client=client, base_url=base_url)
    assert response.status_code == 200
    assert "<title>textbot dev phone</title>" in response.text


def test_a_setting_opens_it_to_other_machines(carrier) -> None:
    sim, _ = carrier
    app = Starlette(routes=DevPhone(carrier=sim, lines=list, allow_remote=True).routes())
    response = _call(app, "GET", "/phone/api/lines", client="10.0.0.5", base_url="http://bot:3000")
    assert response.status_code == 200 and response.json() == {"lines": []}


def test_send_texts_the_bot_and_lists_the_handset(phone_app, carrier, recorder) -> None:
    sim, _ = carrier
    rec, _ = recorder
    sent = _call(
        phone_app,
        "POST",
        "/phone/api/send",
        json={"from": "(202) 555-0123", "to": SALES, "body": "Hi"},
    )
    assert sent.status_code == 201, sent.text
    message = sent.json()["message"]
    assert message["handset"] == JANE and message["line"] == SALES and message["from_handset"]
    assert message["webhook_status"] == 200 and rec.posts[0][1]["Body"] == "Hi"

    handsets = _call(phone_app, "GET", "/phone/api/handsets").json()["handsets"]
    assert handsets == [
        {
            "number": JANE,
            "label": "+1 202-555-0123",
            "landline": False,
            "opted_out_of": [],
            "last_line": SALES,
        }
    ]
    listed = _call(phone_app, "GET", f"/phone/api/handsets/{JANE}/messages").json()
    assert [m["body"] for m in listed["messages"]] == ["Hi"]
    assert sim.messages[0].from_ == JANE


def test_changes_follow_a_cursor(phone_app, carrier) -> None:
    sim, url = carrier
    first = _call(phone_app, "GET", "/phone/api/changes?after=0").json()
    assert first["messages"] == [] and first["handsets"] == []
    _gateway(url).send(to=LANDLINE, body="Hello", from_number=SALES)
    wait_until(lambda: sim.sent_to(LANDLINE)[0].status == "undelivered", what="undelivered")
    later = _call(phone_app, "GET", f"/phone/api/changes?after={first['cursor']}").json()
    [message] = later["messages"]
    assert message["status"] == "undelivered" and message["error_code"] == 30006
    assert "landline" in message["error"]
    assert later["handsets"][0]["landline"] is True
    assert (
        _call(phone_app, "GET", f"/phone/api/changes?after={later['cursor']}").json()["messages"]
        == []
    )


def test_a_picture_sent_as_mms_is_shown_on_the_phone(phone_app, carrier) -> None:
    sim, url = carrier
    picture = f"{PUBLIC}/media/abc123"
    _gateway(url).send(to=JANE, body="", from_number=SALES, media_urls=[picture])
    [sent] = sim.sent_to(JANE)
    assert sent.media_urls == [picture] and sent.resource(ACCOUNT_SID)["num_media"] == "1"
    listed = _call(phone_app, "GET", f"/phone/api/handsets/{JANE}/messages").json()
    assert [(m["body"], m["media"]) for m in listed["messages"]] == [("", [picture])]
    page = _call(phone_app, "GET", "/phone").text
    assert "message.media" in page and 'createElement("img")' in page
    # Without a picture, words are still needed.
    with pytest.raises(SendFailed, match="error 21602"):
        _gateway(url).send(to=JANE, body=" ", from_number=SALES)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"from": "555", "to": SALES, "body": "Hi"}, "The phone's number: 555 is not a valid"),
        ({"from": JANE, "to": "+12025550188", "body": "Hi"}, "Pick one of the bot's lines"),
        ({"from": SALES, "to": SALES, "body": "Hi"}, "is one of the bot's own lines"),
        ({"from": LANDLINE, "to": SALES, "body": "Hi"}, "is a landline"),
        ({"from": JANE, "to": SALES, "body": "  "}, "Write a message first."),
        ({"from": JANE, "to": SALES, "body": "x" * 1601}, "at most 1600 characters"),
    ],
)
def test_a_bad_text_is_refused_with_the_reason(phone_app, carrier, payload, error) -> None:
    sim, _ = carrier
    response = _call(phone_app, "POST", "/phone/api/send", json=payload)
    assert response.status_code == 400 and error in response.json()["error"]
    assert sim.messages == []


def test_send_wants_json(phone_app) -> None:
    """A form posted by another site (no preflight needed) is turned away."""
    response = _call(
        phone_app, "POST", "/phone/api/send", data={"from": JANE, "to": SALES, "body": "Hi"}
    )
    assert response.status_code == 415


# --- only without Twilio credentials -----------------------------------------------------


def _runtime(tmp_path: Path, template: Path, fake_slack: FakeSlack, **twilio: str) -> Runtime:
    database = tmp_path / "textbot.db"
    shutil.copy(template, database)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.api_url,
        database_url=f"sqlite:///{database}",
        **twilio,
    )
    return Runtime(settings, port=3000)


def test_with_twilio_credentials_there_is_no_dev_phone(
    tmp_path, sqlite_template, fake_slack
) -> None:
    runtime = _runtime(
        tmp_path,
        sqlite_template,
        fake_slack,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        public_url=PUBLIC,
    )
    app = create_asgi_app(runtime, start_workers=False)
    assert runtime.dev_phone is None
    for path in ("/phone", "/phone/api/changes", "/dev-phone/api/2010-04-01/Accounts"):
        assert _call(app, "GET", path).status_code == 404
    runtime.database.dispose()


def test_without_credentials_the_page_is_served_and_its_address_logged(
    tmp_path, sqlite_template, fake_slack, caplog
) -> None:
    runtime = _runtime(tmp_path, sqlite_template, fake_slack)
    # Said when the bot starts, not before: a start that fails says only why.
    assert "dev phone" not in caplog.text
    with caplog.at_level("WARNING", logger="bot.runtime"):
        runtime.start()
        runtime.stop()
    assert "dev phone: http://127.0.0.1:3000/phone" in caplog.text
    app = create_asgi_app(runtime, start_workers=False)
    assert _call(app, "GET", "/phone").status_code == 200
    assert _call(app, "GET", "/phone", client="10.0.0.5").status_code == 403
    assert _call(app, "GET", "/phone/api/lines").json() == {"lines": []}
    runtime.database.dispose()


def test_without_twilio_texts_are_not_held_at_start_for_a_log_that_died_with_the_process(
    tmp_path, sqlite_template, fake_slack, monkeypatch
) -> None:
    """The simulator's log lives in the process, so nothing was missed while it was down:
    a text brought at start is routed at once, not after the recovery wait."""
    runtime = _runtime(tmp_path, sqlite_template, fake_slack)
    with runtime.database.session() as session, session.begin():
        make_line(session, number=SALES)
    monkeypatch.setattr(WorkerLoop, "start", lambda self: None)
    monkeypatch.setattr(runtime.scheduler, "start", lambda: None)
    runtime.start()  # its workers left for the test to step
    with runtime.database.engine.begin() as connection:
        stage_inbound_texts(
            connection,
            [{"message_sid": "SM1", "to_number": SALES, "from_number": JANE, "body": "Hi"}],
        )
    runtime.inbound_router.step()
    with runtime.database.read_session() as session:
        assert session.exec(select(Message.body)).all() == ["Hi"]
    runtime.inbound_staging.close()
    runtime.database.dispose()


def test_a_group_text_is_one_thread_on_each_members_phone_and_any_member_replies(
    phone_app, carrier, recorder
) -> None:
    _, url = carrier
    rec, _ = recorder
    ann, ben = "+12025550131", "+12025550132"
    gateway = _gateway(url)
    group = gateway.create_group(line_number=SALES, members=[ann, ben], name="Sales group")
    gateway.send_to_group(conversation_sid=group, author=SALES, body="Dinner Friday?")
    changes = _call(phone_app, "GET", "/phone/api/changes?after=0").json()
    shown = [(m["handset"], m["body"], m["group"]["sid"]) for m in changes["messages"]]
    assert shown == [(ann, "Dinner Friday?", group), (ben, "Dinner Friday?", group)]
    assert changes["messages"][0]["group"]["label"] == "Group: +1 202-555-0131, +1 202-555-0132"

    sent = _call(
        phone_app, "POST", "/phone/api/send", json={"from": ben, "group": group, "body": "Yes!"}
    )
    assert sent.status_code == 201 and sent.json()["message"]["from_handset"]
    [(path, form, signed)] = rec.posts
    assert path == "/twilio/conversations" and signed
    assert (form["EventType"], form["ConversationSid"], form["Author"], form["Body"]) == (
        "onMessageAdded",
        group,
        ben,
        "Yes!",
    )
    later = _call(phone_app, "GET", f"/phone/api/changes?after={changes['cursor']}").json()[
        "messages"
    ]
    assert [(m["handset"], m["body"], m["from_handset"]) for m in later] == [
        (ann, "Yes!", False),
        (ben, "Yes!", True),
    ]
    outsider = _call(
        phone_app, "POST", "/phone/api/send", json={"from": JANE, "group": group, "body": "Hi"}
    )
    assert outsider.status_code == 400 and "not in that group" in outsider.json()["error"]
