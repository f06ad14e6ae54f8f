"""The registry's ONNX models as TensorRT engines: built once per model, GPU, TensorRT version, precision and batch
profile, cached on disk, and served through the same :class:`~onnx_runner.registry.ModelSource` and
:class:`~onnx_runner.registry.ServedModel` protocols as onnx_runner, so its API and micro-batcher serve them as is.

**Building.** TensorRT parses the ONNX file (``trt.OnnxParser``) into an explicit-batch network and compiles it for
the GPU at hand. Every input whose first dimension the metadata marks dynamic (``-1``) gets one optimisation
profile: batch 1 to ``max_batch``, tuned for half of it; its other dimensions come from the metadata, else from the
model. TensorRT 11 networks are strongly typed, so an fp16 engine is built from the model rewritten in float16
(:mod:`tensorrt_runner.fp16`); an fp32 engine has TF32 turned off, so it computes what ONNX Runtime computes.

**The cache.** Building takes seconds to minutes; a cached engine loads in milliseconds. An engine runs only on
the GPU model and TensorRT version that built it, so its file name carries a hash of everything it depends on
(:class:`EngineKey`: the ONNX file's sha256, GPU, compute capability, TensorRT version, precision, batch profile
and :data:`RECIPE`), and a JSON sidecar records those parts. An engine is reused only when its sidecar matches
every part; one that does not deserialise is rebuilt over.

**Serving.** :class:`TrtRegistry` keeps the engines in step with the model directory as onnx_runner's
:class:`~onnx_runner.registry.Registry` does (new, changed and deleted files; the last good version of a model
whose new files are broken). Without TensorRT or a GPU (:func:`~tensorrt_runner.device.probe`) it builds nothing,
says why in ``errors["."]``, and answers every request with :class:`~aitrader.errors.UnavailableError` (503).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec
import numpy as np

from aitrader.errors import AITraderError, NotFoundError, UnavailableError, ValidationError
from aitrader.log import get_logger
from onnx_runner.registry import DTYPES, ModelMeta, _version_key, check_shape
from tensorrt_runner.device import (
    DeviceBuffer,
    GpuIdentity,
    Stream,
    gpu_identity,
    probe,
    tensorrt,
    tensorrt_version,
    use_device,
)
from tensorrt_runner.fp16 import to_float16

__all__ = [
    "RECIPE",
    "BatchProfile",
    "BuildOptions",
    "EngineBuildError",
    "EngineCache",
    "EngineKey",
    "EngineRecord",
    "Precision",
    "TrtModel",
    "TrtRegistry",
    "build_engine",
    "build_serialized",
    "engine_key",
    "prepare_feeds",
    "probe",
    "profile_shapes",
    "read_model",
]

log = get_logger(__name__)

Precision = Literal["fp32", "fp16"]

RECIPE = 1
"""How engines are built here (the fp16 rewrite, builder flags); raise it when that changes, and every cached
engine is rebuilt."""


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


class EngineKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything a built engine depends on; an engine is reused only where every part is the same."""

    onnx_sha256: str
    gpu: str
    compute_capability: str
    tensorrt: str
    precision: Precision
    batch: tuple[int, int, int]
    """Minimum, optimum and maximum batch size of the optimisation profile."""
    recipe: int = RECIPE

    def digest(self) -> str:
        """sha256 of the key's canonical JSON (fields in declaration order)."""
        return hashlib.sha256(msgspec.json.encode(self)).hexdigest()

    def file_name(self, stem: str) -> str:
        """``<model stem>-<first 16 hex digits of the digest>.engine``: one file per model and key."""
        return f"{stem}-{self.digest()[:16]}.engine"


class EngineRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The JSON sidecar beside an engine: its key, for the cache to compare, and how it was built, for people."""

    key: EngineKey
    model: str
    onnx_file: str
    built_at: str
    build_seconds: float
    size: int


def engine_key(onnx_sha256: str, gpu: GpuIdentity, tensorrt: str, precision: Precision, batch: BatchProfile) -> EngineKey:
    return EngineKey(
        onnx_sha256=onnx_sha256,
        gpu=gpu.name,
        compute_capability=gpu.compute_capability,
        tensorrt=tensorrt,
        precision=precision,
        batch=(batch.minimum, batch.optimum, batch.maximum),
    )


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
    """A serialised engine (a plan) for the ONNX model ``content`` described by ``meta``, built on ``options.device``."""
    trt = tensorrt()
    use_device(options.device)
    logger = _trt_logger()
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


@dataclass(frozen=True)
class CachedEngine:
    engine: Any
    """The deserialised ``trt.ICudaEngine``."""
    path: Path
    record: EngineRecord
    built: bool
    """Whether it was built now (else read from the cache)."""


class EngineCache:
    """Engines on disk under ``directory``, one per model and :class:`EngineKey`, for one GPU and build options."""

    def __init__(self, directory: Path, options: BuildOptions) -> None:
        self.directory = directory
        self.options = options
        self._runtime: Any = None

    @functools.cached_property
    def gpu(self) -> GpuIdentity:
        return gpu_identity(self.options.device)

    def key(self, onnx_sha256: str) -> EngineKey:
        options = self.options
        return engine_key(onnx_sha256, self.gpu, tensorrt_version(), options.precision, options.batch)

    def load_or_build(
        self, onnx_path: Path, content: bytes, sha256: str, meta: ModelMeta, *, force: bool = False
    ) -> CachedEngine:
        """The cached engine for this model when its sidecar matches every key part and it deserialises, else a
        new one built, written (engine first, sidecar last, each atomically) and loaded."""
        key = self.key(sha256)
        path = self.directory / key.file_name(onnx_path.stem)
        sidecar = path.with_suffix(".json")
        if not force:
            record = _read_record(sidecar)
            if record is not None and record.key == key and path.is_file():
                engine = self._deserialise(path.read_bytes())
                if engine is not None:
                    log.info("engine_loaded", model=meta.key, engine=path.name)
                    return CachedEngine(engine, path, record, built=False)
                log.warning("engine_cache_unusable", model=meta.key, engine=path.name, action="rebuild")
        started = time.perf_counter()
        plan = build_serialized(content, meta=meta, options=self.options)
        seconds = time.perf_counter() - started
        engine = self._deserialise(plan)
        if engine is None:
            raise EngineBuildError(f"{meta.key}: TensorRT built an engine it cannot load back")
        record = EngineRecord(
            key=key,
            model=meta.key,
            onnx_file=onnx_path.name,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            build_seconds=round(seconds, 3),
            size=len(plan),
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, plan)
        _write_atomically(sidecar, msgspec.json.format(msgspec.json.encode(record)))
        log.info("engine_built", model=meta.key, engine=path.name, seconds=record.build_seconds, size=len(plan))
        return CachedEngine(engine, path, record, built=True)

    def _deserialise(self, plan: bytes) -> Any:
        """The engine, or None when ``plan`` is not one this TensorRT can load (truncated, corrupt, foreign)."""
        if self._runtime is None:
            self._runtime = tensorrt().Runtime(_trt_logger())
        use_device(self.options.device)
        try:
            return self._runtime.deserialize_cuda_engine(plan)
        except (RuntimeError, TypeError, ValueError) as e:
            log.warning("engine_not_deserialised", error=str(e))
            return None


class TrtModel:
    """One engine serving one model: a :class:`~onnx_runner.registry.ServedModel`.

    One execution context and one CUDA stream, with device buffers sized for the largest batch, allocated once;
    a lock lets one batch at a time use them (the micro-batcher runs one batch per model at a time anyway).
    Inputs with more rows than the engine's largest batch run in chunks of that size.
    """

    def __init__(self, meta: ModelMeta, path: Path, sha256: str, cached: CachedEngine, *, device: int) -> None:
        self._meta = meta
        self._path = path
        self._sha256 = sha256
        self.engine_path = cached.path
        self.record = cached.record
        self.max_batch = cached.record.key.batch[2]
        self._device = device
        self._engine = cached.engine
        self._lock = threading.Lock()
        trt = tensorrt()
        engine = cached.engine
        names = [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]
        self._inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        described = {spec.name for spec in meta.inputs}
        if set(self._inputs) != described:
            raise ValueError(f"{meta.key}: the metadata describes inputs {sorted(described)}, the engine has {sorted(self._inputs)}")
        missing = {spec.name for spec in meta.outputs} - set(self._outputs)
        if missing:
            raise ValueError(f"{meta.key}: the metadata describes outputs {sorted(missing)} the engine does not produce")
        self._dtypes = {name: np.dtype(trt.nptype(engine.get_tensor_dtype(name))) for name in names}
        self._batched = all(spec.shape and spec.shape[0] == -1 for spec in (*meta.inputs, *meta.outputs))

        use_device(device)
        self._context = engine.create_execution_context()
        self._stream = Stream()
        for name in self._inputs:
            shape = tuple(int(d) for d in engine.get_tensor_shape(name))
            if -1 in shape:
                shape = tuple(int(d) for d in engine.get_tensor_profile_shape(name, 0)[2])
            self._context.set_input_shape(name, shape)
        self._largest: dict[str, Shape] = {}
        for name in names:
            shape = tuple(int(d) for d in self._context.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise ValueError(f"{meta.key}: output {name!r} has a data-dependent shape {shape}; not supported")
            self._largest[name] = shape
        self._buffers = {
            name: DeviceBuffer(int(np.prod(shape, dtype=np.int64)) * self._dtypes[name].itemsize)
            for name, shape in self._largest.items()
        }
        for name, buffer in self._buffers.items():
            self._context.set_tensor_address(name, buffer.address)

    @property
    def meta(self) -> ModelMeta:
        return self._meta

    @property
    def path(self) -> Path:
        return self._path

    @property
    def sha256(self) -> str:
        return self._sha256

    def prepare(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``feeds`` checked against the metadata and cast, exactly as onnx_runner checks them."""
        return prepare_feeds(self._meta, feeds)

    def execute(self, prepared: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name for inputs :meth:`prepare` returned; thread-safe, in chunks of the engine's largest batch."""
        if not self._batched:
            return self._run(prepared)
        rows = {array.shape[0] for array in prepared.values()}
        if len(rows) != 1:
            raise ValidationError(f"{self._meta.key}: every input needs the same batch size, were {sorted(rows)}")
        total = rows.pop()
        if total == 0:
            return {
                spec.name: np.empty((0, *self._largest[spec.name][1:]), dtype=DTYPES[spec.dtype])
                for spec in self._meta.outputs
            }
        parts = [
            self._run({name: array[start : start + self.max_batch] for name, array in prepared.items()})
            for start in range(0, total, self.max_batch)
        ]
        if len(parts) == 1:
            return parts[0]
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            use_device(self._device)
            staged = []
            for name in self._inputs:
                array = np.ascontiguousarray(feeds[name], dtype=self._dtypes[name])
                if not self._context.set_input_shape(name, array.shape):
                    raise ValidationError(
                        f"{self._meta.key}: input {name!r} of shape {'x'.join(map(str, array.shape))} is outside what "
                        f"the engine was built for (batch 1 to {self.max_batch})"
                    )
                self._stream.to_device(self._buffers[name], array.ctypes.data, array.nbytes)
                staged.append(array)  # the host memory must outlive the asynchronous copy
            results = {
                spec.name: np.empty(
                    tuple(int(d) for d in self._context.get_tensor_shape(spec.name)), dtype=self._dtypes[spec.name]
                )
                for spec in self._meta.outputs
            }
            if not self._context.execute_async_v3(self._stream.handle):
                raise RuntimeError(f"{self._meta.key}: TensorRT could not enqueue the engine")
            for name, result in results.items():
                self._stream.to_host(result.ctypes.data, self._buffers[name], result.nbytes)
            self._stream.synchronize()
        dtypes = {spec.name: DTYPES[spec.dtype] for spec in self._meta.outputs}
        return {name: result.astype(dtypes[name], copy=False) for name, result in results.items()}


def prepare_feeds(meta: ModelMeta, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``feeds`` checked against ``meta`` (names, shapes, finite values) and cast to the inputs' types.

    The same checks and messages as :meth:`onnx_runner.registry.LoadedModel.prepare`, so both runners refuse the
    same requests in the same words.
    """
    expected = {spec.name: spec for spec in meta.inputs}
    missing = sorted(set(expected) - set(feeds))
    unknown = sorted(set(feeds) - set(expected))
    if missing or unknown:
        raise ValidationError(f"{meta.key} takes inputs {sorted(expected)}; missing {missing}, unknown {unknown}")
    prepared = {}
    for name, spec in expected.items():
        array = np.asarray(feeds[name], dtype=DTYPES[spec.dtype])
        check_shape(array.shape, spec, meta.key)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValidationError(f"{meta.key}: input {name!r} holds NaN or infinite values")
        prepared[name] = array
    return prepared


class TrtRegistry:
    """Every ``<stem>.onnx`` under ``root`` with its ``<stem>.json``, served as TensorRT engines: a
    :class:`~onnx_runner.registry.ModelSource`."""

    def __init__(
        self,
        root: Path,
        *,
        cache_dir: Path,
        precision: Precision = "fp32",
        max_batch: int = 64,
        workspace_mib: int = 1024,
        device: int = 0,
    ) -> None:
        self.root = root
        self.options = BuildOptions(precision=precision, max_batch=max_batch, workspace_mib=workspace_mib, device=device)
        self.cache = EngineCache(cache_dir, self.options)
        self._lock = threading.Lock()
        self._models: dict[str, TrtModel] = {}
        """By ``name@version``."""
        self._seen: dict[Path, tuple[int, int, int, int]] = {}
        """Size and mtime of each served model's ONNX and JSON files."""
        self._unavailable: str | None = None
        self._probed = False
        self.errors: dict[str, str] = {}
        """By file stem (``"."`` for the whole registry): why a model is not served."""

    @property
    def unavailable(self) -> str | None:
        """Why this registry cannot serve at all (no TensorRT, no GPU), once :meth:`refresh` has looked."""
        return self._unavailable

    def refresh(self) -> bool:
        """Bring the served engines in step with the directory, building what the cache lacks; whether anything
        changed. TensorRT and the GPU are probed once: a GPU does not appear under a running process."""
        if not self._probed:
            self._unavailable = probe(self.options.device)
            self._probed = True
            if self._unavailable is not None:
                log.warning("tensorrt_unavailable", reason=self._unavailable, device=self.options.device)
        if self._unavailable is not None:
            self.errors["."] = self._unavailable
            return False
        if not self.root.is_dir():
            self.errors["."] = f"the model directory {self.root} does not exist"
            return False
        self.errors.pop(".", None)
        changed = False
        present: set[Path] = set()
        for onnx_path in sorted(self.root.glob("*.onnx")):
            present.add(onnx_path)
            meta_path = onnx_path.with_suffix(".json")
            try:
                stamp = (*_stat(onnx_path), *_stat(meta_path))
            except FileNotFoundError:
                self.errors[onnx_path.stem] = f"{onnx_path.name} has no metadata file {meta_path.name}"
                continue
            if self._seen.get(onnx_path) == stamp:
                continue
            try:
                model = self._load(onnx_path)
            except Exception as e:  # a broken file is input, not a bug: report it, keep serving the rest
                self.errors[onnx_path.stem] = f"{type(e).__name__}: {e}"
                log.warning("model_not_loaded", file=onnx_path.name, error=str(e))
                continue
            with self._lock:
                for key, loaded in list(self._models.items()):
                    if loaded.path == onnx_path and key != model.meta.key:
                        del self._models[key]  # the file now holds another version
                self._models[model.meta.key] = model
            self._seen[onnx_path] = stamp
            self.errors.pop(onnx_path.stem, None)
            changed = True
            log.info("model_loaded", model=model.meta.key, file=onnx_path.name, engine=model.engine_path.name)
        for gone in [path for path in self._seen if path not in present]:
            with self._lock:
                for key in [k for k, m in self._models.items() if m.path == gone]:
                    del self._models[key]
                    log.info("model_unloaded", model=key, file=gone.name)
            del self._seen[gone]
            self.errors.pop(gone.stem, None)
            changed = True
        return changed

    def get(self, name: str) -> TrtModel:
        """``name`` (its highest version) or ``name@version``; :class:`UnavailableError` without TensorRT or a GPU,
        :class:`NotFoundError` listing what is served otherwise."""
        if self._unavailable is not None:
            raise UnavailableError(self._unavailable)
        with self._lock:
            if "@" in name:
                model = self._models.get(name)
            else:
                versions = [m for m in self._models.values() if m.meta.name == name]
                model = max(versions, key=lambda m: _version_key(m.meta.version)) if versions else None
            if model is None:
                served = ", ".join(sorted(self._models)) or "none"
                raise NotFoundError(f"no model {name!r}; served: {served}")
            return model

    def models(self) -> list[TrtModel]:
        with self._lock:
            return sorted(self._models.values(), key=lambda m: (m.meta.name, _version_key(m.meta.version)))

    def _load(self, onnx_path: Path) -> TrtModel:
        meta, content, digest = read_model(onnx_path)
        cached = self.cache.load_or_build(onnx_path, content, digest, meta)
        try:
            return TrtModel(meta, onnx_path, digest, cached, device=self.options.device)
        except ValueError:
            if cached.built:
                raise
            # the cached engine does not fit the metadata it was built for: build it again before giving up
            rebuilt = self.cache.load_or_build(onnx_path, content, digest, meta, force=True)
            return TrtModel(meta, onnx_path, digest, rebuilt, device=self.options.device)


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _read_record(path: Path) -> EngineRecord | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=EngineRecord)
    except (OSError, msgspec.DecodeError):
        return None


def _write_atomically(path: Path, content: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it over, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def _parser_error(error: Any) -> str:
    """One ONNX parser error: the node it is about, when it names one, and what went wrong."""
    description = str(error.desc())
    node = str(error.node_name() or "") if hasattr(error, "node_name") else ""
    operator = str(error.node_operator() or "") if hasattr(error, "node_operator") else ""
    where = f"node {node!r} ({operator}): " if node else ""
    return where + description


@functools.cache
def _trt_logger() -> Any:
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

    class StructuredLogger(trt.ILogger):  # type: ignore[misc]
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

        def capture(self) -> _Capture:
            return _Capture(self)

    return StructuredLogger()


class _Capture:
    """``with logger.capture() as errors``: the TensorRT errors logged meanwhile (from any thread)."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger
        self.errors: list[str] = []

    def __enter__(self) -> list[str]:
        with self._logger._guard:
            self._logger._captures.append(self.errors)
        return self.errors

    def __exit__(self, *_: object) -> None:
        with self._logger._guard:
            self._logger._captures.remove(self.errors)
