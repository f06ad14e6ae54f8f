#!/usr/bin/env python
"""Build the TensorRT engines tensorrt_runner will serve, ahead of time, into its engine cache.

    python scripts/build_trt_engine.py --models-dir models --precision fp16 [MODEL ...]

Building takes seconds to minutes per model, so a deployment builds before the service starts (and CI builds to
check that every model converts). The engines land where the service looks for them: the defaults are
tensorrt_runner's settings (``TENSORRT_RUNNER_*``), and the cache, its key and the build are tensorrt_runner's own
(:class:`tensorrt_runner.engines.EngineCache`), so the service loads what this built instead of building again.
MODEL is a model name, ``name@version`` or file stem; none means every model in the directory. An engine already
cached under the same key is loaded (which checks it), not rebuilt, unless ``--force``.

Exit status: 0 when every engine is ready; 1 when TensorRT or the GPU is missing (the reason on stderr) or a
model failed; 2 for bad settings or an unknown model.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from aitrader.errors import ConfigurationError
from aitrader.log import configure
from aitrader.settings import load_settings
from onnx_runner.registry import ModelMeta
from tensorrt_runner.engines import BuildOptions, EngineCache, probe, read_model
from tensorrt_runner.settings import TensorRtRunnerSettings

EXIT_FAILED = 1
EXIT_USAGE = 2

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


class PrecisionChoice(StrEnum):
    FP32 = "fp32"
    FP16 = "fp16"


class LogLevelChoice(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@app.command(help="Build (or check) the TensorRT engines for the registry's models.")
def build(
    models: Annotated[list[str] | None, typer.Argument(help="model names, name@version or file stems")] = None,
    models_dir: Annotated[Path | None, typer.Option(help="the registry [TENSORRT_RUNNER_MODELS_DIR]")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="the engine cache [TENSORRT_RUNNER_ENGINE_CACHE_DIR]")] = None,
    precision: Annotated[PrecisionChoice | None, typer.Option(help="[TENSORRT_RUNNER_PRECISION]")] = None,
    max_batch: Annotated[int | None, typer.Option(help="largest batch [TENSORRT_RUNNER_MAX_BATCH]")] = None,
    workspace_mib: Annotated[int | None, typer.Option(help="builder workspace [TENSORRT_RUNNER_WORKSPACE_MIB]")] = None,
    device: Annotated[int | None, typer.Option(help="CUDA device index [TENSORRT_RUNNER_DEVICE]")] = None,
    force: Annotated[bool, typer.Option("--force", help="build even where a matching engine is cached")] = False,
    log_level: Annotated[
        LogLevelChoice, typer.Option(help="level of the JSON log lines on stderr")
    ] = LogLevelChoice.WARNING,
) -> None:
    given = {
        "models_dir": models_dir,
        "engine_cache_dir": cache_dir,
        "precision": precision.value if precision else None,
        "max_batch": max_batch,
        "workspace_mib": workspace_mib,
        "device": device,
    }
    try:
        settings = load_settings(TensorRtRunnerSettings, **{k: v for k, v in given.items() if v is not None})
    except ConfigurationError as e:
        raise _fail(str(e), EXIT_USAGE) from e
    configure("build_trt_engine", log_level.value)

    reason = probe(settings.device)
    if reason is not None:
        raise _fail(reason)
    files = sorted(settings.models_dir.glob("*.onnx"))
    if not files:
        raise _fail(f"no <stem>.onnx models in {settings.models_dir}")
    wanted = set(models or ())
    found: set[str] = set()
    selected: list[tuple[Path, ModelMeta, bytes, str]] = []
    failed = 0
    for onnx_path in files:
        try:
            meta, content, digest = read_model(onnx_path)
        except (OSError, ValueError) as e:
            if not wanted or onnx_path.stem in wanted:
                found.add(onnx_path.stem)
                failed += 1
                _error(f"{onnx_path.name}: {type(e).__name__}: {e}")
            continue
        names = {onnx_path.stem, meta.name, meta.key}
        if not wanted or names & wanted:
            found |= names & wanted
            selected.append((onnx_path, meta, content, digest))
    unknown = sorted(wanted - found)
    if unknown:
        raise _fail(f"no model {', '.join(unknown)} in {settings.models_dir}", EXIT_USAGE)

    options = BuildOptions(
        precision=settings.precision,
        max_batch=settings.max_batch,
        workspace_mib=settings.workspace_mib,
        device=settings.device,
    )
    cache = EngineCache(settings.engine_cache_dir, options)
    for onnx_path, meta, content, digest in selected:
        try:
            cached = cache.load_or_build(onnx_path, content, digest, meta, force=force)
        except Exception as e:  # report every model, then fail: one that does not convert must not hide the rest
            failed += 1
            _error(f"{onnx_path.name}: {type(e).__name__}: {e}")
            continue
        record = cached.record
        typer.echo(
            f"{'built ' if cached.built else 'cached'} {record.model} {options.precision} {cached.path} "
            f"{record.build_seconds:.1f} s {record.size / 2**20:.2f} MiB"
        )
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _error(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    _error(message)
    return typer.Exit(code)


if __name__ == "__main__":
    app()
