"""Client side of the local stack: start the supervisor, stop everything, report status and URLs.

The CLI (`aitrader up/down/status/migrate`) is a thin layer over these functions; other commands find the
running stack's databases through :func:`stack_urls`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import psutil

from aitrader.devstack.registry import select_services
from aitrader.devstack.settings import DevstackSettings, StackPaths
from aitrader.devstack.state import (
    ComponentState,
    ProcessRecord,
    StackState,
    process_alive,
    read_state,
    redact,
    write_state,
)
from aitrader.devstack.supervisor import log_tail
from aitrader.errors import ConfigurationError
from aitrader.settings import load_settings

SUPERVISOR_MODULE = "aitrader.devstack.supervisor"
_POLL_S = 0.1
_EMBEDDED_STOP_ALLOWANCE_S = 60.0


class StackUrls(NamedTuple):
    """The database and Redis of the stack in use; ``None`` where neither the environment nor a stack has one."""

    database_url: str | None
    redis_url: str | None

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigurationError(
                "DATABASE_URL is not set and no stack is running: run `aitrader up` or set DATABASE_URL"
            )
        return self.database_url

    def require_redis_url(self) -> str:
        if self.redis_url is None:
            raise ConfigurationError("REDIS_URL is not set and no stack is running: run `aitrader up` or set REDIS_URL")
        return self.redis_url


def stack_urls(home: Path | str | None = None) -> StackUrls:
    """DATABASE_URL / REDIS_URL from the environment (and ``.env``) first, then those of the running stack.

    ``home`` is the stack's directory (default: AITRADER_HOME, else ``./.aitrader``).
    """
    settings = load_settings(DevstackSettings)
    database_url = settings.database_url
    redis_url = str(settings.redis_url) if settings.redis_url is not None else None
    if database_url is None or redis_url is None:
        paths = StackPaths(Path(home).expanduser().resolve()) if home is not None else settings.paths()
        state = running_state(paths)
        if state is not None:
            if database_url is None and state.database is not None:
                database_url = state.database.url
            if redis_url is None and state.redis is not None:
                redis_url = state.redis.url
    return StackUrls(database_url, redis_url)


def running_state(paths: StackPaths) -> StackState | None:
    """The state of the stack under ``paths`` when its supervisor is alive, else ``None``."""
    state = read_state(paths.state_file)
    return state if state is not None and state.running() else None


# ------------------------------------------------------------------------------------------------- up


@dataclass
class UpResult:
    ok: bool
    state: StackState | None
    error: str | None = None
    already_running: bool = False
    cleaned_up: list[int] = field(default_factory=list)


def start_stack(settings: DevstackSettings, services: Iterable[str] = (), *, infra_only: bool = False) -> UpResult:
    """Start the supervisor detached and wait until it reports the stack ready or failed."""
    names = list(services)
    select_services(names)  # unknown names fail here, before anything starts
    paths = settings.paths()
    previous = read_state(paths.state_file)
    if previous is not None and previous.running():
        return UpResult(ok=True, state=previous, already_running=True)
    cleaned = stop_leftovers(previous, paths, settings.stop_grace_s).stopped if previous is not None else []

    run_id = uuid.uuid4().hex
    paths.logs_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", SUPERVISOR_MODULE, "--home", str(paths.home), "--run-id", run_id]
    if infra_only:
        argv.append("--infra-only")
    argv.extend(names)
    pid = _spawn_detached(argv, paths.supervisor_log, {**os.environ, "AITRADER_HOME": str(paths.home)})

    deadline = time.monotonic() + settings.startup_timeout_s
    while True:
        state = _read_state_quietly(paths)
        exited, code = _reap(pid)
        if state is not None and state.run_id == run_id:
            if state.supervisor.status == "ready":
                return UpResult(ok=True, state=state, cleaned_up=cleaned)
            if state.supervisor.status in ("failed", "stopped") and (exited or not process_alive(pid)):
                return UpResult(
                    ok=False,
                    state=state,
                    cleaned_up=cleaned,
                    error=state.supervisor.error or "the supervisor stopped during start-up",
                )
        if exited:
            state = _read_state_quietly(paths)
            if state is not None and state.run_id == run_id and state.supervisor.error:
                return UpResult(ok=False, state=state, error=state.supervisor.error, cleaned_up=cleaned)
            tail = log_tail(paths.supervisor_log)
            return UpResult(
                ok=False,
                state=state,
                cleaned_up=cleaned,
                error=f"the supervisor exited with code {code} before reporting; "
                f"last lines of {paths.supervisor_log}:\n{tail}",
            )
        if time.monotonic() > deadline:
            _signal(pid, signal.SIGTERM)
            _wait_gone([pid], settings.stop_grace_s + _EMBEDDED_STOP_ALLOWANCE_S, reap=True)
            return UpResult(
                ok=False,
                state=_read_state_quietly(paths),
                cleaned_up=cleaned,
                error=f"the stack did not become ready within {settings.startup_timeout_s:g} s "
                f"(AITRADER_STARTUP_TIMEOUT_S); see {paths.supervisor_log}",
            )
        time.sleep(_POLL_S)


def _spawn_detached(argv: list[str], log_path: Path, env: dict[str, str]) -> int:
    """Start ``argv`` in a session of its own, stdin from /dev/null, stdout and stderr appended to ``log_path``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    return os.posix_spawn(
        argv[0],
        argv,
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log_path), flags, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )


def _reap(pid: int) -> tuple[bool, int | None]:
    """Whether our child ``pid`` has exited, and its exit code (negative: killed by that signal)."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return (not process_alive(pid), None)
    if done == 0:
        return (False, None)
    return (True, os.waitstatus_to_exitcode(status))


def _read_state_quietly(paths: StackPaths) -> StackState | None:
    try:
        return read_state(paths.state_file)
    except ConfigurationError:
        return None


# ----------------------------------------------------------------------------------------------- down


@dataclass
class DownResult:
    was_running: bool
    stopped: list[int] = field(default_factory=list)
    survivors: list[int] = field(default_factory=list)


def stop_stack(settings: DevstackSettings) -> DownResult:
    """Stop the stack: SIGTERM its supervisor and wait; then stop, by pid, anything it left behind.

    Idempotent: with nothing running it only tidies the state file. ``survivors`` lists every recorded
    pid that is still alive afterwards (it should be empty).
    """
    paths = settings.paths()
    state = read_state(paths.state_file)
    recorded = _recorded_processes(state) if state is not None else []
    strays = _find_strays(paths)
    was_running = any(record.alive() for record in recorded) or bool(strays)
    recorded.extend(record for record in strays if record.pid not in {r.pid for r in recorded})

    supervisor = state.supervisor.process if state is not None else None
    if supervisor is not None and supervisor.alive():
        _signal(supervisor.pid, signal.SIGTERM)
        if not _wait_gone([supervisor], settings.stop_grace_s + _EMBEDDED_STOP_ALLOWANCE_S):
            _signal(supervisor.pid, signal.SIGKILL)
            _wait_gone([supervisor], 10.0)
    after = _read_state_quietly(paths) or state
    if after is not None:
        stop_leftovers(after, paths, settings.stop_grace_s)
    for record in _find_strays(paths):
        _signal(record.pid, signal.SIGKILL)
        recorded.append(record)
    for record in recorded:
        if record.alive():
            _signal(record.pid, signal.SIGKILL)
    _wait_gone(recorded, 10.0)
    survivors = sorted({record.pid for record in recorded if record.alive()})
    stopped = sorted({record.pid for record in recorded} - set(survivors))
    return DownResult(was_running=was_running, stopped=stopped, survivors=survivors)


def stop_leftovers(state: StackState, paths: StackPaths, grace_s: float) -> DownResult:
    """Stop, by recorded pid, every process of ``state`` still alive (services, Redis, PostgreSQL), then
    mark the state stopped. Used when the supervisor is gone or did not stop them itself."""
    records = _recorded_processes(state)
    alive = [record for record in records if record.alive()]
    services = [c.process for c in state.services.values() if c.process is not None and c.process.alive()]
    redis = state.redis.process if state.redis is not None and state.redis.embedded else None
    postgres = state.database.process if state.database is not None and state.database.embedded else None
    for record in services:
        _signal(record.pid, signal.SIGTERM)
    if redis is not None and redis.alive():
        _signal(redis.pid, signal.SIGTERM)
    if postgres is not None and postgres.alive():
        _signal(postgres.pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown: roll back clients, checkpoint
    if not _wait_gone(alive, grace_s):
        for record in alive:
            if record.alive():
                _signal(record.pid, signal.SIGKILL)
        _wait_gone(alive, 10.0)
    _mark_stopped(state, paths)
    return DownResult(
        was_running=bool(alive),
        stopped=[record.pid for record in alive if not record.alive()],
        survivors=[record.pid for record in alive if record.alive()],
    )


def _recorded_processes(state: StackState) -> list[ProcessRecord]:
    """Every process the state names, and the children of the embedded PostgreSQL server."""
    records = [state.supervisor.process] if state.supervisor.process is not None else []
    for component in state.components():
        if component.process is None or not component.embedded:
            continue
        records.append(component.process)
        if component.kind == "database" and component.process.alive():
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(component.process.pid).children(recursive=True):
                    record = ProcessRecord.of(child.pid)
                    if record is not None:
                        records.append(record)
    return records


def _mark_stopped(state: StackState, paths: StackPaths) -> None:
    if state.supervisor.process is not None and state.supervisor.alive():
        return
    state.supervisor.process = None
    if state.supervisor.status != "failed":
        state.supervisor.status = "stopped"
    for component in state.components():
        if component.process is None or not component.process.alive():
            component.process = None
            if component.status != "failed":
                component.status = "stopped"
    write_state(paths.state_file, state)


def _find_strays(paths: StackPaths) -> list[ProcessRecord]:
    """Supervisors and PostgreSQL servers of this home that no state file names (the file was lost)."""
    home = str(paths.home)
    strays = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if process.pid == os.getpid() or home not in " ".join(cmdline):
            continue
        is_supervisor = SUPERVISOR_MODULE in cmdline and str(paths.home) in cmdline
        is_postgres = bool(cmdline) and Path(cmdline[0]).name == "postgres" and str(paths.postgres_data) in cmdline
        if is_supervisor or is_postgres:
            record = ProcessRecord.of(process.pid)
            if record is not None:
                strays.append(record)
    return strays


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _wait_gone(records: Iterable[ProcessRecord | int], timeout_s: float, *, reap: bool = False) -> bool:
    """Wait until none of ``records`` is alive; ``True`` when that happened within ``timeout_s``."""
    items = list(records)
    deadline = time.monotonic() + timeout_s
    while True:
        pending: list[ProcessRecord | int] = []
        for item in items:
            if isinstance(item, int):
                if reap:
                    _reap(item)
                if process_alive(item):
                    pending.append(item)
            elif item.alive():
                pending.append(item)
        if not pending:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S)


# --------------------------------------------------------------------------------------------- status


def component_rows(state: StackState) -> list[dict[str, Any]]:
    """One row per component with what a person (or `status --json`) needs; URLs without passwords."""
    running = state.running()
    rows: list[dict[str, Any]] = []
    for component in state.components():
        rows.append(
            {
                "name": component.name,
                "kind": component.kind,
                "pid": component.process.pid if component.process is not None and component.alive() else None,
                "port": component.port,
                "url": redact(component.url) if component.url else None,
                "embedded": component.embedded,
                "status": effective_status(component, running),
                "restarts": component.restarts,
                "last_error": component.last_error,
                "log": component.log,
            }
        )
    return rows


def effective_status(component: ComponentState, supervisor_running: bool) -> str:
    """The recorded status, corrected where the recorded process is gone (the supervisor can no longer say)."""
    if component.process is not None and not component.alive() and component.status not in ("failed", "stopped"):
        return "restarting" if supervisor_running else "stopped"
    if not supervisor_running and component.status in ("starting", "healthy", "unhealthy", "restarting"):
        return "stopped" if component.process is None else component.status
    return component.status


def stack_healthy(state: StackState) -> bool:
    if not state.running() or state.supervisor.status != "ready":
        return False
    return all(row["status"] == "healthy" for row in component_rows(state))
