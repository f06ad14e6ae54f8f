"""The float16 rewrite fp16 engines are built from: float32 in and out, float16 inside, and (run by ONNX Runtime
on the CPU) within the fp16 tolerance of the original model."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tensorrt_runner.fp16 import precisions, to_float16
from tests.onnx_factories import affine_model, cnn_model, mlp_model
from tests.test_trt_vs_cpu import FP16_ATOL, FP16_RTOL


def run(content: bytes, **feeds: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    outputs: list[np.ndarray] = session.run(None, feeds)
    return outputs


@pytest.mark.parametrize(
    ("content", "shape"),
    [(affine_model(2.0, 0.5), (7, 4)), (mlp_model(), (7, 16)), (cnn_model(), (7, 2, 64))],
    ids=["affine", "mlp", "cnn"],
)
def test_the_float16_model_agrees_with_the_original_within_the_fp16_tolerance(
    content: bytes, shape: tuple[int, ...]
) -> None:
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)

    [expected] = run(content, x=x)
    [actual] = run(to_float16(content), x=x)

    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=FP16_RTOL, atol=FP16_ATOL)


def test_inputs_and_outputs_keep_their_names_and_float32_while_weights_become_float16() -> None:
    model = onnx.load_from_string(to_float16(mlp_model()))
    graph = model.graph

    assert [(v.name, v.type.tensor_type.elem_type) for v in graph.input] == [("x", TensorProto.FLOAT)]
    assert [(v.name, v.type.tensor_type.elem_type) for v in graph.output] == [("y", TensorProto.FLOAT)]
    assert {t.data_type for t in graph.initializer} == {TensorProto.FLOAT16}
    assert (graph.node[0].op_type, graph.node[-1].op_type) == ("Cast", "Cast")


def _model(
    nodes: list[onnx.NodeProto], initialisers: list[onnx.TensorProto], x: list[int | str], y: list[int | str]
) -> bytes:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y)],
        initialisers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    serialised: bytes = model.SerializeToString()
    return serialised


def _weights(name: str, *shape: int, seed: int = 0) -> onnx.TensorProto:
    array = np.random.default_rng(seed).standard_normal(shape) / np.sqrt(shape[0])
    return numpy_helper.from_array(array.astype(np.float32), name)


def _scaled_forecaster() -> bytes:
    """Prices in, prices out, scaled inside like the project's forecasters: ``last * (1 + MLP(x / last - 1))``."""
    nodes = [
        helper.make_node("Slice", ["x", "minus_one", "end", "one_axis"], ["last"]),
        helper.make_node("Div", ["x", "last"], ["relative"]),
        helper.make_node("Sub", ["relative", "one"], ["moves"]),
        helper.make_node("MatMul", ["moves", "w0"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "w1"], ["move"]),
        helper.make_node("Add", ["move", "one"], ["ratio"]),
        helper.make_node("Mul", ["last", "ratio"], ["y"]),
    ]
    initialisers = [
        numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
        numpy_helper.from_array(np.array([np.iinfo(np.int64).max], np.int64), "end"),
        numpy_helper.from_array(np.array([1], np.int64), "one_axis"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        _weights("w0", 8, 16),
        _weights("w1", 16, 1, seed=1),
    ]
    return _model(nodes, initialisers, ["batch", 8], ["batch", 1])


def test_scaling_around_the_layers_stays_float32_so_prices_past_float16s_range_survive() -> None:
    content = _scaled_forecaster()
    walk = np.cumsum(np.random.default_rng(3).normal(0, 20, size=(5, 8)), axis=1)
    prices = (80_000 + walk).astype(np.float32)  # a SENSEX-sized index: above float16's 65504

    [expected] = run(content, x=prices)
    [actual] = run(to_float16(content), x=prices)

    assert np.isfinite(actual).all()
    np.testing.assert_allclose(actual, expected, rtol=1e-5)  # float16 only touches the small relative moves
    assert precisions(content) == {
        "Slice#0": "fp32",
        "Div#1": "fp32",
        "Sub#2": "fp32",
        "MatMul#3": "fp16",
        "Relu#4": "fp16",
        "MatMul#5": "fp16",
        "Add#6": "fp32",
        "Mul#7": "fp32",
    }


def test_between_the_layers_constants_casts_and_weights_become_float16_within_its_range() -> None:
    nodes = [
        helper.make_node("MatMul", ["x", "w0"], ["h"]),
        helper.make_node("Constant", [], ["half"], value_float=0.5),
        helper.make_node("Mul", ["h", "half"], ["a"]),
        helper.make_node("Cast", ["a"], ["b"], to=TensorProto.FLOAT),
        helper.make_node("Min", ["b", "cap"], ["c"]),  # 1e6 is past float16: clipped to 65504, which changes nothing
        helper.make_node("MatMul", ["c", "w1"], ["y"]),
    ]
    content = _model(
        nodes,
        [_weights("w0", 4, 4), numpy_helper.from_array(np.array(1e6, np.float32), "cap"), _weights("w1", 4, 2, seed=1)],
        ["batch", 4],
        ["batch", 2],
    )
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)

    [expected] = run(content, x=x)
    [actual] = run(to_float16(content), x=x)

    np.testing.assert_allclose(actual, expected, rtol=FP16_RTOL, atol=FP16_ATOL)
    graph = onnx.load_from_string(to_float16(content)).graph
    cast = next(n for n in graph.node if n.op_type == "Cast" and n.input[0] == "a")
    assert cast.attribute[0].i == TensorProto.FLOAT16
    assert numpy_helper.to_array(next(t for t in graph.initializer if t.name == "cap")) == np.float16(65504)
    assert set(precisions(content).values()) == {"fp16"}


def test_a_weight_used_in_both_precisions_gets_a_float16_twin() -> None:
    nodes = [
        helper.make_node("Mul", ["x", "scale"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", "w0"], ["h"]),
        helper.make_node("Mul", ["h", "scale"], ["g"]),
        helper.make_node("MatMul", ["g", "w1"], ["y"]),
    ]
    scale = numpy_helper.from_array(np.array([0.5, 2.0, 1.5, 1.0], np.float32), "scale")
    content = _model(nodes, [scale, _weights("w0", 4, 4), _weights("w1", 4, 2, seed=1)], ["batch", 4], ["batch", 2])
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)

    [expected] = run(content, x=x)
    [actual] = run(to_float16(content), x=x)

    np.testing.assert_allclose(actual, expected, rtol=FP16_RTOL, atol=FP16_ATOL)
    types = {t.name: t.data_type for t in onnx.load_from_string(to_float16(content)).graph.initializer}
    assert (types["scale"], types["scale__fp16"]) == (TensorProto.FLOAT, TensorProto.FLOAT16)


def test_resize_scales_stay_float32_as_onnx_requires() -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["c"], kernel_shape=[1, 1]),
        helper.make_node("Resize", ["c", "", "scales"], ["r"], mode="nearest"),
        helper.make_node("Conv", ["r", "w1"], ["y"], kernel_shape=[1, 1]),
    ]
    initialisers = [
        numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w0"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
        numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w1"),
    ]
    content = _model(nodes, initialisers, [1, 1, 2, 2], [1, 1, 4, 4])
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)

    [actual] = run(to_float16(content), x=x)

    np.testing.assert_array_equal(actual, x.repeat(2, axis=2).repeat(2, axis=3))
    types = {t.name: t.data_type for t in onnx.load_from_string(to_float16(content)).graph.initializer}
    assert types == {"w0": TensorProto.FLOAT16, "scales": TensorProto.FLOAT, "w1": TensorProto.FLOAT16}


def test_control_flow_stays_float32_and_reads_float16_tensors_through_casts() -> None:
    def branch(name: str, factor: float) -> onnx.GraphProto:
        return helper.make_graph(
            [
                helper.make_node("Constant", [], [f"{name}_k"], value_float=factor),
                helper.make_node("Mul", ["h", f"{name}_k"], [f"{name}_out"]),  # h: the enclosing graph's, float16
            ],
            name,
            [],
            [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, ["batch", 4])],
        )

    nodes = [
        helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
        helper.make_node("Constant", [], ["zero"], value_float=0.0),
        helper.make_node("Greater", ["total", "zero"], ["positive"]),
        helper.make_node("MatMul", ["x", "w0"], ["h"]),
        helper.make_node(
            "If", ["positive"], ["chosen"], then_branch=branch("then", 2.0), else_branch=branch("else", -1.0)
        ),
        helper.make_node("MatMul", ["chosen", "w1"], ["y"]),
    ]
    eye = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w0")
    content = _model(
        nodes, [eye, numpy_helper.from_array(np.eye(4, dtype=np.float32), "w1")], ["batch", 4], ["batch", 4]
    )
    x = np.array([[1.0, 2.0, 3.0, 4.0]], np.float32)

    assert run(to_float16(content), x=x)[0].tolist() == [[2.0, 4.0, 6.0, 8.0]]
    assert run(to_float16(content), x=-x)[0].tolist() == [[1.0, 2.0, 3.0, 4.0]]
    assert precisions(content)["If#4"] == "fp32"


def test_a_model_without_heavy_layers_is_left_in_float32() -> None:
    content = affine_model(2.0, 0.5)

    graph = onnx.load_from_string(to_float16(content)).graph

    assert [node.op_type for node in graph.node] == ["Mul", "Add"]
    assert {t.data_type for t in graph.initializer} == {TensorProto.FLOAT}
