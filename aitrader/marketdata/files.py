"""Tick files (CSV and Parquet, columns in :mod:`aitrader.marketdata.schema`) read in canonical batches.

A bad row is an error naming the file and its line (CSV) or row (Parquet) and what was wrong with it;
with ``skip_bad=True`` it is left out instead, counted in :attr:`TickFile.skipped`, and the first few
reasons are kept in :attr:`TickFile.problems`.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aitrader.errors import ValidationError
from aitrader.marketdata.schema import DEPTH_COLUMNS, IST, TICK_SCHEMA, depth_type

FileFormat = Literal["csv", "parquet"]

REQUIRED_COLUMNS: Final = ("timestamp", "symbol", "ltp")
OPTIONAL_COLUMNS: Final = ("venue", "seq", "ltq", "volume", "bid", "ask", "bid_qty", "ask_qty")
KNOWN_COLUMNS: Final = frozenset((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *DEPTH_COLUMNS))
PROBLEMS_KEPT: Final = 20

_FRACTION = re.compile(r"^(?P<head>[^.]+T[0-9:]+)(?:\.(?P<fraction>\d{1,9}))?(?P<zone>Z|[+-]\d{2}:?\d{2})?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadRow(ValueError):
    """One row that cannot become a tick; the message says which field and what it held."""


def file_format(path: Path) -> FileFormat:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise ValidationError(f"{path}: unknown tick file type, expected .csv, .csv.gz or .parquet, was {path.suffix!r}")


def parse_timestamp(text: str) -> int:
    """Nanoseconds since the epoch from ISO-8601 (no offset means IST) or from an integer of nanoseconds."""
    text = text.strip()
    if not text:
        raise BadRow("timestamp is empty")
    if text.lstrip("-").isdigit():
        value = int(text)
        if value < 0:
            raise BadRow(f"timestamp must be >= 0 nanoseconds, was {text}")
        return value
    match = _FRACTION.match(text.replace(" ", "T", 1))
    if match is None:
        raise BadRow(f"timestamp is neither ISO-8601 nor epoch nanoseconds, was {text!r}")
    zone = match.group("zone") or ""
    try:
        moment = datetime.fromisoformat(match.group("head") + zone.replace("Z", "+00:00"))
    except ValueError as e:
        raise BadRow(f"timestamp is not a valid ISO-8601 time ({e}), was {text!r}") from e
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=IST)
    whole = moment - _EPOCH
    fraction = (match.group("fraction") or "").ljust(9, "0")
    return (whole.days * 86_400 + whole.seconds) * 1_000_000_000 + int(fraction)


class TickFile:
    """One CSV or Parquet tick file, read in batches of canonical rows (ts_ns, symbol, ..., depth)."""

    def __init__(self, path: Path | str, *, skip_bad: bool = False, batch_rows: int = 50_000) -> None:
        self.path = Path(path)
        self.format = file_format(self.path)
        if not self.path.is_file():
            raise ValidationError(f"tick file {self.path} does not exist")
        if batch_rows <= 0:
            raise ValueError(f"batch_rows must be > 0, was {batch_rows}")
        self.skip_bad = skip_bad
        self.batch_rows = batch_rows
        self.skipped = 0
        self.rows_read = 0
        self.problems: list[str] = []
        self._next_seq: dict[str, int] = {}

    @cached_property
    def rows_total(self) -> int | None:
        """Rows in the file when known without reading it (Parquet's footer); ``None`` for CSV."""
        if self.format == "parquet":
            return int(pq.ParquetFile(self.path).metadata.num_rows)
        return None

    def batches(self) -> Iterator[pa.Table]:
        """Canonical tables of at most ``batch_rows`` rows, in file order."""
        self.skipped = self.rows_read = 0
        self.problems = []
        self._next_seq = {}
        if self.format == "parquet":
            yield from self._parquet_batches()
        else:
            yield from self._csv_batches()

    # -- bad rows ------------------------------------------------------------------------------

    def _bad(self, where: str, reason: str) -> None:
        message = f"{self.path}:{where}: {reason}"
        if not self.skip_bad:
            raise ValidationError(message + " (use --skip-bad to skip such rows)")
        self.skipped += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(message)

    def _sequence(self, symbols: pa.Array, given: pa.Array | None) -> pa.Array:
        """Sequence numbers for a batch: as given, else each symbol's counter continued (vectorised)."""
        if given is not None and given.null_count:
            listed = given.to_pylist()
            return pa.array([self._seq(s, q) for s, q in zip(symbols.to_pylist(), listed, strict=True)], pa.int64())
        if isinstance(symbols, pa.ChunkedArray):
            symbols = symbols.combine_chunks()
        encoded = pc.dictionary_encode(symbols)
        names = encoded.dictionary.to_pylist()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        if given is not None:
            values = given.to_numpy(zero_copy_only=False).astype(np.int64)
            highest = np.full(len(names), -1, dtype=np.int64)
            np.maximum.at(highest, codes, values)
            for name, top in zip(names, highest.tolist(), strict=True):
                self._next_seq[name] = max(self._next_seq.get(name, 1), top + 1)
            return pa.array(values, pa.int64())
        counts = np.bincount(codes, minlength=len(names))
        order = np.argsort(codes, kind="stable")
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.empty(len(codes), dtype=np.int64)
        rank[order] = np.arange(len(codes)) - starts[codes[order]]
        base = np.array([self._next_seq.get(name, 1) for name in names], dtype=np.int64)
        for name, first, count in zip(names, base.tolist(), counts.tolist(), strict=True):
            self._next_seq[name] = first + count
        return pa.array(base[codes] + rank, pa.int64())

    def _seq(self, symbol: str, given: int | None) -> int:
        """The row's sequence number: as given, else the next of its symbol's counter."""
        if given is not None:
            self._next_seq[symbol] = max(self._next_seq.get(symbol, 1), given + 1)
            return given
        seq = self._next_seq.get(symbol, 1)
        self._next_seq[symbol] = seq + 1
        return seq

    # -- CSV -------------------------------------------------------------------------------------

    def _csv_batches(self) -> Iterator[pa.Table]:
        import gzip

        opener: Callable[..., Any] = gzip.open if self.path.name.lower().endswith(".gz") else open
        with opener(self.path, "rt", newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            try:
                header = [name.strip() for name in next(reader)]
            except StopIteration:
                raise ValidationError(f"{self.path}: the file is empty, expected a header line") from None
            index = self._check_header(header)
            depth = [name for name in DEPTH_COLUMNS if name in index]
            rows: list[tuple[Any, ...]] = []
            for record in reader:
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue
                self.rows_read += 1
                try:
                    rows.append(self._csv_row(record, index, depth, len(header)))
                except BadRow as e:
                    self._bad(f"line {reader.line_num}", str(e))
                    continue
                if len(rows) == self.batch_rows:
                    yield _table(rows, depth)
                    rows = []
            if rows:
                yield _table(rows, depth)

    def _check_header(self, header: list[str]) -> dict[str, int]:
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise ValidationError(
                f"{self.path}:line 1: missing required column(s) {', '.join(missing)}; the header was {header}"
            )
        unknown = sorted(set(header) - KNOWN_COLUMNS)
        if unknown:
            raise ValidationError(
                f"{self.path}:line 1: unknown column(s) {', '.join(unknown)}; "
                "see aitrader/marketdata/schema.py for the tick file columns"
            )
        return {name: position for position, name in enumerate(header)}

    def _csv_row(self, record: list[str], index: dict[str, int], depth: list[str], width: int) -> tuple[Any, ...]:
        if len(record) != width:
            raise BadRow(f"expected {width} fields, was {len(record)}")

        def cell(name: str) -> str:
            position = index.get(name)
            return record[position].strip() if position is not None else ""

        ts_ns = parse_timestamp(cell("timestamp"))
        symbol = cell("symbol")
        if not symbol:
            raise BadRow("symbol is empty")
        ltp = _price("ltp", cell("ltp"), required=True)
        seq_text = cell("seq")
        seq = self._seq(symbol, _quantity("seq", seq_text) if seq_text else None)
        values = [
            ts_ns,
            symbol,
            cell("venue") or "NSE",
            seq,
            ltp,
            _quantity("ltq", cell("ltq")),
            _quantity("volume", cell("volume")),
            _price("bid", cell("bid")),
            _price("ask", cell("ask")),
            _quantity("bid_qty", cell("bid_qty")),
            _quantity("ask_qty", cell("ask_qty")),
        ]
        for name in depth:
            text = cell(name)
            if "_price_" in name:
                values.append(_price(name, text))
            else:
                values.append(_quantity(name, text) if text else None)
        return tuple(values)

    # -- Parquet -----------------------------------------------------------------------------------

    def _parquet_batches(self) -> Iterator[pa.Table]:
        try:
            source = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as e:
            raise ValidationError(f"{self.path}: not a readable Parquet file: {e}") from e
        names = source.schema_arrow.names
        self._check_header(names)
        depth = [name for name in DEPTH_COLUMNS if name in names]
        first_row = 0
        for batch in source.iter_batches(batch_size=self.batch_rows):
            table = pa.Table.from_batches([batch])
            self.rows_read += table.num_rows
            yield self._canonical(table, first_row, depth)
            first_row += table.num_rows

    def _canonical(self, table: pa.Table, first_row: int, depth: list[str]) -> pa.Table:
        """Cast and validate one Parquet batch, leaving out (or failing on) its bad rows."""
        rows = table.num_rows
        columns: dict[str, pa.Array] = {}
        problems: list[tuple[int, str]] = []

        def flag(mask: Any, reason: Callable[[int], str]) -> None:
            for position in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
                problems.append((position, reason(position)))

        columns["ts_ns"] = self._parquet_timestamps(table.column("timestamp"), flag)
        symbol = table.column("symbol").cast(pa.string())
        flag(pc.or_kleene(pc.is_null(symbol), pc.equal(pc.utf8_length(symbol), 0)), lambda _: "symbol is empty")
        columns["symbol"] = symbol
        venue = table.column("venue").cast(pa.string()) if "venue" in table.column_names else None
        columns["venue"] = pc.fill_null(venue, "NSE") if venue is not None else pa.array(["NSE"] * rows)
        for name in ("ltp", "bid", "ask", *(d for d in depth if "_price_" in d)):
            if name not in table.column_names:
                columns[name] = pa.nulls(rows, pa.float64())
                continue
            values = _cast(table.column(name), pa.float64(), name, self.path)
            bad = pc.or_kleene(pc.less_equal(values, 0.0), pc.is_nan(values))
            if name == "ltp":
                bad = pc.or_kleene(bad, pc.is_null(values))
            flag(bad, _describe(name, "must be a price > 0", values))
            columns[name] = values
        for name in ("ltq", "volume", "bid_qty", "ask_qty", *(d for d in depth if "_price_" not in d)):
            if name not in table.column_names:
                columns[name] = pa.nulls(rows, pa.int64()) if name in depth else pa.array([0] * rows, pa.int64())
                continue
            values = _cast(table.column(name), pa.int64(), name, self.path)
            flag(pc.less(values, 0), _describe(name, "must be >= 0", values))
            columns[name] = values if name in depth else pc.fill_null(values, 0)
        given_seq = _cast(table.column("seq"), pa.int64(), "seq", self.path) if "seq" in table.column_names else None
        if given_seq is not None:
            flag(pc.less(given_seq, 0), _describe("seq", "must be >= 0", given_seq))

        if problems:
            keep = [True] * rows
            for position, reason in sorted(problems):
                if keep[position]:
                    keep[position] = False
                    self._bad(f"row {first_row + position + 1}", reason)
            mask = pa.array(keep)
            kept = {name: pc.filter(column, mask) for name, column in columns.items()}
            given_seq = pc.filter(given_seq, mask) if given_seq is not None else None
        else:
            kept = columns
        kept["seq"] = self._sequence(kept["symbol"], given_seq)
        arrays = [kept[name].cast(field.type) for name, field in zip(TICK_SCHEMA.names, TICK_SCHEMA, strict=True)]
        arrays += [kept[name].cast(depth_type(name)) for name in depth]
        return pa.Table.from_arrays(arrays, schema=_schema(depth))

    def _parquet_timestamps(self, column: pa.ChunkedArray, flag: Callable[..., None]) -> pa.Array:
        kind = column.type
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            result = column.cast(pa.timestamp("ns", tz=kind.tz)).cast(pa.int64())
        elif pa.types.is_timestamp(kind):
            # A naive timestamp is exchange time (IST), as a naive ISO-8601 string is.
            result = pc.assume_timezone(column.cast(pa.timestamp("ns")), "Asia/Kolkata").cast(pa.int64())
        elif pa.types.is_integer(kind):
            result = column.cast(pa.int64())
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            parsed: list[int | None] = []
            reasons: dict[int, str] = {}
            for position, text in enumerate(column.to_pylist()):
                try:
                    parsed.append(parse_timestamp(text or ""))
                except BadRow as e:
                    reasons[position] = str(e)
                    parsed.append(0)
            flag(pa.array([i in reasons for i in range(len(parsed))]), reasons.__getitem__)
            result = pa.array(parsed, pa.int64())
        else:
            raise ValidationError(
                f"{self.path}: column timestamp must hold timestamps, integers (ns) or ISO-8601 text, was {kind}"
            )
        flag(pc.or_kleene(pc.is_null(result), pc.less(result, 0)), lambda _: "timestamp is missing or negative")
        return result.combine_chunks() if isinstance(result, pa.ChunkedArray) else result


def _describe(name: str, rule: str, values: pa.Array) -> Callable[[int], str]:
    """The problem with row ``i`` of ``values``: ``"<name> <rule>, was <value>"``."""
    return lambda i: f"{name} {rule}, was {values[i].as_py()!r}"


def _schema(depth: list[str]) -> pa.Schema:
    return pa.schema([*TICK_SCHEMA, *(pa.field(name, depth_type(name)) for name in depth)])


def _table(rows: list[tuple[Any, ...]], depth: list[str]) -> pa.Table:
    schema = _schema(depth)
    columns = list(zip(*rows, strict=True))
    return pa.Table.from_arrays(
        [pa.array(column, field.type) for column, field in zip(columns, schema, strict=True)], schema=schema
    )


def _cast(column: pa.ChunkedArray, kind: pa.DataType, name: str, path: Path) -> pa.Array:
    """One contiguous array of ``kind``; no copy when the column already is one."""
    try:
        array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        return array if array.type == kind else array.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise ValidationError(f"{path}: column {name} cannot be read as {kind}: {e}") from e


def _price(name: str, text: str, *, required: bool = False) -> float | None:
    if not text:
        if required:
            raise BadRow(f"{name} is empty")
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRow(f"{name} must be a number, was {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise BadRow(f"{name} must be a price > 0, was {text}")
    return value


def _quantity(name: str, text: str) -> int:
    if not text:
        return 0
    try:
        value = int(text) if text.lstrip("-").isdigit() else int(float(text)) if float(text).is_integer() else None
    except ValueError:
        value = None
    if value is None:
        raise BadRow(f"{name} must be a whole number, was {text!r}")
    if value < 0:
        raise BadRow(f"{name} must be >= 0, was {text}")
    return value
