"""finbert_server as a process on loopback: classification over HTTP with a tiny BERT of our own, every bad
request answered with a 4xx that says why, and a server without a model that starts and answers 503."""

from __future__ import annotations

from pathlib import Path

from tests.finbert_factories import LABELS, write_tiny_finbert
from tests.integration.marketdata.conftest import run_service

SERVICE = "finbert_server"


def test_texts_are_classified_and_bad_requests_refused(tmp_path: Path) -> None:
    model_dir = write_tiny_finbert(tmp_path / "finbert", max_length=24)
    env = {
        "FINBERT_MODEL_DIR": str(model_dir),
        "FINBERT_SERVER_MAX_TEXTS": "8",
        "FINBERT_SERVER_MAX_REQUEST_BYTES": "20000",
    }

    with run_service(SERVICE, env, tmp_path / "finbert.log") as server, server.client() as http:
        answer = http.post("/classify", json={"texts": ["Infosys profit beats", "weak outlook " * 30]})
        health = http.get("/health")
        refusals = [
            (http.post("/classify", json={"texts": []}), 422, "texts"),
            (http.post("/classify", json={"texts": [""]}), 422, "texts.0"),
            (http.post("/classify", json={"texts": "one"}), 422, "texts"),
            (http.post("/classify", json={"texts": ["a"], "lang": "en"}), 422, "lang"),
            (http.post("/classify", json={"texts": ["a"] * 9}), 422, "at most 8 texts at once, was 9"),
            (http.post("/classify", json={"texts": ["a" * 30_000]}), 413, "more than FINBERT_SERVER_MAX_REQUEST_BYTES"),
        ]
        metrics = http.get("/metrics").text

    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["labels"] == list(LABELS)
    first, second = document["results"]
    assert first["label"] in LABELS and sorted(first["probabilities"]) == sorted(LABELS)
    assert (first["truncated"], second["truncated"], second["tokens"]) == (False, True, 24)
    assert health.json() | {"directory": None} == {
        "status": "ok",
        "model": "finbert",
        "directory": None,
        "backend": "onnx",
        "labels": list(LABELS),
        "max_length": 24,
        "max_batch": 32,
    }
    for response, status, says in refusals:
        assert response.status_code == status, response.text
        assert says in str(response.json()["detail"]), response.text
    assert "finbert_truncated_texts_total 1.0" in metrics


def test_without_a_model_it_starts_says_why_and_answers_503(tmp_path: Path) -> None:
    env = {"FINBERT_MODEL_DIR": str(tmp_path / "nothing-here")}

    with run_service(SERVICE, env, tmp_path / "finbert.log") as server, server.client() as http:
        health = http.get("/health").json()
        refused = http.post("/classify", json={"texts": ["Infosys profit beats"]})

    assert health["status"] == "unavailable" and "config.json is missing" in health["reason"]
    assert refused.status_code == 503 and "config.json is missing" in refused.json()["detail"]
