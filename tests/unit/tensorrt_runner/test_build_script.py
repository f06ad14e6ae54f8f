"""scripts/build_trt_engine.py, run as a user runs it: without TensorRT or the GPU it exits non-zero with the probe's
reason and writes nothing; bad arguments exit 2 naming what was wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tensorrt_runner.device import probe
from tests.onnx_factories import affine_model, write_model

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRIPT = REPO_ROOT / "scripts" / "build_trt_engine.py"
NO_SUCH_DEVICE = 10_000
"""A CUDA device index no machine has: the build is refused on every machine, GPU or not."""


def build(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TENSORRT_RUNNER_")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=environment,
        timeout=60,
        check=False,
    )


def test_without_tensorrt_or_the_gpu_the_build_fails_with_the_reason(tmp_path: Path) -> None:
    write_model(tmp_path / "models", "double", affine_model(2.0, 1.0), name="double", version="1")
    cache = tmp_path / "engines"

    result = build("--models-dir", str(tmp_path / "models"), "--cache-dir", str(cache), "--device", str(NO_SUCH_DEVICE))

    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {probe(NO_SUCH_DEVICE)}"
    assert result.stdout == ""
    assert not cache.exists()


def test_a_bad_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    result = build("--models-dir", str(tmp_path), "--max-batch", "0")

    assert result.returncode == 2
    assert "TENSORRT_RUNNER_MAX_BATCH: Input should be greater than or equal to 1, was 0" in result.stderr


def test_an_unknown_precision_is_refused_by_the_command_line(tmp_path: Path) -> None:
    result = build("--models-dir", str(tmp_path), "--precision", "int8")

    assert result.returncode == 2
    assert "int8" in result.stderr
