from handlers import ids
from handlers.blocks import (
    build_contact_option,
    build_conversation_parent,
    build_message_reply,
    build_new_conversation_modal,
    build_new_number_option,
    escape,
)
from models.tables import Contact, Conversation, Delivery, Line, Message


def _line(n: int = 1) -> Line:
    return Line(id=n, team_id="T", number=f"+1202555010{n}", name=f"Line {n}", channel_id="C1")


def test_the_modal_preselects_a_single_line_and_has_the_three_inputs() -> None:
    view = build_new_conversation_modal(lines=[_line()])
    assert view["callback_id"] == ids.NEW_CONVERSATION_VIEW
    assert [b["block_id"] for b in view["blocks"]] == [
        ids.LINE_BLOCK,
        ids.RECIPIENT_BLOCK,
        ids.MESSAGE_BLOCK,
    ]
    line_select = view["blocks"][0]["element"]
    assert line_select["initial_option"] == {
        "text": {"type": "plain_text", "text": "Line 1 (+1 202-555-0101)", "emoji": True},
        "value": "1",
    }
    assert view["blocks"][1]["element"]["type"] == "external_select"
    assert view["blocks"][2]["element"]["max_length"] == 1600


def test_the_modal_lets_people_choose_among_several_lines() -> None:
    view = build_new_conversation_modal(lines=[_line(1), _line(2)])
    assert "initial_option" not in view["blocks"][0]["element"]
    assert len(view["blocks"][0]["element"]["options"]) == 2


def test_options_fit_slack_limits() -> None:
    contact = Contact(id=7, team_id="T", phone="+12025550123", name="A" * 200)
    option = build_contact_option(contact)
    assert len(option["text"]["text"]) == 75 and option["value"] == "contact:7"
    assert build_new_number_option("+12025550123")["value"] == "new:+12025550123"


def test_parent_shows_who_line_status_and_the_right_button() -> None:
    contact = Contact(id=1, team_id="T", phone="+12025550123", name="Jane <Doe>")
    conversation = Conversation(id=5, team_id="T", line_id=1, contact_id=1)
    text, blocks = build_conversation_parent(
        conversation=conversation, line=_line(), contact=contact
    )
    assert "Jane &lt;Doe&gt; (+1 202-555-0123)" in text
    assert blocks[-1]["elements"][0]["action_id"] == ids.CLOSE_CONVERSATION_ACTION
    conversation.status = "closed"
    conversation.closed_by = "U1"
    _, closed = build_conversation_parent(conversation=conversation, line=_line(), contact=contact)
    assert "Closed by <@U1>" in closed[1]["elements"][0]["text"]
    assert closed[-1]["elements"][0]["action_id"] == ids.REOPEN_CONVERSATION_ACTION


def test_a_reply_shows_author_and_each_delivery_state() -> None:
    message = Message(
        id=1, conversation_id=5, direction="outbound", body="Hi & bye", author_user_id="U1"
    )
    failed = Delivery(
        message_id=1,
        line_id=1,
        contact_id=1,
        to_phone="+1",
        status="failed",
        error_text="the number is a landline or cannot receive texts (error 30006)",
    )
    text, blocks = build_message_reply(message=message, deliveries=[failed])
    assert text == "Hi & bye"
    assert blocks[0]["text"]["text"] == "Hi &amp; bye"
    assert "<@U1> texted" in blocks[1]["elements"][0]["text"]
    assert ":x: Failed: the number is a landline" in blocks[1]["elements"][0]["text"]


def test_escape() -> None:
    assert escape("<a & b>") == "&lt;a &amp; b&gt;"
