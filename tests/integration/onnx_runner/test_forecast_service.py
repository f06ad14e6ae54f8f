"""POST /infer/forecast/nbeats on a running onnx_runner: history from the request or from `bars` in PostgreSQL,
the answer equal to the exported model run directly, and every bad request refused with a 4xx that says why."""

from __future__ import annotations

import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import onnxruntime as ort

from aitrader.db.repositories import BarRepository
from aitrader.db.session import make_engine, make_session_factory, session_scope
from tests.factories import SESSION_OPEN, make_bar
from tests.integration.marketdata.conftest import run_service

SERVICE = "onnx_runner"


def store_bars(database_url: str, symbol: str, closes: np.ndarray) -> None:
    engine = make_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            BarRepository(session).upsert_many(
                make_bar(
                    minute,
                    symbol=symbol,
                    open=Decimal(f"{close:.2f}"),
                    high=Decimal(f"{close:.2f}"),
                    low=Decimal(f"{close:.2f}"),
                    close=Decimal(f"{close:.2f}"),
                )
                for minute, close in enumerate(closes)
            )
    finally:
        engine.dispose()


def test_forecasts_read_bars_or_the_request_and_refuse_what_does_not_fit(
    reference_models: Path, database_url: str, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(reference_models, models)
    rng = np.random.default_rng(3)
    infy = np.round(1500 * np.exp(np.cumsum(rng.normal(0, 1e-3, 90))), 2)
    store_bars(database_url, "INFY", infy)
    store_bars(database_url, "TCS", np.full(12, 3500.0))
    direct = ort.InferenceSession(str(models / "nbeats-v1.onnx"), providers=["CPUExecutionProvider"])
    env = {"ONNX_RUNNER_MODELS_DIR": str(models), "DATABASE_URL": database_url}

    with run_service(SERVICE, env, tmp_path / "runner.log") as runner, runner.client() as http:
        from_bars = http.post("/infer/forecast/nbeats", json={"symbol": "INFY"})
        from_request = http.post(
            "/infer/forecast/nbeats", json={"symbol": "ANY", "history": infy[:75].tolist(), "horizon": 5}
        )

        assert from_bars.status_code == 200, from_bars.text
        answer = from_bars.json()
        expected = direct.run(None, {"history": infy[-60:][None].astype(np.float32)})
        assert answer["model"] == "nbeats@1"
        assert answer["history_source"] == "bars"
        assert answer["as_of"] == (SESSION_OPEN + timedelta(minutes=89)).isoformat()
        assert answer["last_close"] == infy[-1]
        assert answer["horizon"] == 10 and answer["band_level"] == 0.9
        for name, values in zip(("forecast", "lower", "upper"), expected, strict=True):
            np.testing.assert_allclose(answer[name], values[0], rtol=1e-6)
        assert all(
            lo <= f <= hi for lo, f, hi in zip(answer["lower"], answer["forecast"], answer["upper"], strict=True)
        )

        assert from_request.status_code == 200, from_request.text
        partial = from_request.json()
        expected = direct.run(["forecast"], {"history": infy[15:75][None].astype(np.float32)})[0][0][:5]
        assert partial["history_source"] == "request" and partial["as_of"] is None
        np.testing.assert_allclose(partial["forecast"], expected, rtol=1e-6)

        history = infy[:60].tolist()
        for path, body, status, says in [
            ("/infer/forecast/nbeats", {"symbol": "INFY", "history": history[:12]}, 422, "at least 60 closes, had 12"),
            ("/infer/forecast/nbeats", {"symbol": "INFY", "history": [-1.0] * 60}, 422, "positive, finite"),
            ("/infer/forecast/nbeats", {"symbol": "INFY", "horizon": 11}, 422, "between 1 and 10"),
            ("/infer/forecast/nbeats", {"symbol": "INFY", "horizon": 0}, 422, "horizon"),
            ("/infer/forecast/nbeats", {"symbol": "NOPE"}, 404, "no 1m bars of NOPE"),
            ("/infer/forecast/nbeats", {"symbol": "TCS"}, 422, "TCS has 12 1m bars stored, the model reads 60"),
            ("/infer/forecast/nbeats", {"symbol": "IN FY"}, 422, "symbol"),
            ("/infer/forecast/nbeats", {"symbol": "INFY", "window": 3}, 422, "window"),
            ("/infer/forecast/nbeats", {}, 422, "symbol"),
            ("/infer/forecast/mlp", {"symbol": "INFY"}, 422, "mlp@1 is a classifier model, not a forecaster"),
            ("/infer/forecast/arima", {"symbol": "INFY"}, 404, "no model 'arima'"),
        ]:
            refused = http.post(path, json=body)
            assert refused.status_code == status, (body, refused.text)
            assert says in str(refused.json()["detail"]), refused.text
        nan = http.post(
            "/infer/forecast/nbeats",
            content=b'{"symbol": "INFY", "history": [NaN' + b", 1.0" * 59 + b"]}",
            headers={"content-type": "application/json"},
        )
        assert nan.status_code == 422, nan.text

        probabilities = http.post("/infer/mlp", json={"inputs": {"history": [history, history[::-1]]}})
        assert probabilities.status_code == 200, probabilities.text
        rows = np.array(probabilities.json()["outputs"]["probabilities"])
        assert rows.shape == (2, 3)
        np.testing.assert_allclose(rows.sum(axis=1), 1.0, rtol=1e-5)
        zero = http.post("/infer/nbeats", json={"inputs": {"history": [[0.0] * 60]}})
        assert zero.status_code == 422 and "NaN or infinite values in 'forecast'" in zero.text
        listed = {m["name"]: m for m in http.get("/models").json()["models"]}
        assert listed["mlp"]["labels"] == ["down", "flat", "up"]
        assert listed["nbeats"]["metrics"]["naive_mae"] > 0
