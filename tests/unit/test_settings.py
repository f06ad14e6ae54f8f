"""CommonSettings: the environment is read, bad values are reported all at once naming the variable, and every
variable a service reads is documented in .env.example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aitrader.devstack.settings import DevstackSettings
from aitrader.errors import ConfigurationError
from aitrader.settings import CommonSettings, Environment, load_settings, sqlalchemy_url
from backend.settings import BackendSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
_ALL_SETTINGS = (CommonSettings, DevstackSettings, BackendSettings)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable of ours from the outer environment, and no .env file in the working directory."""
    for name in _documented_variables() | _read_variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _read_variables() -> set[str]:
    names = set()
    for cls in _ALL_SETTINGS:
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            names.add(alias if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def _documented_variables() -> set[str]:
    text = (REPO_ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_defaults_leave_the_servers_to_aitrader_up():
    settings = load_settings(CommonSettings)

    assert settings.database_url is None and settings.redis_url is None
    assert settings.stream_prefix == "" and settings.log_level == "INFO"
    assert settings.environment is Environment.DEV


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/aitrader")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/1")
    monkeypatch.setenv("AITRADER_STREAM_PREFIX", "paper:")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("AITRADER_ENV", "prod")
    monkeypatch.setenv("AITRADER_BUS_MAX_DELIVERIES", "3")

    settings = load_settings(CommonSettings)

    assert settings.require_database_url() == "postgresql://u:p@db:5432/aitrader"
    assert settings.require_redis_url() == "redis://cache:6379/1"
    assert (settings.stream_prefix, settings.log_level, settings.environment) == ("paper:", "DEBUG", Environment.PROD)
    assert settings.consumer_config().max_deliveries == 3


def test_a_dotenv_file_is_read_and_the_real_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    (tmp_path / ".env").write_text("AITRADER_STREAM_PREFIX=from-file:\nLOG_LEVEL=ERROR\n")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")

    settings = load_settings(CommonSettings)

    assert (settings.stream_prefix, settings.log_level) == ("from-file:", "WARNING")


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("DATABASE_URL", "")

    settings = load_settings(CommonSettings)

    assert settings.redis_url is None and settings.database_url is None
    with pytest.raises(ConfigurationError, match="REDIS_URL is not set"):
        settings.require_redis_url()


def test_every_bad_variable_is_reported_at_once_with_what_arrived(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://root@db/x")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    monkeypatch.setenv("AITRADER_BUS_MAXLEN", "-5")

    with pytest.raises(ConfigurationError) as raised:
        load_settings(CommonSettings)

    message = str(raised.value)
    assert "DATABASE_URL: " in message and "was 'mysql://root@db/x'" in message
    assert "LOG_LEVEL: " in message and "'LOUD'" in message
    assert "AITRADER_BUS_MAXLEN: " in message and "'-5'" in message


def test_a_bad_prefixed_variable_is_reported_by_its_variable_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BACKEND_PORT", "99999")

    with pytest.raises(ConfigurationError, match="BACKEND_PORT: Input should be less than 65536, was '99999'"):
        load_settings(BackendSettings)


def test_a_service_reads_its_own_variables_under_its_prefix(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BACKEND_PORT", "8123")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")

    settings = load_settings(BackendSettings)

    assert settings.port == 8123 and settings.redis_url is not None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
    ],
)
def test_sqlalchemy_url_uses_psycopg_3(url: str, expected: str):
    assert sqlalchemy_url(url) == expected


def test_every_variable_read_is_documented_in_env_example():
    assert _read_variables() - _documented_variables() == set()
