"""The services `aitrader up` knows how to run: one :class:`ServiceSpec` per line of :data:`REGISTRY`.

A new service joins the stack by adding one line here; the supervisor starts it as ``python -m <module>``
on the port named by ``port_env`` (default ``port``) and waits for ``GET <health_path>`` to answer 200.
An ``optional`` service (tensorrt_runner: it needs a GPU) starts only when asked for by name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aitrader.errors import ConfigurationError


@dataclass(frozen=True)
class ServiceSpec:
    """How to start one service and how to tell it is alive."""

    name: str
    module: str
    port: int
    health_path: str = "/health"
    port_env: str = ""
    optional: bool = False
    """Started only when named (``aitrader up --with NAME``), never by default."""

    def __post_init__(self) -> None:
        if not self.port_env:
            object.__setattr__(self, "port_env", f"{self.name.upper()}_PORT")
        if not self.health_path.startswith("/"):
            raise ValueError(f"health_path must start with '/', was {self.health_path!r}")

    def resolved_port(self, environ: Mapping[str, str] | None = None) -> int:
        """The port this service will listen on: ``port_env`` from the environment, else ``port``."""
        environ = os.environ if environ is None else environ
        raw = environ.get(self.port_env, "").strip()
        if not raw:
            return self.port
        try:
            port = int(raw)
        except ValueError as e:
            raise ConfigurationError(f"{self.port_env}: must be a port number, was {raw!r}") from e
        if not 0 < port < 65536:
            raise ConfigurationError(f"{self.port_env}: must be between 1 and 65535, was {port}")
        return port


REGISTRY: list[ServiceSpec] = [
    ServiceSpec(name="backend", module="backend", port=8000, port_env="BACKEND_PORT"),
    ServiceSpec(name="book_builder", module="book_builder", port=8011),
    ServiceSpec(name="execution", module="execution", port=8006),
    ServiceSpec(name="finbert_server", module="finbert_server", port=8004),
    ServiceSpec(name="mock_mcp", module="mock_mcp", port=9000),
    ServiceSpec(name="onnx_runner", module="onnx_runner", port=8001),
    ServiceSpec(name="pattern_engine", module="pattern_engine", port=8012),
    ServiceSpec(name="sentiment_engine", module="sentiment_engine", port=8002),
    ServiceSpec(name="tensorrt_runner", module="tensorrt_runner", port=8007, optional=True),
    ServiceSpec(name="tick_replay", module="tick_replay", port=8010),
]


def service_names() -> list[str]:
    return [spec.name for spec in REGISTRY]


def default_services() -> list[ServiceSpec]:
    """What `aitrader up` runs when no service is named."""
    return [spec for spec in REGISTRY if not spec.optional]


def get_service(name: str) -> ServiceSpec:
    for spec in REGISTRY:
        if spec.name == name:
            return spec
    raise ConfigurationError(f"unknown service {name!r}, known services: {', '.join(service_names())}")


def select_services(names: Iterable[str]) -> list[ServiceSpec]:
    """The specs for ``names`` in registry order (every service but the optional ones when ``names`` is empty),
    without duplicates."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return default_services()
    for name in wanted:
        get_service(name)
    return [spec for spec in REGISTRY if spec.name in wanted]
