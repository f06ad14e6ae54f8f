"""docker-compose.yml is valid and follows the house rules; checked with docker-compose, no engine needed."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKER_COMPOSE = shutil.which("docker-compose")

pytestmark = pytest.mark.skipif(
    DOCKER_COMPOSE is None and not os.environ.get("CI"),  # CI installs it: there, its absence fails the tests
    reason="docker-compose is not installed (make setup installs Debian's)",
)


def _compose_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "COMPOSE_"))}
    env.update(extra)
    return env


def _compose(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    assert DOCKER_COMPOSE is not None
    return subprocess.run(
        [DOCKER_COMPOSE, "--project-directory", str(REPO_ROOT), "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        env=_compose_env(**env),
        cwd=REPO_ROOT,
        timeout=60,
    )


def _resolved_config() -> dict[str, Any]:
    """The compose file after interpolation, parsed by the YAML library docker-compose itself runs on."""
    result = _compose("config", POSTGRES_PASSWORD="test-password")
    assert result.returncode == 0, result.stderr
    assert DOCKER_COMPOSE is not None
    interpreter = Path(DOCKER_COMPOSE).read_text().splitlines()[0].removeprefix("#!").split()
    parsed = subprocess.run(
        [*interpreter, "-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
        input=result.stdout,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    config: dict[str, Any] = json.loads(parsed.stdout)
    return config


def _documented_variables() -> set[str]:
    names = set()
    lines = ENV_EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            assert index > 0 and lines[index - 1].startswith("#"), f"{match.group(1)} has no comment above it"
            names.add(match.group(1))
    return names


def test_compose_file_is_valid_when_the_password_is_set():
    result = _compose("config", "-q", POSTGRES_PASSWORD="test-password")

    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_run_without_a_postgres_password():
    result = _compose("config", "-q")

    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr


def test_every_long_running_service_has_a_healthcheck():
    services = _resolved_config()["services"]
    one_shot = {
        name
        for spec in services.values()
        for name, dependency in spec.get("depends_on", {}).items()
        if dependency.get("condition") == "service_completed_successfully"
    }

    for name, spec in services.items():
        if name not in one_shot:
            assert "healthcheck" in spec, f"service {name} has no healthcheck"
    assert {name for name, spec in services.items() if "build" in spec} - one_shot, "no built service checked"


def test_dependencies_wait_for_health_or_completion():
    services = _resolved_config()["services"]

    for name, spec in services.items():
        for dependency, condition in spec.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully" if "healthcheck" not in services[dependency] else ("service_healthy")
            )
            assert condition.get("condition") == expected, f"{name} -> {dependency}: {condition}"


def test_backend_waits_for_the_databases_and_the_migration():
    depends_on = _resolved_config()["services"]["backend"]["depends_on"]

    assert depends_on == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "backend-initdb": {"condition": "service_completed_successfully"},
    }


def test_built_services_use_the_project_dockerfiles_and_run_python_modules():
    services = _resolved_config()["services"]
    runners = {"onnx_runner", "tensorrt_runner"}

    for name, spec in services.items():
        if "build" in spec:
            wanted = "Dockerfile.onnx_runner" if name in runners else "Dockerfile.backend"
            assert spec["build"]["dockerfile"] == wanted, name
            assert (REPO_ROOT / wanted).is_file(), wanted
    assert services["backend"]["command"] == ["python", "-m", "backend"]
    assert services["tensorrt_runner"]["build"]["args"] == {"INSTALL_TRT": "1"}
    assert services["tensorrt_runner"]["profiles"] == ["gpu"]


def test_every_compose_variable_is_documented_in_env_example():
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    documented = _documented_variables()

    assert used, "the compose file interpolates nothing?"
    assert used <= documented, f"missing from .env.example: {sorted(used - documented)}"


def test_env_example_documents_every_setting_the_code_reads():
    sources = [*REPO_ROOT.glob("aitrader/**/*.py"), *REPO_ROOT.glob("*/settings.py")]
    read = set()
    for path in sources:
        text = path.read_text()
        read |= set(re.findall(r'validation_alias="([A-Z][A-Z0-9_]*)"', text))
        prefix = re.search(r'env_prefix="([A-Z][A-Z0-9_]*)"', text)
        if prefix:
            read |= {prefix.group(1) + field.upper() for field in _fields_without_alias(text)}
    documented = _documented_variables()

    assert {"DATABASE_URL", "REDIS_URL", "BACKEND_HOST", "BACKEND_PORT", "AITRADER_HOME"} <= read
    assert read <= documented, f"missing from .env.example: {sorted(read - documented)}"


def _fields_without_alias(source: str) -> list[str]:
    """The settings fields (``name: T = Field(...)``) read under the class's prefix: those without an alias."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        call = node.value
        if not (isinstance(call, ast.Call) and getattr(call.func, "id", "") == "Field"):
            continue
        if not any(keyword.arg == "validation_alias" for keyword in call.keywords):
            names.append(node.target.id)
    return names
