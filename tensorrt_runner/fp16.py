"""An ONNX model rewritten to compute in float16 while its inputs and outputs stay float32.

TensorRT 11 builds only strongly typed networks: every tensor's type is the one the ONNX graph declares, and the
precision flags of TensorRT 10 (``BuilderFlag.FP16``) are gone. An fp16 engine therefore needs an fp16 graph.
NVIDIA points to ModelOpt AutoCast for that; our models (MLPs, 1-D CNNs, N-BEATS stacks) need far less, so this
module does the plain rewrite with ``onnx`` alone, which every install already has:

- float32 initialisers and ``Constant`` / ``ConstantOfShape`` values become float16, clipped to its range
  (+-65504), and a ``Cast`` (or ``dtype``) to float32 becomes one to float16;
- each float32 graph input is cast to float16 where it enters and each float32 output cast back where it
  leaves, so callers (and :class:`onnx_runner.registry.ModelMeta`) see the same float32 tensors as before;
- the few operator inputs ONNX fixes to float32 (``Resize`` scales, say) get a cast back to float32.

It suits models whose inputs and activations stay well inside float16's range, as normalised inputs do; the
result is checked with ONNX's type inference so a graph it cannot convert fails here, with the reason, rather
than inside TensorRT.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import onnx
from onnx import AttributeProto, GraphProto, NodeProto, TensorProto, helper, numpy_helper

FLOAT16_MAX = float(np.finfo(np.float16).max)

FLOAT32_ONLY_INPUTS: dict[str, tuple[int, ...]] = {"Resize": (2,), "Upsample": (1,), "NonMaxSuppression": (3, 4)}
"""Operator inputs ONNX types as float32 only, by input index: they are cast back to float32."""

_TYPE_ATTRIBUTES = ("to", "dtype")
"""Integer attributes naming an output type (``Cast.to``, ``RandomNormal.dtype``, ``EyeLike.dtype``)."""


class Float16ConversionError(ValueError):
    """The model cannot be rewritten in float16; the message says which tensor or node stands in the way."""


def to_float16(content: bytes) -> bytes:
    """``content`` (a serialised ONNX model) computing in float16 with float32 inputs and outputs kept."""
    model = onnx.load_from_string(content)
    graph = model.graph
    taken = _names(graph)
    initialised = {tensor.name for tensor in graph.initializer}
    inputs = [value.name for value in graph.input if value.name not in initialised and _is_float32(value)]
    outputs = [value.name for value in graph.output if _is_float32(value)]
    passthrough = sorted(set(inputs) & set(outputs))
    if passthrough:
        raise Float16ConversionError(f"graph inputs {passthrough} are also outputs: nothing to compute in float16")

    renamed = {name: _fresh(f"{name}__fp16", taken) for name in (*inputs, *outputs)}
    _convert_graph(graph, renamed, taken)
    for value in graph.input:
        if value.name in initialised and _is_float32(value):  # an input with a default: its initialiser is fp16
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
    for tensor in graph.initializer:
        if tensor.name in renamed:  # an output that is a constant: the cast back now produces the name
            tensor.name = renamed[tensor.name]
    entry = [helper.make_node("Cast", [name], [renamed[name]], to=TensorProto.FLOAT16) for name in inputs]
    leave = [helper.make_node("Cast", [renamed[name]], [name], to=TensorProto.FLOAT) for name in outputs]
    nodes = [*entry, *graph.node, *leave]
    del graph.node[:]
    graph.node.extend(nodes)
    try:
        onnx.checker.check_model(model)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise Float16ConversionError(f"the float16 rewrite of the model is not valid ONNX: {e}") from e
    serialised: bytes = model.SerializeToString()
    return serialised


def _convert_graph(graph: GraphProto, renamed: dict[str, str], taken: set[str]) -> None:
    """Rewrite ``graph`` (and its subgraphs) in place to float16; ``renamed`` maps the main graph's float32
    inputs and outputs to the float16 tensors that stand for them inside, ``taken`` holds every name in use."""
    del graph.value_info[:]  # types changed; ONNX's inference (and TensorRT's parser) work them out again
    for tensor in graph.initializer:
        _tensor_to_float16(tensor)
    nodes: list[NodeProto] = []
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name in renamed:
                node.input[index] = renamed[name]
        for index, name in enumerate(node.output):
            if name in renamed:
                node.output[index] = renamed[name]
        for index in FLOAT32_ONLY_INPUTS.get(node.op_type, ()):
            if index < len(node.input) and node.input[index]:
                widened = _fresh(f"{node.input[index]}__fp32", taken)
                nodes.append(helper.make_node("Cast", [node.input[index]], [widened], to=TensorProto.FLOAT))
                node.input[index] = widened
        _node_to_float16(node, renamed, taken)
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)


def _node_to_float16(node: NodeProto, renamed: dict[str, str], taken: set[str]) -> None:
    if node.op_type == "ConstantOfShape" and not any(a.name == "value" for a in node.attribute):
        node.attribute.append(helper.make_attribute("value", numpy_helper.from_array(np.zeros(1, np.float16))))
    for attribute in list(node.attribute):
        if attribute.type == AttributeProto.TENSOR:
            _tensor_to_float16(attribute.t)
        elif attribute.type == AttributeProto.INT and attribute.name in _TYPE_ATTRIBUTES:
            if attribute.i == TensorProto.FLOAT:
                attribute.i = TensorProto.FLOAT16
        elif attribute.type == AttributeProto.GRAPH:
            _subgraph_to_float16(attribute.g, renamed, taken)
        elif attribute.type == AttributeProto.GRAPHS:
            for subgraph in attribute.graphs:
                _subgraph_to_float16(subgraph, renamed, taken)
        elif node.op_type == "Constant" and attribute.name in ("value_float", "value_floats"):
            values = [attribute.f] if attribute.name == "value_float" else list(attribute.floats)
            array = np.array(values[0] if attribute.name == "value_float" else values, dtype=np.float32)
            node.attribute.remove(attribute)
            tensor = numpy_helper.from_array(array)
            _tensor_to_float16(tensor)
            node.attribute.append(helper.make_attribute("value", tensor))


def _subgraph_to_float16(graph: GraphProto, renamed: dict[str, str], taken: set[str]) -> None:
    """A branch or loop body: everything in it is internal to the model, its inputs and outputs included."""
    for value in (*graph.input, *graph.output):
        if _is_float32(value):
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
    shadowed = _defined(graph)
    _convert_graph(graph, {name: new for name, new in renamed.items() if name not in shadowed}, taken)


def _tensor_to_float16(tensor: TensorProto) -> None:
    if tensor.data_type != TensorProto.FLOAT:
        return
    if tensor.data_location == TensorProto.EXTERNAL:
        raise Float16ConversionError(f"tensor {tensor.name!r} keeps its data in an external file: not supported")
    array = numpy_helper.to_array(tensor)
    converted = numpy_helper.from_array(np.clip(array, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16), tensor.name)
    tensor.CopyFrom(converted)


def _is_float32(value: onnx.ValueInfoProto) -> bool:
    return value.type.HasField("tensor_type") and value.type.tensor_type.elem_type == TensorProto.FLOAT


def _names(graph: GraphProto) -> set[str]:
    """Every tensor name the graph and its subgraphs use, so new ones never collide."""
    names: set[str] = set()
    for node in _walk(graph):
        names.update(node.input)
        names.update(node.output)
    names.update(tensor.name for tensor in graph.initializer)
    names.update(value.name for value in (*graph.input, *graph.output, *graph.value_info))
    return names


def _defined(graph: GraphProto) -> set[str]:
    """Names a subgraph defines itself, which shadow the outer graph's."""
    defined = {value.name for value in graph.input} | {tensor.name for tensor in graph.initializer}
    for node in graph.node:
        defined.update(node.output)
    return defined


def _walk(graph: GraphProto) -> Iterator[NodeProto]:
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            for subgraph in _subgraphs(attribute):
                yield from _walk(subgraph)


def _subgraphs(attribute: AttributeProto) -> Iterable[GraphProto]:
    if attribute.type == AttributeProto.GRAPH:
        return (attribute.g,)
    if attribute.type == AttributeProto.GRAPHS:
        return tuple(attribute.graphs)
    return ()


def _fresh(name: str, taken: set[str]) -> str:
    candidate, counter = name, 1
    while candidate in taken:
        counter += 1
        candidate = f"{name}{counter}"
    taken.add(candidate)
    return candidate
