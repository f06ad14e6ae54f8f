"""finbert_server's settings: the shared ones plus its own, read from ``FINBERT_SERVER_*``; the model's directory
from ``FINBERT_MODEL_DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aitrader.settings import CommonSettings


class FinbertSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="FINBERT_SERVER_")

    host: str = Field(default="127.0.0.1", description="Interface to listen on (FINBERT_SERVER_HOST).")
    port: int = Field(default=8004, gt=0, lt=65536, description="TCP port of the classifier API.")
    model_dir: Path = Field(
        default=Path("models/finbert"),
        validation_alias="FINBERT_MODEL_DIR",
        description="The model: config, tokenizer, weights (and model.onnx).",
    )
    backend: Literal["auto", "onnx", "torch"] = Field(
        default="auto", description="onnx (model.onnx on ONNX Runtime), torch (PyTorch), auto (onnx when present)."
    )
    max_batch: int = Field(default=32, ge=1, le=1024, description="Texts run through the model at once.")
    max_texts: int = Field(default=256, ge=1, le=10_000, description="Most texts one request may carry.")
    max_text_chars: int = Field(
        default=20_000, ge=1, description="Longest text accepted (it is cut to the model's length)."
    )
    max_request_bytes: int = Field(
        default=2_000_000, ge=1_000, description="Largest request body accepted (413 past it)."
    )
    threads: int = Field(default=1, ge=1, le=64, description="Threads the model computes with.")
