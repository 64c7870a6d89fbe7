"""The fake Twilio REST API for tests: the bot's own simulated carrier, on a port of its own,
with test credentials and status callbacks sent only when a test asks."""

from __future__ import annotations

from bot.sms_simulator import SimulatedCarrier

ACCOUNT_SID = "AC" + "1234567890abcdef" * 2
AUTH_TOKEN = "test-twilio-auth-token"


class FakeTwilio(SimulatedCarrier):
    def __init__(self) -> None:
        super().__init__(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, callback_delay=None)
        self.url = ""  # set when served

    def report(self, to: str, status: str, *, error_code: int | None = None) -> None:
        """Post a status callback for the last message sent to `to`, as Twilio would."""
        message = self.sent_to(to)[-1]
        message.status = status
        message.error_code = error_code
        self.post_status_callback(message)
