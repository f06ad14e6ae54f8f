"""Building TensorRT engines from the registry's ONNX models.

TensorRT parses the ONNX model (``trt.OnnxParser``) into a network (explicit batch: the only mode TensorRT 10 and
11 have) and compiles it for the GPU at hand. Every input whose first dimension the metadata marks dynamic
(``-1``) gets one optimisation profile, batch 1 to ``max_batch`` tuned for half of it; its other dimensions come
from the metadata, else from the model.

Precision: TensorRT 11 networks are strongly typed and its precision flags (``BuilderFlag.FP16``) are gone, so an
fp16 engine is built from the model with its heavy layers rewritten in float16 (:mod:`tensorrt_runner.fp16`). An
fp32 engine has TF32 turned off, so that it computes what ONNX Runtime computes.

TensorRT's own log goes through one structured logger; the errors it logs during a build end up in the
:class:`EngineBuildError` that says why the build failed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

from aitrader.errors import AITraderError
from aitrader.log import get_logger
from onnx_runner.registry import ModelMeta
from tensorrt_runner.device import tensorrt, use_device
from tensorrt_runner.fp16 import to_float16

Precision = Literal["fp32", "fp16"]


class EngineBuildError(AITraderError):
    """TensorRT could not build an engine for a model; the message says which model and why."""

    code = "ENGINE_BUILD_FAILED"


@dataclass(frozen=True)
class BatchProfile:
    """The batch sizes an engine accepts (``minimum`` to ``maximum``) and the one TensorRT tunes it for."""

    minimum: int
    optimum: int
    maximum: int

    @classmethod
    def up_to(cls, max_batch: int) -> BatchProfile:
        """1 to ``max_batch``, tuned for half of it: micro-batches fill up only under load."""
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, was {max_batch}")
        return cls(1, max(1, max_batch // 2), max_batch)


@dataclass(frozen=True)
class BuildOptions:
    precision: Precision = "fp32"
    max_batch: int = 64
    workspace_mib: int = 1024
    device: int = 0

    @property
    def batch(self) -> BatchProfile:
        return BatchProfile.up_to(self.max_batch)


Shape = tuple[int, ...]


def profile_shapes(
    meta: ModelMeta, network_inputs: Mapping[str, Shape], batch: BatchProfile
) -> dict[str, tuple[Shape, Shape, Shape]]:
    """Minimum, optimum and maximum shape of each network input with a dynamic dimension.

    A dimension is the metadata's where it gives one, else the model's; the first dimension of an input whose
    metadata marks it dynamic is the batch and spans ``batch``. Any other dimension that both leave dynamic has no
    size TensorRT could tune for, so it is refused, as are dimensions on which the two disagree.
    """
    specs = {spec.name: spec for spec in meta.inputs}
    shapes: dict[str, tuple[Shape, Shape, Shape]] = {}
    for name, declared in network_inputs.items():
        spec = specs.get(name)
        if spec is None:
            raise EngineBuildError(f"{meta.key}: the model has input {name!r}, the metadata describes {sorted(specs)}")
        if len(spec.shape) != len(declared):
            raise EngineBuildError(
                f"{meta.key}: input {name!r} has {len(declared)} dimensions in the model, {len(spec.shape)} in the "
                "metadata"
            )
        batched = bool(spec.shape) and spec.shape[0] == -1
        if batched and declared[0] != -1:
            raise EngineBuildError(
                f"{meta.key}: the model fixes the batch of input {name!r} at {declared[0]}; export it with a dynamic "
                "first dimension"
            )
        dims = []
        for axis, (described, modelled) in enumerate(zip(spec.shape, declared, strict=True)):
            if described != -1 and modelled != -1 and described != modelled:
                raise EngineBuildError(
                    f"{meta.key}: dimension {axis} of input {name!r} is {modelled} in the model, {described} in the "
                    "metadata"
                )
            size = described if described != -1 else modelled
            if size == -1 and not (batched and axis == 0):
                raise EngineBuildError(
                    f"{meta.key}: dimension {axis} of input {name!r} is dynamic in both the model and the metadata; "
                    "TensorRT needs its size: give it in the metadata"
                )
            dims.append(size)
        if -1 not in declared:
            continue  # a static input needs no profile
        if batched:
            rest = tuple(dims[1:])
            shapes[name] = ((batch.minimum, *rest), (batch.optimum, *rest), (batch.maximum, *rest))
        else:
            shapes[name] = (tuple(dims), tuple(dims), tuple(dims))
    return shapes


def read_model(onnx_path: Path) -> tuple[ModelMeta, bytes, str]:
    """``<stem>.onnx`` with its ``<stem>.json`` metadata and sha256; ValueError when the metadata pins another
    file, so an engine is never built from the wrong one."""
    meta = msgspec.json.decode(onnx_path.with_suffix(".json").read_bytes(), type=ModelMeta)
    content = onnx_path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if meta.sha256 is not None and meta.sha256 != digest:
        raise ValueError(f"{onnx_path.name}: sha256 {digest[:12]}... differs from the metadata's {meta.sha256[:12]}...")
    return meta, content, digest


def build_serialized(content: bytes, *, meta: ModelMeta, options: BuildOptions) -> bytes:
    """A serialised engine (a plan) for the ONNX model ``content`` described by ``meta``, built for
    ``options.device``."""
    trt = tensorrt()
    use_device(options.device)
    logger = trt_logger()
    if options.precision == "fp16":
        content = to_float16(content)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is TensorRT 10's and 11's only mode
    parser = trt.OnnxParser(network, logger)
    with logger.capture() as errors:
        if not parser.parse(content):
            problems = [_parser_error(parser.get_error(index)) for index in range(parser.num_errors)]
            raise EngineBuildError(f"{meta.key}: TensorRT could not parse the model: {'; '.join(problems or errors)}")
        network_inputs = {
            network.get_input(index).name: tuple(int(d) for d in network.get_input(index).shape)
            for index in range(network.num_inputs)
        }
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mib << 20)
        if options.precision == "fp32":
            config.clear_flag(trt.BuilderFlag.TF32)  # TF32 rounds products to 10 mantissa bits: not fp32
        shapes = profile_shapes(meta, network_inputs, options.batch)
        if shapes:
            profile = builder.create_optimization_profile()
            for name, (minimum, optimum, maximum) in shapes.items():
                profile.set_shape(name, minimum, optimum, maximum)
            config.add_optimization_profile(profile)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            reason = "; ".join(errors) or "no reason given"
            raise EngineBuildError(f"{meta.key}: TensorRT could not build an engine: {reason}")
    return bytes(plan)


def build_engine(
    onnx_path: Path,
    *,
    precision: Precision,
    max_batch: int,
    workspace_mib: int,
    device: int = 0,
    meta: ModelMeta | None = None,
) -> bytes:
    """A serialised engine for ``onnx_path`` (its metadata read from ``<stem>.json`` unless given)."""
    if meta is None:
        meta, content, _ = read_model(onnx_path)
    else:
        content = onnx_path.read_bytes()
    options = BuildOptions(precision=precision, max_batch=max_batch, workspace_mib=workspace_mib, device=device)
    return build_serialized(content, meta=meta, options=options)


def _parser_error(error: Any) -> str:
    """One ONNX parser error: the node it is about, when it names one, and what went wrong."""
    description = str(error.desc())
    node = str(error.node_name() or "") if hasattr(error, "node_name") else ""
    operator = str(error.node_operator() or "") if hasattr(error, "node_operator") else ""
    where = f"node {node!r} ({operator}): " if node else ""
    return where + description


@functools.cache
def trt_logger() -> Any:
    """The one TensorRT logger of this process (TensorRT expects the same for every builder and runtime): warnings
    and errors become structured log events, and errors are kept for the exception a failed build raises."""
    trt = tensorrt()
    severity = trt.ILogger.Severity
    levels = {
        severity.INTERNAL_ERROR: "error",
        severity.ERROR: "error",
        severity.WARNING: "warning",
    }
    trt_log = get_logger("tensorrt")

    base: Any = trt.ILogger

    class StructuredLogger(base):  # type: ignore[misc]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self._guard = threading.Lock()
            self._captures: list[list[str]] = []

        def log(self, level: Any, message: str) -> None:
            method = levels.get(level)
            if method is None:
                return  # INFO and VERBOSE: a build says hundreds of things nobody reads
            getattr(trt_log, method)("tensorrt_log", message=message)
            if method == "error":
                with self._guard:
                    for capture in self._captures:
                        capture.append(message)

        @contextlib.contextmanager
        def capture(self) -> Iterator[list[str]]:
            """The TensorRT errors logged (from any thread) while the block runs."""
            errors: list[str] = []
            with self._guard:
                self._captures.append(errors)
            try:
                yield errors
            finally:
                with self._guard:
                    self._captures.remove(errors)

    return StructuredLogger()
