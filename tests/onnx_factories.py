"""Small ONNX models built with onnx.helper, written into a registry directory with their metadata."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def affine_model(scale: float, bias: float, width: int = 4) -> bytes:
    """``y = x * scale + bias`` over a float32 input ``x`` of shape (batch, width)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])
    nodes = [helper.make_node("Mul", ["x", "scale"], ["scaled"]), helper.make_node("Add", ["scaled", "bias"], ["y"])]
    initialisers = [
        numpy_helper.from_array(np.array(scale, dtype=np.float32), "scale"),
        numpy_helper.from_array(np.array(bias, dtype=np.float32), "bias"),
    ]
    graph = helper.make_graph(nodes, "affine", [x], [y], initialisers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_model(root: Path, stem: str, content: bytes, *, name: str, version: str, width: int = 4, **meta: Any) -> Path:
    """Write ``<stem>.onnx`` and ``<stem>.json`` (metadata for an affine model of ``width``) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{stem}.onnx"
    path.write_bytes(content)
    document = {
        "name": name,
        "version": version,
        "inputs": [{"name": "x", "shape": [-1, width]}],
        "outputs": [{"name": "y", "shape": [-1, width]}],
        "sha256": hashlib.sha256(content).hexdigest(),
        **meta,
    }
    path.with_suffix(".json").write_text(json.dumps(document))
    return path


def train_reference_models(root: Path, *, epochs: int = 4) -> dict[str, Path]:
    """The project's own models, small and quickly trained on generated closes: N-BEATS (generic), the MLP and
    the CNN, published into ``root`` as the registry holds them. Needs the ``train`` extra (JAX)."""
    from onnx_runner.training import ClassifierConfig, NBeatsConfig, train_examples, train_nbeats
    from onnx_runner.training.data import flatten, synthetic_closes
    from onnx_runner.training.fit import FitConfig

    series = flatten(synthetic_closes(["AAA", "BBB", "CCC"], 1500, seed=7))
    fit = FitConfig(epochs=epochs, batch_size=128)
    nbeats = train_nbeats(
        series, root, NBeatsConfig(width=32, blocks=2, fit=fit), allow_worse_than_naive=True, source={"test": True}
    )
    examples = train_examples(series, root, ClassifierConfig(width=16, fit=fit))
    return {published.meta.name: published.path for published in [nbeats, *examples]}
