"""A FinBERT-style sequence classifier from a local directory: its tokenizer and labels through transformers, its
network through ONNX Runtime (``model.onnx``) or PyTorch (the transformers weights).

The directory is what a Hugging Face model repository holds (``config.json``, the tokenizer files, the weights),
plus ``model.onnx`` once ``scripts/export_finbert_onnx.py`` has run. Nothing is downloaded: a missing file is an
error that names it.

* **Backends** (``FINBERT_SERVER_BACKEND``): ``onnx`` runs ``model.onnx`` on ONNX Runtime, which needs no PyTorch and is
  the faster on a CPU; ``torch`` runs the weights through transformers and PyTorch (an optional install); ``auto``
  takes ``onnx`` when ``model.onnx`` is there, else ``torch`` when PyTorch is installed.
* **Labels** come from ``config.json``'s ``id2label``, lower-cased (ProsusAI/finbert: positive, negative, neutral).
* **Truncation:** texts are cut to the model's maximum length in tokens (the tokenizer's, at most the position
  embeddings'); each result says whether its text was cut.
* **Batching:** a request's texts run in batches of ``max_batch``, each padded to its longest text; the texts are
  taken in order of length, so a batch's texts are of a size and little of the work is padding (headlines of
  10-40 words padded in arrival order were a third padding), and the results come back in the request's order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from aitrader.errors import ConfigurationError

Backend = Literal["auto", "onnx", "torch"]


@dataclass(frozen=True)
class Classification:
    label: str
    probabilities: dict[str, float]
    truncated: bool
    tokens: int


class FinbertModel:
    def __init__(self, directory: Path, *, backend: Backend = "auto", max_batch: int = 32, threads: int = 1) -> None:
        from transformers import AutoTokenizer

        if not (directory / "config.json").is_file():
            raise ConfigurationError(f"no FinBERT model in {directory}: config.json is missing (see the README)")
        config = json.loads((directory / "config.json").read_text())
        try:
            self.labels = tuple(str(config["id2label"][str(i)]).lower() for i in range(len(config["id2label"])))
        except (KeyError, TypeError) as e:
            raise ConfigurationError(f"{directory / 'config.json'} has no usable id2label: {e}") from e
        self.name = str(config.get("_name_or_path") or directory.name)
        self.directory = directory
        self.tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        positions = int(config.get("max_position_embeddings", 512))
        self.max_length = min(int(self.tokenizer.model_max_length), positions)
        self.max_batch = max_batch
        self.backend = _choose(directory, backend)
        self._lock = threading.Lock()
        if self.backend == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            self._session = ort.InferenceSession(
                str(directory / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._inputs = {i.name for i in self._session.get_inputs()}
            output = self._session.get_outputs()[0]
            self._output = output.name
            if output.shape[-1] != len(self.labels):
                raise ConfigurationError(
                    f"model.onnx gives {output.shape[-1]} logits, config.json names {len(self.labels)} labels"
                )
        else:
            import torch
            from transformers import AutoModelForSequenceClassification

            torch.set_num_threads(threads)
            self._torch = torch
            self._model = AutoModelForSequenceClassification.from_pretrained(str(directory), local_files_only=True)
            self._model.eval()

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        results: list[Classification | None] = [None] * len(texts)
        for first in range(0, len(order), self.max_batch):
            chunk = order[first : first + self.max_batch]
            for index, result in zip(chunk, self._batch([texts[i] for i in chunk]), strict=True):
                results[index] = result
        return [result for result in results if result is not None]

    def _batch(self, texts: Sequence[str]) -> list[Classification]:
        encoded = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
        )
        logits = self._logits({name: np.asarray(value, dtype=np.int64) for name, value in encoded.items()})
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        lengths = encoded["attention_mask"].sum(axis=1)
        return [
            Classification(
                self.labels[int(row.argmax())],
                {label: float(p) for label, p in zip(self.labels, row, strict=True)},
                bool(encoding.overflowing),
                int(length),
            )
            for row, encoding, length in zip(probabilities, encoded.encodings, lengths, strict=True)
        ]

    def _logits(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if self.backend == "onnx":
            (logits,) = self._session.run([self._output], {k: v for k, v in feeds.items() if k in self._inputs})
            return np.asarray(logits, dtype=np.float64)
        with self._lock, self._torch.inference_mode():
            tensors = {k: self._torch.from_numpy(v) for k, v in feeds.items()}
            return np.asarray(self._model(**tensors).logits.numpy(), dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "directory": str(self.directory),
            "backend": self.backend,
            "labels": list(self.labels),
            "max_length": self.max_length,
            "max_batch": self.max_batch,
        }


def _choose(directory: Path, backend: Backend) -> Literal["onnx", "torch"]:
    has_onnx = (directory / "model.onnx").is_file()
    if backend == "onnx" or (backend == "auto" and has_onnx):
        if not has_onnx:
            raise ConfigurationError(
                f"FINBERT_SERVER_BACKEND=onnx but {directory / 'model.onnx'} is missing: "
                "run scripts/export_finbert_onnx.py"
            )
        return "onnx"
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise ConfigurationError(
            f"{directory} has no model.onnx and PyTorch is not installed: export the model to ONNX "
            "(scripts/export_finbert_onnx.py, on a machine with PyTorch) or install PyTorch"
        ) from e
    return "torch"
