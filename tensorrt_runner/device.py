"""The GPU side of tensorrt_runner: whether TensorRT and a CUDA device are usable, which GPU it is, and the few
CUDA runtime calls (``cuda-bindings``) an engine needs: device memory, copies, a stream.

``tensorrt`` and ``cuda.bindings`` are optional (the ``trt`` extra) and imported only inside functions, through
:func:`importlib.import_module`, so importing this package costs nothing on a machine without them and mypy sees
their objects as ``Any`` without stubs. Every CUDA runtime call returns a tuple whose first item is an error code;
:func:`check` turns a failure into :class:`CudaError` naming the call and the error.
"""

from __future__ import annotations

import importlib
import weakref
from dataclasses import dataclass
from typing import Any

INSTALL_HINT = "pip install 'aitrader[trt]'"


class CudaError(RuntimeError):
    """A CUDA runtime call failed; the message names the call and CUDA's own words for the error."""


@dataclass(frozen=True)
class GpuIdentity:
    """What an engine is built for: TensorRT engines run only on the GPU model and TensorRT version that built them."""

    name: str
    compute_capability: str
    """``major.minor``, as in ``9.0`` for an H100."""


def tensorrt() -> Any:
    """The ``tensorrt`` module (ImportError when the ``trt`` extra is not installed)."""
    return importlib.import_module("tensorrt")


def cudart() -> Any:
    """``cuda.bindings.runtime`` (ImportError when the ``trt`` extra is not installed)."""
    return importlib.import_module("cuda.bindings.runtime")


def probe(device: int) -> str | None:
    """None when TensorRT and CUDA device ``device`` are usable, else one line saying what is missing.

    TensorRT is checked first: it is the dependency people forget, and the one whose absence explains the rest.
    """
    try:
        tensorrt()
    except ImportError:
        return f"TensorRT is not installed ({INSTALL_HINT})"
    except OSError as e:  # the bindings are there but their shared libraries are not
        return f"TensorRT is installed but cannot load its libraries: {e}"
    try:
        runtime = cudart()
    except ImportError:
        return f"cuda-bindings is not installed ({INSTALL_HINT})"
    error, count = runtime.cudaGetDeviceCount()
    if int(error) != 0:
        return f"no usable CUDA GPU: cudaGetDeviceCount failed with {_describe(runtime, error)}"
    if count == 0:
        return "no CUDA GPU: cudaGetDeviceCount returned 0"
    if not 0 <= device < count:
        return f"CUDA device {device} does not exist: {count} GPU(s) found (0 to {count - 1})"
    return None


def check(result: tuple[Any, ...], call: str) -> Any:
    """The value a CUDA runtime call returned (None when it returns only the error code); CudaError if it failed."""
    error, *values = result
    if int(error) != 0:
        raise CudaError(f"{call} failed with {_describe(cudart(), error)}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def use_device(device: int) -> None:
    """Make ``device`` current for the calling thread: the CUDA runtime's current device is per thread, and the
    micro-batcher runs each batch on whichever worker thread is free."""
    check(cudart().cudaSetDevice(device), f"cudaSetDevice({device})")


def gpu_identity(device: int) -> GpuIdentity:
    properties = check(cudart().cudaGetDeviceProperties(device), f"cudaGetDeviceProperties({device})")
    raw = properties.name
    name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return GpuIdentity(name=name.rstrip("\x00").strip(), compute_capability=f"{properties.major}.{properties.minor}")


def tensorrt_version() -> str:
    return str(tensorrt().__version__)


class DeviceBuffer:
    """``nbytes`` of device memory, freed by :meth:`free` (idempotent) or when the buffer is collected."""

    def __init__(self, nbytes: int) -> None:
        runtime = cudart()
        self.nbytes = nbytes
        self.address: int = int(check(runtime.cudaMalloc(max(nbytes, 1)), f"cudaMalloc({nbytes})"))
        self._release = weakref.finalize(self, runtime.cudaFree, self.address)

    def free(self) -> None:
        self._release()


class Stream:
    """A CUDA stream: the copies and the engine's kernels for one execution context, in order."""

    def __init__(self) -> None:
        runtime = cudart()
        self._runtime = runtime
        self._stream: Any = check(runtime.cudaStreamCreate(), "cudaStreamCreate")
        self._release = weakref.finalize(self, runtime.cudaStreamDestroy, self._stream)

    @property
    def handle(self) -> int:
        """The stream as TensorRT's ``execute_async_v3`` takes it."""
        return int(self._stream)

    def to_device(self, buffer: DeviceBuffer, address: int, nbytes: int) -> None:
        kind = self._runtime.cudaMemcpyKind.cudaMemcpyHostToDevice
        result = self._runtime.cudaMemcpyAsync(buffer.address, address, nbytes, kind, self._stream)
        check(result, "cudaMemcpyAsync(host to device)")

    def to_host(self, address: int, buffer: DeviceBuffer, nbytes: int) -> None:
        kind = self._runtime.cudaMemcpyKind.cudaMemcpyDeviceToHost
        result = self._runtime.cudaMemcpyAsync(address, buffer.address, nbytes, kind, self._stream)
        check(result, "cudaMemcpyAsync(device to host)")

    def synchronize(self) -> None:
        check(self._runtime.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")

    def destroy(self) -> None:
        self._release()


def _describe(runtime: Any, error: Any) -> str:
    """``cudaErrorNoDevice (no CUDA-capable device is detected)``: the error's name and CUDA's description of it."""
    _, name = runtime.cudaGetErrorName(error)
    _, text = runtime.cudaGetErrorString(error)
    return f"{_text(name)} ({_text(text)})"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
