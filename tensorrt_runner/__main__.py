"""`python -m tensorrt_runner`: read the settings, configure JSON logging, serve the engines with uvicorn."""

from __future__ import annotations

import sys

from aitrader.http import run_service
from tensorrt_runner.app import create_app
from tensorrt_runner.settings import TensorRtRunnerSettings


def main() -> int:
    return run_service("tensorrt_runner", TensorRtRunnerSettings, create_app)


if __name__ == "__main__":
    sys.exit(main())
