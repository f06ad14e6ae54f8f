"""A deterministic, labelled synthetic NSE market day.

Pattern detectors and backtests need ground truth to be scored against, and recorded feeds have none: nobody
knows where the "real" momentum bursts are. This module builds a day whose patterns we planted ourselves, and
writes them down in a labels table next to the ticks.

The model, per instrument, on a one-second grid of the 09:15-15:30 IST session (22,500 s):

* **Volatility regimes:** a three-state (low, normal, high) Markov chain with exponential dwell times; it scales
  the per-second volatility (on top of an intraday U-shape) and the tick rate; the quoted spread follows the
  volatility.
* **Arrivals:** an inhomogeneous Poisson process whose intensity is U-shaped over the day (busy at the open
  and the close, a lunch dip), raised during bursts and breakouts. The tick count per instrument is fixed in
  advance (the config's ``ticks_target`` split by liquidity), so arrivals are the order statistics of that
  process, drawn by inverting its integrated intensity.
* **Price:** a log random walk whose increment between ticks has the variance integrated over the gap, plus
  a few unlabelled jumps (distractors), plus the injected patterns as deterministic offsets in log price.
* **Book and trades:** a spread of 1-3 ticks (wider when volatility is high) around the latent price, five levels
  per side one tick apart (sometimes two), lognormal queues, order counts >= 1; every tick is a trade at the
  bid, at the ask, or (rarely, when the spread allows) inside.
* **VWAP deviations** are planted last, once the rest of the latent price is known: the session VWAP is
  approximated on the one-second grid (the latent price weighted by the expected traded quantity of each
  second), and the episode's offset is sized so that price over that VWAP reaches the planted deviation,
  holds it, and then comes back to the VWAP.
* **The future** on one cash symbol trades at ``cash x (1 + carry) x exp(spread)``, the spread an
  Ornstein-Uhlenbeck process in log terms, so the pair's basis is stationary apart from the injected
  spread-widening episodes.

Patterns never overlap within a symbol (nor with the pair episodes of its future) and stay 20 minutes clear
of the open and 30 minutes clear of the close. Their sizes are in units of the local volatility, so a burst
is always "several sigma", whatever the regime; a VWAP deviation's is in basis points off the session VWAP.

Every random draw comes from ``numpy.random.default_rng`` seeded by a :class:`numpy.random.SeedSequence` keyed on
``(seed, exchange_token)``, so a symbol's day depends only on the seed and its own tick budget, never on which
other symbols were asked for; everything is vectorised over ticks (Python loops run only over regimes and
episodes), and the Parquet files are written with fixed options, so the same config gives the same bytes.
"""

from __future__ import annotations

import calendar
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from aitrader.errors import ConfigurationError
from aitrader.marketdata.instruments import Instrument, Segment, make_token, write_instruments
from aitrader.marketdata.schema import (
    DEPTH_COLUMNS,
    DEPTH_LEVELS,
    IST,
    SESSION_OPEN,
    TICK_SCHEMA,
    depth_column,
    depth_type,
)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


class PatternKind(StrEnum):
    """The patterns the synthetic day plants; the values are the ``kind`` column of the labels table."""

    MOMENTUM_BURST = "momentum_burst"
    MEAN_REVERSION = "mean_reversion"
    BOOK_IMBALANCE = "book_imbalance"
    BREAKOUT = "breakout"
    PAIR_SPREAD = "pair_spread"
    VWAP_DEVIATION = "vwap_deviation"


class _Listing(NamedTuple):
    symbol: str
    exchange_token: int
    name: str
    price: float
    daily_volatility: float
    liquidity: float


# NSE exchange tokens as Kite lists them; prices are rounded closes of November 2025.
_CASH_LISTINGS: Final = (
    _Listing("RELIANCE", 2885, "RELIANCE INDUSTRIES", 1510.0, 0.013, 1.4),
    _Listing("HDFCBANK", 1333, "HDFC BANK", 990.0, 0.011, 1.3),
    _Listing("ICICIBANK", 4963, "ICICI BANK", 1370.0, 0.012, 1.2),
    _Listing("INFY", 1594, "INFOSYS", 1510.0, 0.015, 1.1),
    _Listing("TCS", 11536, "TATA CONSULTANCY SERV", 3100.0, 0.013, 1.0),
    _Listing("SBIN", 3045, "STATE BANK OF INDIA", 965.0, 0.014, 1.1),
    _Listing("BHARTIARTL", 10604, "BHARTI AIRTEL", 2140.0, 0.013, 0.9),
    _Listing("ITC", 1660, "ITC", 405.0, 0.011, 0.9),
    _Listing("LT", 11483, "LARSEN & TOUBRO", 4010.0, 0.014, 0.8),
    _Listing("AXISBANK", 5900, "AXIS BANK", 1270.0, 0.015, 0.9),
    _Listing("KOTAKBANK", 1922, "KOTAK MAHINDRA BANK", 2100.0, 0.013, 0.8),
    _Listing("HINDUNILVR", 1394, "HINDUSTAN UNILEVER", 2440.0, 0.011, 0.6),
    _Listing("BAJFINANCE", 317, "BAJAJ FINANCE", 1010.0, 0.018, 0.8),
    _Listing("MARUTI", 10999, "MARUTI SUZUKI INDIA", 15900.0, 0.013, 0.5),
    _Listing("SUNPHARMA", 3351, "SUN PHARMACEUTICAL IND", 1760.0, 0.012, 0.6),
    _Listing("TITAN", 3506, "TITAN COMPANY", 3860.0, 0.014, 0.5),
    _Listing("WIPRO", 3787, "WIPRO", 245.0, 0.014, 0.6),
    _Listing("ASIANPAINT", 236, "ASIAN PAINTS", 2850.0, 0.012, 0.5),
    _Listing("ULTRACEMCO", 11532, "ULTRATECH CEMENT", 11700.0, 0.012, 0.4),
    _Listing("TATASTEEL", 3499, "TATA STEEL", 170.0, 0.018, 0.9),
)
_LISTING_BY_SYMBOL: Final = {listing.symbol: listing for listing in _CASH_LISTINGS}

CASH_SYMBOLS: Final = tuple(listing.symbol for listing in _CASH_LISTINGS)
"""The cash equities the synthetic market knows, most liquid first; the default day trades the first 12."""

DEFAULT_TRADING_DATE: Final = date(2025, 11, 21)
"""A Friday; any weekday works, the date only fixes the timestamps and the future's contract month."""

SESSION_SECONDS: Final = 22_500
"""09:15 to 15:30: every tick is at least the open and before the close."""
TICK_SIZE: Final = 0.05
TICKS_PER_RUPEE: Final = 20
"""Prices are held as integer tick counts and divided by this, so each one is the double nearest its 2-dp value."""

FUTURE_LOT_SIZE: Final = 500
FUTURE_EXCHANGE_TOKEN_BASE: Final = 52_000
"""NFO tokens change every expiry; the synthetic future's is this plus the underlying's catalogue position."""
CARRY_RATE: Final = 0.065
"""Annual cost of carry that prices the future over cash (a repo-like rate, actual/365)."""

EPISODE_OPEN_MARGIN_S: Final = 20 * 60
EPISODE_CLOSE_MARGIN_S: Final = 30 * 60
EPISODE_GAP_S: Final = 60
ROW_GROUP_SIZE: Final = 131_072
ZSTD_LEVEL: Final = 3

_NANOS: Final = 1_000_000_000
_GRID: Final = np.arange(SESSION_SECONDS + 1, dtype=np.float64)
_LAST_ARRIVAL_S: Final = SESSION_SECONDS - 0.001
"""Arrivals end a millisecond before the close, so nudging equal nanoseconds apart never crosses it."""

# Volatility regimes: multiplier of the symbol's volatility, mean dwell time, where the chain goes next.
_REGIME_VOLATILITY: Final = np.array([0.65, 1.0, 1.9])
_REGIME_DWELL_S: Final = (2_400.0, 3_000.0, 900.0)
_REGIME_NEXT: Final = ((0.0, 0.8, 0.2), (0.5, 0.0, 0.5), (0.2, 0.8, 0.0))
_REGIME_AT_OPEN: Final = (0.1, 0.5, 0.4)
# Cumulative probabilities of a 1-, 2- and 3-tick spread when volatility is below 0.8x, up to 1.4x and above
# 1.4x the symbol's own: the calm, normal and stressed spread classes.
_SPREAD_STRESS: Final = np.array([0.8, 1.4])
_SPREAD_CDF: Final = np.array([[0.70, 0.95], [0.50, 0.85], [0.15, 0.55]])
_LEVEL_SHAPE: Final = np.array([1.0, 1.15, 1.3, 1.45, 1.6])[:, None]
_LEVEL_GAP_PROBABILITY: Final = 0.12
_INSIDE_TRADE_PROBABILITY: Final = 0.15
_THIN_SIDE: Final = 0.6
_CONSOLIDATION_DAMPING: Final = 0.15
_BURST_INTENSITY: Final = 4.0
_PAIR_SPREAD_SD: Final = 4e-4
_PAIR_SPREAD_TAU_S: Final = 45.0
_JUMPS_PER_DAY: Final = 1.5
_TRADE_NOTIONAL: Final = 60_000.0
_QUEUE_NOTIONAL: Final = 400_000.0
_ORDER_NOTIONAL: Final = 40_000.0
_FUTURE_LIQUIDITY: Final = 0.8
_FUTURE_TRADE_LOTS: Final = 1.5
_FUTURE_QUEUE_NOTIONAL: Final = 10_000_000.0

# Per kind: ranges of the two phase lengths (seconds) and of the strength (local sigmas, or z for the pair).
_PHASES: Final = {
    PatternKind.MOMENTUM_BURST: ((20, 90), (0, 0), (6.0, 9.0)),
    PatternKind.MEAN_REVERSION: ((10, 30), (20, 45), (6.0, 9.0)),
    PatternKind.BOOK_IMBALANCE: ((10, 60), (20, 40), (2.5, 3.5)),
    PatternKind.BREAKOUT: ((180, 360), (20, 60), (6.0, 9.0)),
    PatternKind.PAIR_SPREAD: ((20, 45), (30, 90), (5.0, 7.0)),
    PatternKind.VWAP_DEVIATION: ((60, 180), (60, 120), (90.0, 150.0)),
}
_VWAP_CROSSING: Final = 1.0 / 3.0
"""A VWAP deviation starting more than this fraction of its size off the VWAP is planted on the other side,
so the price always crosses into the deviation rather than starting in it."""
_VWAP_REFINEMENTS: Final = 3


def _slot_seconds(kind: PatternKind, first: int, second: int) -> int:
    """How long an episode keeps its symbol busy, follow-through included."""
    if kind in (PatternKind.MEAN_REVERSION, PatternKind.PAIR_SPREAD):
        return first + 4 * second
    if kind is PatternKind.VWAP_DEVIATION:
        return 2 * first + second
    return first + second


def _max_slot_seconds(kind: PatternKind) -> int:
    (_, first), (_, second), _ = _PHASES[kind]
    return _slot_seconds(kind, first, second)


class MarketConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What synthetic day to build; every bad field is reported at once, as a :class:`ConfigurationError`.

    ``symbols`` picks cash equities from :data:`CASH_SYMBOLS`; empty means the first ``symbol_count`` of them.
    ``future_underlying`` adds that symbol's near-month future (``None``: no future, no pair episodes).
    ``ticks_target`` is the exact total tick count, split across instruments by liquidity.
    ``episodes_per_kind`` is how many episodes of each kind in ``patterns`` every cash symbol gets (the pair
    kind: the future).
    """

    seed: int = 20_251_121
    trading_date: date = DEFAULT_TRADING_DATE
    symbols: tuple[str, ...] = ()
    symbol_count: int = 12
    future_underlying: str | None = "RELIANCE"
    ticks_target: int = 1_200_000
    patterns: tuple[PatternKind, ...] = tuple(PatternKind)
    episodes_per_kind: int = 3

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ConfigurationError("invalid MarketConfig: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        problems: list[str] = []
        if not isinstance(self.seed, int) or self.seed < 0:
            problems.append(f"seed must be an integer >= 0, was {self.seed!r}")
        if not isinstance(self.trading_date, date) or isinstance(self.trading_date, datetime):
            problems.append(f"trading_date must be a date, was {self.trading_date!r}")
        elif self.trading_date.weekday() >= 5:
            day = self.trading_date.strftime("%A")
            problems.append(f"trading_date must be a weekday (NSE trades Monday-Friday), was {day} {self.trading_date}")
        if self.symbols:
            unknown = [symbol for symbol in self.symbols if symbol not in _LISTING_BY_SYMBOL]
            if unknown:
                problems.append(f"symbols must be among {', '.join(CASH_SYMBOLS)}, was {', '.join(map(str, unknown))}")
            repeated = sorted({symbol for symbol in self.symbols if self.symbols.count(symbol) > 1})
            if repeated:
                problems.append(f"symbols must not repeat, was {', '.join(repeated)} more than once")
        elif not 1 <= self.symbol_count <= len(CASH_SYMBOLS):
            problems.append(f"symbol_count must be between 1 and {len(CASH_SYMBOLS)}, was {self.symbol_count}")
        if self.future_underlying is not None and self.future_underlying not in self.cash_symbols:
            problems.append(
                f"future_underlying must be one of the day's symbols ({', '.join(self.cash_symbols)}) or None, "
                f"was {self.future_underlying!r}"
            )
        if not 1_000 <= self.ticks_target <= 50_000_000:
            problems.append(f"ticks_target must be between 1000 and 50000000, was {self.ticks_target}")
        kinds = tuple(PatternKind)
        bad = [pattern for pattern in self.patterns if pattern not in kinds]
        if bad:
            problems.append(f"patterns must be among {', '.join(kinds)}, was {', '.join(map(str, bad))}")
        elif len(set(self.patterns)) != len(self.patterns):
            problems.append(f"patterns must not repeat, was {', '.join(self.patterns)}")
        if PatternKind.PAIR_SPREAD in self.patterns and self.future_underlying is None:
            problems.append("patterns include pair_spread, which needs a future_underlying, was None")
        room = SESSION_SECONDS - EPISODE_OPEN_MARGIN_S - EPISODE_CLOSE_MARGIN_S
        per_round = sum(_max_slot_seconds(PatternKind(p)) + EPISODE_GAP_S for p in self.patterns if p in kinds)
        most = room // per_round if per_round else 0
        if self.episodes_per_kind < 0 or (per_round and self.episodes_per_kind > most):
            problems.append(
                f"episodes_per_kind must be between 0 and {most} (the session fits no more episodes "
                f"of {len(self.patterns)} kinds without overlap), was {self.episodes_per_kind}"
            )
        return problems

    @property
    def cash_symbols(self) -> tuple[str, ...]:
        """The cash equities of the day, in the order their ticks break timestamp ties."""
        return self.symbols or CASH_SYMBOLS[: self.symbol_count]


@dataclass(frozen=True, slots=True)
class SyntheticDay:
    """One generated day: canonical ticks (sorted by ``ts_ns``, then instrument), labels, instruments."""

    config: MarketConfig
    ticks: pa.Table
    labels: pa.Table
    instruments: list[Instrument]


class SampleDayFiles(msgspec.Struct, frozen=True, kw_only=True):
    """Where :func:`write_sample_day` put the day, and how much it holds."""

    ticks_path: Path
    labels_path: Path
    instruments_path: Path
    tick_count: int
    label_count: int
    instrument_count: int


LABEL_SCHEMA: Final = pa.schema(
    [
        pa.field("start_ns", pa.int64(), nullable=False),
        pa.field("end_ns", pa.int64(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("direction", pa.int8(), nullable=False),
        pa.field("magnitude", pa.float64(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
    ]
)
"""The labels table. ``magnitude`` is the planted move in basis points (log), the peak spread z for
pair_spread, or the planted distance from the session VWAP in basis points (log) for vwap_deviation.
``detail`` is ``;``-separated ``key=value`` facts (mean_reversion ``peak_ns``; book_imbalance ``queue_ratio``,
``move_end_ns``; breakout ``break_ns``, ``range_low``, ``range_high``; vwap_deviation ``hold_ns``, when the
deviation is reached, ``vwap``, the approximate session VWAP then, and ``start_bps``, the price's signed
distance from it at the start), or for pair_spread the cash leg's symbol. ``direction`` is the planted move's
sign: for mean_reversion, the excursion's; for vwap_deviation, the deviation's (+1: above the VWAP). A label
spans the episode, or for book_imbalance its imbalance and for vwap_deviation its ramp and hold."""

SYNTHETIC_TICK_SCHEMA: Final = pa.schema([*TICK_SCHEMA, *(pa.field(name, depth_type(name)) for name in DEPTH_COLUMNS)])
"""The canonical layout with all 30 depth columns, as :attr:`SyntheticDay.ticks` holds it."""

FILE_TICK_SCHEMA: Final = pa.schema(
    [pa.field("timestamp", pa.timestamp("ns", tz="UTC"), nullable=False), *list(SYNTHETIC_TICK_SCHEMA)[1:]]
)
"""``ticks.parquet``: the tick file layout of :mod:`.schema`, ``timestamp`` in place of ``ts_ns``."""


# -- public API --------------------------------------------------------------------------------------------


def generate_market(config: MarketConfig) -> SyntheticDay:
    """Build the day that ``config`` describes; the same config always gives equal tables."""
    open_ns = session_open_ns(config.trading_date)
    listings = [_LISTING_BY_SYMBOL[symbol] for symbol in config.cash_symbols]
    weights = [listing.liquidity for listing in listings]
    if config.future_underlying is not None:
        weights.append(_FUTURE_LIQUIDITY)
    counts = _split(config.ticks_target, weights)
    kinds = [PatternKind(p) for p in config.patterns]

    paths: list[_Path] = []
    labels: list[_Label] = []
    instruments: list[Instrument] = []
    underlying: tuple[_Listing, _Weather, Floats, Floats, list[_Episode]] | None = None
    for listing, count in zip(listings, counts[: len(listings)], strict=True):
        is_underlying = listing.symbol == config.future_underlying
        path, weather, episodes = _cash_day(config, listing, count, kinds, with_pair=is_underlying)
        paths.append(path)
        labels += _labels(listing.symbol, episodes, path, open_ns)
        instruments.append(
            Instrument(
                instrument_token=make_token(listing.exchange_token, Segment.NSE),
                exchange_token=listing.exchange_token,
                tradingsymbol=listing.symbol,
                name=listing.name,
                last_price=float(path.ltp[-1]),
                tick_size=TICK_SIZE,
                lot_size=1,
                instrument_type="EQ",
                segment="NSE",
                exchange="NSE",
            )
        )
        if is_underlying:
            underlying = (listing, weather, path.seconds, path.log_price, episodes)
    if underlying is not None:
        listing, weather, cash_seconds, cash_log_price, episodes = underlying
        future = _future_instrument(listing, config.trading_date)
        pair = [episode for episode in episodes if episode.kind is PatternKind.PAIR_SPREAD]
        carry = CARRY_RATE * ((future.expiry or config.trading_date) - config.trading_date).days / 365
        path = _future_day(config, future, counts[-1], weather, cash_seconds, cash_log_price, carry, pair)
        paths.append(path)
        labels += _labels(future.tradingsymbol, pair, path, open_ns, pair_leg=listing.symbol)
        instruments.append(msgspec.structs.replace(future, last_price=float(path.ltp[-1])))

    venues = [instrument.exchange for instrument in instruments]
    symbols = [instrument.tradingsymbol for instrument in instruments]
    return SyntheticDay(
        config=config,
        ticks=_tick_table(paths, symbols, venues, open_ns),
        labels=_label_table(labels),
        instruments=instruments,
    )


def write_sample_day(directory: Path, config: MarketConfig | None = None) -> SampleDayFiles:
    """Generate a day and write ``ticks.parquet``, ``labels.parquet`` and ``instruments.csv`` into ``directory``.

    Each file is written under a temporary name and renamed into place, so a reader never sees half a file.
    """
    day = generate_market(config or MarketConfig())
    directory.mkdir(parents=True, exist_ok=True)
    ticks_path = directory / "ticks.parquet"
    labels_path = directory / "labels.parquet"
    instruments_path = directory / "instruments.csv"
    file_ticks = day.ticks.set_column(0, FILE_TICK_SCHEMA.field(0), day.ticks.column(0).cast(pa.timestamp("ns", "UTC")))
    _write_parquet(file_ticks.cast(FILE_TICK_SCHEMA), ticks_path)
    _write_parquet(day.labels, labels_path)
    staging = instruments_path.with_name(instruments_path.name + ".tmp")
    write_instruments(staging, day.instruments)
    os.replace(staging, instruments_path)
    return SampleDayFiles(
        ticks_path=ticks_path,
        labels_path=labels_path,
        instruments_path=instruments_path,
        tick_count=day.ticks.num_rows,
        label_count=day.labels.num_rows,
        instrument_count=len(day.instruments),
    )


def cash_instruments() -> list[Instrument]:
    """Every cash equity the synthetic market knows, priced at its listing price: the instrument list services
    fall back on when none is configured."""
    return [
        Instrument(
            instrument_token=make_token(listing.exchange_token, Segment.NSE),
            exchange_token=listing.exchange_token,
            tradingsymbol=listing.symbol,
            name=listing.name,
            last_price=listing.price,
            tick_size=TICK_SIZE,
        )
        for listing in _CASH_LISTINGS
    ]


def session_open_ns(trading_date: date) -> int:
    """09:15 IST of ``trading_date`` in nanoseconds since the epoch."""
    return int(datetime.combine(trading_date, SESSION_OPEN, tzinfo=IST).timestamp()) * _NANOS


NSE_TUESDAY_EXPIRY_FROM: Final = date(2025, 9, 1)
"""NSE moved the monthly expiry of equity derivatives from the last Thursday to the last Tuesday then."""


def monthly_expiry(trading_date: date) -> date:
    """The near-month future's expiry: the month's last expiry day, or next month's once that has passed."""
    year, month = trading_date.year, trading_date.month
    expiry = _last_expiry_day(year, month)
    if trading_date > expiry:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        expiry = _last_expiry_day(year, month)
    return expiry


def _last_expiry_day(year: int, month: int) -> date:
    last = date(year, month, calendar.monthrange(year, month)[1])
    weekday = calendar.TUESDAY if last >= NSE_TUESDAY_EXPIRY_FROM else calendar.THURSDAY
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _future_instrument(listing: _Listing, trading_date: date) -> Instrument:
    expiry = monthly_expiry(trading_date)
    token = FUTURE_EXCHANGE_TOKEN_BASE + CASH_SYMBOLS.index(listing.symbol)
    return Instrument(
        instrument_token=make_token(token, Segment.NFO),
        exchange_token=token,
        tradingsymbol=f"{listing.symbol}{expiry:%y}{expiry:%b}FUT".upper(),
        name=listing.symbol,
        expiry=expiry,
        tick_size=TICK_SIZE,
        lot_size=FUTURE_LOT_SIZE,
        instrument_type="FUT",
        segment="NFO-FUT",
        exchange="NFO",
    )


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split in proportion to ``weights``, largest remainders first, summing exactly to ``total``."""
    shares = np.asarray(weights, dtype=np.float64) * total / sum(weights)
    counts = np.floor(shares).astype(np.int64)
    order = np.argsort(-(shares - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    return [int(count) for count in counts]


# -- one symbol's day ----------------------------------------------------------------------------------------


class _Weather(NamedTuple):
    """What a symbol and its future share: base volatility (log per root second), per-second volatility, tick rate."""

    sigma: float
    volatility: Floats
    activity: Floats


@dataclass(slots=True)
class _Context:
    """Per-second paths of one symbol's day; index ``s`` covers ``[s, s + 1)`` seconds after the open.

    ``offset`` (the planted moves, in log price) holds values at whole seconds, so it is one longer.
    """

    spread_class: npt.NDArray[np.int64]
    volatility: Floats
    damping: Floats
    intensity: Floats
    quantity: Floats
    bias: Floats
    imbalance: Floats
    offset: Floats

    @classmethod
    def start(cls, weather: _Weather) -> _Context:
        """A context with the symbol's volatility and activity and nothing planted yet."""
        seconds = SESSION_SECONDS
        return cls(
            spread_class=np.searchsorted(_SPREAD_STRESS, weather.volatility / weather.sigma).astype(np.int64),
            volatility=weather.volatility,
            damping=np.ones(seconds),
            intensity=weather.activity.copy(),
            quantity=np.ones(seconds),
            bias=np.zeros(seconds),
            imbalance=np.zeros(seconds),
            offset=np.zeros(seconds + 1),
        )


@dataclass(frozen=True, slots=True)
class _Episode:
    """One planted pattern. ``first`` and ``second`` are phase lengths in seconds: the burst (and nothing);
    the push and the decay's time constant; the imbalance and the follow-through; the consolidation and the
    break; the basis's rise and its decay's time constant; the VWAP deviation's ramp (and its return) and
    hold. ``strength`` is in local sigmas (z for the pair, basis points for the VWAP deviation). ``vwap`` and
    ``lead`` (log, signed) are the VWAP deviation's approximate VWAP at the hold and distance from it at the
    start."""

    kind: PatternKind
    direction: int
    first: int
    second: int
    strength: float
    queue_ratio: float
    start: int = 0
    move: float = 0.0
    vwap: float = 0.0
    lead: float = 0.0

    @property
    def slot(self) -> int:
        return _slot_seconds(self.kind, self.first, self.second)


class _Scales(NamedTuple):
    """Typical sizes in units (shares, or lots for a future): one trade, one queue, one order."""

    trade: float
    queue: float
    order: float
    lot: int


@dataclass(frozen=True, slots=True)
class _Path:
    """One instrument's ticks in time order: ``seconds`` after the open, the latent ``log_price``, the columns."""

    seconds: Floats
    log_price: Floats
    ts_ns: Ints
    ltp: Floats
    ltq: Ints
    volume: Ints
    depth: dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]]

    def column(self, name: str) -> npt.NDArray[np.float64] | npt.NDArray[np.int64]:
        """A canonical column's values: ltp, ltq, volume or a depth column."""
        if name == "ltp":
            return self.ltp
        if name == "ltq":
            return self.ltq
        if name == "volume":
            return self.volume
        return self.depth[name]


class _Label(NamedTuple):
    start_ns: int
    end_ns: int
    symbol: str
    kind: str
    direction: int
    magnitude: float
    detail: str


def _generators(seed: int, exchange_token: int, count: int) -> list[np.random.Generator]:
    """Independent generators for one instrument, keyed on its token so other symbols never shift its draws."""
    children = np.random.SeedSequence(seed, spawn_key=(exchange_token,)).spawn(count)
    return [np.random.default_rng(child) for child in children]


def _cash_day(
    config: MarketConfig, listing: _Listing, count: int, kinds: list[PatternKind], *, with_pair: bool
) -> tuple[_Path, _Weather, list[_Episode]]:
    schedule_rng, regime_rng, price_rng, book_rng = _generators(config.seed, listing.exchange_token, 4)
    wanted = [kind for kind in kinds if with_pair or kind is not PatternKind.PAIR_SPREAD]
    episodes = _schedule(schedule_rng, wanted, config.episodes_per_kind)
    regime = _regimes(regime_rng)
    seconds_mid = _GRID[:-1] + 0.5
    close_in = SESSION_SECONDS - seconds_mid
    intraday_volatility = 0.85 + 0.5 * np.exp(-seconds_mid / 1_200.0) + 0.2 * np.exp(-close_in / 1_200.0)
    sigma = listing.daily_volatility / math.sqrt(SESSION_SECONDS)
    weather = _Weather(
        sigma=sigma,
        volatility=sigma * _REGIME_VOLATILITY[regime] * intraday_volatility,
        activity=_u_shape() * np.sqrt(_REGIME_VOLATILITY[regime]),
    )
    context = _Context.start(weather)

    planted = [_plant(context, episode, sigma) for episode in episodes]
    _jumps(schedule_rng, context, planted, sigma)

    seconds = _arrivals(price_rng, context.intensity, count)
    variance = np.concatenate(([0.0], np.cumsum((context.volatility * context.damping) ** 2)))
    step_variance = np.diff(np.interp(seconds, _GRID, variance), prepend=0.0)
    noise = np.cumsum(np.sqrt(np.maximum(step_variance, 0.0)) * price_rng.standard_normal(count))
    for episode in planted:
        if episode.kind is PatternKind.MEAN_REVERSION:
            _anchor(noise, seconds, episode)
    log_price = math.log(listing.price) + noise + np.interp(seconds, _GRID, context.offset)
    log_price, planted = _plant_vwap_deviations(context, seconds, log_price, planted)
    scales = _Scales(
        trade=_TRADE_NOTIONAL / listing.price,
        queue=_QUEUE_NOTIONAL / listing.price,
        order=_ORDER_NOTIONAL / listing.price,
        lot=1,
    )
    return _book(book_rng, context, seconds, log_price, scales), weather, planted


def _future_day(
    config: MarketConfig,
    future: Instrument,
    count: int,
    weather: _Weather,
    cash_seconds: Floats,
    cash_log_price: Floats,
    carry: float,
    episodes: list[_Episode],
) -> _Path:
    """The future: the cash leg's latent price, carried, times an OU basis with the pair episodes planted."""
    price_rng, book_rng = _generators(config.seed, future.exchange_token, 2)
    context = _Context.start(weather)
    kernel_length = int(8 * _PAIR_SPREAD_TAU_S)
    decay = math.exp(-1.0 / _PAIR_SPREAD_TAU_S)
    kernel = decay ** np.arange(kernel_length) * _PAIR_SPREAD_SD * math.sqrt(1.0 - decay**2)
    shocks = price_rng.standard_normal(SESSION_SECONDS + kernel_length)
    basis = np.convolve(shocks, kernel, mode="valid")
    for episode in episodes:
        amplitude = episode.direction * episode.strength * _PAIR_SPREAD_SD
        _excursion(basis, episode.start, episode.first, episode.second, amplitude)
        context.intensity[episode.start : episode.start + episode.first + episode.second] *= 2.0
    seconds = _arrivals(price_rng, context.intensity, count)
    log_price = np.interp(seconds, cash_seconds, cash_log_price) + math.log1p(carry) + np.interp(seconds, _GRID, basis)
    lot_value = math.exp(log_price[0]) * FUTURE_LOT_SIZE
    scales = _Scales(
        trade=_FUTURE_TRADE_LOTS,
        queue=_FUTURE_QUEUE_NOTIONAL / lot_value,
        order=_FUTURE_TRADE_LOTS,
        lot=FUTURE_LOT_SIZE,
    )
    return _book(book_rng, context, seconds, log_price, scales)


def _u_shape() -> Floats:
    """Relative tick rate over the session: three times midday at the open, busy again into the close."""
    seconds = _GRID[:-1] + 0.5
    close_in = SESSION_SECONDS - seconds
    lunch = np.exp(-(((seconds - 12_600.0) / 3_600.0) ** 2))
    shape: Floats = 1.0 + 2.0 * np.exp(-seconds / 1_500.0) + 1.3 * np.exp(-close_in / 1_800.0) - 0.15 * lunch
    return shape


def _regimes(rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """The volatility regime of every second: a Markov chain walked once per regime change, not per second."""
    states: list[int] = []
    lengths: list[int] = []
    state = int(rng.choice(3, p=_REGIME_AT_OPEN))
    covered = 0
    while covered < SESSION_SECONDS:
        length = max(60, round(rng.exponential(_REGIME_DWELL_S[state])))
        states.append(state)
        lengths.append(length)
        covered += length
        state = int(rng.choice(3, p=_REGIME_NEXT[state]))
    regime: npt.NDArray[np.int64] = np.repeat(np.asarray(states, dtype=np.int64), lengths)[:SESSION_SECONDS]
    return regime


def _schedule(rng: np.random.Generator, kinds: list[PatternKind], per_kind: int) -> list[_Episode]:
    """Draw the episodes and place them at random, in random order, with no two closer than the gap."""
    drafts: list[_Episode] = []
    for kind in kinds:
        (first_low, first_high), (second_low, second_high), (weak, strong) = _PHASES[kind]
        for _ in range(per_kind):
            drafts.append(
                _Episode(
                    kind=kind,
                    direction=1 if rng.random() < 0.5 else -1,
                    first=int(rng.integers(first_low, first_high + 1)),
                    second=int(rng.integers(second_low, second_high + 1)),
                    strength=float(rng.uniform(weak, strong)),
                    queue_ratio=float(rng.uniform(4.0, 8.0)),
                )
            )
    if not drafts:
        return []
    drafts = [drafts[int(i)] for i in rng.permutation(len(drafts))]
    earliest = EPISODE_OPEN_MARGIN_S
    latest = SESSION_SECONDS - EPISODE_CLOSE_MARGIN_S
    slack = latest - earliest - sum(draft.slot + EPISODE_GAP_S for draft in drafts)
    if slack < 0:
        raise ConfigurationError(f"episodes need {-slack} s more than the session has, was {len(drafts)} episodes")
    offsets = np.sort(rng.integers(0, slack + 1, size=len(drafts)))
    placed: list[_Episode] = []
    used = 0
    for draft, offset in zip(drafts, offsets, strict=True):
        placed.append(replace(draft, start=earliest + int(offset) + used))
        used += draft.slot + EPISODE_GAP_S
    return placed


def _ramp(offset: Floats, start: int, length: int, move: float) -> None:
    """A straight move of ``move`` (log) over ``[start, start + length]`` that stays afterwards."""
    offset[start : start + length + 1] += move * np.linspace(0.0, 1.0, length + 1)
    offset[start + length + 1 :] += move


def _excursion(path: Floats, start: int, push: int, tau: int, amplitude: float) -> None:
    """A move to ``amplitude`` over ``push`` seconds, then an exponential decay that ends at 0 after 4 tau."""
    peak = start + push
    path[start : peak + 1] += amplitude * np.linspace(0.0, 1.0, push + 1)
    elapsed = np.arange(1, 4 * tau + 1, dtype=np.float64)
    floor = math.exp(-4.0)
    path[peak + 1 : peak + 4 * tau + 1] += amplitude * (np.exp(-elapsed / tau) - floor) / (1.0 - floor)


def _anchor(noise: Floats, seconds: Floats, episode: _Episode) -> None:
    """Pull the random walk back to its level at the episode's start while the excursion decays.

    Without this the walk's own wandering over the window (about one sigma) would leave the price short of
    "back where it was"; with it, the latent price at the end is the start's, and the walk goes on from there.
    """
    peak = episode.start + episode.first
    end = peak + 4 * episode.second
    start_index, peak_index, end_index = (int(i) for i in np.searchsorted(seconds, [episode.start, peak, end]))
    if peak_index >= end_index:
        return
    base = float(noise[start_index - 1]) if start_index > 0 else 0.0
    floor = math.exp(-4.0)
    pull = 1.0 - (np.exp(-(seconds[peak_index:end_index] - peak) / episode.second) - floor) / (1.0 - floor)
    settled = float(noise[end_index - 1]) - base
    noise[peak_index:end_index] -= (noise[peak_index:end_index] - base) * pull
    noise[end_index:] -= settled


def _plant(context: _Context, episode: _Episode, sigma: float) -> _Episode:
    """Write one episode into the symbol's per-second paths; returns it with its move (log) filled in."""
    start, first, second, direction = episode.start, episode.first, episode.second, episode.direction
    if episode.kind is PatternKind.PAIR_SPREAD:
        return replace(episode, move=episode.strength)
    if episode.kind is PatternKind.VWAP_DEVIATION:
        return episode  # sized against the VWAP once the rest of the price is known: _plant_vwap_deviations
    local = max(sigma, float(context.volatility[start : start + episode.slot].max()))
    if episode.kind is PatternKind.MOMENTUM_BURST:
        move = direction * episode.strength * local * math.sqrt(first)
        _ramp(context.offset, start, first, move)
        context.intensity[start : start + first] *= _BURST_INTENSITY
        context.quantity[start : start + first] *= 2.0
        context.bias[start : start + first] += 0.25 * direction
    elif episode.kind is PatternKind.MEAN_REVERSION:
        move = direction * episode.strength * local * math.sqrt(episode.slot)
        _excursion(context.offset, start, first, second, move)
        context.intensity[start : start + first] *= 1.5
        context.bias[start : start + first] += 0.2 * direction
    elif episode.kind is PatternKind.BOOK_IMBALANCE:
        move = direction * episode.strength * local * math.sqrt(second)
        context.imbalance[start : start + first] = direction * episode.queue_ratio
        context.intensity[start : start + first] *= 1.5
        _ramp(context.offset, start + first // 2, first - first // 2 + second, move)
    else:  # breakout: a quiet range, then a move out of it with volume
        breaks = start + first
        move = direction * episode.strength * local * math.sqrt(second)
        context.damping[start:breaks] = _CONSOLIDATION_DAMPING
        context.intensity[start:breaks] *= 0.7
        _ramp(context.offset, breaks, second, move)
        context.intensity[breaks : breaks + second] *= _BURST_INTENSITY
        context.quantity[breaks : breaks + second] *= 2.5
        context.bias[breaks : breaks + second] += 0.25 * direction
    return replace(episode, move=move)


def _session_vwap(grid_log_price: Floats, weight: Floats) -> Floats:
    """The log session VWAP at each whole second, from a latent log price there and each second's expected
    traded quantity (the second's price taken as the mean of its ends)."""
    price = np.exp(grid_log_price)
    traded = np.cumsum(weight * 0.5 * (price[:-1] + price[1:])) / np.cumsum(weight)
    vwap: Floats = np.log(np.concatenate((price[:1], traded)))
    return vwap


def _ramp_up(start: int, length: int) -> Floats:
    """0 until ``start``, then straight up to 1 over ``length`` seconds and 1 afterwards, on the whole-second grid."""
    shape = np.zeros(SESSION_SECONDS + 1)
    shape[start : start + length + 1] = np.linspace(0.0, 1.0, length + 1)
    shape[start + length + 1 :] = 1.0
    return shape


def _plant_vwap_deviations(
    context: _Context, seconds: Floats, log_price: Floats, episodes: list[_Episode]
) -> tuple[Floats, list[_Episode]]:
    """Move the price off its session VWAP by each VWAP deviation's planted size; returns the price and the
    episodes with direction, move, VWAP and lead filled in.

    An episode ramps the price to its deviation, holds the offset, then brings the price back to the VWAP
    over another ramp and leaves it there (the price level shifts, as after a burst). The VWAP is that of the
    latent price on the one-second grid, weighted by each second's expected traded quantity; the offsets are
    refined a few times, since moving the price moves the VWAP too. Episodes are planted in time order, each
    on top of the ones before it (a later one never changes an earlier one's VWAP).
    """
    planned = sorted((e for e in episodes if e.kind is PatternKind.VWAP_DEVIATION), key=lambda e: e.start)
    if not planned:
        return log_price, episodes
    weight = context.intensity * context.quantity
    latent = np.interp(_GRID, seconds, log_price)
    offset = np.zeros(SESSION_SECONDS + 1)
    settled: dict[int, _Episode] = {}
    for episode in planned:
        start, hold = episode.start, episode.start + episode.first
        back, end = hold + episode.second, episode.start + episode.slot
        leave = _ramp_up(back, episode.first)
        away = _ramp_up(start, episode.first) - leave
        current = latent + offset
        vwap = _session_vwap(current, weight)
        lead = float(current[start] - vwap[start])
        size = episode.strength * 1e-4
        direction = -int(np.sign(lead)) if abs(lead) > _VWAP_CROSSING * size else episode.direction
        target = direction * size
        amplitude = target - float(current[hold] - vwap[hold])
        for _ in range(_VWAP_REFINEMENTS):
            vwap = _session_vwap(current + amplitude * away, weight)
            amplitude += target - float(current[hold] + amplitude - vwap[hold])
        at_hold = float(vwap[hold])
        shift = 0.0
        for _ in range(_VWAP_REFINEMENTS):
            vwap = _session_vwap(current + amplitude * away + shift * leave, weight)
            shift -= float(current[end] + shift - vwap[end])
        offset += amplitude * away + shift * leave
        settled[start] = replace(episode, direction=direction, move=target, vwap=math.exp(at_hold), lead=lead)
    shifted: Floats = log_price + np.interp(seconds, _GRID, offset)
    return shifted, [settled.get(e.start, e) if e.kind is PatternKind.VWAP_DEVIATION else e for e in episodes]


def _jumps(rng: np.random.Generator, context: _Context, episodes: list[_Episode], sigma: float) -> None:
    """A few unlabelled price jumps, kept out of every episode so they never blur a label."""
    count = int(rng.poisson(_JUMPS_PER_DAY))
    when = rng.integers(60, SESSION_SECONDS - 60, size=count)
    size = rng.choice([-1.0, 1.0], size=count) * rng.uniform(10.0, 20.0, size=count) * sigma * math.sqrt(60.0)
    for second, jump in zip(when, size, strict=True):
        clear = all(
            not episode.start - EPISODE_GAP_S <= second < episode.start + episode.slot + EPISODE_GAP_S
            for episode in episodes
        )
        if clear:
            context.offset[int(second) :] += jump


def _arrivals(rng: np.random.Generator, intensity: Floats, count: int) -> Floats:
    """``count`` arrival times (seconds after the open, ascending) of a Poisson process with this intensity.

    Given its count, a Poisson process's points are i.i.d. with density proportional to the intensity, and
    normalised cumulative exponential gaps are sorted uniforms, so inverting the integrated intensity at them
    needs no sort.
    """
    integrated = np.concatenate(([0.0], np.cumsum(intensity)))
    limit = float(np.interp(_LAST_ARRIVAL_S, _GRID, integrated))
    gaps = np.cumsum(rng.standard_exponential(count + 1))
    targets = gaps[:-1] / gaps[-1] * limit
    seconds: Floats = np.interp(targets, integrated, _GRID)
    return seconds


def _book(rng: np.random.Generator, context: _Context, seconds: Floats, log_price: Floats, scales: _Scales) -> _Path:
    """Quotes, depth and trades around the latent price at each tick."""
    count = seconds.size
    second = np.minimum(seconds.astype(np.int64), SESSION_SECONDS - 1)
    in_ticks = np.exp(log_price) * TICKS_PER_RUPEE
    cdf = _SPREAD_CDF[context.spread_class[second]]
    draw = rng.random(count)
    spread = 1 + (draw > cdf[:, 0]).astype(np.int64) + (draw > cdf[:, 1]).astype(np.int64)
    bid = np.maximum(np.rint(in_ticks - spread / 2.0).astype(np.int64), 2 * DEPTH_LEVELS)
    ask = bid + spread

    gaps = 1 + (rng.random((2, DEPTH_LEVELS - 1, count)) < _LEVEL_GAP_PROBABILITY).astype(np.int64)
    depth_from_best = np.concatenate((np.zeros((2, 1, count), dtype=np.int64), np.cumsum(gaps, axis=1)), axis=1)
    bid_levels = bid - depth_from_best[0]
    ask_levels = ask + depth_from_best[1]

    step = np.diff(log_price, prepend=log_price[0])
    buy_probability = np.clip(0.5 + 0.15 * np.sign(step) + context.bias[second], 0.05, 0.95)
    buy = rng.random(count) < buy_probability
    inside = (spread >= 2) & (rng.random(count) < _INSIDE_TRADE_PROBABILITY)
    between = bid + 1 + np.floor(rng.random(count) * (spread - 1)).astype(np.int64)
    ltp = np.where(inside, between, np.where(buy, ask, bid))
    trade_units = np.ceil(scales.trade * context.quantity[second] * rng.lognormal(0.0, 1.0, count))
    ltq = np.maximum(trade_units, 1).astype(np.int64) * scales.lot

    imbalance = context.imbalance[second]
    bid_factor = np.where(imbalance > 0, imbalance, np.where(imbalance < 0, _THIN_SIDE, 1.0))
    ask_factor = np.where(imbalance < 0, -imbalance, np.where(imbalance > 0, _THIN_SIDE, 1.0))
    queues = scales.queue * _LEVEL_SHAPE * rng.lognormal(0.0, 0.8, (2, DEPTH_LEVELS, count))
    queues[0] *= bid_factor
    queues[1] *= ask_factor
    units = np.maximum(np.ceil(queues), 1).astype(np.int64)
    orders = np.clip(np.rint(units / scales.order * rng.lognormal(0.0, 0.35, units.shape)), 1, units)

    depth: dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]] = {}
    for side, levels in enumerate((bid_levels, ask_levels)):
        name = ("bid", "ask")[side]
        for level in range(DEPTH_LEVELS):
            depth[depth_column(name, "price", level + 1)] = levels[level] / TICKS_PER_RUPEE
            depth[depth_column(name, "qty", level + 1)] = units[side, level] * scales.lot
            depth[depth_column(name, "orders", level + 1)] = orders[side, level].astype(np.int64)
    return _Path(
        seconds=seconds,
        log_price=log_price,
        ts_ns=_nanoseconds(seconds),
        ltp=ltp / TICKS_PER_RUPEE,
        ltq=ltq,
        volume=np.cumsum(ltq),
        depth=depth,
    )


def _nanoseconds(seconds: Floats) -> Ints:
    """Offsets in whole nanoseconds, nudged apart where two arrivals round to the same one."""
    offsets = np.floor(seconds * _NANOS).astype(np.int64)
    ramp = np.arange(offsets.size, dtype=np.int64)
    strictly: Ints = np.maximum.accumulate(offsets - ramp) + ramp
    return strictly


# -- labels and tables -----------------------------------------------------------------------------------------


def _labels(symbol: str, episodes: list[_Episode], path: _Path, open_ns: int, pair_leg: str = "") -> list[_Label]:
    def at(second: int) -> int:
        return open_ns + second * _NANOS

    labels: list[_Label] = []
    for episode in episodes:
        if (episode.kind is PatternKind.PAIR_SPREAD) != bool(pair_leg):
            continue
        start, first, second = episode.start, episode.first, episode.second
        if episode.kind is PatternKind.BOOK_IMBALANCE:
            end = start + first
        elif episode.kind is PatternKind.VWAP_DEVIATION:
            end = start + first + second
        else:
            end = start + episode.slot
        magnitude = abs(episode.move) if pair_leg else abs(episode.move) * 1e4
        if episode.kind is PatternKind.MEAN_REVERSION:
            detail = f"peak_ns={at(start + first)}"
        elif episode.kind is PatternKind.BOOK_IMBALANCE:
            detail = f"queue_ratio={episode.queue_ratio:.2f};move_end_ns={at(start + first + second)}"
        elif episode.kind is PatternKind.BREAKOUT:
            inside = path.ltp[(path.seconds >= start) & (path.seconds < start + first)]
            detail = f"break_ns={at(start + first)}"
            if inside.size:
                detail += f";range_low={inside.min():.2f};range_high={inside.max():.2f}"
        elif episode.kind is PatternKind.PAIR_SPREAD:
            detail = pair_leg
        elif episode.kind is PatternKind.VWAP_DEVIATION:
            detail = f"hold_ns={at(start + first)};vwap={episode.vwap:.4f};start_bps={episode.lead * 1e4:.2f}"
        else:
            detail = ""
        labels.append(
            _Label(at(start), at(end), symbol, str(episode.kind), episode.direction, round(magnitude, 4), detail)
        )
    return labels


def _label_table(labels: list[_Label]) -> pa.Table:
    rows = sorted(labels)
    columns: list[tuple[object, ...]] = list(zip(*rows, strict=True)) if rows else [() for _ in LABEL_SCHEMA]
    return pa.Table.from_arrays(
        [pa.array(column, field.type) for column, field in zip(columns, LABEL_SCHEMA, strict=True)],
        schema=LABEL_SCHEMA,
    )


def _tick_table(paths: list[_Path], symbols: list[str], venues: list[str], open_ns: int) -> pa.Table:
    """All instruments' ticks in one table, by time; a stable sort keeps instrument order among equal times."""
    instrument = np.concatenate([np.full(path.ts_ns.size, index, dtype=np.int32) for index, path in enumerate(paths)])
    ts_ns = np.concatenate([path.ts_ns for path in paths]) + open_ns
    order = np.argsort(ts_ns, kind="stable")
    seq = np.concatenate([np.arange(1, path.ts_ns.size + 1, dtype=np.int64) for path in paths])
    which = pa.array(instrument[order])

    def gather(name: str) -> npt.NDArray[np.float64] | npt.NDArray[np.int64]:
        values: npt.NDArray[np.float64] | npt.NDArray[np.int64] = np.concatenate([path.column(name) for path in paths])
        return values[order]

    depth = {name: gather(name) for name in DEPTH_COLUMNS}
    columns = {
        "ts_ns": ts_ns[order],
        "symbol": pa.array(symbols, pa.string()).take(which),
        "venue": pa.array(venues, pa.string()).take(which),
        "seq": seq[order],
        "ltp": gather("ltp"),
        "ltq": gather("ltq"),
        "volume": gather("volume"),
        # The best level is the quote: the same buffers, not copies.
        "bid": depth[depth_column("bid", "price", 1)],
        "ask": depth[depth_column("ask", "price", 1)],
        "bid_qty": depth[depth_column("bid", "qty", 1)],
        "ask_qty": depth[depth_column("ask", "qty", 1)],
        **depth,
    }
    return pa.Table.from_arrays(
        [pa.array(columns[field.name], field.type) for field in SYNTHETIC_TICK_SCHEMA], schema=SYNTHETIC_TICK_SCHEMA
    )


def _write_parquet(table: pa.Table, path: Path) -> None:
    """Write with every option fixed (no timestamps or host facts in the file), so bytes repeat exactly."""
    staging = path.with_name(path.name + ".tmp")
    pq.write_table(
        table,
        staging,
        row_group_size=ROW_GROUP_SIZE,
        version="2.6",
        compression="zstd",
        compression_level=ZSTD_LEVEL,
        use_dictionary=True,
        write_statistics=True,
        data_page_size=1 << 20,
        data_page_version="1.0",
        store_schema=True,
    )
    os.replace(staging, path)
