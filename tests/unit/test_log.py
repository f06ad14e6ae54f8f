"""aitrader.log: one JSON object per line, ours and third-party records alike, with the leading keys in order."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from aitrader.log import configure, get_logger


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure("unit", "INFO", stream=buffer)
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    structlog.reset_defaults()


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_structured_event_is_one_json_line_with_ts_level_service_event_first(stream: io.StringIO):
    get_logger("aitrader.test").info("order_accepted", client_order_id="c-1", qty=5)

    [record] = _lines(stream)
    assert list(record)[:4] == ["ts", "level", "service", "event"]
    assert record["service"] == "unit" and record["event"] == "order_accepted" and record["level"] == "info"
    assert (record["client_order_id"], record["qty"]) == ("c-1", 5)
    assert str(record["ts"]).endswith("Z")


def test_standard_library_records_are_rendered_the_same_way(stream: io.StringIO):
    logging.getLogger("uvicorn.error").warning("port %d busy", 8000)

    [record] = _lines(stream)
    assert (record["event"], record["level"], record["service"]) == ("port 8000 busy", "warning", "unit")


def test_records_below_the_level_are_dropped(stream: io.StringIO):
    get_logger("aitrader.test").debug("per_tick_detail")

    assert stream.getvalue() == ""


def test_an_exception_is_carried_in_the_same_line(stream: io.StringIO):
    try:
        raise ValueError("qty must be > 0, was -5")
    except ValueError:
        get_logger("aitrader.test").exception("handler_failed")

    [record] = _lines(stream)
    assert "ValueError: qty must be > 0, was -5" in str(record["exception"])
