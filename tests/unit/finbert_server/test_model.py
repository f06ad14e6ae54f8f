"""The classifier over a tiny BERT of our own: loading, labels, batching, truncation, and what a bad directory says."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aitrader.errors import ConfigurationError
from finbert_server.model import FinbertModel
from tests.finbert_factories import LABELS, write_tiny_finbert

TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_finbert(tmp_path_factory.mktemp("finbert"), max_length=24)


def test_the_model_loads_with_its_labels_and_maximum_length(model_dir: Path) -> None:
    model = FinbertModel(model_dir)

    assert model.backend == "onnx" and model.labels == LABELS and model.max_length == 24


def test_a_text_gets_the_same_answer_alone_or_padded_in_a_batch(model_dir: Path) -> None:
    model = FinbertModel(model_dir, max_batch=3)
    texts = ["profit beats guidance", "bad loss", "the bank cut rates and the outlook is weak", "tcs", "record growth"]

    together = model.classify(texts)
    alone = [model.classify([text])[0] for text in texts]

    for batched, single in zip(together, alone, strict=True):
        assert batched.label == single.label
        for label in LABELS:
            assert batched.probabilities[label] == pytest.approx(single.probabilities[label], abs=1e-6)
        assert sum(batched.probabilities.values()) == pytest.approx(1.0)
        assert batched.label == max(batched.probabilities, key=lambda name: batched.probabilities[name])


def test_long_texts_are_cut_to_the_maximum_length_and_say_so(model_dir: Path) -> None:
    model = FinbertModel(model_dir)

    short, long = model.classify(["profit beats", "the outlook is weak " * 20])

    assert (short.truncated, short.tokens) == (False, 4)  # [CLS] profit beats [SEP]
    assert (long.truncated, long.tokens) == (True, 24)


def test_a_directory_without_a_model_says_what_is_missing(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"config\.json is missing"):
        FinbertModel(tmp_path)
    tokenizer_only = write_tiny_finbert(tmp_path / "no-onnx", onnx_model=False)
    with pytest.raises(ConfigurationError, match=r"model.onnx is missing: run scripts/export_finbert_onnx.py"):
        FinbertModel(tokenizer_only, backend="onnx")
    if not TORCH:
        with pytest.raises(ConfigurationError, match=r"no model\.onnx and PyTorch is not installed"):
            FinbertModel(tokenizer_only)


def test_a_model_whose_logits_do_not_match_the_labels_is_refused(tmp_path: Path) -> None:
    directory = write_tiny_finbert(tmp_path / "two-labels")
    config = json.loads((directory / "config.json").read_text())
    config["id2label"] = {"0": "up", "1": "down"}
    (directory / "config.json").write_text(json.dumps(config))

    with pytest.raises(ConfigurationError, match=r"model\.onnx gives 3 logits, config\.json names 2 labels"):
        FinbertModel(directory)


@pytest.mark.skipif(not TORCH, reason="PyTorch is not installed: the torch backend is optional (pip install torch)")
def test_the_torch_backend_loads_transformers_weights(tmp_path: Path) -> None:
    from transformers import BertConfig, BertForSequenceClassification

    directory = write_tiny_finbert(tmp_path / "torch", onnx_model=False)
    BertForSequenceClassification(BertConfig.from_pretrained(directory)).save_pretrained(directory)

    results = FinbertModel(directory, backend="torch").classify(["profit beats", "bad loss"])

    assert [sorted(r.probabilities) for r in results] == [sorted(LABELS)] * 2
    assert np.isclose(sum(results[0].probabilities.values()), 1.0)
    script = Path(__file__).resolve().parents[3] / "scripts" / "export_finbert_onnx.py"
    exported = subprocess.run(
        [sys.executable, str(script), str(directory)], capture_output=True, text=True, timeout=300
    )
    assert exported.returncode == 0, exported.stderr
    onnx_results = FinbertModel(directory, backend="onnx").classify(["profit beats", "bad loss"])
    for torch_result, onnx_result in zip(results, onnx_results, strict=True):
        for label in LABELS:
            assert onnx_result.probabilities[label] == pytest.approx(torch_result.probabilities[label], abs=1e-5)


@pytest.mark.skipif(TORCH, reason="PyTorch is installed: the export itself runs in the test above")
def test_the_export_script_says_it_needs_pytorch_where_it_is_missing(model_dir: Path) -> None:
    script = Path(__file__).resolve().parents[3] / "scripts" / "export_finbert_onnx.py"
    result = subprocess.run([sys.executable, str(script), str(model_dir)], capture_output=True, text=True, timeout=60)

    assert result.returncode == 1 and "exporting needs PyTorch" in result.stderr
