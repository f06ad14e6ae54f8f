"""A small layer over :mod:`onnx.helper` for writing trained networks as ONNX graphs.

Exports build the inference graph from the same parameter dict the JAX model trained, layer by layer, so the
graph is exactly the forward pass (tests check ONNX Runtime against JAX on the same inputs). The batch
dimension is symbolic (``batch``); everything else is fixed, which is what TensorRT's optimisation profiles
want.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 9
"""ONNX IR 9 (opset 17): read by every ONNX Runtime and TensorRT release this project supports."""


class GraphBuilder:
    def __init__(self, name: str) -> None:
        self.name = name
        self._nodes: list[onnx.NodeProto] = []
        self._initialisers: dict[str, onnx.TensorProto] = {}
        self._inputs: list[onnx.ValueInfoProto] = []
        self._outputs: list[onnx.ValueInfoProto] = []
        self._count = 0

    def input(self, name: str, *dims: int) -> str:
        self._inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *dims]))
        return name

    def output(self, value: str, name: str, *dims: int) -> str:
        self.node("Identity", [value], name)
        self._outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *dims]))
        return name

    def constant(self, name: str, value: npt.ArrayLike, dtype: Any = np.float32) -> str:
        """An initialiser; one already added under ``name`` is reused (shared weights)."""
        if name not in self._initialisers:
            self._initialisers[name] = numpy_helper.from_array(np.asarray(value, dtype=dtype), name)
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attributes: Any) -> str:
        self._count += 1
        output = output or f"{op.lower()}_{self._count}"
        self._nodes.append(helper.make_node(op, inputs, [output], name=f"{op}_{self._count}", **attributes))
        return output

    def dense(self, value: str, weight: str, bias: str | None = None) -> str:
        """``value @ weight (+ bias)`` for 2-D ``value`` (Gemm, which every backend fuses)."""
        return self.node("Gemm", [value, weight, *([bias] if bias else [])])

    def relu(self, value: str) -> str:
        return self.node("Relu", [value])

    def window(self, lookback: int, mean: float, std: float) -> tuple[str, str]:
        """The input ``history`` (batch x lookback closes) scaled as the forecasters train on it,
        ``(close / last - 1 - mean) / std``; returns the scaled window and ``last`` (batch x 1), to scale back."""
        history = self.input("history", lookback)
        last = self.node(
            "Slice",
            [
                history,
                self.constant("last.start", [lookback - 1], np.int64),
                self.constant("last.end", [lookback], np.int64),
                self.constant("last.axis", [1], np.int64),
            ],
            "last",
        )
        relative = self.node("Div", [history, last])
        offset = self.constant("scale.offset", 1 + mean)
        scaled = self.node("Div", [self.node("Sub", [relative, offset]), self.constant("scale.std", std)], "scaled")
        return scaled, last

    def build(self) -> bytes:
        graph = helper.make_graph(
            self._nodes, self.name, self._inputs, self._outputs, list(self._initialisers.values())
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="aitrader")
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model, full_check=True)
        content: bytes = model.SerializeToString()
        return content
