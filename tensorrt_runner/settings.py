"""tensorrt_runner's settings: the runners' shared ones plus its own, read from ``TENSORRT_RUNNER_*``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from onnx_runner.settings import RunnerSettings


class TensorRtRunnerSettings(RunnerSettings):
    model_config = SettingsConfigDict(env_prefix="TENSORRT_RUNNER_")

    port: int = Field(default=8007, gt=0, lt=65536, description="TCP port of the inference API.")
    engine_cache_dir: Path = Field(
        default=Path(".aitrader/trt-engines"),
        description="Built engines, one file per model hash, GPU, TensorRT version, precision and batch profile.",
    )
    precision: Literal["fp32", "fp16"] = Field(default="fp32", description="Precision engines are built in.")
    workspace_mib: int = Field(default=1024, ge=16, le=65536, description="Builder workspace memory pool (MiB).")
    device: int = Field(default=0, ge=0, description="CUDA device index.")
