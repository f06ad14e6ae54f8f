"""Without TensorRT, cuda-bindings or a GPU, tensorrt_runner imports, says in one line what is missing, and serves
nothing: every request gets UnavailableError (503), never an ImportError."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from aitrader.errors import UnavailableError
from tensorrt_runner.device import probe
from tensorrt_runner.engines import TrtRegistry
from tests.onnx_factories import affine_model, write_model

NO_SUCH_DEVICE = 10_000
"""A CUDA device index no machine has: the probe gives a reason on every machine, GPU or not."""


def test_importing_the_package_imports_neither_tensorrt_nor_cuda() -> None:
    modules = ["tensorrt_runner.engines", "tensorrt_runner.build", "tensorrt_runner.fp16", "tensorrt_runner.app"]
    script = (
        f"import sys\nfor name in {modules!r}: __import__(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorrt', 'cuda'))\n"
        "print(loaded)"
    )

    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_tensorrt_the_probe_says_to_install_the_trt_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` now raises ImportError

    assert probe(0) == "TensorRT is not installed (pip install 'aitrader[trt]')"


def test_without_cuda_bindings_the_probe_names_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", None)

    assert probe(0) == "cuda-bindings is not installed (pip install 'aitrader[trt]')"


class _Runtime(types.ModuleType):
    """cuda.bindings.runtime's answers on a machine with ``count`` GPUs (or whose driver fails with ``error``)."""

    def __init__(self, count: int, error: int = 0) -> None:
        super().__init__("cuda.bindings.runtime")
        self.count = count
        self.error = error

    def cudaGetDeviceCount(self) -> tuple[int, int | None]:
        return (self.error, None if self.error else self.count)

    def cudaGetErrorName(self, error: int) -> tuple[int, bytes]:
        return (0, b"cudaErrorInsufficientDriver")

    def cudaGetErrorString(self, error: int) -> tuple[int, bytes]:
        return (0, b"CUDA driver version is insufficient for CUDA runtime version")


@pytest.mark.parametrize(
    ("runtime", "device", "reason"),
    [
        (_Runtime(0), 0, "no CUDA GPU: cudaGetDeviceCount returned 0"),
        (_Runtime(2), 2, "CUDA device 2 does not exist: 2 GPU(s) found (0 to 1)"),
        (
            _Runtime(0, error=35),
            0,
            "no usable CUDA GPU: cudaGetDeviceCount failed with cudaErrorInsufficientDriver "
            "(CUDA driver version is insufficient for CUDA runtime version)",
        ),
        (_Runtime(1), 0, None),
    ],
)
def test_the_probe_says_which_gpu_is_missing(
    monkeypatch: pytest.MonkeyPatch, runtime: Any, device: int, reason: str | None
) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", runtime)

    assert probe(device) == reason


def test_without_tensorrt_or_a_gpu_the_registry_serves_nothing_and_says_why(tmp_path: Path) -> None:
    models = tmp_path / "models"
    write_model(models, "double", affine_model(2.0, 1.0), name="double", version="1")
    cache = tmp_path / "engines"
    registry = TrtRegistry(
        models, cache_dir=cache, precision="fp16", max_batch=8, workspace_mib=64, device=NO_SUCH_DEVICE
    )
    reason = probe(NO_SUCH_DEVICE)
    assert reason is not None

    assert not registry.refresh()

    assert registry.errors == {".": reason}
    assert registry.unavailable() == reason
    assert registry.models() == []
    for name in ("double", "double@1", "never-heard-of-it"):
        with pytest.raises(UnavailableError, match=f"^{re.escape(reason)}$"):
            registry.get(name)
    assert not cache.exists()  # nothing built, nothing written
    assert not registry.refresh()  # and it stays so
    assert registry.errors == {".": reason}
