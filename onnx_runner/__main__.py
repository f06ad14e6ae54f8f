"""`python -m onnx_runner`: read the settings, configure JSON logging, serve the models with uvicorn."""

from __future__ import annotations

import sys

from aitrader.http import run_service
from onnx_runner.app import create_app
from onnx_runner.settings import OnnxRunnerSettings


def main() -> int:
    return run_service("onnx_runner", OnnxRunnerSettings, create_app)


if __name__ == "__main__":
    sys.exit(main())
