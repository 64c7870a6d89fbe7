"""Options requests (suggestions as a user types) run Bolt's dispatch two at a time in a
lane of their own, where more threads would only queue for the GIL; the other requests,
which write or wait for Slack's views.open, are never held behind them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from bot.slack_requests import SUGGESTION_THREADS, is_suggestion
from tests.conftest import Bot
from tests.factories import make_line

ALICE = "U0ALICE"


class Watched:
    """Bolt's dispatch, slowed down, counting the suggestions running at once."""

    def __init__(self, dispatch: Any) -> None:
        self.dispatch, self.lock = dispatch, threading.Lock()
        self.running = self.most = 0

    def __call__(self, request: BoltRequest) -> BoltResponse:
        suggestion = is_suggestion(request.body)
        with self.lock:
            if suggestion:
                self.running += 1
                self.most = max(self.most, self.running)
            running = self.running
        try:
            if suggestion:
                time.sleep(0.2)
            response: BoltResponse = self.dispatch(request)
            response.headers["x-suggestions-running"] = [str(running)]
            return response
        finally:
            if suggestion:
                with self.lock:
                    self.running -= 1


def test_suggestions_run_two_at_a_time_and_hold_no_other_request_up(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bot.session() as session, session.begin():
        make_line(session, grants=(ALICE,))
    watched = Watched(bot.runtime.bolt_app.dispatch)
    monkeypatch.setattr(bot.runtime.bolt_app, "dispatch", watched)

    with ThreadPoolExecutor(9) as pool:
        suggestions = [pool.submit(bot.slack.suggest, "Jane", user=ALICE) for _ in range(8)]
        time.sleep(0.1)  # the suggestions fill their lane
        command = pool.submit(bot.slack.slash, "", user=ALICE).result()
        assert command.status_code == 200
        # The command ran while suggestions queued before it were still running.
        assert int(command.headers["x-suggestions-running"]) == SUGGESTION_THREADS
        for suggestion in suggestions:
            suggestion.result()

    assert watched.most == SUGGESTION_THREADS
