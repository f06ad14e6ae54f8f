"""Kite Ticker packets, the recording container and replay as canonical ticks.

Packets are built byte by byte with ``struct.pack`` here, independently of the module's encoders, so the
decoder is checked against the wire layout rather than against itself.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pyarrow as pa
import pytest

from aitrader.contracts import Depth, Level, Tick
from aitrader.errors import DecodeError, ValidationError
from aitrader.marketdata.instruments import Instrument, Segment, make_token
from aitrader.marketdata.kite import (
    MAGIC,
    KitePacket,
    KiteRecording,
    encode_frame,
    encode_full_packet,
    encode_ltp_packet,
    encode_quote_packet,
    parse_frame,
    read_recording,
    write_recording,
)
from aitrader.marketdata.schema import DEPTH_COLUMNS, TICK_SCHEMA, depth_type

INFY = 408065
TCS = 2953217
NIFTY_50 = 256265
UNKNOWN = make_token(99999, Segment.NSE)
EXCHANGE_TIME = 1_732_160_700
RECEIVED_NS = 1_732_160_700_250_000_000

INSTRUMENTS = [
    Instrument(instrument_token=INFY, exchange_token=1594, tradingsymbol="INFY", exchange="NSE"),
    Instrument(instrument_token=TCS, exchange_token=11536, tradingsymbol="TCS", exchange="NSE"),
]


def frame_of(*packets: bytes) -> bytes:
    return struct.pack(">H", len(packets)) + b"".join(struct.pack(">H", len(packet)) + packet for packet in packets)


def depth_bytes(levels: list[tuple[int, int, int]]) -> bytes:
    """Five 12-byte entries from ``(qty, price_paise, orders)``, padded with empty levels."""
    padded = levels + [(0, 0, 0)] * (5 - len(levels))
    return b"".join(struct.pack(">IIHxx", qty, price, orders) for qty, price, orders in padded)


def full_infy_bytes() -> bytes:
    quote = struct.pack(">11I", INFY, 150025, 10, 149950, 123456, 5000, 6000, 149000, 151000, 148500, 149500)
    tail = struct.pack(">5I", EXCHANGE_TIME - 1, 250, 300, 200, EXCHANGE_TIME)
    bids = depth_bytes([(100, 150020, 3), (200, 150015, 5)])
    asks = depth_bytes([(150, 150030, 2), (0, 150035, 0)])
    return quote + tail + bids + asks


def record(path: Path, *frames: tuple[int, bytes]) -> Path:
    write_recording(path, frames)
    return path


# -- packets ------------------------------------------------------------------------------------------------


def test_ltp_packet_decodes_token_and_price_in_rupees() -> None:
    frame = frame_of(struct.pack(">II", INFY, 150025))

    packets = parse_frame(frame)

    assert packets == [KitePacket(instrument_token=INFY, mode="ltp", tradable=True, last_price=1500.25)]
    packet = packets[0]
    assert packet.segment == Segment.NSE
    assert packet.last_traded_quantity == packet.volume_traded == packet.oi == 0
    assert packet.open == packet.high == packet.low == packet.close == packet.average_traded_price == 0.0
    assert packet.last_trade_time is None
    assert packet.exchange_timestamp is None
    assert packet.bids == packet.asks == ()


def test_quote_packet_decodes_every_field() -> None:
    frame = frame_of(struct.pack(">11I", INFY, 150025, 10, 149950, 123456, 5000, 6000, 149000, 151000, 148500, 149500))

    (packet,) = parse_frame(frame)

    assert packet == KitePacket(
        instrument_token=INFY,
        mode="quote",
        tradable=True,
        last_price=1500.25,
        last_traded_quantity=10,
        average_traded_price=1499.5,
        volume_traded=123456,
        total_buy_quantity=5000,
        total_sell_quantity=6000,
        open=1490.0,
        high=1510.0,
        low=1485.0,
        close=1495.0,
        last_trade_time=None,
        oi=0,
        oi_day_high=0,
        oi_day_low=0,
        exchange_timestamp=None,
        bids=(),
        asks=(),
    )


def test_full_packet_decodes_every_field_and_five_depth_levels_a_side() -> None:
    frame = frame_of(full_infy_bytes())

    (packet,) = parse_frame(frame)

    assert len(full_infy_bytes()) == 184
    assert packet == KitePacket(
        instrument_token=INFY,
        mode="full",
        tradable=True,
        last_price=1500.25,
        last_traded_quantity=10,
        average_traded_price=1499.5,
        volume_traded=123456,
        total_buy_quantity=5000,
        total_sell_quantity=6000,
        open=1490.0,
        high=1510.0,
        low=1485.0,
        close=1495.0,
        last_trade_time=EXCHANGE_TIME - 1,
        oi=250,
        oi_day_high=300,
        oi_day_low=200,
        exchange_timestamp=EXCHANGE_TIME,
        bids=((1500.2, 100, 3), (1500.15, 200, 5), (0.0, 0, 0), (0.0, 0, 0), (0.0, 0, 0)),
        asks=((1500.3, 150, 2), (1500.35, 0, 0), (0.0, 0, 0), (0.0, 0, 0), (0.0, 0, 0)),
    )


def test_full_packet_with_zero_times_decodes_them_as_none() -> None:
    quote = struct.pack(">11I", INFY, 150025, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    packet_bytes = quote + struct.pack(">5I", 0, 0, 0, 0, 0) + depth_bytes([]) + depth_bytes([])

    (packet,) = parse_frame(frame_of(packet_bytes))

    assert packet.mode == "full"
    assert packet.last_trade_time is None
    assert packet.exchange_timestamp is None


def test_index_quote_packet_is_not_tradable_and_reads_high_low_open_close_in_wire_order() -> None:
    packet_bytes = struct.pack(">6Ii", NIFTY_50, 2350010, 2360000, 2340000, 2345000, 2348000, -12345)

    (packet,) = parse_frame(frame_of(packet_bytes))

    assert len(packet_bytes) == 28
    assert packet == KitePacket(
        instrument_token=NIFTY_50,
        mode="quote",
        tradable=False,
        last_price=23500.1,
        open=23450.0,
        high=23600.0,
        low=23400.0,
        close=23480.0,
    )
    assert packet.segment == Segment.INDICES


def test_index_full_packet_reads_exchange_timestamp() -> None:
    packet_bytes = struct.pack(">6IiI", NIFTY_50, 2350010, 2360000, 2340000, 2345000, 2348000, 2010, EXCHANGE_TIME)

    (packet,) = parse_frame(frame_of(packet_bytes))

    assert len(packet_bytes) == 32
    assert packet.mode == "full"
    assert packet.tradable is False
    assert packet.last_price == 23500.1
    assert packet.exchange_timestamp == EXCHANGE_TIME
    assert packet.bids == packet.asks == ()


@pytest.mark.parametrize(
    ("segment", "raw", "price"),
    [
        (Segment.CDS, 831234567, 83.1234567),
        (Segment.BCD, 831234, 83.1234),
        (Segment.NCO, 5123400, 512.34),
        (Segment.MCX, 7123400, 71234.0),
    ],
)
def test_price_divisor_follows_the_segment_in_the_token_low_byte(segment: Segment, raw: int, price: float) -> None:
    token = make_token(1234, segment)
    quote = struct.pack(">11I", token, raw, 1, raw, 0, 0, 0, raw, raw, raw, raw)
    packet_bytes = quote + struct.pack(">5I", 0, 0, 0, 0, 0) + depth_bytes([(7, raw, 1)]) + depth_bytes([])

    (packet,) = parse_frame(frame_of(packet_bytes))

    assert packet.last_price == price
    assert packet.average_traded_price == packet.open == packet.high == packet.low == packet.close == price
    assert packet.bids[0] == (price, 7, 1)


def test_frame_with_several_packets_decodes_them_in_order() -> None:
    frame = frame_of(struct.pack(">II", INFY, 150025), full_infy_bytes(), struct.pack(">II", TCS, 412000))

    packets = parse_frame(frame)

    assert [(p.instrument_token, p.mode, p.last_price) for p in packets] == [
        (INFY, "ltp", 1500.25),
        (INFY, "full", 1500.25),
        (TCS, "ltp", 4120.0),
    ]


@pytest.mark.parametrize("frame", [b"", b"\x00"])
def test_frame_shorter_than_two_bytes_is_a_heartbeat_with_no_packets(frame: bytes) -> None:
    assert parse_frame(frame) == []


def test_frame_declaring_zero_packets_has_none() -> None:
    assert parse_frame(b"\x00\x00") == []


def test_packet_running_past_the_frame_end_raises_naming_its_offset_and_sizes() -> None:
    frame = frame_of(struct.pack(">II", INFY, 150025), full_infy_bytes())[:114]

    with pytest.raises(DecodeError, match="packet 2 at byte 12 declares 184 bytes but only 100 remain"):
        parse_frame(frame)


def test_packet_with_unknown_length_raises_naming_the_length() -> None:
    frame = frame_of(struct.pack(">II", INFY, 150025), b"\x00" * 30)

    with pytest.raises(DecodeError, match=r"packet 2 at byte 12 has an unknown length, .*8, 28, 32, 44, 184.*was 30"):
        parse_frame(frame)


def test_frame_ending_inside_a_length_field_raises() -> None:
    frame = struct.pack(">H", 2) + struct.pack(">H", 8) + struct.pack(">II", INFY, 150025) + b"\x00"

    with pytest.raises(DecodeError, match=r"packet 2 of 2 at byte 12: expected a 2-byte length.*13 bytes"):
        parse_frame(frame)


def test_frame_with_bytes_after_its_last_packet_raises() -> None:
    frame = frame_of(struct.pack(">II", INFY, 150025)) + b"\x00\x00"

    with pytest.raises(DecodeError, match=r"frame declares 1 packet.* ending at byte 12, but is 14 bytes long"):
        parse_frame(frame)


# -- encoders -----------------------------------------------------------------------------------------------


def test_encoders_produce_the_wire_layout_built_by_hand() -> None:
    assert encode_ltp_packet(INFY, 1500.25) == struct.pack(">II", INFY, 150025)
    assert encode_quote_packet(
        INFY,
        1500.25,
        last_traded_quantity=10,
        average_traded_price=1499.5,
        volume_traded=123456,
        total_buy_quantity=5000,
        total_sell_quantity=6000,
        open=1490.0,
        high=1510.0,
        low=1485.0,
        close=1495.0,
    ) == struct.pack(">11I", INFY, 150025, 10, 149950, 123456, 5000, 6000, 149000, 151000, 148500, 149500)
    full = encode_full_packet(
        INFY,
        1500.25,
        last_traded_quantity=10,
        average_traded_price=1499.5,
        volume_traded=123456,
        total_buy_quantity=5000,
        total_sell_quantity=6000,
        open=1490.0,
        high=1510.0,
        low=1485.0,
        close=1495.0,
        last_trade_time=EXCHANGE_TIME - 1,
        oi=250,
        oi_day_high=300,
        oi_day_low=200,
        exchange_timestamp=EXCHANGE_TIME,
        bids=[(1500.2, 100, 3), (1500.15, 200, 5)],
        asks=[(1500.3, 150, 2), (1500.35, 0, 0)],
    )
    assert full == full_infy_bytes()
    assert encode_frame([b"\x01" * 8, b""]) == b"\x00\x02\x00\x08" + b"\x01" * 8 + b"\x00\x00"


def test_encoded_full_packet_decodes_back_to_the_same_values() -> None:
    token = make_token(4321, Segment.CDS)
    bids = [(83.1234567, 1000, 4)]
    asks = [(83.125, 500, 1), (83.1275, 700, 2)]

    (packet,) = parse_frame(
        encode_frame([encode_full_packet(token, 83.12, volume_traded=99, exchange_timestamp=5, bids=bids, asks=asks)])
    )

    assert packet.last_price == 83.12
    assert packet.volume_traded == 99
    assert packet.exchange_timestamp == 5
    assert packet.last_trade_time is None
    assert packet.bids[:1] == tuple(bids)
    assert packet.asks[:2] == tuple(asks)
    assert packet.bids[1:] == ((0.0, 0, 0),) * 4
    assert packet.asks[2:] == ((0.0, 0, 0),) * 3


def test_full_packet_encoder_rejects_more_than_five_levels_a_side() -> None:
    with pytest.raises(ValidationError, match="bids must have at most 5 levels, was 6"):
        encode_full_packet(INFY, 1.0, bids=[(1.0, 1, 1)] * 6)


def test_encoder_rejects_a_value_that_does_not_fit_the_wire_type() -> None:
    with pytest.raises(ValidationError, match="cannot encode a Kite packet"):
        encode_quote_packet(INFY, 1.0, volume_traded=-1)


# -- recording container ------------------------------------------------------------------------------------


def test_recording_round_trip_keeps_receive_times_and_frames_in_order(tmp_path: Path) -> None:
    frames = [(RECEIVED_NS, frame_of(struct.pack(">II", INFY, 150025))), (RECEIVED_NS + 1, b"\x00")]
    path = tmp_path / "day" / "feed.aitkite"

    written = write_recording(path, frames)
    read = list(read_recording(path))

    assert written == 2
    assert read == frames
    assert path.read_bytes()[:8] == MAGIC == b"AITKITE1"
    assert path.read_bytes()[8:20] == struct.pack(">qI", RECEIVED_NS, 12)


def test_recording_with_no_records_reads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.aitkite"

    written = write_recording(path, [])

    assert written == 0
    assert list(read_recording(path)) == []


def test_recording_with_wrong_magic_raises_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "feed.aitkite"
    path.write_bytes(b"PAR1\x00\x00\x00\x00")

    with pytest.raises(DecodeError, match=r"feed\.aitkite: not a Kite recording, .*was b'PAR1"):
        list(read_recording(path))


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (5, r"record 2 at byte 32 is truncated: its header needs 12 bytes but only 5 remain"),
        (15, r"record 2 at byte 32 is truncated: it declares a 12-byte frame but only 3 bytes remain"),
    ],
)
def test_truncated_record_raises_naming_the_file_and_offset(tmp_path: Path, cut: int, reason: str) -> None:
    frame = frame_of(struct.pack(">II", INFY, 150025))
    whole = MAGIC + (struct.pack(">qI", RECEIVED_NS, len(frame)) + frame) * 2
    path = tmp_path / "cut.aitkite"
    path.write_bytes(whole[: 32 + cut])
    records = read_recording(path)

    first = next(records)

    assert first == (RECEIVED_NS, frame)
    with pytest.raises(DecodeError, match=rf"cut\.aitkite: {reason}"):
        next(records)


def test_writing_a_negative_receive_time_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="receive_ts_ns must be >= 0 and fit in int64, was -1"):
        write_recording(tmp_path / "bad.aitkite", [(-1, b"\x00")])


def test_missing_recording_raises_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"cannot read Kite recording .*missing\.aitkite"):
        list(read_recording(tmp_path / "missing.aitkite"))


# -- replay as canonical ticks ------------------------------------------------------------------------------


def test_quote_only_recording_converts_to_the_canonical_layout_without_depth(tmp_path: Path) -> None:
    quote = encode_quote_packet(INFY, 1500.25, last_traded_quantity=10, volume_traded=123456)
    path = record(tmp_path / "q.aitkite", (RECEIVED_NS, encode_frame([quote])))

    (table,) = KiteRecording(path, INSTRUMENTS).batches()

    assert table.schema == TICK_SCHEMA
    assert table.to_pylist() == [
        {
            "ts_ns": RECEIVED_NS,
            "symbol": "INFY",
            "venue": "NSE",
            "seq": 1,
            "ltp": 1500.25,
            "ltq": 10,
            "volume": 123456,
            "bid": None,
            "ask": None,
            "bid_qty": 0,
            "ask_qty": 0,
        }
    ]


def test_full_packets_add_the_depth_columns_and_take_time_from_the_exchange(tmp_path: Path) -> None:
    path = record(tmp_path / "f.aitkite", (RECEIVED_NS, frame_of(full_infy_bytes())))

    (table,) = KiteRecording(path, INSTRUMENTS).batches()

    assert table.column_names == [*TICK_SCHEMA.names, *DEPTH_COLUMNS]
    assert len(DEPTH_COLUMNS) == 30
    assert all(table.schema.field(name).type == depth_type(name) for name in DEPTH_COLUMNS)
    row = table.to_pylist()[0]
    assert row["ts_ns"] == EXCHANGE_TIME * 1_000_000_000
    assert (row["bid"], row["bid_qty"], row["ask"], row["ask_qty"]) == (1500.2, 100, 1500.3, 150)
    assert (row["bid_price_1"], row["bid_qty_1"], row["bid_orders_1"]) == (1500.2, 100, 3)
    assert (row["bid_price_2"], row["bid_qty_2"], row["bid_orders_2"]) == (1500.15, 200, 5)
    assert (row["bid_price_3"], row["bid_qty_3"], row["bid_orders_3"]) == (None, 0, 0)
    assert (row["ask_price_1"], row["ask_qty_1"], row["ask_orders_1"]) == (1500.3, 150, 2)
    assert (row["ask_price_2"], row["ask_qty_2"]) == (None, 0)


def test_rows_without_depth_in_a_batch_with_depth_have_null_depth(tmp_path: Path) -> None:
    frame = frame_of(struct.pack(">II", TCS, 412000), full_infy_bytes())
    path = record(tmp_path / "mixed.aitkite", (RECEIVED_NS, frame))

    (table,) = KiteRecording(path, INSTRUMENTS).batches()

    ltp_row, full_row = table.to_pylist()
    assert ltp_row["ts_ns"] == RECEIVED_NS
    assert full_row["ts_ns"] == EXCHANGE_TIME * 1_000_000_000
    assert all(ltp_row[name] is None for name in DEPTH_COLUMNS)


def test_best_level_with_zero_quantity_gives_no_bid(tmp_path: Path) -> None:
    packet = encode_full_packet(INFY, 1500.0, bids=[(1499.0, 0, 0)], asks=[(1501.0, 40, 1)])
    path = record(tmp_path / "z.aitkite", (RECEIVED_NS, encode_frame([packet])))

    (table,) = KiteRecording(path, INSTRUMENTS).batches()

    row = table.to_pylist()[0]
    assert (row["bid"], row["bid_qty"], row["ask"], row["ask_qty"]) == (None, 0, 1501.0, 40)
    assert row["ts_ns"] == RECEIVED_NS


def test_seq_counts_per_symbol_in_recording_order(tmp_path: Path) -> None:
    path = record(
        tmp_path / "seq.aitkite",
        (1, encode_frame([encode_ltp_packet(INFY, 1.0), encode_ltp_packet(TCS, 2.0)])),
        (2, b"\x00"),
        (3, encode_frame([encode_ltp_packet(INFY, 1.1)])),
        (4, encode_frame([encode_ltp_packet(TCS, 2.1), encode_ltp_packet(INFY, 1.2)])),
    )

    tables = list(KiteRecording(path, INSTRUMENTS).batches())

    table = pa.concat_tables(tables)
    assert list(zip(table["symbol"].to_pylist(), table["seq"].to_pylist(), strict=True)) == [
        ("INFY", 1),
        ("TCS", 1),
        ("INFY", 2),
        ("TCS", 2),
        ("INFY", 3),
    ]
    assert table["ts_ns"].to_pylist() == [1, 1, 3, 4, 4]


def test_unknown_token_raises_naming_the_token(tmp_path: Path) -> None:
    path = record(tmp_path / "u.aitkite", (RECEIVED_NS, encode_frame([encode_ltp_packet(UNKNOWN, 5.0)])))

    with pytest.raises(DecodeError, match=rf"record 1 at byte 8: instrument token {UNKNOWN} is not in the"):
        list(KiteRecording(path, INSTRUMENTS).batches())


def test_unknown_token_with_skip_unknown_is_skipped_and_counted(tmp_path: Path) -> None:
    frame = encode_frame([encode_ltp_packet(UNKNOWN, 5.0), encode_ltp_packet(INFY, 1.0), encode_ltp_packet(UNKNOWN, 6)])
    path = record(tmp_path / "u.aitkite", (RECEIVED_NS, frame))
    recording = KiteRecording(path, INSTRUMENTS, skip_unknown=True)

    tables = list(recording.batches())

    assert [table["symbol"].to_pylist() for table in tables] == [["INFY"]]
    assert recording.skipped == 2
    assert recording.rows_read == 1


def test_index_packets_are_skipped_and_counted_even_when_not_listed(tmp_path: Path) -> None:
    index = struct.pack(">6Ii", NIFTY_50, 2350010, 2360000, 2340000, 2345000, 2348000, 0)
    path = record(tmp_path / "i.aitkite", (RECEIVED_NS, frame_of(index, struct.pack(">II", INFY, 150025), index)))
    recording = KiteRecording(path, INSTRUMENTS)

    tables = list(recording.batches())

    assert [table.num_rows for table in tables] == [1]
    assert recording.skipped_indices == 2
    assert recording.skipped == 0


def test_counters_restart_when_the_recording_is_read_again(tmp_path: Path) -> None:
    frame = encode_frame([encode_ltp_packet(UNKNOWN, 5.0), encode_ltp_packet(INFY, 1.0)])
    path = record(tmp_path / "again.aitkite", (RECEIVED_NS, frame))
    recording = KiteRecording(path, INSTRUMENTS, skip_unknown=True)

    first = list(recording.batches())
    second = list(recording.batches())

    assert first[0].equals(second[0])
    assert second[0]["seq"].to_pylist() == [1]
    assert recording.skipped == 1


def test_batches_hold_at_most_batch_rows_rows(tmp_path: Path) -> None:
    frames = [(i, encode_frame([encode_ltp_packet(INFY, 100.0 + i)])) for i in range(7)]
    path = record(tmp_path / "b.aitkite", *frames)

    tables = list(KiteRecording(path, INSTRUMENTS, batch_rows=3).batches())

    assert [table.num_rows for table in tables] == [3, 3, 1]
    assert pa.concat_tables(tables)["seq"].to_pylist() == [1, 2, 3, 4, 5, 6, 7]


def test_depth_flag_fixes_the_depth_columns_for_every_batch(tmp_path: Path) -> None:
    path = record(
        tmp_path / "d.aitkite",
        (1, encode_frame([encode_ltp_packet(INFY, 1.0)])),
        (2, frame_of(full_infy_bytes())),
    )

    with_depth = list(KiteRecording(path, INSTRUMENTS, batch_rows=1, depth=True).batches())
    without_depth = list(KiteRecording(path, INSTRUMENTS, batch_rows=1, depth=False).batches())
    automatic = list(KiteRecording(path, INSTRUMENTS, batch_rows=1).batches())

    assert [table.num_columns for table in with_depth] == [41, 41]
    assert [table.schema for table in without_depth] == [TICK_SCHEMA, TICK_SCHEMA]
    assert [table.num_columns for table in automatic] == [11, 41]


def test_batch_rows_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="batch_rows must be > 0, was 0"):
        KiteRecording(tmp_path / "x.aitkite", INSTRUMENTS, batch_rows=0)


def test_corrupt_frame_in_a_recording_raises_naming_the_file_and_record(tmp_path: Path) -> None:
    path = record(
        tmp_path / "c.aitkite",
        (1, encode_frame([encode_ltp_packet(INFY, 1.0)])),
        (2, frame_of(b"\x00" * 30)),
    )

    with pytest.raises(DecodeError, match=r"c\.aitkite: record 2 at byte 32: packet 1 at byte 2 has an unknown"):
        list(KiteRecording(path, INSTRUMENTS).batches())


def test_ticks_yields_tick_messages_with_depth(tmp_path: Path) -> None:
    path = record(
        tmp_path / "t.aitkite",
        (RECEIVED_NS, encode_frame([encode_ltp_packet(TCS, 4120.0)])),
        (RECEIVED_NS + 5, frame_of(full_infy_bytes())),
    )

    ticks = list(KiteRecording(path, INSTRUMENTS).ticks())

    assert ticks == [
        Tick(ts_ns=RECEIVED_NS, symbol="TCS", venue="NSE", seq=1, ltp=4120.0),
        Tick(
            ts_ns=EXCHANGE_TIME * 1_000_000_000,
            symbol="INFY",
            venue="NSE",
            seq=1,
            ltp=1500.25,
            ltq=10,
            volume=123456,
            bid=1500.2,
            ask=1500.3,
            bid_qty=100,
            ask_qty=150,
            depth=Depth(
                bids=(Level(1500.2, 100, 3), Level(1500.15, 200, 5)),
                asks=(Level(1500.3, 150, 2),),
            ),
        ),
    ]
