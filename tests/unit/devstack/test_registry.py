from __future__ import annotations

import pytest

from aitrader.devstack.registry import REGISTRY, ServiceSpec, get_service, select_services
from aitrader.errors import ConfigurationError


def test_backend_is_registered_on_port_8000_with_backend_port():
    backend = get_service("backend")

    assert (backend.module, backend.port, backend.port_env, backend.health_path) == (
        "backend",
        8000,
        "BACKEND_PORT",
        "/health",
    )


def test_every_service_has_its_own_port_and_a_module_with_a_main():
    import importlib.util

    assert len({spec.port for spec in REGISTRY}) == len(REGISTRY)
    for spec in REGISTRY:
        assert importlib.util.find_spec(f"{spec.module}.__main__") is not None, spec.module


def test_registry_names_are_unique():
    names = [spec.name for spec in REGISTRY]

    assert len(names) == len(set(names))


def test_port_env_defaults_to_the_name_in_upper_case():
    assert ServiceSpec(name="book_builder", module="book_builder", port=8010).port_env == "BOOK_BUILDER_PORT"


def test_resolved_port_prefers_the_environment():
    spec = ServiceSpec(name="backend", module="backend", port=8000, port_env="BACKEND_PORT")

    assert spec.resolved_port({}) == 8000
    assert spec.resolved_port({"BACKEND_PORT": "9001"}) == 9001


@pytest.mark.parametrize("raw", ["http", "0", "70000"])
def test_resolved_port_rejects_a_bad_value_naming_the_variable(raw: str):
    spec = ServiceSpec(name="backend", module="backend", port=8000, port_env="BACKEND_PORT")

    with pytest.raises(ConfigurationError, match=f"BACKEND_PORT: must be .*, was '?{raw}'?$"):
        spec.resolved_port({"BACKEND_PORT": raw})


def test_select_services_defaults_to_every_service_but_the_optional_ones_in_registry_order():
    assert select_services([]) == [spec for spec in REGISTRY if spec.name != "tensorrt_runner"]
    assert select_services(["backend", "backend"]) == [get_service("backend")]
    assert select_services(["tensorrt_runner"]) == [get_service("tensorrt_runner")]


def test_unknown_service_is_an_error_listing_the_known_ones():
    with pytest.raises(
        ConfigurationError,
        match="unknown service 'nope', known services: "
        "backend, book_builder, execution, finbert_server, mock_mcp, onnx_runner, pattern_engine, sentiment_engine, "
        "tensorrt_runner, tick_replay",
    ):
        select_services(["nope"])
