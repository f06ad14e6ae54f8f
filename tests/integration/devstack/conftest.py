"""Run the real `aitrader` CLI in a private home, on free ports, with no DATABASE_URL / REDIS_URL inherited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import LocalStack, make_local_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    stack = make_local_stack(tmp_path)
    try:
        yield stack
    finally:
        stack.aitrader("down", timeout=120)
