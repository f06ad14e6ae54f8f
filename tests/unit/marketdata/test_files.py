"""Tick files: CSV and Parquet become canonical batches; a bad row names the file and line, or is skipped."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aitrader.contracts import Depth, Level, Tick
from aitrader.errors import ValidationError
from aitrader.marketdata.files import TickFile, parse_timestamp
from aitrader.marketdata.schema import TICK_SCHEMA, ticks_from_table

OPEN_NS = 1_763_696_700_000_000_000  # 2025-11-21 09:15:00 IST
HEADER = "timestamp,symbol,ltp,ltq,volume,bid,ask,bid_qty,ask_qty"


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _ticks(source: TickFile) -> list[Tick]:
    return [tick for table in source.batches() for tick in ticks_from_table(table)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-21T09:15:00+05:30", OPEN_NS),
        ("2025-11-21T09:15:00", OPEN_NS),  # no offset: IST
        ("2025-11-21 03:45:00Z", OPEN_NS),
        ("2025-11-21T09:15:00.000000250+05:30", OPEN_NS + 250),
        ("2025-11-21T09:15:00.5+05:30", OPEN_NS + 500_000_000),
        (str(OPEN_NS), OPEN_NS),
    ],
)
def test_timestamps_in_iso_8601_or_epoch_nanoseconds_are_exact(text: str, expected: int):
    assert parse_timestamp(text) == expected


def test_csv_rows_become_ticks_with_per_symbol_sequence_numbers(tmp_path: Path):
    path = _write(
        tmp_path / "day.csv",
        HEADER,
        "2025-11-21T09:15:00+05:30,INFY,1500.05,10,10,1500.00,1500.10,300,200",
        "2025-11-21T09:15:00.5+05:30,TCS,3400.00,5,5,,,0,0",
        "2025-11-21T09:15:01+05:30,INFY,1500.10,20,30,1500.05,1500.10,100,50",
    )

    ticks = _ticks(TickFile(path))

    assert ticks == [
        Tick(ts_ns=OPEN_NS, symbol="INFY", seq=1, ltp=1500.05, ltq=10, volume=10, bid=1500.0, ask=1500.1,
             bid_qty=300, ask_qty=200),
        Tick(ts_ns=OPEN_NS + 500_000_000, symbol="TCS", seq=1, ltp=3400.0, ltq=5, volume=5),
        Tick(ts_ns=OPEN_NS + 1_000_000_000, symbol="INFY", seq=2, ltp=1500.1, ltq=20, volume=30, bid=1500.05,
             ask=1500.1, bid_qty=100, ask_qty=50),
    ]  # fmt: skip


def test_csv_depth_columns_become_book_levels(tmp_path: Path):
    path = _write(
        tmp_path / "depth.csv",
        "timestamp,symbol,ltp,bid_price_1,bid_qty_1,bid_orders_1,bid_price_2,bid_qty_2,ask_price_1,ask_qty_1",
        f"{OPEN_NS},INFY,1500.05,1500.00,300,4,1499.95,120,1500.10,200",
    )

    [tick] = _ticks(TickFile(path))

    assert tick.depth == Depth(bids=(Level(1500.0, 300, 4), Level(1499.95, 120, 0)), asks=(Level(1500.1, 200, 0),))


def test_gzipped_csv_is_read(tmp_path: Path):
    path = tmp_path / "day.csv.gz"
    path.write_bytes(gzip.compress(f"{HEADER}\n{OPEN_NS},INFY,1500.05,1,1,,,0,0\n".encode()))

    assert [t.symbol for t in _ticks(TickFile(path))] == ["INFY"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("yesterday,INFY,1500.05,1,1,,,0,0", "timestamp is neither ISO-8601 nor epoch nanoseconds, was 'yesterday'"),
        (f"{OPEN_NS},INFY,abc,1,1,,,0,0", "ltp must be a number, was 'abc'"),
        (f"{OPEN_NS},INFY,-3,1,1,,,0,0", "ltp must be a price > 0, was -3"),
        (f"{OPEN_NS},,1500,1,1,,,0,0", "symbol is empty"),
        (f"{OPEN_NS},INFY,1500,-1,1,,,0,0", "ltq must be >= 0, was -1"),
        (f"{OPEN_NS},INFY,1500,1.5,1,,,0,0", "ltq must be a whole number, was '1.5'"),
        (f"{OPEN_NS},INFY,1500,1", "expected 9 fields, was 4"),
    ],
)
def test_a_bad_csv_row_is_an_error_naming_the_file_and_line(tmp_path: Path, row: str, reason: str):
    path = _write(tmp_path / "bad.csv", HEADER, f"{OPEN_NS},INFY,1500.05,1,1,,,0,0", row)

    with pytest.raises(ValidationError) as raised:
        _ticks(TickFile(path))

    assert str(raised.value) == f"{path}:line 3: {reason} (use --skip-bad to skip such rows)"


def test_with_skip_bad_bad_rows_are_counted_and_the_rest_kept(tmp_path: Path):
    path = _write(
        tmp_path / "bad.csv",
        HEADER,
        f"{OPEN_NS},INFY,1500.05,1,1,,,0,0",
        f"{OPEN_NS},INFY,oops,1,1,,,0,0",
        f"{OPEN_NS + 1},INFY,1500.10,1,2,,,0,0",
        f"{OPEN_NS},INFY,1500,1",
    )
    source = TickFile(path, skip_bad=True)

    ticks = _ticks(source)

    assert [t.ltp for t in ticks] == [1500.05, 1500.1]
    assert [t.seq for t in ticks] == [1, 2]
    assert (source.skipped, source.rows_read) == (2, 4)
    assert source.problems[0] == f"{path}:line 3: ltp must be a number, was 'oops'"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("timestamp,ltp", "missing required column(s) symbol"),
        ("timestamp,symbol,ltp,colour", "unknown column(s) colour"),
    ],
)
def test_a_bad_header_is_an_error_naming_the_columns(tmp_path: Path, header: str, message: str):
    path = _write(tmp_path / "h.csv", header)

    with pytest.raises(ValidationError, match=re.escape(message)):
        _ticks(TickFile(path))


def test_unknown_file_type_and_missing_file_are_errors(tmp_path: Path):
    with pytest.raises(ValidationError, match="unknown tick file type"):
        TickFile(tmp_path / "ticks.xlsx")
    with pytest.raises(ValidationError, match="does not exist"):
        TickFile(tmp_path / "ticks.csv")


def _parquet(path: Path, **columns: object) -> Path:
    pq.write_table(pa.table(columns), path)  # type: ignore[arg-type]
    return path


def test_parquet_with_timestamp_type_is_read_in_batches(tmp_path: Path):
    stamps = [datetime(2025, 11, 21, 3, 45, second, tzinfo=UTC) for second in range(5)]
    path = _parquet(
        tmp_path / "day.parquet",
        timestamp=pa.array(stamps, pa.timestamp("ns", tz="UTC")),
        symbol=["INFY", "TCS", "INFY", "TCS", "INFY"],
        ltp=[1500.05, 3400.0, 1500.1, 3400.05, 1500.15],
        volume=[10, 5, 20, 6, 30],
    )
    source = TickFile(path, batch_rows=2)

    tables = list(source.batches())

    assert [t.num_rows for t in tables] == [2, 2, 1]
    assert all(t.schema.equals(TICK_SCHEMA) for t in tables)
    ticks = [tick for table in tables for tick in ticks_from_table(table)]
    assert [t.ts_ns for t in ticks] == [OPEN_NS + i * 1_000_000_000 for i in range(5)]
    assert [(t.symbol, t.seq) for t in ticks] == [("INFY", 1), ("TCS", 1), ("INFY", 2), ("TCS", 2), ("INFY", 3)]
    assert source.rows_total == 5


@pytest.mark.parametrize(
    "timestamps",
    [
        pa.array([OPEN_NS], pa.int64()),
        pa.array(["2025-11-21T09:15:00"]),
        pa.array([datetime(2025, 11, 21, 9, 15)], pa.timestamp("us")),  # naive: IST
    ],
)
def test_parquet_timestamps_as_integers_text_or_naive_ist(tmp_path: Path, timestamps: pa.Array):
    path = _parquet(tmp_path / "t.parquet", timestamp=timestamps, symbol=["INFY"], ltp=[1500.0])

    [tick] = _ticks(TickFile(path))

    assert tick.ts_ns == OPEN_NS


def test_a_bad_parquet_row_is_an_error_naming_the_row_or_is_skipped(tmp_path: Path):
    path = _parquet(
        tmp_path / "bad.parquet",
        timestamp=pa.array([OPEN_NS, OPEN_NS + 1, OPEN_NS + 2], pa.int64()),
        symbol=["INFY", "INFY", "INFY"],
        ltp=[1500.0, -1.0, 1500.1],
        bid=[None, 1499.0, 1500.0],
    )

    with pytest.raises(ValidationError, match=re.escape(f"{path}:row 2: ltp must be a price > 0, was -1.0")):
        _ticks(TickFile(path))
    source = TickFile(path, skip_bad=True)
    assert [(t.ltp, t.seq, t.bid) for t in _ticks(source)] == [(1500.0, 1, None), (1500.1, 2, 1500.0)]
    assert source.skipped == 1


def test_a_column_of_the_wrong_type_is_an_error_naming_it(tmp_path: Path):
    path = _parquet(tmp_path / "t.parquet", timestamp=[OPEN_NS], symbol=["INFY"], ltp=["cheap"])

    with pytest.raises(ValidationError, match="column ltp cannot be read as double"):
        _ticks(TickFile(path))
