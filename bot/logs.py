"""Logging set-up: readable lines, or one JSON object a line (LOG_FORMAT=json) whose
fields include the ids passed as `extra` (conversation_id, delivery_id, message_sid...)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The SDKs log every API call and request at INFO (the Twilio client its URL and headers,
# Bolt the body of a request it refuses): only their warnings reach the log.
CHATTY_LOGGERS = ("twilio", "slack_bolt", "slack_sdk", "apscheduler")


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


@contextmanager
def silenced() -> Iterator[None]:
    """Nothing is logged meanwhile: for a step whose failure the caller reports in its own
    words (the SDKs log each failed attempt first, from loggers that Bolt sets up itself)."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)
