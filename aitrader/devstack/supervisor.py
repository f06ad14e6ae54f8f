"""The local stack's supervisor: `aitrader up` starts it detached as ``python -m aitrader.devstack.supervisor``.

It brings up (or connects to) PostgreSQL and Redis, migrates the database, starts every selected service
as ``python -m <module>``, waits for each to answer its health check, then keeps them running: a service
that exits is restarted with exponential backoff. It reports through the state file; SIGTERM or SIGINT
stops everything it started. A start-up failure is written into the state with a message that names the
variable to change, everything started so far is stopped, and the process exits non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, Literal

import httpx
import psutil

from aitrader.devstack.embedded import EmbeddedPostgres, EmbeddedRedis
from aitrader.devstack.ports import ensure_port_free
from aitrader.devstack.registry import ServiceSpec, select_services
from aitrader.devstack.settings import DevstackSettings, StackPaths
from aitrader.devstack.state import (
    ComponentState,
    ProcessRecord,
    StackState,
    SupervisorState,
    redact,
    write_state,
)
from aitrader.errors import AITraderError, ConfigurationError, UnavailableError
from aitrader.log import configure, get_logger
from aitrader.settings import load_settings

log = get_logger("aitrader.devstack.supervisor")  # not __name__: this module runs as __main__

EXIT_STARTUP_FAILED = 1
EXIT_ALREADY_RUNNING = 3
_LOOP_INTERVAL_S = 0.2
_HEALTH_INTERVAL_S = 2.0
_STARTING_HEALTH_INTERVAL_S = 0.25
_INFRA_CHECK_INTERVAL_S = 2.0
_STABLE_AFTER_S = 30.0
_PR_SET_PDEATHSIG = 1


class StartupAborted(AITraderError):
    """A stop signal arrived while the stack was still starting."""

    code = "STARTUP_ABORTED"


def backoff_delay(failures: int, initial_s: float, max_s: float) -> float:
    """Seconds to wait before restart number ``failures`` in a row: doubling from ``initial_s``, capped."""
    if failures <= 0:
        return 0.0
    return float(min(max_s, initial_s * 2 ** min(failures - 1, 32)))


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def check_database(url: str, timeout_s: float = 5.0) -> None:
    """Connect to ``url`` once; fail with a message naming DATABASE_URL (password hidden) when it cannot."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    from aitrader.db.session import make_engine

    try:
        connect_args = {"connect_timeout": max(1, int(timeout_s))} if url.startswith("postgres") else {}
        engine = make_engine(url, poolclass=NullPool, connect_args=connect_args)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except (SQLAlchemyError, ValueError, ImportError) as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise ConfigurationError(redact(f"DATABASE_URL: cannot connect to {url}: {reason}")) from e


def check_redis(url: str, timeout_s: float = 5.0) -> str:
    """Ping the Redis at ``url`` and return its version; fail with a message naming REDIS_URL when it cannot."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        try:
            client.ping()
            return str(client.info("server").get("redis_version", "unknown"))
        finally:
            client.close()
    except (redis.RedisError, ValueError, OSError) as e:
        raise ConfigurationError(redact(f"REDIS_URL: cannot connect to {url}: {e}")) from e


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Ask the kernel to SIGTERM this child when the supervisor dies, so no service outlives it unseen."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class _Service:
    """A supervised child process and what the monitor loop needs to decide its next step."""

    spec: ServiceSpec
    port: int
    state: ComponentState
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    healthy_since: float | None = None
    next_check_at: float = 0.0
    next_start_at: float = 0.0
    failures_in_a_row: int = 0

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.spec.health_path}"


@dataclass
class _Infra:
    """An embedded server we started, with its restart bookkeeping."""

    server: EmbeddedPostgres | EmbeddedRedis
    state: ComponentState
    next_check_at: float = 0.0
    next_start_at: float = 0.0
    failures_in_a_row: int = 0


@dataclass
class Supervisor:
    settings: DevstackSettings
    services: list[ServiceSpec]
    run_id: str
    infra_only: bool = False
    paths: StackPaths = field(init=False)
    state: StackState = field(init=False)
    _stop_requested: bool = field(default=False, init=False)
    _infra: list[_Infra] = field(default_factory=list, init=False)
    _children: dict[str, _Service] = field(default_factory=dict, init=False)
    _database_url: str = field(default="", init=False)
    _redis_url: str = field(default="", init=False)
    _http: httpx.Client | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.paths = self.settings.paths()
        self.state = StackState(
            run_id=self.run_id,
            home=str(self.paths.home),
            services_selected=[] if self.infra_only else [s.name for s in self.services],
            supervisor=SupervisorState(process=ProcessRecord.of(os.getpid()), status="starting"),
        )

    # ----------------------------------------------------------------------------------------- lifecycle

    def run(self) -> int:
        """Start the stack, supervise it until asked to stop, stop it; return the process exit code."""
        self._install_signal_handlers()
        self.paths.logs_dir.mkdir(parents=True, exist_ok=True)
        self._save()
        try:
            self._preflight()
            self._start_database()
            self._start_redis()
            self._migrate()
            if not self.infra_only:
                self._start_services()
        except Exception as e:  # every failure, expected or not, is reported the same way
            error = redact(str(e)) or e.__class__.__name__
            if isinstance(e, StartupAborted):
                log.warning("startup_aborted")
            elif isinstance(e, AITraderError):
                log.error("startup_failed", error=error)
            else:
                log.exception("startup_failed", error=error)
            self._shutdown(final_status="failed", error=error)
            return EXIT_STARTUP_FAILED
        self.state.supervisor.status = "ready"
        self._save()
        log.info("stack_ready", components=list(self._children), run_id=self.run_id)
        self._monitor()
        self._shutdown(final_status="stopped")
        return 0

    def _install_signal_handlers(self) -> None:
        def request_stop(signum: int, _frame: FrameType | None) -> None:
            if not self._stop_requested:
                log.info("stop_requested", signal=signal.Signals(signum).name)
            self._stop_requested = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _check_stop(self) -> None:
        if self._stop_requested:
            raise StartupAborted("stopped by a signal while the stack was starting")

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop_requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))

    def _save(self) -> None:
        write_state(self.paths.state_file, self.state)

    # ------------------------------------------------------------------------------------------ start-up

    def _preflight(self) -> None:
        """Check every port and setting before starting anything, so a mistake costs nothing to undo."""
        if self.settings.database_url is not None:
            check_database(self.settings.database_url)
        if self.settings.redis_url is not None:
            check_redis(str(self.settings.redis_url))
        # A server of ours left running on our data directory is stopped later, so its port does not count.
        if self.settings.database_url is None and self._leftover_postgres() is None:
            ensure_port_free(self.settings.pg_port, "AITRADER_PG_PORT")
        if self.settings.redis_url is None and self._leftover_redis() is None:
            ensure_port_free(self.settings.redis_port, "AITRADER_REDIS_PORT")
        if self.infra_only:
            return
        seen: dict[int, str] = {}
        for spec in self.services:
            port = spec.resolved_port()
            if port in seen:
                raise ConfigurationError(
                    f"{spec.port_env} and {seen[port]} both choose port {port}: give each service its own port"
                )
            seen[port] = spec.port_env
            ensure_port_free(port, spec.port_env)

    def _leftover_postgres(self) -> int | None:
        return _leftover(EmbeddedPostgres(self.paths.postgres_data, self.settings.pg_port))

    def _leftover_redis(self) -> int | None:
        return _leftover(EmbeddedRedis(self.paths.redis_data, self.settings.redis_port))

    def _start_database(self) -> None:
        self._check_stop()
        external = self.settings.database_url
        server = EmbeddedPostgres(self.paths.postgres_data, self.settings.pg_port) if external is None else None
        self._database_url = self._start_infra("postgres", "database", external, server, "AITRADER_PG_PORT")

    def _start_redis(self) -> None:
        self._check_stop()
        external = str(self.settings.redis_url) if self.settings.redis_url is not None else None
        server = None
        if external is None:
            server = EmbeddedRedis(self.paths.redis_data, self.settings.redis_port, persistent=True)
        self._redis_url = self._start_infra("redis", "redis", external, server, "AITRADER_REDIS_PORT")

    def _start_infra(
        self,
        name: str,
        kind: Literal["database", "redis"],
        external_url: str | None,
        server: EmbeddedPostgres | EmbeddedRedis | None,
        port_variable: str,
    ) -> str:
        """Use the external server at ``external_url``, or start the embedded ``server``; return its URL.

        The component is recorded under ``self.state.<kind>`` before anything starts, so `aitrader status`
        shows it starting and a failure is reported against it.
        """
        if server is None:
            assert external_url is not None
            state = ComponentState(name=name, kind=kind, url=external_url, embedded=False, status="healthy")
            setattr(self.state, kind, state)
            self._save()
            return external_url
        state = ComponentState(
            name=name, kind=kind, url=server.url, port=server.port, log=str(self.paths.log_path(name))
        )
        setattr(self.state, kind, state)
        leftover = _leftover(server)
        if leftover is not None:
            # A supervisor that was killed outright leaves its servers behind; they hold our data directory.
            log.warning("stopping_leftover_server", component=name, pid=leftover)
            server.stop()
        ensure_port_free(server.port, port_variable)
        self._save()
        infra = _Infra(server=server, state=state)
        self._infra.append(infra)  # registered first, so a half-started server is stopped on failure
        self._launch_embedded(infra)
        return server.url

    def _launch_embedded(self, infra: _Infra) -> None:
        try:
            infra.server.start()
        except (UnavailableError, subprocess.CalledProcessError, OSError) as e:
            detail = e.stderr.decode(errors="replace").strip() if isinstance(e, subprocess.CalledProcessError) else e
            raise UnavailableError(
                f"embedded {infra.state.name} did not start on port {infra.server.port}: {detail} "
                f"(see {infra.state.log})"
            ) from e
        pid = infra.server.pid()
        infra.state.process = ProcessRecord.of(pid) if pid is not None else None
        infra.state.status = "healthy"
        infra.state.last_error = None
        self._save()

    def _migrate(self) -> None:
        self._check_stop()
        from aitrader.db.migrations import current, head, upgrade

        try:
            upgrade(self._database_url)
            revision = current(self._database_url)
            log.info("database_migrated", revision=revision, head=head())
        except AITraderError:
            raise
        except Exception as e:
            raise UnavailableError(
                redact(f"migrating the database at {self._database_url} failed: {e.__class__.__name__}: {e}")
            ) from e

    def _start_services(self) -> None:
        for spec in self.services:
            self._check_stop()
            port = spec.resolved_port()
            ensure_port_free(port, spec.port_env)
            child = _Service(
                spec=spec,
                port=port,
                state=ComponentState(
                    name=spec.name,
                    kind="service",
                    port=port,
                    url=f"http://127.0.0.1:{port}",
                    log=str(self.paths.log_path(spec.name)),
                ),
            )
            self._children[spec.name] = child
            self.state.services[spec.name] = child.state
            self._spawn(child)
        self._save()
        deadline = time.monotonic() + self.settings.health_timeout_s
        waiting = set(self._children)
        while waiting:
            self._check_stop()
            for name in sorted(waiting):
                child = self._children[name]
                assert child.process is not None
                code = child.process.poll()
                if code is not None:
                    child.state.status = "failed"
                    child.state.last_error = f"exited with code {code} during start-up"
                    raise UnavailableError(
                        f"{name} exited with code {code} during start-up; last lines of {child.state.log}:\n"
                        + log_tail(Path(child.state.log or ""))
                    )
                if self._healthy(child):
                    child.state.status = "healthy"
                    child.healthy_since = time.monotonic()
                    waiting.discard(name)
                    self._save()
                    log.info("service_healthy", component=name, port=child.port)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(sorted(waiting))
                for name in waiting:
                    self._children[name].state.status = "failed"
                    self._children[name].state.last_error = "no healthy answer in time"
                raise UnavailableError(
                    f"{names} did not answer "
                    + ", ".join(f"GET {self._children[n].health_url}" for n in sorted(waiting))
                    + f" within {self.settings.health_timeout_s:g} s (AITRADER_HEALTH_TIMEOUT_S); "
                    f"see `aitrader logs {sorted(waiting)[0]}`"
                )
            if waiting:
                self._sleep(_STARTING_HEALTH_INTERVAL_S)

    def _service_env(self, child: _Service) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self._database_url,
            REDIS_URL=self._redis_url,
            AITRADER_STREAM_PREFIX=self.settings.stream_prefix,
            LOG_LEVEL=self.settings.log_level,
            PYTHONUNBUFFERED="1",
            AITRADER_HOME=str(self.paths.home),  # where a service keeps state of its own (mock_mcp's account)
        )
        env[child.spec.port_env] = str(child.port)
        return env

    def _spawn(self, child: _Service) -> None:
        log_path = self.paths.log_path(child.spec.name)
        with log_path.open("ab") as log_file:
            child.process = subprocess.Popen(
                [sys.executable, "-m", child.spec.module],
                env=self._service_env(child),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # the supervisor is single-threaded, so this is safe
            )
        child.started_at = time.monotonic()
        child.healthy_since = None
        child.next_check_at = child.started_at
        child.state.process = ProcessRecord.of(child.process.pid)
        if child.state.status != "restarting":
            child.state.status = "starting"
        log.info("service_started", component=child.spec.name, pid=child.process.pid, port=child.port)

    def _healthy(self, child: _Service, timeout_s: float = 1.0) -> bool:
        if self._http is None:
            self._http = httpx.Client(timeout=timeout_s)
        try:
            return self._http.get(child.health_url, timeout=timeout_s).status_code == 200
        except httpx.HTTPError:
            return False

    # ---------------------------------------------------------------------------------------- monitoring

    def _monitor(self) -> None:
        while not self._stop_requested:
            now = time.monotonic()
            changed = False
            for child in self._children.values():
                changed |= self._tend_service(child, now)
            for infra in self._infra:
                changed |= self._tend_infra(infra, now)
            if changed:
                self._save()
            self._sleep(_LOOP_INTERVAL_S)

    def _tend_service(self, child: _Service, now: float) -> bool:
        """Advance one service by a step: restart it when due, notice an exit, check its health."""
        state = child.state
        before = (state.status, state.restarts, state.last_error, state.process)
        if child.process is None:
            if now >= child.next_start_at:
                self._spawn(child)
        elif (code := child.process.poll()) is not None:
            child.process = None
            child.failures_in_a_row += 1
            state.restarts += 1
            state.status = "restarting"
            state.process = None
            state.last_error = _describe_exit(code)
            delay = backoff_delay(
                child.failures_in_a_row, self.settings.restart_backoff_initial_s, self.settings.restart_backoff_max_s
            )
            child.next_start_at = now + delay
            log.warning(
                "service_exited",
                component=child.spec.name,
                reason=state.last_error,
                restarts=state.restarts,
                restart_in_s=delay,
            )
        elif now >= child.next_check_at:
            healthy = self._healthy(child)
            if healthy:
                if state.status != "healthy":
                    log.info("service_healthy", component=child.spec.name, restarts=state.restarts)
                state.status = "healthy"
                child.healthy_since = child.healthy_since or now
                if now - child.healthy_since > _STABLE_AFTER_S:
                    child.failures_in_a_row = 0
            elif state.status in ("starting", "restarting"):
                if now - child.started_at > self.settings.health_timeout_s:
                    state.last_error = (
                        f"no healthy answer from {child.health_url} within {self.settings.health_timeout_s:g} s"
                    )
                    log.warning("service_not_healthy_in_time", component=child.spec.name)
                    _terminate([child.process], self.settings.stop_grace_s)
            else:
                if state.status == "healthy":
                    log.warning("service_unhealthy", component=child.spec.name)
                state.status = "unhealthy"
                state.last_error = f"GET {child.health_url} failed"
                child.healthy_since = None
            interval = _HEALTH_INTERVAL_S if state.status == "healthy" else _STARTING_HEALTH_INTERVAL_S
            child.next_check_at = now + interval
        return before != (state.status, state.restarts, state.last_error, state.process)

    def _tend_infra(self, infra: _Infra, now: float) -> bool:
        """Restart an embedded server that died (the services reconnect on their own)."""
        if now < infra.next_check_at:
            return False
        infra.next_check_at = now + _INFRA_CHECK_INTERVAL_S
        state = infra.state
        if state.status != "restarting" and state.process is not None and state.process.alive():
            return False
        if state.status != "restarting":
            infra.failures_in_a_row += 1
            state.restarts += 1
            state.status = "restarting"
            state.last_error = f"process {state.process.pid if state.process else '?'} exited"
            state.process = None
            delay = backoff_delay(
                infra.failures_in_a_row, self.settings.restart_backoff_initial_s, self.settings.restart_backoff_max_s
            )
            infra.next_start_at = now + delay
            log.warning("embedded_server_exited", component=state.name, restart_in_s=delay)
            return True
        if now < infra.next_start_at:
            return False
        try:
            self._launch_embedded(infra)
            log.info("embedded_server_restarted", component=state.name)
        except AITraderError as e:
            infra.failures_in_a_row += 1
            state.last_error = redact(str(e))
            infra.next_start_at = now + backoff_delay(
                infra.failures_in_a_row, self.settings.restart_backoff_initial_s, self.settings.restart_backoff_max_s
            )
            log.error("embedded_server_restart_failed", component=state.name, error=state.last_error)
        return True

    # ------------------------------------------------------------------------------------------ shutdown

    def _shutdown(self, final_status: str, error: str | None = None) -> None:
        """Stop services, then the servers we started (never external ones), and record it."""
        self.state.supervisor.status = "stopping"
        self._save()
        processes = [c.process for c in self._children.values() if c.process is not None]
        _terminate(processes, self.settings.stop_grace_s)
        for child in self._children.values():
            child.process = None
            child.state.process = None
            if child.state.status != "failed":
                child.state.status = "stopped"
        for infra in reversed(self._infra):
            try:
                infra.server.stop()
            except (AITraderError, OSError, subprocess.SubprocessError) as e:
                log.error("embedded_server_stop_failed", component=infra.state.name, error=str(e))
                continue
            infra.state.process = None
            infra.state.status = "stopped"
        for component in (self.state.database, self.state.redis):
            if component is not None and not component.embedded:
                component.status = "stopped"
        if self._http is not None:
            self._http.close()
        self.state.supervisor.status = "failed" if final_status == "failed" else "stopped"
        self.state.supervisor.error = error
        self.state.supervisor.process = None
        self._save()
        log.info("supervisor_stopped", status=self.state.supervisor.status)


def _leftover(server: EmbeddedPostgres | EmbeddedRedis) -> int | None:
    """The pid of a server still running on ``server``'s data directory; a stale pid file (its pid now
    belongs to some other program) does not count."""
    pid = server.pid()
    if pid is None:
        return None
    expected = "postgres" if isinstance(server, EmbeddedPostgres) else "redis-server"
    try:
        name = psutil.Process(pid).name()
    except psutil.Error:
        return None
    return pid if name.startswith(expected) else None


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def _terminate(processes: list[subprocess.Popen[bytes]], grace_s: float) -> None:
    """SIGTERM every process, wait up to ``grace_s`` for all of them, SIGKILL the rest."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("killing_unresponsive_child", pid=process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[IO[Any] | None]:
    """Hold ``path`` locked for the supervisor's lifetime; yield ``None`` when another supervisor holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield handle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aitrader.devstack.supervisor", description=__doc__)
    parser.add_argument("services", nargs="*", help="services to run (default: every registered service)")
    parser.add_argument("--run-id", default=f"run-{os.getpid()}-{int(time.time())}")
    parser.add_argument("--home", type=Path, help="the stack's home directory (default: AITRADER_HOME)")
    parser.add_argument("--infra-only", action="store_true", help="start the databases and migrate, no services")
    args = parser.parse_args(argv)

    overrides: dict[str, object] = {"AITRADER_HOME": args.home} if args.home else {}
    try:
        settings = load_settings(DevstackSettings, **overrides)
        services = select_services(args.services)
    except ConfigurationError as e:
        print(f"error: {redact(str(e))}", file=sys.stderr)
        return EXIT_STARTUP_FAILED
    configure("supervisor", settings.log_level)
    for chatty in ("httpx", "httpcore"):  # one line per health check otherwise
        logging.getLogger(chatty).setLevel(logging.WARNING)
    paths = settings.paths()
    with _exclusive_lock(paths.home / "supervisor.lock") as lock:
        if lock is None:
            log.error("another_supervisor_running", home=str(paths.home))
            return EXIT_ALREADY_RUNNING
        supervisor = Supervisor(settings=settings, services=services, run_id=args.run_id, infra_only=args.infra_only)
        return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
