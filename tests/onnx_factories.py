"""Small ONNX models built with onnx.helper, written into a registry directory with their metadata."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnx_runner.registry import ModelMeta


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


def random_inputs(meta: ModelMeta, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Standard-normal floats (small integers for integer inputs) of each input's shape, its batch ``batch``;
    for models that read windows of closes (their metadata has a lookback), random walks of prices instead."""
    feeds: dict[str, np.ndarray] = {}
    for spec in meta.inputs:
        shape = tuple(batch if size == -1 else size for size in spec.shape)
        if spec.dtype.startswith("int"):
            feeds[spec.name] = rng.integers(0, 10, size=shape).astype(spec.dtype)
        elif meta.lookback is not None:
            walks = np.exp(np.cumsum(rng.normal(0, 2e-3, shape), axis=-1))
            feeds[spec.name] = (rng.uniform(50, 5000, shape[:-1])[..., None] * walks).astype(spec.dtype)
        else:
            feeds[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
    return feeds


MLP_FEATURES, MLP_HIDDEN, MLP_CLASSES = 16, 32, 3


def mlp_model(seed: int = 1) -> bytes:
    """Gemm-Relu-Gemm-Relu-Gemm over ``x`` (batch, 16) to ``y`` (batch, 3), He-scaled random weights."""
    rng = np.random.default_rng(seed)
    sizes = [MLP_FEATURES, MLP_HIDDEN, MLP_HIDDEN, MLP_CLASSES]
    nodes, initialisers, current = [], [], "x"
    for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        weight, bias = f"w{layer}", f"b{layer}"
        initialisers += [
            numpy_helper.from_array(_weights(rng, (fan_in, fan_out), fan_in), weight),
            numpy_helper.from_array((0.1 * rng.standard_normal(fan_out)).astype(np.float32), bias),
        ]
        last = layer == len(sizes) - 2
        output = "y" if last else f"h{layer}"
        nodes.append(helper.make_node("Gemm", [current, weight, bias], [output]))
        if not last:
            nodes.append(helper.make_node("Relu", [output], [f"r{layer}"]))
            current = f"r{layer}"
    return _model(nodes, initialisers, "mlp", ["batch", MLP_FEATURES], ["batch", MLP_CLASSES])


CNN_CHANNELS, CNN_LENGTH, CNN_OUTPUTS = 2, 64, 4


def cnn_model(seed: int = 2) -> bytes:
    """A 1-D CNN over ``x`` (batch, 2, 64): Conv-Relu-MaxPool, Conv-Relu, GlobalAveragePool, Flatten, Gemm to
    ``y`` (batch, 4)."""
    rng = np.random.default_rng(seed)
    initialisers = [
        numpy_helper.from_array(_weights(rng, (8, CNN_CHANNELS, 5), CNN_CHANNELS * 5), "conv1_w"),
        numpy_helper.from_array((0.1 * rng.standard_normal(8)).astype(np.float32), "conv1_b"),
        numpy_helper.from_array(_weights(rng, (16, 8, 3), 8 * 3), "conv2_w"),
        numpy_helper.from_array((0.1 * rng.standard_normal(16)).astype(np.float32), "conv2_b"),
        numpy_helper.from_array(_weights(rng, (16, CNN_OUTPUTS), 16), "dense_w"),
        numpy_helper.from_array((0.1 * rng.standard_normal(CNN_OUTPUTS)).astype(np.float32), "dense_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv1_w", "conv1_b"], ["c1"], kernel_shape=[5], pads=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2], strides=[2]),
        helper.make_node("Conv", ["p1", "conv2_w", "conv2_b"], ["c2"], kernel_shape=[3], pads=[1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "dense_w", "dense_b"], ["y"]),
    ]
    return _model(nodes, initialisers, "cnn", ["batch", CNN_CHANNELS, CNN_LENGTH], ["batch", CNN_OUTPUTS])


def _weights(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    weights: np.ndarray = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    return weights


def _model(nodes: list[Any], initialisers: list[Any], name: str, x: list[Any], y: list[Any]) -> bytes:
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y)],
        initialisers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    serialised: bytes = model.SerializeToString()
    return serialised
