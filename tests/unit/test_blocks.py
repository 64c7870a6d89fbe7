import json

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


def _block(view, block_id):
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def test_the_modal_preselects_a_single_line_and_has_the_inputs() -> None:
    view = build_new_conversation_modal(lines=[_line()])
    assert view["callback_id"] == ids.NEW_CONVERSATION_VIEW
    assert [b.get("block_id") for b in view["blocks"]] == [
        ids.KIND_BLOCK,
        None,
        ids.LINE_BLOCK,
        ids.RECIPIENT_BLOCK,
        ids.MESSAGE_BLOCK,
        ids.SEND_AT_BLOCK,
        ids.QUIET_OK_BLOCK,
    ]
    line_select = _block(view, ids.LINE_BLOCK)["element"]
    assert line_select["initial_option"] == {
        "text": {"type": "plain_text", "text": "Line 1 (+1 202-555-0101)", "emoji": True},
        "value": "1",
    }
    assert _block(view, ids.RECIPIENT_BLOCK)["element"]["type"] == "external_select"
    assert _block(view, ids.MESSAGE_BLOCK)["element"]["max_length"] == 1600
    assert json.loads(view["private_metadata"]) == {"kind": "conversation"}


def test_the_modal_lets_people_choose_among_several_lines() -> None:
    view = build_new_conversation_modal(lines=[_line(1), _line(2)])
    assert "initial_option" not in _block(view, ids.LINE_BLOCK)["element"]
    assert len(_block(view, ids.LINE_BLOCK)["element"]["options"]) == 2


def test_each_kind_explains_itself_and_picks_its_recipient_field() -> None:
    multi = build_new_conversation_modal(lines=[_line()], kind=ids.KIND_MULTI, max_multi=20)
    recipients = _block(multi, ids.RECIPIENTS_BLOCK)["element"]
    assert recipients["type"] == "multi_external_select" and recipients["max_selected_items"] == 20
    assert "never see each other" in multi["blocks"][1]["elements"][0]["text"]
    group = build_new_conversation_modal(lines=[_line()], kind=ids.KIND_GROUP, group_size=(2, 9))
    assert _block(group, ids.RECIPIENTS_BLOCK)["element"]["max_selected_items"] == 9
    assert "sees the others' numbers" in group["blocks"][1]["elements"][0]["text"]
    kind = _block(group, ids.KIND_BLOCK)["elements"][0]
    assert kind["initial_option"]["value"] == ids.KIND_GROUP
    assert [o["value"] for o in kind["options"]] == list(ids.KINDS)


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
