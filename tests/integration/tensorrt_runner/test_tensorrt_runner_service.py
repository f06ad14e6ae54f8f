"""tensorrt_runner as a process on a machine without TensorRT or a GPU: it starts, says why it cannot serve on
/health, and answers every inference with 503 and that reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorrt_runner.device import probe
from tests.integration.marketdata.conftest import run_service
from tests.onnx_factories import affine_model, write_model

SERVICE = "tensorrt_runner"


def test_without_tensorrt_it_starts_and_answers_503_with_the_reason(tmp_path: Path) -> None:
    reason = probe(0)
    if reason is None:
        pytest.skip("TensorRT and a GPU are here: tests/test_trt_vs_cpu.py covers serving")
    models = tmp_path / "models"
    write_model(models, "double", affine_model(2.0, 1.0), name="double", version="1")
    env = {"TENSORRT_RUNNER_MODELS_DIR": str(models), "TENSORRT_RUNNER_ENGINE_CACHE_DIR": str(tmp_path / "engines")}

    with run_service(SERVICE, env, tmp_path / "runner.log") as runner, runner.client() as http:
        health = http.get("/health")
        infer = http.post("/infer/double", json={"inputs": {"x": [[1, 2, 3, 4]]}})
        forecast = http.post("/infer/forecast/nbeats", json={"symbol": "INFY"})
        listed = http.get("/models")

    assert health.status_code == 200
    assert health.json()["status"] == "unavailable" and health.json()["reason"] == reason
    for refused in (infer, forecast):
        assert refused.status_code == 503, refused.text
        assert refused.json()["detail"] == reason
    assert listed.json()["models"] == []
