"""A CPU stand-in for ``cuda.bindings.runtime``: "device" memory is host memory, bounds-checked on every copy.

Every call returns a tuple whose first item is the error code, as the real module's calls do.
"""

from __future__ import annotations

import ctypes
import enum
from types import SimpleNamespace
from typing import Any

import numpy as np

DEVICE_COUNT = 1
NAME = b"Fake GPU 80GB"


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInvalidDevice = 101


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


_allocations: dict[int, np.ndarray] = {}
"""Device memory by address."""
_streams: set[int] = set()
_current = 0


def cudaGetDeviceCount() -> tuple[cudaError_t, int]:
    return (cudaError_t.cudaSuccess, DEVICE_COUNT)


def cudaSetDevice(device: int) -> tuple[cudaError_t]:
    global _current
    if not 0 <= device < DEVICE_COUNT:
        return (cudaError_t.cudaErrorInvalidDevice,)
    _current = device
    return (cudaError_t.cudaSuccess,)


def cudaGetDeviceProperties(device: int) -> tuple[cudaError_t, Any]:
    return (cudaError_t.cudaSuccess, SimpleNamespace(name=NAME, major=9, minor=0))


def cudaGetErrorName(error: cudaError_t) -> tuple[cudaError_t, bytes]:
    return (cudaError_t.cudaSuccess, cudaError_t(error).name.encode())


def cudaGetErrorString(error: cudaError_t) -> tuple[cudaError_t, bytes]:
    return (cudaError_t.cudaSuccess, b"fake error")


def cudaMalloc(size: int) -> tuple[cudaError_t, int | None]:
    if size <= 0:
        return (cudaError_t.cudaErrorInvalidValue, None)
    memory = np.full(size, 0xAB, dtype=np.uint8)  # not zeroed, like cudaMalloc's
    _allocations[memory.ctypes.data] = memory
    return (cudaError_t.cudaSuccess, memory.ctypes.data)


def cudaFree(address: int) -> tuple[cudaError_t]:
    if _allocations.pop(int(address), None) is None:
        return (cudaError_t.cudaErrorInvalidValue,)
    return (cudaError_t.cudaSuccess,)


def cudaStreamCreate() -> tuple[cudaError_t, int]:
    handle = len(_streams) + 1000
    _streams.add(handle)
    return (cudaError_t.cudaSuccess, handle)


def cudaStreamDestroy(stream: int) -> tuple[cudaError_t]:
    _streams.discard(stream)
    return (cudaError_t.cudaSuccess,)


def cudaStreamSynchronize(stream: int) -> tuple[cudaError_t]:
    return (cudaError_t.cudaSuccess if stream in _streams else cudaError_t.cudaErrorInvalidValue,)


def cudaMemcpyAsync(dst: int, src: int, count: int, kind: cudaMemcpyKind, stream: int) -> tuple[cudaError_t]:
    device = dst if kind == cudaMemcpyKind.cudaMemcpyHostToDevice else src
    if stream not in _streams or not device_range_is_allocated(int(device), count):
        return (cudaError_t.cudaErrorInvalidValue,)
    ctypes.memmove(int(dst), int(src), count)
    return (cudaError_t.cudaSuccess,)


def device_range_is_allocated(address: int, count: int) -> bool:
    """Whether ``count`` bytes from ``address`` lie inside one allocation: a copy past a buffer is an error."""
    return any(start <= address and address + count <= start + memory.nbytes for start, memory in _allocations.items())


def read(address: int, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    """A copy of the device array at ``address``, for the fake engine."""
    count = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    assert device_range_is_allocated(address, count), "read past a device buffer"
    buffer = (ctypes.c_char * count).from_address(address)
    return np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()


def write(address: int, array: np.ndarray) -> None:
    """Store ``array`` at device ``address``, for the fake engine."""
    array = np.ascontiguousarray(array)
    assert device_range_is_allocated(address, array.nbytes), "write past a device buffer"
    ctypes.memmove(address, array.ctypes.data, array.nbytes)


def allocated() -> int:
    """How many device buffers are live: freed models must give theirs back."""
    return len(_allocations)
