from __future__ import annotations

import socket
from pathlib import Path

import pytest

from aitrader.devstack.ports import ensure_port_free, free_port
from aitrader.devstack.settings import DevstackSettings
from aitrader.devstack.supervisor import backoff_delay, check_database, check_redis, log_tail
from aitrader.errors import ConfigurationError
from aitrader.settings import load_settings


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap():
    delays = [backoff_delay(n, initial_s=0.5, max_s=5.0) for n in range(7)]

    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_backoff_stays_capped_after_very_many_failures():
    assert backoff_delay(10_000, initial_s=0.5, max_s=30.0) == 30.0


def test_closed_database_port_is_reported_naming_database_url_without_the_password():
    port = free_port()

    with pytest.raises(ConfigurationError) as raised:
        check_database(f"postgresql://nobody:s3cret@127.0.0.1:{port}/x", timeout_s=2)

    message = str(raised.value)
    assert message.startswith(f"DATABASE_URL: cannot connect to postgresql://nobody:***@127.0.0.1:{port}/x: ")
    assert "s3cret" not in message


def test_closed_redis_port_is_reported_naming_redis_url():
    port = free_port()

    with pytest.raises(ConfigurationError, match=f"REDIS_URL: cannot connect to redis://127.0.0.1:{port}/0"):
        check_redis(f"redis://127.0.0.1:{port}/0", timeout_s=2)


def test_port_held_by_a_listener_is_reported_with_its_variable():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        with pytest.raises(ConfigurationError, match=f"port {port} on 127.0.0.1 is already in use .*BACKEND_PORT"):
            ensure_port_free(port, "BACKEND_PORT")


def test_port_with_only_lingering_connections_counts_as_free():
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn, Redis, PostgreSQL do
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server side closes first: its end lingers in TIME_WAIT
        client.close()

    ensure_port_free(port, "BACKEND_PORT")


def test_log_tail_returns_the_last_lines(tmp_path: Path):
    path = tmp_path / "x.log"
    path.write_text("".join(f"line {n}\n" for n in range(100)))

    assert log_tail(path, lines=2) == "line 98\nline 99"
    assert log_tail(tmp_path / "missing.log") == ""


def test_devstack_settings_defaults_and_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for name in ("AITRADER_HOME", "AITRADER_PG_PORT", "AITRADER_REDIS_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

    settings = load_settings(DevstackSettings)
    paths = settings.paths()

    assert (settings.pg_port, settings.redis_port) == (55432, 56379)
    assert paths.home == tmp_path.resolve() / ".aitrader"
    assert paths.state_file == paths.home / "state.json"
    assert paths.log_path("backend") == paths.home / "logs" / "backend.log"
    assert paths.log_path("postgres") == paths.home / "postgres" / "postgres.log"


def test_devstack_settings_reject_a_bad_port_naming_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AITRADER_PG_PORT", "99999")

    with pytest.raises(ConfigurationError, match="AITRADER_PG_PORT"):
        load_settings(DevstackSettings)
