"""An operator's command starts at once: it imports what it needs when it needs it, not the
Slack, Twilio and server stacks that only `serve` and Twilio set-up use."""

import json
import subprocess
import sys

import pytest

SERVING_STACKS = {
    "slack_bolt",
    "slack_sdk",
    "twilio",
    "uvicorn",
    "starlette",
    "apscheduler",
    "alembic",
    "httpx",
    "requests",
    "emoji",
}

PROGRAM = """
import json, sys
from bot.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "command",
    [["--help"], ["lines", "list"], ["audit"], ["contacts", "add", "+12025550123", "--name", "A"]],
    ids=" ".join,
)
def test_an_operators_command_loads_no_serving_stack(tmp_path, command: list[str]) -> None:
    from bot.db import upgrade_database

    url = f"sqlite:///{tmp_path / 'textbot.db'}"
    upgrade_database(url)
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, *command],
        env={"DATABASE_URL": url, "SLACK_TEAM_ID": "T0TEST", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    loaded = set(json.loads(result.stderr.strip().splitlines()[-1]))
    assert loaded & SERVING_STACKS == set(), result.stderr
