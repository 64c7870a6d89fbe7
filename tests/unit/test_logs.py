import json
import logging

from bot.logs import configure_logging


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
