"""The model registry: every ``<stem>.onnx`` under a directory with its ``<stem>.json`` metadata, loaded into
ONNX Runtime and kept in step with the files.

Metadata (:class:`ModelMeta`) names the model and its version, describes its inputs and outputs (a ``-1``
dimension is dynamic, usually the batch), how its inputs are normalised, and for forecasters the lookback and
horizon. ``sha256`` (optional) pins the ONNX file: a file that does not match is refused.

:meth:`Registry.refresh` compares the directory with what is loaded (by size and modification time), loads
new and changed models, drops deleted ones, and keeps serving the last good version of a model whose new
files are broken; each problem is kept in :attr:`Registry.errors` for /health. A model is served by name
(its highest version) or by ``name@version``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

import msgspec
import numpy as np
import onnxruntime as ort

from aitrader.errors import NotFoundError, UnavailableError, ValidationError
from aitrader.log import get_logger

log = get_logger(__name__)

DTYPES: dict[str, Any] = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32}


class TensorSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    shape: tuple[int, ...]
    """-1 marks a dynamic dimension (the batch, usually the first)."""
    dtype: Literal["float32", "float64", "int64", "int32"] = "float32"


class Normalisation(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the forecast endpoint scales a forecaster's input window and scales its outputs back.

    ``window``: relative to the window's last value, ``(x / last - 1 - mean) / std``, and back with
    ``last * (1 + mean + y * std)``; ``zscore``: ``(x - mean) / std``; ``none``: as is (the project's own
    forecasters scale inside their graphs, so they take and return prices).
    """

    method: Literal["none", "window", "zscore"] = "none"
    mean: float = 0.0
    std: float = 1.0


class ModelMeta(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    version: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    kind: Literal["forecast", "classifier", "generic"] = "generic"
    lookback: int | None = None
    horizon: int | None = None
    normalisation: Normalisation = Normalisation()
    sha256: str | None = None
    description: str = ""
    metrics: dict[str, float] = {}
    """What training measured on its test set (errors, the baselines', the band's coverage)."""
    labels: tuple[str, ...] = ()
    """A classifier's classes, in the order of its output columns."""
    band_level: float | None = None
    """A forecaster whose outputs include ``lower`` and ``upper``: the share of outcomes the band should hold."""
    training: dict[str, Any] = {}
    """How the model was made: data, configuration, time."""

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


class ServedModel(Protocol):
    """A model a runner serves: ONNX Runtime's :class:`LoadedModel`, or a TensorRT engine built from the same
    files. The HTTP API and the micro-batcher see only this."""

    @property
    def meta(self) -> ModelMeta: ...

    @property
    def path(self) -> Path: ...

    @property
    def sha256(self) -> str: ...

    def prepare(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``feeds`` checked against the metadata and cast; :class:`ValidationError` says what is wrong."""
        ...

    def execute(self, prepared: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name for inputs :meth:`prepare` returned; thread-safe."""
        ...


class ModelSource(Protocol):
    """What a runner serves from: a directory of models kept in step with its files."""

    @property
    def root(self) -> Path: ...

    @property
    def errors(self) -> dict[str, str]:
        """By file stem (or ``"."`` for the whole source): why a model cannot be served."""
        ...

    def refresh(self) -> bool:
        """Bring the served models in step with the files; whether anything changed."""
        ...

    def get(self, name: str) -> ServedModel:
        """``name`` (its highest version) or ``name@version``; NotFoundError when not served, UnavailableError
        when the source cannot serve at all (no GPU, say)."""
        ...

    def models(self) -> Sequence[ServedModel]: ...


M = TypeVar("M", bound=ServedModel)


@dataclass(frozen=True)
class LoadedModel:
    meta: ModelMeta
    path: Path
    sha256: str
    session: ort.InferenceSession

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check ``feeds`` against the metadata and run the model; :class:`ValidationError` says what is wrong."""
        return self.execute(self.prepare(feeds))

    def prepare(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``feeds`` checked against the metadata and cast (:func:`prepare_feeds`)."""
        return prepare_feeds(self.meta, feeds)

    def execute(self, prepared: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on inputs :meth:`prepare` checked (thread-safe: ONNX Runtime sessions are)."""
        names = [spec.name for spec in self.meta.outputs]
        results = self.session.run(names, dict(prepared))
        return dict(zip(names, results, strict=True))


def prepare_feeds(meta: ModelMeta, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``feeds`` checked against ``meta`` (names, shapes, finite values) and cast to the inputs' types; every
    runner refuses the same requests in the same words (:class:`ValidationError`)."""
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


def check_shape(shape: tuple[int, ...], spec: TensorSpec, model: str) -> None:
    if len(shape) != len(spec.shape) or any(want not in (-1, got) for want, got in zip(spec.shape, shape, strict=True)):
        wanted = "x".join("N" if d == -1 else str(d) for d in spec.shape)
        raise ValidationError(
            f"{model}: input {spec.name!r} must have shape {wanted}, was {'x'.join(map(str, shape)) or 'a scalar'}"
        )


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Versions compare part by part, numbers as numbers: 1.10 is above 1.9."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in version.replace("-", ".").split("."))


class ModelDirectory(Generic[M]):
    """Every ``<stem>.onnx`` under ``root`` with its ``<stem>.json``, loaded by :meth:`_load` and kept in step
    with the files: a :class:`ModelSource`. Each runner says how it loads a model (ONNX Runtime, a TensorRT
    engine) and, through :meth:`unavailable`, whether it can serve at all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._models: dict[str, M] = {}
        """By ``name@version``."""
        self._seen: dict[Path, tuple[int, int, int, int]] = {}
        """Size and mtime of each loaded model's ONNX and JSON files."""
        self.errors: dict[str, str] = {}
        """By file stem (``"."`` for the whole directory): why its model could not be loaded."""

    def unavailable(self) -> str | None:
        """Why nothing can be served here at all (no GPU, say); None when models can be."""
        return None

    def refresh(self) -> bool:
        """Bring the loaded models in step with the directory; whether anything changed."""
        reason = self.unavailable()
        if reason is not None:
            self.errors["."] = reason
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
                model = self._load(onnx_path, meta_path)
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
            log.info("model_loaded", model=model.meta.key, file=onnx_path.name, sha256=model.sha256[:12])
        for gone in [path for path in self._seen if path not in present]:
            with self._lock:
                for key in [k for k, m in self._models.items() if m.path == gone]:
                    del self._models[key]
                    log.info("model_unloaded", model=key, file=gone.name)
            del self._seen[gone]
            self.errors.pop(gone.stem, None)
            changed = True
        return changed

    def get(self, name: str) -> M:
        """``name`` (its highest version) or ``name@version``; :class:`UnavailableError` when nothing can be
        served here, :class:`NotFoundError` listing what is served otherwise."""
        reason = self.unavailable()
        if reason is not None:
            raise UnavailableError(reason)
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

    def models(self) -> list[M]:
        with self._lock:
            return sorted(self._models.values(), key=lambda m: (m.meta.name, _version_key(m.meta.version)))

    def _load(self, onnx_path: Path, meta_path: Path) -> M:
        raise NotImplementedError


class Registry(ModelDirectory[LoadedModel]):
    """The registry in ONNX Runtime on the CPU (onnx_runner)."""

    def __init__(self, root: Path, *, intra_op_threads: int = 1) -> None:
        super().__init__(root)
        self._threads = intra_op_threads

    def _load(self, onnx_path: Path, meta_path: Path) -> LoadedModel:
        meta = msgspec.json.decode(meta_path.read_bytes(), type=ModelMeta)
        content = onnx_path.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        if meta.sha256 is not None and meta.sha256 != digest:
            raise ValueError(
                f"{onnx_path.name}: sha256 {digest[:12]}... differs from the metadata's {meta.sha256[:12]}..."
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(content, sess_options=options, providers=["CPUExecutionProvider"])
        declared = {i.name for i in session.get_inputs()}
        described = {spec.name for spec in meta.inputs}
        if declared != described:
            raise ValueError(f"{meta_path.name} describes inputs {sorted(described)}, the model has {sorted(declared)}")
        produced = {o.name for o in session.get_outputs()}
        missing = {spec.name for spec in meta.outputs} - produced
        if missing:
            raise ValueError(f"{meta_path.name} describes outputs {sorted(missing)} the model does not produce")
        return LoadedModel(meta, onnx_path, digest, session)


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns
