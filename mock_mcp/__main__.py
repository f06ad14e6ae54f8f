"""`python -m mock_mcp`: read the settings, configure JSON logging, serve the Kite API with uvicorn."""

from __future__ import annotations

import sys

from aitrader.http import run_service
from mock_mcp.app import create_app
from mock_mcp.settings import MockMcpSettings


def main() -> int:
    return run_service("mock_mcp", MockMcpSettings, create_app)


if __name__ == "__main__":
    sys.exit(main())
