"""The gateway's group side (group MMS through Twilio Conversations, with the real twilio
SDK) against a fake as strict as Twilio."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.sms_gateway import SendFailed, TwilioGateway
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

LINE = "+12025550100"
ANN, BEN, CAT = "+12025550131", "+12025550132", "+12025550133"


def _gateway(url: str) -> TwilioGateway:
    return TwilioGateway(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_url=url, status_callback_url=None
    )


def test_a_group_is_one_conversation_with_the_line_as_projected_address(
    fake_twilio: FakeTwilio,
) -> None:
    gateway = _gateway(fake_twilio.url)
    sid = gateway.create_group(line_number=LINE, members=[ANN, BEN, CAT], name="Dinner")
    assert sid.startswith("CH")
    assert fake_twilio.group_texts.create_requests == [
        [
            {"messaging_binding": {"address": ANN}},
            {"messaging_binding": {"address": BEN}},
            {"messaging_binding": {"address": CAT}},
            {"messaging_binding": {"projected_address": LINE}},
        ]
    ]
    accepted = gateway.send_to_group(conversation_sid=sid, author=LINE, body="Friday?")
    assert accepted.sid.startswith("IM")
    for phone in (ANN, BEN, CAT):
        assert [m.body for m in fake_twilio.group_texts.received_by(phone)] == ["Friday?"]
    assert fake_twilio.requests == []  # no SMS


def test_the_same_numbers_again_reuse_the_conversation_twilio_names(
    fake_twilio: FakeTwilio,
) -> None:
    gateway = _gateway(fake_twilio.url)
    first = gateway.create_group(line_number=LINE, members=[ANN, BEN], name="One")
    again = gateway.create_group(line_number=LINE, members=[BEN, ANN], name="Two")
    assert again == first and len(fake_twilio.group_texts.conversations) == 1


def test_a_send_while_the_conversation_initializes_waits_for_it(
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.group_texts.initializing_sends = 2
    gateway = _gateway(fake_twilio.url)
    sid = gateway.create_group(line_number=LINE, members=[ANN, BEN], name="Dinner")
    gateway.send_to_group(conversation_sid=sid, author=LINE, body="Hi")
    assert [m.body for m in fake_twilio.group_texts.received_by(ANN)] == ["Hi"]
    assert len(fake_twilio.group_texts.send_requests) == 3


def test_a_closed_conversation_is_made_active_again(fake_twilio: FakeTwilio) -> None:
    gateway = _gateway(fake_twilio.url)
    sid = gateway.create_group(line_number=LINE, members=[ANN, BEN], name="Dinner")
    fake_twilio.group_texts.conversations[sid].state = "closed"
    gateway.send_to_group(conversation_sid=sid, author=LINE, body="Still there?")
    assert fake_twilio.group_texts.conversations[sid].state == "active"
    assert [m.body for m in fake_twilio.group_texts.received_by(BEN)] == ["Still there?"]


@pytest.mark.parametrize(
    ("members", "code", "words"),
    [
        ([ANN, "+442071838750"], 50407, "cannot be in a group text"),
        ([f"+120255501{n}" for n in range(40, 50)], 50436, "at most 10 members"),
    ],
)
def test_members_twilio_refuses_are_a_final_failure(
    fake_twilio: FakeTwilio, members, code, words
) -> None:
    with pytest.raises(SendFailed) as failed:
        _gateway(fake_twilio.url).create_group(line_number=LINE, members=members, name="x")
    assert failed.value.code == code and not failed.value.transient
    assert words in failed.value.text
    assert fake_twilio.group_texts.conversations == {}


def test_an_account_without_group_texting_says_so(fake_twilio: FakeTwilio) -> None:
    fake_twilio.group_texts.enabled = False
    with pytest.raises(SendFailed) as failed:
        _gateway(fake_twilio.url).create_group(line_number=LINE, members=[ANN, BEN], name="x")
    assert failed.value.code == 50452 and "not enabled" in failed.value.text


def test_a_send_with_no_answer_is_found_in_the_conversation(fake_twilio: FakeTwilio) -> None:
    gateway = _gateway(fake_twilio.url)
    sid = gateway.create_group(line_number=LINE, members=[ANN, BEN], name="Dinner")
    sent = gateway.send_to_group(conversation_sid=sid, author=LINE, body="Hi")
    fake_twilio.group_texts.add_from_member(sid, author=ANN, body="Hi")
    found = gateway.find_sent_to_group(
        conversation_sid=sid, author=LINE, body="Hi", since=datetime.now(UTC) - timedelta(1)
    )
    assert found == [sent]


def test_a_group_that_exists_is_found_by_its_members_when_twilio_does_not_name_it(
    fake_twilio: FakeTwilio,
) -> None:
    """50438's wording is not documented: the existing group is looked up by its members
    (exactly these, with the line as projected address), never taken for a bigger one."""
    fake_twilio.group_texts.names_existing_group = False
    gateway = _gateway(fake_twilio.url)
    bigger = gateway.create_group(line_number=LINE, members=[ANN, BEN, CAT], name="Three")
    other_line = gateway.create_group(line_number="+12025550199", members=[ANN, BEN], name="x")
    first = gateway.create_group(line_number=LINE, members=[ANN, BEN], name="One")
    again = gateway.create_group(line_number=LINE, members=[BEN, ANN], name="Two")
    assert again == first and len({bigger, other_line, first}) == 3
    assert len(fake_twilio.group_texts.conversations) == 3
