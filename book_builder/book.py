"""Ticks to books and bars, per symbol, with no I/O: the service feeds it, backtests can too.

Definitions (the tests recompute them independently with pandas):
- traded quantity of a tick: the rise of the cumulative day ``volume`` since the symbol's previous tick
  when both carry one, else its ``ltq``; a tick with a traded quantity > 0 is a trade;
- session VWAP: sum(ltp x traded) / sum(traded) since the symbol's first tick of the IST trading day;
- bars: interval-aligned ``[start, start + interval)`` buckets of a tick's ``ts_ns``; open/high/low/close
  of ``ltp`` over every tick of the bucket, volume = sum of traded, vwap = sum(ltp x traded) / volume;
  a bar closes when a later tick of its symbol, or the market clock (the newest tick of any symbol),
  reaches its end, and at the end of a replay;
- microprice: (ask x bid_qty + bid x ask_qty) / (bid_qty + ask_qty); imbalance: (bid_qty - ask_qty) /
  (bid_qty + ask_qty) on the best level; both None with a one-sided book, and mid, spread and microprice
  are None when the book is crossed (bid >= ask).
A tick whose ``seq`` is not above the symbol's last one is dropped (a duplicate when equal, out of order
when lower); ``seq`` 0 means unsequenced and is always taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from aitrader.contracts import Bar, BookUpdate, Level, Tick
from aitrader.marketdata.schema import IST

BarInterval = Literal["1s", "1m"]
INTERVALS: Final[dict[BarInterval, int]] = {"1s": 1_000_000_000, "1m": 60_000_000_000}
_IST_OFFSET_NS: Final = int(IST.utcoffset(None).total_seconds()) * 1_000_000_000
_DAY_NS: Final = 86_400_000_000_000


def ist_day(ts_ns: int) -> int:
    """The IST calendar day of ``ts_ns``, as days since the epoch (sessions reset at IST midnight)."""
    return (ts_ns + _IST_OFFSET_NS) // _DAY_NS


@dataclass
class _OpenBar:
    start_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: int = 0
    value: float = 0.0
    trade_count: int = 0
    tick_count: int = 1

    def add(self, price: float, traded: int) -> None:
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.tick_count += 1
        if traded > 0:
            self.volume += traded
            self.value += price * traded
            self.trade_count += 1


@dataclass
class _SymbolState:
    venue: str
    last_seq: int = 0
    last_ts_ns: int = 0
    last_volume: int | None = None
    session_day: int = -1
    session_value: float = 0.0
    session_volume: int = 0
    bars: dict[BarInterval, _OpenBar] = field(default_factory=dict)


@dataclass
class BookCounters:
    ticks: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    crossed: int = 0
    late_for_bars: int = 0


class BookBuilder:
    """Per-symbol books, session VWAP and 1 s / 1 min bars from a stream of ticks."""

    def __init__(self, clock_ns: int = 0) -> None:
        self._symbols: dict[str, _SymbolState] = {}
        self.market_clock_ns = clock_ns
        self.counters = BookCounters()

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def resume(self, published: dict[str, BookUpdate]) -> None:
        """Start from the last update published for each symbol before a restart: a tick redelivered after a
        crash between publishing its update and acknowledging it is then dropped as the duplicate it is."""
        for symbol, update in published.items():
            state = self._symbols.setdefault(symbol, _SymbolState(venue=update.venue))
            state.last_seq = max(state.last_seq, update.seq)

    def on_tick(self, tick: Tick, now_ns: int, closed: list[Bar]) -> BookUpdate | None:
        """Apply ``tick``; bars it closes are appended to ``closed``. None when the tick is dropped."""
        state = self._symbols.get(tick.symbol)
        if state is None:
            state = self._symbols[tick.symbol] = _SymbolState(venue=tick.venue)
        if tick.seq and tick.seq <= state.last_seq:
            if tick.seq == state.last_seq:
                self.counters.duplicates += 1
            else:
                self.counters.out_of_order += 1
            return None
        self.counters.ticks += 1
        if tick.seq:
            state.last_seq = tick.seq
        ts_ns = tick.ts_ns
        day = ist_day(ts_ns)
        if day != state.session_day:
            state.session_day = day
            state.session_value = 0.0
            state.session_volume = 0
            state.last_volume = None
        if tick.volume > 0 and state.last_volume is not None:
            traded = tick.volume - state.last_volume if tick.volume > state.last_volume else 0
        else:
            traded = tick.ltq
        if tick.volume > 0:
            state.last_volume = tick.volume
        price = tick.ltp
        if traded > 0:
            state.session_value += price * traded
            state.session_volume += traded
        if ts_ns > state.last_ts_ns:
            state.last_ts_ns = ts_ns
        if ts_ns > self.market_clock_ns:
            self.market_clock_ns = ts_ns
        self._update_bars(tick, state, price, traded, now_ns, closed)
        return self._book_update(tick, state, now_ns)

    def close_due(self, now_ns: int, closed: list[Bar]) -> None:
        """Close every bar that ends at or before the market clock (symbols that have gone quiet)."""
        clock = self.market_clock_ns
        for symbol, state in self._symbols.items():
            for interval, bar in list(state.bars.items()):
                if bar.start_ns + INTERVALS[interval] <= clock:
                    closed.append(_bar(symbol, state.venue, interval, bar, now_ns))
                    del state.bars[interval]

    def end_of_data(self, now_ns: int, closed: list[Bar]) -> None:
        """Close every open bar and forget the sequence numbers: a new replay starts its own."""
        for symbol, state in self._symbols.items():
            for interval, bar in state.bars.items():
                closed.append(_bar(symbol, state.venue, interval, bar, now_ns))
        self._symbols.clear()
        self.market_clock_ns = 0

    def _update_bars(
        self, tick: Tick, state: _SymbolState, price: float, traded: int, now_ns: int, closed: list[Bar]
    ) -> None:
        for interval, length in INTERVALS.items():
            start = tick.ts_ns - tick.ts_ns % length
            bar = state.bars.get(interval)
            if bar is not None:
                if start == bar.start_ns:
                    bar.add(price, traded)
                    continue
                if start < bar.start_ns:
                    if interval == "1s":
                        self.counters.late_for_bars += 1
                    continue
                closed.append(_bar(tick.symbol, state.venue, interval, bar, now_ns))
            opened = _OpenBar(start_ns=start, open=price, high=price, low=price, close=price)
            if traded > 0:
                opened.volume, opened.value, opened.trade_count = traded, price * traded, 1
            state.bars[interval] = opened

    def _book_update(self, tick: Tick, state: _SymbolState, now_ns: int) -> BookUpdate:
        if tick.depth is not None:
            bids, asks = tick.depth.bids, tick.depth.asks
        else:
            bids = (Level(tick.bid, tick.bid_qty),) if tick.bid is not None and tick.bid_qty > 0 else ()
            asks = (Level(tick.ask, tick.ask_qty),) if tick.ask is not None and tick.ask_qty > 0 else ()
        mid = spread = imbalance = microprice = None
        crossed = False
        if bids and asks:
            bid, ask = bids[0], asks[0]
            crossed = bid.price >= ask.price
            total = bid.qty + ask.qty
            if crossed:
                self.counters.crossed += 1
            else:
                mid = (bid.price + ask.price) / 2
                spread = ask.price - bid.price
                if total > 0:
                    imbalance = (bid.qty - ask.qty) / total
                    microprice = (ask.price * bid.qty + bid.price * ask.qty) / total
        vwap = state.session_value / state.session_volume if state.session_volume else None
        return BookUpdate(
            ts_ns=now_ns,
            tick_ts_ns=tick.ts_ns,
            symbol=tick.symbol,
            venue=tick.venue,
            seq=tick.seq,
            bids=bids,
            asks=asks,
            mid=mid,
            spread=spread,
            imbalance=imbalance,
            microprice=microprice,
            vwap=vwap,
            last_price=tick.ltp,
            volume=tick.volume,
            crossed=crossed,
        )


def _bar(symbol: str, venue: str, interval: BarInterval, bar: _OpenBar, now_ns: int) -> Bar:
    return Bar(
        ts_ns=now_ns,
        symbol=symbol,
        venue=venue,
        interval=interval,
        start_ns=bar.start_ns,
        end_ns=bar.start_ns + INTERVALS[interval],
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        volume=bar.volume,
        vwap=bar.value / bar.volume if bar.volume else None,
        trade_count=bar.trade_count,
        tick_count=bar.tick_count,
    )
