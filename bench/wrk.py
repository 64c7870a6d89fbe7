"""Load from wrk (a C HTTP load generator, in a process of its own) with pre-signed requests.

Slack and Twilio sign every request, and most requests must be distinct (a repeated
MessageSid or view id is a duplicate the bot ignores), so the requests are built and signed
here, written into a Lua script, and wrk sends them in turn. One wrk thread drives all the
connections: it leaves the other core to the server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.stats import Summary


@dataclass(frozen=True)
class SignedRequest:
    path: str
    headers: dict[str, str]
    body: str


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    latency: Summary  # milliseconds
    errors: int  # connect, read, write, timeouts and non-2xx answers

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


_REPORT = """
done = function(summary, latency, requests)
  local failed = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '\\nWRK_JSON {"requests": %d, "micros": %d, "errors": %d, "p50": %d, "p90": %d, '
    .. '"p95": %d, "p99": %d, "max": %d}\\n',
    summary.requests, summary.duration, failed, latency:percentile(50),
    latency:percentile(90), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def _lua_string(text: str) -> str:
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def write_script(requests: list[SignedRequest], path: Path, *, host: str) -> None:
    """A wrk script that sends `requests` in turn, then reports its numbers as JSON."""
    with path.open("w") as script:
        script.write("local requests = {}\n")
        for index, request in enumerate(requests, 1):
            # wrk.format sends only the headers it is given: HTTP/1.1 needs Host.
            headers = ", ".join(
                f"[ {_lua_string(k)} ] = {_lua_string(v)}"
                for k, v in {"Host": host, **request.headers}.items()
            )
            script.write(
                f"requests[{index}] = wrk.format('POST', {_lua_string(request.path)}, "
                f"{{{headers}}}, {_lua_string(request.body)})\n"
            )
        script.write(
            "local next_index = 0\n"
            "request = function()\n"
            "  next_index = next_index % #requests + 1\n"
            "  return requests[next_index]\n"
            "end\n"
        )
        script.write(_REPORT)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, requests: list[SignedRequest], *, connections: int, seconds: float
) -> WrkResult:
    """`connections` clients, each sending its next request as soon as it has an answer."""
    with tempfile.TemporaryDirectory(prefix="textbot-wrk-") as folder:
        script = Path(folder) / "requests.lua"
        write_script(requests, script, host=urlsplit(url).netloc)
        completed = subprocess.run(
            [
                "wrk",
                "--threads",
                "1",
                "--connections",
                str(connections),
                "--duration",
                f"{seconds:g}s",
                "--timeout",
                "5s",
                "--script",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    line = next((x for x in completed.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{completed.stdout}\n{completed.stderr}")
    numbers = json.loads(line.removeprefix("WRK_JSON "))
    return WrkResult(
        requests=numbers["requests"],
        seconds=numbers["micros"] / 1e6,
        latency=Summary(
            p50=numbers["p50"] / 1000,
            p90=numbers["p90"] / 1000,
            p95=numbers["p95"] / 1000,
            p99=numbers["p99"] / 1000,
            max=numbers["max"] / 1000,
        ),
        errors=numbers["errors"],
    )
