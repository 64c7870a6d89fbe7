"""What the numbers were measured on: machine, versions, date."""

from __future__ import annotations

import platform
import sqlite3
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import psycopg

from bench.stack import POSTGRES_URL, postgres_available

PACKAGES = ("slack-bolt", "slack-sdk", "twilio", "sqlalchemy", "sqlmodel", "starlette", "uvicorn")


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _postgres_version() -> str:
    if not postgres_available():
        return "not reachable"
    with psycopg.connect(POSTGRES_URL.replace("+psycopg", "")) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def _wrk_version() -> str:
    completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (completed.stdout or completed.stderr).splitlines()[0].split(" [")[0]


def describe(cores: int) -> list[str]:
    return [
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {_cpu()}, {cores} cores, {_memory_gib():.0f} GiB, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {_postgres_version()}, {_wrk_version()}",
        "- " + ", ".join(f"{name} {version(name)}" for name in PACKAGES),
    ]
