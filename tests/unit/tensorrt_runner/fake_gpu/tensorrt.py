"""A CPU stand-in for ``tensorrt`` (11.x): the builder, ONNX parser, runtime, engine and execution context calls
tensorrt_runner makes, with ONNX Runtime doing the arithmetic on the fake device memory of ``cuda.bindings.runtime``.

A "plan" is the ONNX model (after tensorrt_runner's fp16 rewrite, where asked) and the optimisation profile, as
JSON behind a magic prefix; anything else does not deserialise. ``BUILDS`` and ``LARGEST_BATCH`` let tests see
what was built and how many rows one execution carried.
"""

from __future__ import annotations

import base64
import enum
import json
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from cuda.bindings import runtime as cudart

__version__ = "11.4.0.106"
MAGIC = b"FAKE-TRT-PLAN\n"
BUILDS: list[str] = []
"""The graph name of every engine built."""
LARGEST_BATCH: list[int] = [0]

_NUMPY = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.FLOAT16: np.float16,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.INT32: np.int32,
}


class ILogger:
    class Severity(enum.IntEnum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    def __init__(self) -> None:
        pass

    def log(self, severity: ILogger.Severity, message: str) -> None:
        raise NotImplementedError


class MemoryPoolType(enum.Enum):
    WORKSPACE = 0


class BuilderFlag(enum.Enum):
    TF32 = 6


class TensorIOMode(enum.Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


def nptype(dtype: Any) -> Any:
    return dtype


class _Tensor:
    def __init__(self, name: str, shape: tuple[int, ...], dtype: Any) -> None:
        self.name, self.shape, self.dtype = name, shape, dtype


class _Network:
    def __init__(self) -> None:
        self.model: onnx.ModelProto | None = None
        self.inputs: list[_Tensor] = []

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def get_input(self, index: int) -> _Tensor:
        return self.inputs[index]


class _ParserError:
    def __init__(self, message: str) -> None:
        self.message = message

    def desc(self) -> str:
        return self.message

    def node_name(self) -> str:
        return ""

    def node_operator(self) -> str:
        return ""


class OnnxParser:
    def __init__(self, network: _Network, logger: ILogger) -> None:
        self.network, self.logger, self.errors = network, logger, []

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, index: int) -> _ParserError:
        return self.errors[index]

    def parse(self, content: bytes) -> bool:
        try:
            model = onnx.load_from_string(content)
            onnx.checker.check_model(model)
        except Exception as e:  # whatever onnx raises (protobuf DecodeError, ValidationError): a parse error
            self.logger.log(ILogger.Severity.ERROR, f"ModelImporter.cpp: failed to parse ONNX model: {e}")
            self.errors.append(_ParserError(f"failed to parse the ONNX model: {type(e).__name__}"))
            return False
        initialised = {tensor.name for tensor in model.graph.initializer}
        self.network.model = model
        self.network.inputs = [
            _Tensor(v.name, _dims(v), _NUMPY[v.type.tensor_type.elem_type])
            for v in model.graph.input
            if v.name not in initialised
        ]
        return True


class _Profile:
    def __init__(self) -> None:
        self.shapes: dict[str, list[list[int]]] = {}

    def set_shape(self, name: str, minimum: Any, optimum: Any, maximum: Any) -> None:
        self.shapes[name] = [list(minimum), list(optimum), list(maximum)]


class _Config:
    def __init__(self) -> None:
        self.profiles: list[_Profile] = []
        self.cleared: set[BuilderFlag] = set()

    def set_memory_pool_limit(self, pool: MemoryPoolType, size: int) -> None:
        assert pool is MemoryPoolType.WORKSPACE and size > 0

    def clear_flag(self, flag: BuilderFlag) -> None:
        self.cleared.add(flag)

    def add_optimization_profile(self, profile: _Profile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1


class Builder:
    def __init__(self, logger: ILogger) -> None:
        self.logger = logger

    def create_network(self, flags: int = 0) -> _Network:
        assert flags == 0, "TensorRT 11 networks take no creation flags"
        return _Network()

    def create_builder_config(self) -> _Config:
        return _Config()

    def create_optimization_profile(self) -> _Profile:
        return _Profile()

    def build_serialized_network(self, network: _Network, config: _Config) -> bytes | None:
        assert network.model is not None
        dynamic = [tensor.name for tensor in network.inputs if -1 in tensor.shape]
        profile = config.profiles[0].shapes if config.profiles else {}
        if sorted(profile) != sorted(dynamic):
            self.logger.log(ILogger.Severity.ERROR, f"Network has dynamic inputs {dynamic} without a profile")
            return None
        BUILDS.append(network.model.graph.name)
        document = {"onnx": base64.b64encode(network.model.SerializeToString()).decode(), "profile": profile}
        return MAGIC + json.dumps(document).encode()


class Runtime:
    def __init__(self, logger: ILogger) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, plan: bytes) -> _Engine | None:
        if not bytes(plan).startswith(MAGIC):
            self.logger.log(ILogger.Severity.ERROR, "IRuntime::deserializeCudaEngine: magic tag does not match")
            return None
        document = json.loads(bytes(plan)[len(MAGIC) :])
        return _Engine(base64.b64decode(document["onnx"]), document["profile"])


class _Engine:
    def __init__(self, content: bytes, profile: dict[str, list[list[int]]]) -> None:
        self.model = onnx.load_from_string(content)
        self.session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
        self.profile = profile
        graph = self.model.graph
        initialised = {tensor.name for tensor in graph.initializer}
        self.tensors = {v.name: (TensorIOMode.INPUT, v) for v in graph.input if v.name not in initialised}
        self.tensors |= {v.name: (TensorIOMode.OUTPUT, v) for v in graph.output}

    @property
    def num_io_tensors(self) -> int:
        return len(self.tensors)

    def get_tensor_name(self, index: int) -> str:
        return list(self.tensors)[index]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return self.tensors[name][0]

    def get_tensor_dtype(self, name: str) -> Any:
        return _NUMPY[self.tensors[name][1].type.tensor_type.elem_type]

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return _dims(self.tensors[name][1])

    def get_tensor_profile_shape(self, name: str, index: int) -> list[tuple[int, ...]]:
        assert index == 0
        return [tuple(shape) for shape in self.profile[name]]

    def create_execution_context(self) -> _Context:
        return _Context(self)


class _Context:
    def __init__(self, engine: _Engine) -> None:
        self.engine = engine
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.addresses: dict[str, int] = {}

    def set_input_shape(self, name: str, shape: Any) -> bool:
        shape = tuple(int(d) for d in shape)
        declared = self.engine.get_tensor_shape(name)
        if len(shape) != len(declared) or any(d not in (-1, s) for d, s in zip(declared, shape, strict=True)):
            return False
        if name in self.engine.profile:
            low, _, high = self.engine.profile[name]
            if any(not lo <= s <= hi for lo, s, hi in zip(low, shape, high, strict=True)):
                return False
        self.shapes[name] = shape
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        mode, value = self.engine.tensors[name]
        if mode is TensorIOMode.INPUT:
            return self.shapes.get(name, _dims(value))
        batch = next(iter(self.shapes.values()))[0] if self.shapes else -1
        return tuple(batch if d == -1 else d for d in _dims(value))

    def set_tensor_address(self, name: str, address: int) -> bool:
        self.addresses[name] = address
        return True

    def execute_async_v3(self, stream: int) -> bool:
        feeds = {}
        for name, (mode, _) in self.engine.tensors.items():
            if mode is TensorIOMode.INPUT:
                dtype = np.dtype(self.engine.get_tensor_dtype(name))
                feeds[name] = cudart.read(self.addresses[name], self.shapes[name], dtype)
        LARGEST_BATCH[0] = max(LARGEST_BATCH[0], *(feed.shape[0] for feed in feeds.values()))
        names = [name for name, (mode, _) in self.engine.tensors.items() if mode is TensorIOMode.OUTPUT]
        for name, result in zip(names, self.engine.session.run(names, feeds), strict=True):
            cudart.write(self.addresses[name], result)
        return True


def _dims(value: onnx.ValueInfoProto) -> tuple[int, ...]:
    return tuple(d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim)
