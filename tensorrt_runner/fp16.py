"""An ONNX model rewritten to run its heavy layers in float16, for TensorRT's fp16 engines.

TensorRT 11 builds only strongly typed networks: each tensor has the type the ONNX graph gives it, and TensorRT
10's precision flags (``BuilderFlag.FP16``) are gone. An fp16 engine therefore needs a graph that is float16 where
it should be. NVIDIA points to ModelOpt AutoCast for that; our models (MLPs, 1-D CNNs, N-BEATS stacks) need less,
so this module does it with ``onnx`` alone, which every install has. The graph is split in two:

- **float16**: the heavy operators (:data:`HEAVY_OPS`: MatMul, Gemm, Conv, ...), where float16 pays, and the
  cheap ones between them (activations, bias additions, pooling);
- **float32**: every cheap operator that reaches back to a graph input, or forward to a graph output, without
  passing a heavy one: the scaling a model does to its inputs and undoes on its outputs. The project's
  forecasters take and return prices (tens of thousands: past float16's largest value, 65504, for an index such
  as the SENSEX) and compute relative moves of a few 1e-4, below float16's resolution at that size. In float32
  that scaling stays exact, and the layers see normalised values, which float16 holds well.

Casts join the two where a tensor crosses; inputs and outputs keep their names and types. Constants follow their
users (float32 if any user is); weights used only in float16 are stored in float16, clipped to its range. Control
flow (If, Loop, Scan) stays float32 as it is. The result passes ONNX's type checks before TensorRT sees it, so a
graph this cannot convert fails here with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

import numpy as np
import onnx
from onnx import AttributeProto, GraphProto, NodeProto, TensorProto, helper, numpy_helper

FLOAT16_MAX = float(np.finfo(np.float16).max)

HEAVY_OPS = frozenset({"MatMul", "Gemm", "Conv", "ConvTranspose", "Einsum", "LSTM", "GRU", "RNN", "Attention"})
"""Operators worth computing in float16: the matrix products and convolutions where the time goes."""

FLOAT32_ONLY_INPUTS: dict[str, tuple[int, ...]] = {"Resize": (2,), "Upsample": (1,), "NonMaxSuppression": (3, 4)}
"""Operator inputs ONNX types as float32 only, by input index."""

ANY_TYPE_INPUTS: dict[str, tuple[int, ...]] = {"Cast": (0,), "Shape": (0,), "Size": (0,)}
"""Operator inputs of any type: they never need a cast."""

_TYPE_ATTRIBUTES = ("to", "dtype")
"""Integer attributes naming an output type (``Cast.to``, ``RandomNormal.dtype``, ``EyeLike.dtype``)."""

NodePrecision = Literal["fp16", "fp32"]


class Float16ConversionError(ValueError):
    """The model cannot be rewritten; the message says which tensor or node stands in the way."""


def to_float16(content: bytes) -> bytes:
    """``content`` (a serialised ONNX model) with its heavy layers in float16, inputs and outputs as they were."""
    model = onnx.load_from_string(content)
    graph = model.graph
    floats = _float32_tensors(model)
    nodes = list(graph.node)
    taken = _names(graph)
    initialised = {tensor.name: tensor for tensor in graph.initializer}
    inputs = {value.name for value in graph.input if value.name not in initialised}
    outputs = {value.name for value in graph.output}

    precision = _partition(nodes, inputs, outputs)
    wanted = _requirements(nodes, precision, floats)

    home: dict[str, NodePrecision] = {name: "fp32" for name in inputs if name in floats}
    twins: dict[str, str] = {}
    """Weights used in both precisions: the name of their float16 twin."""
    for name, tensor in initialised.items():
        users = {want for (_, want) in wanted.get(name, ())}
        if tensor.data_type != TensorProto.FLOAT or name in inputs:
            continue
        if users == {"fp16"}:
            _tensor_to_float16(tensor)
            home[name] = "fp16"
        else:
            home[name] = "fp32"
            if "fp16" in users:
                twin = onnx.TensorProto()
                twin.CopyFrom(tensor)
                _tensor_to_float16(twin)
                twin.name = twins[name] = _fresh(f"{name}__fp16", taken)
                graph.initializer.append(twin)
    for index, node in enumerate(nodes):
        for name in node.output:
            if name in floats:
                home[name] = precision[index]

    # A float16 output leaves through a cast back to float32 under its own name; inside, a new name stands for it.
    leaving = {name: _fresh(f"{name}__fp16", taken) for name in outputs if name in floats and home.get(name) == "fp16"}
    if leaving:
        for node in _walk(graph):
            _rename(node, leaving)
        for name, inner in leaving.items():
            if name in initialised:
                initialised[name].name = inner
            home[inner] = home[name]
            floats.add(inner)

    rewritten: list[NodeProto] = []
    casts: dict[tuple[str, NodePrecision], str] = {}

    def cast(name: str, to: NodePrecision) -> str:
        """``name`` in precision ``to``: a Cast made before the first user that needs it, reused after."""
        if (name, to) not in casts:
            casts[name, to] = _fresh(f"{name}__{to}", taken)
            target = TensorProto.FLOAT16 if to == "fp16" else TensorProto.FLOAT
            rewritten.append(helper.make_node("Cast", [name], [casts[name, to]], to=target))
        return casts[name, to]

    for index, node in enumerate(nodes):
        for slot, name in enumerate(node.input):
            want = _required(node, slot, name, precision[index], floats)
            if want is None:
                continue
            if want == "fp16" and name in twins:
                node.input[slot] = twins[name]
            elif home.get(name, want) != want:
                node.input[slot] = cast(name, want)
        for name in _outer_references(node):
            if name in floats and home.get(name) == "fp16":  # control flow stays float32, its captures too
                renamed = cast(name, "fp32")
                for subgraph in _subgraphs_of(node):
                    for inner in _walk(subgraph):
                        _rename(inner, {name: renamed})
        if precision[index] == "fp16":
            _node_to_float16(node)
        rewritten.append(node)
    rewritten += [helper.make_node("Cast", [inner], [name], to=TensorProto.FLOAT) for name, inner in leaving.items()]
    del graph.node[:]
    graph.node.extend(rewritten)
    del graph.value_info[:]  # the types changed; ONNX's inference and TensorRT's parser work them out again
    try:
        onnx.checker.check_model(model)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise Float16ConversionError(f"the float16 rewrite of the model is not valid ONNX: {e}") from e
    serialised: bytes = model.SerializeToString()
    return serialised


def precisions(content: bytes) -> dict[str, NodePrecision]:
    """Each node's precision in the rewrite (by node name, else ``op_type#index``): what :func:`to_float16` would
    put in float16, for tests and for people deciding whether fp16 suits a model."""
    graph = onnx.load_from_string(content).graph
    initialised = {tensor.name for tensor in graph.initializer}
    inputs = {value.name for value in graph.input if value.name not in initialised}
    nodes = list(graph.node)
    precision = _partition(nodes, inputs, {value.name for value in graph.output})
    return {node.name or f"{node.op_type}#{index}": precision[index] for index, node in enumerate(nodes)}


def _partition(nodes: list[NodeProto], inputs: set[str], outputs: set[str]) -> list[NodePrecision]:
    """Float32 for control flow and for every cheap node on a path of cheap nodes from a graph input or to a graph
    output; float16 for the rest. Constants take float32 if any user does."""
    tainted = set(inputs)
    near_input: set[int] = set()
    for index, node in enumerate(nodes):
        if node.op_type not in HEAVY_OPS and any(name in tainted for name in _uses(node)):
            near_input.add(index)
            tainted.update(node.output)
    users: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in _uses(node):
            users.setdefault(name, []).append(index)
    near_output: set[int] = set()
    for index in reversed(range(len(nodes))):
        node = nodes[index]
        if node.op_type in HEAVY_OPS or node.op_type == "Constant":
            continue
        if any(name in outputs or any(user in near_output for user in users.get(name, ())) for name in node.output):
            near_output.add(index)
    precision: list[NodePrecision] = [
        "fp32" if index in near_input or index in near_output or _subgraphs_of(node) else "fp16"
        for index, node in enumerate(nodes)
    ]
    for index, node in enumerate(nodes):
        if node.op_type == "Constant":
            consumers = [user for name in node.output for user in users.get(name, ())]
            float32_user = any(precision[user] == "fp32" for user in consumers)
            precision[index] = "fp32" if float32_user or any(name in outputs for name in node.output) else "fp16"
    return precision


def _requirements(
    nodes: list[NodeProto], precision: list[NodePrecision], floats: set[str]
) -> dict[str, list[tuple[int, NodePrecision]]]:
    """For each float32 tensor, the nodes that use it and the precision each needs it in."""
    wanted: dict[str, list[tuple[int, NodePrecision]]] = {}
    for index, node in enumerate(nodes):
        for slot, name in enumerate(node.input):
            want = _required(node, slot, name, precision[index], floats)
            if want is not None:
                wanted.setdefault(name, []).append((index, want))
        for name in _outer_references(node):
            if name in floats:
                wanted.setdefault(name, []).append((index, "fp32"))
    return wanted


def _required(
    node: NodeProto, slot: int, name: str, precision: NodePrecision, floats: set[str]
) -> NodePrecision | None:
    """The precision ``node`` needs input ``slot`` in; None where no cast applies (not a float32 tensor, or an
    input of any type)."""
    if not name or name not in floats or slot in ANY_TYPE_INPUTS.get(node.op_type, ()):
        return None
    return "fp32" if slot in FLOAT32_ONLY_INPUTS.get(node.op_type, ()) else precision


def _node_to_float16(node: NodeProto) -> None:
    """The attributes that name or hold a float32 value, in float16 (the node's tensors are cast around it)."""
    if node.op_type == "ConstantOfShape" and not any(a.name == "value" for a in node.attribute):
        node.attribute.append(helper.make_attribute("value", numpy_helper.from_array(np.zeros(1, np.float16))))
    for attribute in list(node.attribute):
        if attribute.type == AttributeProto.TENSOR:
            _tensor_to_float16(attribute.t)
        elif attribute.type == AttributeProto.INT and attribute.name in _TYPE_ATTRIBUTES:
            if attribute.i == TensorProto.FLOAT:
                attribute.i = TensorProto.FLOAT16
        elif node.op_type == "Constant" and attribute.name in ("value_float", "value_floats"):
            values = attribute.f if attribute.name == "value_float" else list(attribute.floats)
            node.attribute.remove(attribute)
            tensor = numpy_helper.from_array(np.array(values, dtype=np.float32))
            _tensor_to_float16(tensor)
            node.attribute.append(helper.make_attribute("value", tensor))


def _tensor_to_float16(tensor: TensorProto) -> None:
    if tensor.data_type != TensorProto.FLOAT:
        return
    if tensor.data_location == TensorProto.EXTERNAL:
        raise Float16ConversionError(f"tensor {tensor.name!r} keeps its data in an external file: not supported")
    array = numpy_helper.to_array(tensor)
    converted = numpy_helper.from_array(np.clip(array, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16), tensor.name)
    tensor.CopyFrom(converted)


def _float32_tensors(model: onnx.ModelProto) -> set[str]:
    """The main graph's tensors that are float32, by ONNX's type inference (tensors it cannot type are left out,
    and left alone)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except onnx.shape_inference.InferenceError as e:
        raise Float16ConversionError(f"ONNX cannot infer the model's types: {e}") from e
    graph = inferred.graph
    names = {value.name for value in (*graph.input, *graph.output, *graph.value_info) if _is_float32(value)}
    names.update(tensor.name for tensor in graph.initializer if tensor.data_type == TensorProto.FLOAT)
    return names


def _is_float32(value: onnx.ValueInfoProto) -> bool:
    return value.type.HasField("tensor_type") and value.type.tensor_type.elem_type == TensorProto.FLOAT


def _uses(node: NodeProto) -> list[str]:
    """What ``node`` reads: its inputs, and the outer tensors its subgraphs capture."""
    return [name for name in node.input if name] + sorted(_outer_references(node))


def _outer_references(node: NodeProto) -> set[str]:
    """Tensors of the enclosing graph that the subgraphs of ``node`` (If branches, Loop bodies) read."""
    references: set[str] = set()
    for subgraph in _subgraphs_of(node):
        defined = {value.name for value in subgraph.input} | {tensor.name for tensor in subgraph.initializer}
        for inner in subgraph.node:
            references.update(
                name for name in (*inner.input, *_outer_references(inner)) if name and name not in defined
            )
            defined.update(inner.output)
    return references


def _rename(node: NodeProto, names: dict[str, str]) -> None:
    for index, name in enumerate(node.input):
        if name in names:
            node.input[index] = names[name]
    for index, name in enumerate(node.output):
        if name in names:
            node.output[index] = names[name]


def _names(graph: GraphProto) -> set[str]:
    """Every tensor name the graph and its subgraphs use, so new ones never collide."""
    names: set[str] = set()
    for node in _walk(graph):
        names.update(node.input)
        names.update(node.output)
    names.update(tensor.name for tensor in graph.initializer)
    names.update(value.name for value in (*graph.input, *graph.output, *graph.value_info))
    return names


def _walk(graph: GraphProto) -> Iterator[NodeProto]:
    for node in graph.node:
        yield node
        for subgraph in _subgraphs_of(node):
            yield from _walk(subgraph)


def _subgraphs_of(node: NodeProto) -> list[GraphProto]:
    return [graph for attribute in node.attribute for graph in _subgraphs(attribute)]


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
