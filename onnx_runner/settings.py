"""The runners' settings: what onnx_runner and tensorrt_runner share, then onnx_runner's own (``ONNX_RUNNER_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aitrader.settings import CommonSettings


class RunnerSettings(CommonSettings):
    """Settings every model runner has; each runner reads them under its own prefix."""

    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=8001, gt=0, lt=65536, description="TCP port of the inference API.")
    models_dir: Path = Field(default=Path("models"), description="The registry: <stem>.onnx files with <stem>.json.")
    reload_interval_s: float = Field(default=1.0, gt=0, description="How often the registry looks for changed files.")
    max_batch: int = Field(default=64, ge=1, le=4096, description="Most rows one micro-batch carries.")
    max_delay_ms: float = Field(
        default=0.0, ge=0, le=100, description="How long a short batch waits for more requests (0: never)."
    )
    inline_below_ms: float = Field(
        default=1.0,
        ge=0,
        le=100,
        description="A batch nobody waits behind runs on the event loop when the model's runs take less (0: never).",
    )
    bar_interval: str = Field(default="1m", description="Bars a forecast given only a symbol reads its history from.")


class OnnxRunnerSettings(RunnerSettings):
    model_config = SettingsConfigDict(env_prefix="ONNX_RUNNER_")

    intra_op_threads: int = Field(default=1, ge=1, le=64, description="ONNX Runtime threads per inference.")
