"""`textbot serve` in a process of its own, as an operator runs it, for tests that need
several processes or must kill one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.fakes.servers import bind_loopback
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.slack_driver import SIGNING_SECRET, wait_until


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started (Linux: read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except OSError:  # gone meanwhile
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def clean_environment(**values: str) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TWILIO_", "PUBLIC_URL", "DATABASE_URL", "TEXTBOT_CRASH"))
    }
    return {**keep, "PYTHONUNBUFFERED": "1", **values}


def bot_environment(
    database_url: str,
    fake_slack: FakeSlack,
    fake_twilio: FakeTwilio | None,
    public_url: str,
    **settings: str,
) -> dict[str, str]:
    """The environment of `textbot serve` talking to the loopback fakes (with no fake
    Twilio, to its own simulator); `settings` added or overriding."""
    values = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "DATABASE_URL": database_url,
        "DISPATCHER_POLL_SECONDS": "0.2",
        "SLACK_POST_INTERVAL_SECONDS": "0",
    }
    if fake_twilio is not None:
        values |= {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_URL": fake_twilio.url,
            "PUBLIC_URL": public_url,
        }
    return clean_environment(**(values | settings))


def textbot_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


class BotProcess:
    """A serving bot talking to the loopback fakes; `crash_at` arms a fault point."""

    def __init__(
        self,
        workdir: Path,
        database_url: str,
        fake_slack: FakeSlack,
        fake_twilio: FakeTwilio | None,
        *,
        crash_at: str | None = None,
        start_timeout: float = 30,
        **settings: str,
    ):
        sock = bind_loopback()
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        values = bot_environment(database_url, fake_slack, fake_twilio, self.url, **settings)
        if crash_at:
            values["TEXTBOT_CRASH_AT"] = crash_at
        # One client for the health checks: a new one each time builds an SSL context,
        # tens of ms of CPU taken from the starting bot on a busy machine.
        self._health = httpx.Client(timeout=1, verify=False)
        self.log = workdir / f"bot-{self.port}.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            textbot_command("serve", "--port", str(self.port), "--host", "127.0.0.1"),
            cwd=workdir,
            env=values,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._healthy, timeout=start_timeout, what=f"the bot on {self.port} to serve")

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"serve exited early:\n{self.log.read_text()}")
        try:
            return self._health.get(f"{self.url}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def wait_killed(self, timeout: float = 15) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self._log_file.close()
        self._health.close()
