"""tensorrt_runner's application: onnx_runner's API over the registry's models built as TensorRT engines.

Engines are built (or loaded from the cache) when the registry is refreshed, at start-up and on every file
change. Where TensorRT or a GPU is missing the source serves nothing: ``/health`` answers 200 with
``status: unavailable`` and the reason, and every inference answers 503 with the same reason.
"""

from __future__ import annotations

from fastapi import FastAPI

from onnx_runner.app import build_app
from tensorrt_runner.engines import TrtRegistry
from tensorrt_runner.settings import TensorRtRunnerSettings


def create_app(settings: TensorRtRunnerSettings) -> FastAPI:
    return build_app(
        settings,
        lambda: TrtRegistry(
            settings.models_dir,
            cache_dir=settings.engine_cache_dir,
            precision=settings.precision,
            max_batch=settings.max_batch,
            workspace_mib=settings.workspace_mib,
            device=settings.device,
        ),
        service="tensorrt_runner",
    )
