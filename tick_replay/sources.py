"""Where a replay's ticks come from: a tick file, a recorded Kite Ticker feed, or the synthetic market.

Each source yields canonical Arrow tables (see :mod:`aitrader.marketdata.schema`) in time order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from aitrader.errors import ValidationError
from aitrader.marketdata.files import TickFile
from aitrader.marketdata.instruments import read_instruments
from aitrader.marketdata.kite import KiteRecording
from aitrader.marketdata.synthetic import MarketConfig, generate_market

KITE_SUFFIXES = (".kite",)


class TickSource(Protocol):
    description: str

    @property
    def rows_total(self) -> int | None: ...

    @property
    def skipped(self) -> int: ...

    def batches(self) -> Iterator[pa.Table]: ...


class FileSource:
    """A CSV or Parquet tick file."""

    def __init__(self, path: Path, *, skip_bad: bool) -> None:
        self._file = TickFile(path, skip_bad=skip_bad)
        self.description = str(path)

    @property
    def rows_total(self) -> int | None:
        return self._file.rows_total

    @property
    def skipped(self) -> int:
        return self._file.skipped

    def batches(self) -> Iterator[pa.Table]:
        return self._file.batches()


class KiteSource:
    """A recorded Kite Ticker feed; ``instruments`` (Kite's CSV) maps its tokens to symbols.

    Packets of instruments that have not traded yet carry a last price of 0: they are skipped and counted.
    """

    def __init__(self, path: Path, instruments: Path, *, skip_bad: bool) -> None:
        self._recording = KiteRecording(path, read_instruments(instruments), skip_unknown=skip_bad)
        self._untraded = 0
        self.description = str(path)

    @property
    def rows_total(self) -> int | None:
        return None

    @property
    def skipped(self) -> int:
        return int(self._recording.skipped) + self._untraded

    def batches(self) -> Iterator[pa.Table]:
        self._untraded = 0
        for table in self._recording.batches():
            traded = pc.greater(table.column("ltp"), 0.0)
            kept = table.filter(traded)
            self._untraded += table.num_rows - kept.num_rows
            yield kept


class SyntheticSource:
    """The synthetic market of ``config``, generated in memory when the replay starts."""

    def __init__(self, config: MarketConfig, batch_rows: int = 50_000) -> None:
        self._config = config
        self._batch_rows = batch_rows
        self._table: pa.Table | None = None
        self.description = f"synthetic market (seed {config.seed})"

    @property
    def rows_total(self) -> int | None:
        return self._table.num_rows if self._table is not None else None

    @property
    def skipped(self) -> int:
        return 0

    def batches(self) -> Iterator[pa.Table]:
        self._table = generate_market(self._config).ticks
        for offset in range(0, self._table.num_rows, self._batch_rows):
            yield self._table.slice(offset, self._batch_rows)


def open_file_source(path: Path, root: Path, *, skip_bad: bool, instruments: Path | None) -> TickSource:
    """The source for a file under ``root``; anything outside it is refused (the API reads local files)."""
    resolved = _inside(path, root, "path")
    if resolved.name.lower().endswith(KITE_SUFFIXES):
        if instruments is None:
            raise ValidationError(f"{path}: a Kite recording needs `instruments`, the Kite instruments CSV")
        return KiteSource(resolved, _inside(instruments, root, "instruments"), skip_bad=skip_bad)
    return FileSource(resolved, skip_bad=skip_bad)


def _inside(path: Path, root: Path, name: str) -> Path:
    base = root.expanduser().resolve()
    resolved = (base / path.expanduser()).resolve()
    if not resolved.is_relative_to(base):
        raise ValidationError(f"{name} must lie under {base} (TICK_REPLAY_DATA_ROOT), was {path}")
    if not resolved.is_file():
        raise ValidationError(f"{name}: no such file {resolved}")
    return resolved
