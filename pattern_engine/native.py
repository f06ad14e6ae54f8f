"""The Rust engine (module ``pattern_engine_pyo3``) behind the :class:`~pattern_engine.engine.Engine` protocol,
and :func:`load_engine`, which falls back to the pure-Python reference, with a warning, when it is not built.

Batches go to Rust as columns: :func:`engine_columns` turns an Arrow table in the canonical tick layout
(``aitrader.marketdata.schema``) into contiguous numpy arrays without a Python object per tick, with the depth
already summed per side the way :func:`pattern_engine.reference.tick_input` sums a tick's depth.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from aitrader.contracts import Tick
from aitrader.errors import ConfigurationError
from aitrader.log import get_logger
from aitrader.marketdata.schema import DEPTH_LEVELS, DEPTH_SIDES, depth_column, dictionary_codes, numbers
from pattern_engine.config import EngineConfig
from pattern_engine.engine import Detection, Engine, Implementation
from pattern_engine.reference import ReferenceEngine

log = get_logger(__name__)

Choice = Literal["auto", "rust", "python"]
RawDetection = tuple[str, str, int, float, float, int, dict[str, float]]


def native_module() -> Any | None:
    """``pattern_engine_pyo3`` when the extension is installed, else None."""
    try:
        import pattern_engine_pyo3
    except ImportError:
        return None
    if not hasattr(pattern_engine_pyo3, "PatternEngine"):  # built before the engine joined the extension
        log.warning("native_engine_outdated", hint="run `make setup` to rebuild pattern_engine_pyo3")
        return None
    return pattern_engine_pyo3


def config_json(config: EngineConfig) -> str:
    """The config as the Rust core reads it (the same keys as the TOML file, every default written out)."""
    return msgspec.json.encode(config).decode()


def load_engine(config: EngineConfig, implementation: Choice = "auto") -> Engine:
    """The engine for ``config``: Rust when built (required for ``rust``), else the Python reference.

    ``auto`` logs a warning when it has to fall back, because the reference is two orders of magnitude slower.
    """
    if implementation == "python":
        return ReferenceEngine(config)
    module = native_module()
    if module is None:
        if implementation == "rust":
            raise ConfigurationError(
                "the Rust pattern engine is not built (module pattern_engine_pyo3); run `make setup`, "
                "or choose the python implementation"
            )
        log.warning("native_engine_unavailable", fallback="python", hint="run `make setup` to build it")
        return ReferenceEngine(config)
    return RustEngine(config, module)


class RustEngine:
    """The Rust core through pyo3; detections come back as tuples and become :class:`Detection` here."""

    def __init__(self, config: EngineConfig, module: Any | None = None) -> None:
        module = module or native_module()
        if module is None:
            raise ConfigurationError("the Rust pattern engine is not built (module pattern_engine_pyo3)")
        try:
            self._native = module.PatternEngine.from_json(config_json(config))
        except ValueError as e:
            raise ConfigurationError(f"pattern engine config: {e}") from e
        self._symbols = tuple(config.symbols)

    @property
    def implementation(self) -> Implementation:
        return "rust"

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    @property
    def native(self) -> Any:
        """The ``pattern_engine_pyo3.PatternEngine`` itself, for callers that want raw tuples."""
        return self._native

    def on_tick(self, tick: Tick) -> list[Detection]:
        return _detections(self._native.on_tick(tick))

    def on_ticks(self, ticks: Iterable[Tick]) -> list[Detection]:
        on_tick = self._native.on_tick
        out: list[Detection] = []
        for tick in ticks:
            raw = on_tick(tick)
            if raw:
                out += _detections(raw)
        return out

    def on_batch(self, columns: pa.Table | Mapping[str, Any]) -> list[Detection]:
        """Feed a batch given as an Arrow table (canonical layout) or as :func:`engine_columns` arrays."""
        arrays = engine_columns(columns) if isinstance(columns, pa.Table) else columns
        return _detections(self._native.on_batch(**arrays))

    def counters(self) -> dict[str, int]:
        counters: dict[str, int] = self._native.counters()
        return counters


def _detections(raw: list[RawDetection]) -> list[Detection]:
    return [
        Detection(
            symbol=symbol,
            pattern=pattern,
            side=1 if side > 0 else -1,
            score=score,
            price=price,
            tick_ts_ns=tick_ts_ns,
            features=features,
        )
        for symbol, pattern, side, score, price, tick_ts_ns, features in raw
    ]


def engine_columns(table: pa.Table) -> dict[str, Any]:
    """A canonical tick table as ``PatternEngine.on_batch`` arguments: contiguous arrays, the symbol column as
    dictionary codes plus the dictionary, absent quotes as NaN, the depth summed per side.

    A side's depth total counts the levels that have a positive price; a row without any level on either side
    (a level needs a price and a quantity other than 0, as in ``schema.ticks_from_table``) uses the best
    quantities instead, as a tick without depth does.
    """
    codes, symbols = dictionary_codes(table.column("symbol"))
    columns: dict[str, Any] = {"symbol_codes": codes, "symbols": symbols}
    for name in ("ts_ns", "ltq", "bid_qty", "ask_qty"):
        columns[name] = numbers(table.column(name), np.int64, 0)
    for name in ("ltp", "bid", "ask"):
        columns[name] = numbers(table.column(name), np.float64, np.nan)
    rows = table.num_rows
    totals: dict[str, npt.NDArray[np.int64]] = {}
    present = np.zeros(rows, dtype=bool)
    for side in DEPTH_SIDES:
        total = np.zeros(rows, dtype=np.int64)
        for level in range(1, DEPTH_LEVELS + 1):
            price_name, qty_name = depth_column(side, "price", level), depth_column(side, "qty", level)
            if price_name not in table.column_names or qty_name not in table.column_names:
                continue
            price = numbers(table.column(price_name), np.float64, np.nan)
            qty = numbers(table.column(qty_name), np.int64, 0)
            present |= ~np.isnan(price) & (qty != 0)
            total += np.where(price > 0.0, qty, 0)
        totals[side] = total
    columns["bid_depth_qty"] = np.ascontiguousarray(np.where(present, totals["bid"], columns["bid_qty"]))
    columns["ask_depth_qty"] = np.ascontiguousarray(np.where(present, totals["ask"], columns["ask_qty"]))
    return columns
