"""The local stack's state file (``<AITRADER_HOME>/state.json``): written by the supervisor, read by the CLI.

The supervisor is the only writer while it runs and replaces the file atomically, so a reader never sees
half a document. Every process is recorded with its start time as well as its pid, so a pid the kernel
has since handed to an unrelated process is never mistaken for ours.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Literal

import psutil
from pydantic import BaseModel, Field, ValidationError

from aitrader.errors import ConfigurationError

SupervisorStatus = Literal["starting", "ready", "failed", "stopping", "stopped"]
ComponentStatus = Literal["starting", "healthy", "unhealthy", "restarting", "failed", "stopped"]
ComponentKind = Literal["database", "redis", "service"]

STATE_VERSION = 1
_PASSWORD_IN_URL = re.compile(r"(?P<prefix>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<password>[^@\s/]*)@")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _PASSWORD_IN_URL.sub(lambda m: f"{m.group('prefix')}:***@", text)


class ProcessRecord(BaseModel):
    """A process we started: its pid and its start time (psutil's ``create_time``)."""

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> ProcessRecord | None:
        try:
            return cls(pid=pid, create_time=psutil.Process(pid).create_time())
        except psutil.Error:
            return None

    def alive(self) -> bool:
        return process_alive(self.pid, self.create_time)


def process_alive(pid: int, create_time: float | None = None) -> bool:
    """Whether ``pid`` runs (a zombie does not) and, when given, was started at ``create_time``."""
    try:
        process = psutil.Process(pid)
        if create_time is not None and abs(process.create_time() - create_time) > 1.0:
            return False
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class ComponentState(BaseModel):
    """One database, Redis or service of the stack as the supervisor last saw it."""

    name: str
    kind: ComponentKind
    status: ComponentStatus = "starting"
    process: ProcessRecord | None = None
    port: int | None = None
    url: str | None = Field(default=None, description="Connection URL (databases) or base HTTP URL (services).")
    embedded: bool = True
    restarts: int = 0
    last_error: str | None = None
    log: str | None = None

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()


class SupervisorState(BaseModel):
    process: ProcessRecord | None = None
    status: SupervisorStatus = "starting"
    error: str | None = None
    started_at: float = Field(default_factory=time.time)

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()


class StackState(BaseModel):
    """The whole document: the run it belongs to, the supervisor and every component."""

    version: int = STATE_VERSION
    run_id: str
    home: str
    services_selected: list[str] = Field(default_factory=list)
    supervisor: SupervisorState = Field(default_factory=SupervisorState)
    database: ComponentState | None = None
    redis: ComponentState | None = None
    services: dict[str, ComponentState] = Field(default_factory=dict)
    updated_at: float = Field(default_factory=time.time)

    def components(self) -> list[ComponentState]:
        infra = [c for c in (self.database, self.redis) if c is not None]
        return [*infra, *self.services.values()]

    def running(self) -> bool:
        return self.supervisor.alive()


def read_state(path: Path) -> StackState | None:
    """The state at ``path``, or ``None`` when there is none; a corrupt file is an error naming it."""
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return StackState.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as e:
        raise ConfigurationError(
            f"state file {path} is not valid ({e.__class__.__name__}): stop strays with `aitrader down` "
            f"after removing it"
        ) from e


def write_state(path: Path, state: StackState) -> None:
    """Replace ``path`` with ``state`` atomically; the file is private (it may hold database URLs)."""
    state.updated_at = time.time()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(state.model_dump_json(indent=2))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
