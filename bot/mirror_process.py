"""The Slack mirror in a child process of `textbot serve`, on PostgreSQL.

A serving process is bound by its GIL: while an outage's backlog is routed and posted, the
mirror held about a third of it, the router a quarter and the dispatcher a fifth, with the
second core half idle. In a process of its own the mirror posts on the other core.

The child is forked before the parent starts any thread, so it begins with everything
imported and nothing else: it opens its own database pool and Slack and Twilio clients.
The parent wakes it through a pipe (a byte a wake-up; a full pipe means one is pending).
They live and die together, as the threads they replace did: the child is killed with
its parent (PR_SET_PDEATHSIG on Linux; elsewhere it stops when the pipe closes), and a
parent whose mirror died dies the same way, so that a supervisor restarts the whole.

Not on SQLite: its writers take turns within one process (bot.db.WriteTurns), while
across processes they would poll for the lock. Not with the built-in SMS simulator,
which lives in the serving process.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import threading
from datetime import timedelta
from typing import NoReturn

from bot.db import Database, normalize_url
from bot.mirror import SlackMirror
from bot.settings import Settings
from bot.slack_app import build_web_client
from bot.slack_pace import ChannelPace
from bot.sms_gateway import TwilioGateway
from bot.workers import WorkerLoop
from models.clock import Clock

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # prctl's option number, from linux/prctl.h
STOP_TIMEOUT_SECONDS = 15.0


def wanted(settings: Settings) -> bool:
    return (
        settings.mirror_process
        and settings.uses_twilio
        and normalize_url(settings.database_url).startswith("postgresql")
    )


class MirrorProcess:
    """The parent's handle on the mirror's process; it stands where the mirror's worker
    loop would (`start`, `wake`, `running`, `stop`)."""

    def __init__(self, pid: int, wake_fd: int):
        self.pid = pid
        self._wake_fd = wake_fd  # -1 once closed: the number may then name another file
        self._wake_lock = threading.Lock()
        self._stopping = threading.Event()
        self._exited = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="mirror-process", daemon=True)

    @classmethod
    def fork(cls, settings: Settings, *, public_url: str) -> MirrorProcess | None:
        """In the parent, the child's handle; the child runs the mirror and never returns.
        None (the mirror then runs in a thread) once another thread has started: a forked
        child has only the thread that forked, and locks the others held stay held."""
        if threading.active_count() > 1:
            logger.warning("threads already running: the Slack mirror stays in this process")
            return None
        parent = os.getpid()
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(write_fd)
            _run_child(settings, public_url=public_url, parent=parent, wake_fd=read_fd)
        os.close(read_fd)
        os.set_blocking(write_fd, False)
        logger.info("the Slack mirror runs in process %d", pid)
        return cls(pid, write_fd)

    def start(self) -> None:
        self._watcher.start()
        self.wake()  # the child's signal to begin

    @property
    def running(self) -> bool:
        return not self._exited.is_set() and not self._stopping.is_set()

    def wake(self) -> None:
        # A full pipe already holds a wake-up; a broken one, a dead child (see _watch).
        with self._wake_lock, contextlib.suppress(OSError):
            if self._wake_fd >= 0:
                os.write(self._wake_fd, b"\0")

    def idle(self, timeout: float) -> bool:
        raise NotImplementedError("the mirror's process is not settled from its parent")

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Close the pipe (the child finishes the posts in hand and exits); kill it if it
        has not within `timeout` seconds."""
        self._stopping.set()
        with self._wake_lock:
            if self._wake_fd >= 0:
                os.close(self._wake_fd)
                self._wake_fd = -1
        if not self._watcher.is_alive() and not self._exited.is_set():
            self._watcher.start()  # stopped before it started
        self._watcher.join(timeout)
        if not self._exited.is_set():
            logger.warning("the Slack mirror's process did not stop; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _watch(self) -> None:
        _, status = os.waitpid(self.pid, 0)
        self._exited.set()
        if self._stopping.is_set():
            return
        # Unasked: this process goes too, so that a supervisor restarts both; killed as
        # its mirror was when that was a SIGKILL (the crash tests' faults), else exiting
        # with the shell's code for the child's end.
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            logger.error("the Slack mirror's process was killed by signal %d; exiting", number)
            if number == signal.SIGKILL:
                os.kill(os.getpid(), signal.SIGKILL)
            os._exit(128 + number)
        code = os.waitstatus_to_exitcode(status)
        logger.error("the Slack mirror's process exited with code %d; exiting", code)
        os._exit(code or 1)


def _die_with(parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above
        os._exit(0)


def _run_child(settings: Settings, *, public_url: str, parent: int, wake_fd: int) -> NoReturn:
    code = 0
    try:
        _die_with(parent)
        # A terminal's Ctrl-C or a supervisor's TERM reaches the whole group: the parent
        # stops first and closes the pipe, which is this process's signal to finish.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _serve_mirror(settings, public_url=public_url, wake_fd=wake_fd)
    except BaseException:
        logger.exception("the Slack mirror's process failed")
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def _serve_mirror(settings: Settings, *, public_url: str, wake_fd: int) -> None:
    database = Database(settings.database_url)
    gateway = TwilioGateway(
        account_sid=settings.twilio_account_sid or "",
        auth_token=settings.twilio_auth_token or "",
        api_url=settings.twilio_api_url,
        status_callback_url=f"{public_url}/twilio/status",
        timeout=settings.twilio_timeout_seconds,
    )
    mirror = SlackMirror(
        database=database,
        client=build_web_client(settings),
        fetch_media=gateway.fetch_media,
        lease=timedelta(seconds=settings.mirror_lease_seconds),
        pace=ChannelPace(settings.slack_post_interval_seconds),
        clock=Clock(),
    )
    loop = WorkerLoop("slack-mirror", mirror.step, poll_seconds=settings.dispatcher_poll_seconds)
    # Nothing is posted before the parent starts its workers: a start that fails first
    # (Slack refusing the token, say) says so alone, and this process dies with it.
    if not os.read(wake_fd, 4096):
        return
    loop.start()
    try:
        while os.read(wake_fd, 4096):
            loop.wake()
    finally:
        mirror.stop_claiming()
        loop.stop()
        mirror.close()
        database.dispose()
