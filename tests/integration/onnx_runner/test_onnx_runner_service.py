"""onnx_runner as a process on loopback: models listed and served, hot reload, bad requests answered with 4xx."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.integration.marketdata.conftest import run_service, wait_for
from tests.onnx_factories import affine_model, write_model

SERVICE = "onnx_runner"


def test_models_are_served_reloaded_and_bad_requests_refused(tmp_path: Path) -> None:
    models = tmp_path / "models"
    write_model(models, "double", affine_model(2.0, 1.0), name="double", version="1")
    env = {"ONNX_RUNNER_MODELS_DIR": str(models), "ONNX_RUNNER_RELOAD_INTERVAL_S": "0.1"}
    with run_service(SERVICE, env, tmp_path / "runner.log") as runner, runner.client() as http:
        listed = http.get("/models").json()
        answer = http.post("/infer/double", json={"inputs": {"x": [[1, 2, 3, 4], [0, 0, 0, 0]]}})

        assert [m["key"] for m in listed["models"]] == ["double@1"]
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"model": "double@1", "outputs": {"y": [[3.0, 5.0, 7.0, 9.0], [1.0, 1.0, 1.0, 1.0]]}}

        for path, body, status, says in [
            ("/infer/nope", {"inputs": {"x": [[1, 2, 3, 4]]}}, 404, "no model 'nope'; served: double@1"),
            ("/infer/double", {"inputs": {"x": [[1, 2, 3]]}}, 422, "must have shape Nx4, was 1x3"),
            ("/infer/double", {"inputs": {"x": [[1, 2], [3]]}}, 422, "rectangular list of numbers"),
            ("/infer/double", {"inputs": {"x": [["a", 2, 3, 4]]}}, 422, "rectangular list of numbers"),
            ("/infer/double", {"inputs": {"z": [[1, 2, 3, 4]]}}, 422, "missing ['x'], unknown ['z']"),
            ("/infer/double", {"inputs": {}}, 422, "inputs"),
            ("/infer/double", {"x": [[1, 2, 3, 4]]}, 422, "x"),
        ]:
            refused = http.post(path, json=body)
            assert refused.status_code == status, (body, refused.text)
            assert says in refused.json()["detail"], refused.text
        nan = http.post(
            "/infer/double",
            content=b'{"inputs": {"x": [[NaN, 1, 2, 3]]}}',
            headers={"content-type": "application/json"},
        )
        assert nan.status_code == 422 and "NaN" in nan.text

        write_model(models, "double-2", affine_model(5.0, 0.0), name="double", version="2")
        wait_for(lambda: "double@2" in http.get("/health").json()["models"], 10, "the new version")
        assert http.post("/infer/double", json={"inputs": {"x": [[1, 1, 1, 1]]}}).json()["outputs"]["y"] == [[5.0] * 4]
        assert http.post("/infer/double@1", json={"inputs": {"x": [[1, 1, 1, 1]]}}).json()["outputs"]["y"] == [
            [3.0] * 4
        ]

        (models / "broken.onnx").write_bytes(b"junk")
        wait_for(lambda: http.get("/health").json()["status"] == "degraded", 10, "the broken file reported")
        assert "broken" in http.get("/health").json()["errors"]

        async def many() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=runner.url, timeout=30) as client:
                body = {"inputs": {"x": [[1, 2, 3, 4]]}}
                return await asyncio.gather(*(client.post("/infer/double@1", json=body) for _ in range(64)))

        answers = asyncio.run(many())
        assert all(a.status_code == 200 and a.json()["outputs"]["y"] == [[3.0, 5.0, 7.0, 9.0]] for a in answers)
        metrics = http.get("/metrics").text
        assert 'model_runner_requests_total{model="double@1",outcome="ok"}' in metrics
