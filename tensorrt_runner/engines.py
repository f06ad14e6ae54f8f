"""The registry's ONNX models as TensorRT engines, cached on disk and served through the same
:class:`~onnx_runner.registry.ModelSource` and :class:`~onnx_runner.registry.ServedModel` protocols as
onnx_runner, so its API and micro-batcher serve them as they are.

**The cache.** Building an engine (:mod:`tensorrt_runner.build`) takes seconds to minutes; a cached one loads in
milliseconds. An engine runs only on the GPU model and TensorRT version that built it, so its file name carries a
hash of everything it depends on (:class:`EngineKey`: the ONNX file's sha256, GPU name, compute capability,
TensorRT version, precision, batch profile, the metadata's inputs and :data:`RECIPE`) and a JSON sidecar
(:class:`EngineRecord`) records the parts. An engine is reused only when its sidecar matches every part; one that
does not deserialise is built again over it.

**Serving.** :class:`TrtRegistry` keeps the engines in step with the model directory as onnx_runner's
:class:`~onnx_runner.registry.Registry` does (new, changed and deleted files; the last good version of a model
whose new files are broken; by name or ``name@version``). Without TensorRT or a GPU
(:func:`~tensorrt_runner.device.probe`) it builds nothing, says why in ``errors["."]`` and answers every request
with :class:`~aitrader.errors.UnavailableError` (503).
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
from typing import Any

import msgspec
import numpy as np

from aitrader.errors import ValidationError
from aitrader.log import get_logger
from onnx_runner.registry import DTYPES, ModelDirectory, ModelMeta, TensorSpec, prepare_feeds
from tensorrt_runner.build import (
    BatchProfile,
    BuildOptions,
    EngineBuildError,
    Precision,
    build_engine,
    build_serialized,
    profile_shapes,
    read_model,
    trt_logger,
)
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

__all__ = [
    "RECIPE",
    "BatchProfile",
    "BuildOptions",
    "CachedEngine",
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

RECIPE = 1
"""How engines are built (the fp16 rewrite, builder flags); raise it when that changes and every cached engine is
built again."""


class EngineKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything a built engine depends on; an engine is reused only where every part is the same."""

    onnx_sha256: str
    gpu: str
    compute_capability: str
    tensorrt: str
    precision: Precision
    batch: tuple[int, int, int]
    """Minimum, optimum and maximum batch size of the optimisation profile."""
    inputs: tuple[TensorSpec, ...]
    """The metadata's inputs: the profile's other dimensions come from them."""
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


def engine_key(
    onnx_sha256: str,
    gpu: GpuIdentity,
    tensorrt: str,
    precision: Precision,
    batch: BatchProfile,
    inputs: tuple[TensorSpec, ...],
) -> EngineKey:
    return EngineKey(
        onnx_sha256=onnx_sha256,
        gpu=gpu.name,
        compute_capability=gpu.compute_capability,
        tensorrt=tensorrt,
        precision=precision,
        batch=(batch.minimum, batch.optimum, batch.maximum),
        inputs=inputs,
    )


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

    def key(self, onnx_sha256: str, meta: ModelMeta) -> EngineKey:
        options = self.options
        return engine_key(onnx_sha256, self.gpu, tensorrt_version(), options.precision, options.batch, meta.inputs)

    def load_or_build(
        self, onnx_path: Path, content: bytes, sha256: str, meta: ModelMeta, *, force: bool = False
    ) -> CachedEngine:
        """The cached engine for this model when its sidecar matches every key part and it deserialises, else a
        new one built, written (engine first, sidecar last, each atomically) and loaded."""
        key = self.key(sha256, meta)
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
            self._runtime = tensorrt().Runtime(trt_logger())
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
            raise ValueError(
                f"{meta.key}: the metadata describes inputs {sorted(described)}, the engine has {sorted(self._inputs)}"
            )
        missing = {spec.name for spec in meta.outputs} - set(self._outputs)
        if missing:
            raise ValueError(
                f"{meta.key}: the metadata describes outputs {sorted(missing)} the engine does not produce"
            )
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
        self._largest: dict[str, tuple[int, ...]] = {}
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


class TrtRegistry(ModelDirectory[TrtModel]):
    """The registry's models served as TensorRT engines, built or taken from the cache as they load."""

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
        super().__init__(root)
        self.options = BuildOptions(
            precision=precision, max_batch=max_batch, workspace_mib=workspace_mib, device=device
        )
        self.cache = EngineCache(cache_dir, self.options)
        self._reason: str | None = None
        self._probed = False

    def unavailable(self) -> str | None:
        """Why TensorRT cannot serve here (not installed, no GPU). Probed once: a GPU does not appear under a
        running process."""
        if not self._probed:
            self._reason = probe(self.options.device)
            self._probed = True
            if self._reason is not None:
                log.warning("tensorrt_unavailable", reason=self._reason, device=self.options.device)
        return self._reason

    def _load(self, onnx_path: Path, meta_path: Path) -> TrtModel:
        meta, content, digest = read_model(onnx_path)
        cached = self.cache.load_or_build(onnx_path, content, digest, meta)
        log.info("engine_ready", model=meta.key, engine=cached.path.name)
        return TrtModel(meta, onnx_path, digest, cached, device=self.options.device)


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
