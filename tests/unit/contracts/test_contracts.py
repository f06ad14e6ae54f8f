from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from aitrader.contracts import (
    JSON_FIELD,
    MESSAGE_TYPES,
    MSGPACK_FIELD,
    Message,
    OrderRequest,
    Signal,
    Tick,
    decode,
    encode,
    from_fields,
    tag_of,
    to_fields,
)
from aitrader.contracts.money import round_to_tick, to_decimal
from aitrader.contracts.streams import dead_letter_key, stream_key, tick_shard
from aitrader.errors import DecodeError

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def _load_golden_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SAMPLES = _load_golden_module().SAMPLES


def test_there_is_one_golden_sample_per_message_type() -> None:
    assert sorted(tag_of(type(m)) for m in SAMPLES) == sorted(tag_of(t) for t in MESSAGE_TYPES)


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: tag_of(type(m)))
def test_golden_msgpack_bytes_match_the_encoder(message: msgspec.Struct) -> None:
    tag = tag_of(type(message))
    assert encode(message) == (GOLDEN / f"{tag}.msgpack").read_bytes()


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: tag_of(type(m)))
def test_golden_json_and_msgpack_decode_to_the_same_message(message: msgspec.Struct) -> None:
    tag = tag_of(type(message))
    from_json = msgspec.json.decode((GOLDEN / f"{tag}.json").read_bytes(), type=Message)
    from_bytes = decode((GOLDEN / f"{tag}.msgpack").read_bytes())
    assert from_json == from_bytes == message
    assert encode(from_json) == (GOLDEN / f"{tag}.msgpack").read_bytes()


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: tag_of(type(m)))
def test_entry_fields_round_trip_through_msgpack_and_json(message: msgspec.Struct) -> None:
    assert from_fields(to_fields(message)) == message
    as_json = {JSON_FIELD: msgspec.json.encode(message)}
    assert from_fields(as_json) == message


def test_wire_map_starts_with_tag_then_version() -> None:
    keys = list(msgspec.msgpack.decode(encode(SAMPLES[0])).keys())
    assert keys[:3] == ["msg", "v", "ts_ns"]


def test_typed_json_decoding_accepts_a_hand_written_tick_without_tag_or_defaults() -> None:
    fields = {JSON_FIELD: b'{"ts_ns": 1, "symbol": "INFY", "ltp": 1500.5}'}
    tick = from_fields(fields, Tick)
    assert tick == Tick(ts_ns=1, symbol="INFY", ltp=1500.5)
    assert tick.v == 1 and tick.venue == "NSE" and tick.depth is None


def test_untyped_decoding_dispatches_on_the_tag() -> None:
    fields = {JSON_FIELD: b'{"msg": "tick", "ts_ns": 1, "symbol": "INFY", "ltp": 10}'}
    assert isinstance(from_fields(fields), Tick)


def test_msgpack_field_wins_over_json_field() -> None:
    tick = Tick(ts_ns=1, symbol="A", ltp=1.0)
    fields = {MSGPACK_FIELD: encode(tick), JSON_FIELD: b"not json"}
    assert from_fields(fields) == tick


def test_score_out_of_range_is_a_decode_error_naming_the_field() -> None:
    bad = json.dumps(
        {
            "msg": "signal",
            "id": "s",
            "ts_ns": 1,
            "tick_ts_ns": 1,
            "symbol": "X",
            "pattern": "p",
            "side": 1,
            "score": 1.5,
            "price": 1.0,
        }
    ).encode()
    with pytest.raises(DecodeError, match=r"\$\.score"):
        from_fields({JSON_FIELD: bad})


def test_side_outside_plus_minus_one_is_rejected() -> None:
    bad = {
        "id": "s",
        "ts_ns": 1,
        "tick_ts_ns": 1,
        "symbol": "X",
        "pattern": "p",
        "side": 0,
        "score": 0.5,
        "price": 1.0,
    }
    with pytest.raises(DecodeError, match=r"\$\.side"):
        from_fields({JSON_FIELD: json.dumps(bad).encode()}, Signal)


def test_order_with_zero_qty_is_rejected() -> None:
    bad = {"client_order_id": "c1", "ts_ns": 1, "strategy": "s", "symbol": "X", "side": "BUY", "qty": 0}
    with pytest.raises(DecodeError, match=r"\$\.qty"):
        from_fields({JSON_FIELD: json.dumps(bad).encode()}, OrderRequest)


def test_unknown_tag_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="Invalid value 'nope'"):
        from_fields({JSON_FIELD: b'{"msg": "nope"}'})


@pytest.mark.parametrize("payload", [b"", b"\xc1", b"\x93\x01\x02\x03", b"\xa5hello"])
def test_garbage_msgpack_is_a_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        from_fields({MSGPACK_FIELD: payload})


def test_entry_without_d_or_j_names_the_fields_it_had() -> None:
    with pytest.raises(DecodeError, match=r"neither field 'd'.*\['x'\]"):
        from_fields({b"x": b"1"})


def test_messages_are_frozen() -> None:
    tick = Tick(ts_ns=1, symbol="A", ltp=1.0)
    with pytest.raises(AttributeError):
        tick.ltp = 2.0  # type: ignore[misc]


def test_bus_price_becomes_the_exact_decimal_it_stands_for() -> None:
    assert to_decimal(2450.05) == Decimal("2450.05")
    assert to_decimal(0.1 + 0.2) != Decimal("0.3")  # arithmetic drift is visible, not hidden
    assert round_to_tick(Decimal("2450.07"), Decimal("0.05")) == Decimal("2450.05")
    with pytest.raises(ValueError, match="tick_size must be > 0, was 0"):
        round_to_tick(Decimal(1), Decimal(0))


def test_stream_names_compose_prefix_shards_and_dead_letters() -> None:
    assert stream_key("ticks", "stack1:") == "stack1:ticks"
    assert tick_shard(3) == "ticks:3"
    assert dead_letter_key("stack1:ticks") == "stack1:ticks:dead"
    with pytest.raises(ValueError, match="was -1"):
        tick_shard(-1)


def test_each_stream_maps_to_the_message_type_it_carries() -> None:
    from aitrader.contracts import (
        BarStreamMessage,
        BookStreamMessage,
        ControlMessage,
        FeedStatusChanged,
        Fill,
        Message,
        TickStreamMessage,
    )
    from aitrader.contracts.registry import message_type_for

    assert message_type_for("ticks") == TickStreamMessage
    assert message_type_for("stack1:ticks:3", prefix="stack1:") == TickStreamMessage
    assert message_type_for("book") == BookStreamMessage
    assert message_type_for("bars") == BarStreamMessage
    assert message_type_for("feed_status") is FeedStatusChanged
    assert message_type_for("fills:dead") is Fill
    assert message_type_for("control") == ControlMessage
    assert message_type_for("something-else") == Message


def test_a_symbol_always_lands_on_the_same_shard_and_shards_are_all_used() -> None:
    from aitrader.contracts import shard_of

    symbols = [f"SYM{i}" for i in range(200)]

    assert [shard_of(s, 4) for s in symbols] == [shard_of(s, 4) for s in symbols]
    assert {shard_of(s, 4) for s in symbols} == {0, 1, 2, 3}
    assert shard_of("INFY", 4) == 2  # CRC-32: the Rust side must agree
    with pytest.raises(ValueError, match="shards must be > 0, was 0"):
        shard_of("INFY", 0)


def test_json_without_msg_on_a_union_stream_is_its_first_type_and_still_validated() -> None:
    from aitrader.contracts import EndOfData, TickStreamMessage, decode_json
    from aitrader.errors import DecodeError

    tick = decode_json('{"ts_ns": 1, "symbol": "INFY", "ltp": 1523.45}', TickStreamMessage)
    marker = decode_json('{"msg": "end_of_data", "ts_ns": 2, "replay_id": "rp-1"}', TickStreamMessage)

    assert tick == Tick(ts_ns=1, symbol="INFY", ltp=1523.45)
    assert marker == EndOfData(ts_ns=2, replay_id="rp-1")
    with pytest.raises(DecodeError, match=r"\$.ltp"):
        decode_json('{"ts_ns": 1, "symbol": "INFY", "ltp": -1}', TickStreamMessage)
