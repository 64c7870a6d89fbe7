import json
import logging

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.logs import configure_logging
from models.tables import Contact
from tests.factories import make_contact
from tests.fakes.slack import TEAM_ID


def make_contact_row(session: Session, *, phone: str, name: str) -> None:
    """A second row for a number, as a bug would insert it, past the domain's checks."""
    session.add(Contact(team_id=TEAM_ID, phone=phone, name=name))
    session.flush()


def test_json_logs_carry_the_ids_given_as_extra(capsys) -> None:
    configure_logging("json")
    try:
        logging.getLogger("bot.dispatcher").info(
            "delivery %s accepted", 7, extra={"delivery_id": 7, "message_sid": "SM1"}
        )
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        logging.getLogger().handlers.clear()
    record = json.loads(line)
    assert record["message"] == "delivery 7 accepted"
    assert record["delivery_id"] == 7 and record["message_sid"] == "SM1"
    assert record["level"] == "INFO" and record["logger"] == "bot.dispatcher"


def test_text_logs_are_one_readable_line(capsys) -> None:
    configure_logging("text")
    try:
        logging.getLogger("bot").warning("hello %s", "there")
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        logging.getLogger().handlers.clear()
    assert line.endswith("WARNING bot: hello there")


@pytest.mark.parametrize("sdk", ["twilio.http_client", "slack_bolt.App", "slack_sdk.web"])
def test_the_sdks_chatter_stays_out_of_the_log_but_their_warnings_do_not(capsys, sdk) -> None:
    configure_logging("text")
    try:
        logging.getLogger(sdk).info("POST Request: https://api.twilio.com/... body=Hi Jane")
        logging.getLogger(sdk).warning("retrying after a 429")
        logged = capsys.readouterr().err
    finally:
        logging.getLogger().handlers.clear()
    assert "Hi Jane" not in logged
    assert "retrying after a 429" in logged


def test_a_failed_statement_logs_no_parameters(engine, session) -> None:
    make_contact(session, phone="+12025550123", name="Jane Secretname")
    session.commit()
    with pytest.raises(IntegrityError) as failure:
        make_contact_row(session, phone="+12025550123", name="Jane Secretname")
    # (PostgreSQL's own detail names the conflicting key; the rest of the row stays out.)
    assert "Secretname" not in str(failure.value)
    assert "SQL parameters hidden" in str(failure.value)
