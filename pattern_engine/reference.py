"""The detectors in pure Python: the oracle the Rust core is tested against, and the fallback without it.

This module is the specification. ``rust/core/src/engine.rs`` and ``rust/core/src/detectors/`` do the same
arithmetic in the same order, so that both give the same signals bit for bit on the same ticks; change one,
change the other, and the parity tests say whether they still agree.

**The clock.** Each symbol keeps a one-second clock. A tick in a later second first *closes* every second
since the last one (at most :data:`MAX_GAP_S` of them; a longer silence, or a new IST trading day, starts the
symbol over): each closed second records its closing mid and the cumulative quantity traded, and updates the
slow estimates (variance of one-second returns, usual quantity per second, the mean-reversion EWMA, the
rolling range). After the closes, each detector turns those estimates into price *bands* for
the new second. A tick then costs a few comparisons against the bands; the divisions and square roots that
describe a signal run only when one fires. EWMAs start as running means (alpha = 1 / min(n, tau)), so they
need no seed.

**A tick** is checked (universe, prices, quantities, time order: see ``engine.SKIP_REASONS``), updates its
symbol (mid, cumulative quantity, session VWAP), then runs the detectors of ``config.PATTERNS`` in order, then
the pairs that include its symbol, in config order. A detector fires only when its symbol has
``warmup_s`` closed seconds and its cooldown has passed; a signal's score is ``side * min(1, m / (2 t))``
where ``m`` is the size of the move and ``t`` its threshold in the same units, so a signal at its threshold
scores 0.5.

**Mid** is ``(bid + ask) / 2`` when both quotes are there and not crossed, else the last price.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from aitrader.contracts import Tick
from pattern_engine.config import PATTERNS, Detectors, EngineConfig, Pair
from pattern_engine.engine import SKIP_REASONS, Detection, Implementation

NANOS: Final = 1_000_000_000
IST_OFFSET_NS: Final = 19_800 * NANOS
DAY_NS: Final = 86_400 * NANOS
MAX_GAP_S: Final = 3_600
"""A symbol silent for longer than this (or into a new IST day) starts over: its estimates describe another
market by then, and walking the gap second by second would make one tick cost more than it should."""
INF: Final = math.inf
CLIP_SIGMAS: Final = 4.0
"""Variance updates see a return (or deviation) clipped to this many standard deviations of the estimate so far:
a jump or a planted burst would otherwise inflate the estimate for many time constants and blind the
detectors that are scaled by it."""


@dataclass(slots=True, frozen=True)
class TickInput:
    """One tick as the detectors see it; NaN is an absent quote, depth quantities are summed over levels."""

    ts_ns: int
    ltp: float
    ltq: int
    bid: float
    ask: float
    bid_qty: int
    ask_qty: int
    bid_depth_qty: int
    ask_depth_qty: int


def tick_input(tick: Tick) -> TickInput:
    """The detectors' view of a bus tick: depth quantities summed over priced levels, else the best level's."""
    if tick.depth is None:
        bid_depth, ask_depth = tick.bid_qty, tick.ask_qty
    else:
        bid_depth = sum(level.qty for level in tick.depth.bids if level.price > 0.0)
        ask_depth = sum(level.qty for level in tick.depth.asks if level.price > 0.0)
    return TickInput(
        ts_ns=tick.ts_ns,
        ltp=tick.ltp,
        ltq=tick.ltq,
        bid=math.nan if tick.bid is None else tick.bid,
        ask=math.nan if tick.ask is None else tick.ask,
        bid_qty=tick.bid_qty,
        ask_qty=tick.ask_qty,
        bid_depth_qty=bid_depth,
        ask_depth_qty=ask_depth,
    )


def skip_reason(tick: TickInput) -> str | None:
    """Why this tick cannot be used (a price or quantity problem), or None. Time order is the engine's check."""
    if not (math.isfinite(tick.ltp) and tick.ltp > 0.0):
        return "bad_price"
    for quote in (tick.bid, tick.ask):
        if not math.isnan(quote) and not (math.isfinite(quote) and quote >= 0.0):
            return "bad_price"
    if tick.ltq <= 0:
        return "bad_quantity"
    if min(tick.bid_qty, tick.ask_qty, tick.bid_depth_qty, tick.ask_depth_qty) < 0:
        return "bad_quantity"
    return None


def mid_of(tick: TickInput) -> float:
    """``(bid + ask) / 2`` for a two-sided, uncrossed quote; else the last price."""
    if tick.bid > 0.0 and tick.ask > 0.0 and tick.bid < tick.ask:
        return (tick.bid + tick.ask) * 0.5
    return tick.ltp


def _ewma_alpha(count: int, tau: int) -> float:
    """A running mean for the first ``tau`` updates, an EWMA with time constant ``tau`` after."""
    return 1.0 / float(min(count, tau))


def _clipped(value: float, variance: float) -> float:
    """``value`` limited to :data:`CLIP_SIGMAS` standard deviations, so one jump cannot inflate a variance."""
    if variance > 0.0:
        limit = CLIP_SIGMAS * math.sqrt(variance)
        return min(max(value, -limit), limit)
    return value


def _score(side: int, move: float, threshold: float) -> float:
    return float(side) * min(1.0, move / (2.0 * threshold))


def _sign(value: float) -> Literal[1, -1]:
    return 1 if value > 0.0 else -1


def _start_over(state: Any, fresh: Any) -> None:
    """Give ``state`` every field of ``fresh``, a new instance of its class: the way a state starts over in place
    (the engine holds it by reference)."""
    for name in fresh.__dataclass_fields__:
        setattr(state, name, getattr(fresh, name))


class _Ring:
    """The closing mid and cumulative quantity of the last ``capacity`` closed seconds."""

    __slots__ = ("capacity", "head", "mids", "quantities")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.head = 0
        self.mids = [0.0] * capacity
        self.quantities = [0] * capacity

    def push(self, mid: float, quantity: int) -> None:
        self.mids[self.head] = mid
        self.quantities[self.head] = quantity
        self.head = (self.head + 1) % self.capacity

    def back(self, seconds: int) -> int:
        """Index of the second closed ``seconds`` ago (1: the last one); the caller checks there were that many."""
        return (self.head - seconds) % self.capacity


@dataclass(slots=True)
class _Symbol:
    """Everything one symbol's detectors remember; :meth:`reset` starts it over."""

    name: str
    detectors: Detectors
    pairs: list[int]
    ring: _Ring = field(init=False)
    # clock and tick state
    started: bool = False
    day: int = 0
    second: int = 0
    closes: int = 0
    last_ts: int = -1
    mid: float = 0.0
    ltp: float = 0.0
    cum_qty: int = 0
    close_mid: float = 0.0
    close_qty: int = 0
    second_high: float = 0.0
    second_low: float = 0.0
    # slow estimates
    variance: float = 0.0
    returns: int = 0
    qty_rate: float = 0.0
    ema: float = 0.0
    highs: deque[tuple[int, float]] = field(default_factory=deque)
    lows: deque[tuple[int, float]] = field(default_factory=deque)
    vwap_pq: float = 0.0
    vwap_qty: int = 0
    # bands for the current second (NaN/inf: the detector cannot fire this second)
    momentum_sigma: float = 0.0
    momentum_up: float = INF
    momentum_down: float = -INF
    momentum_qty: float = INF
    momentum_base_mid: float = 0.0
    momentum_base_qty: int = 0
    reversion_sd: float = 0.0
    reversion_up: float = INF
    reversion_down: float = -INF
    reversion_rearm_up: float = INF
    reversion_rearm_down: float = -INF
    reversion_qty_cap: float = INF
    reversion_base_qty: int = 0
    reversion_armed: bool = True
    breakout_up: float = INF
    breakout_down: float = -INF
    breakout_high: float = 0.0
    breakout_low: float = 0.0
    breakout_until: int = 0
    imbalance_run: int = 0
    imbalance_fired: bool = False
    vwap_armed: bool = True
    cooldown_until: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        window = max(self.detectors.momentum_burst.window_s, self.detectors.mean_reversion.window_s)
        self.ring = _Ring(window + 1)
        self.cooldown_until = [0] * len(PATTERNS)

    def reset(self) -> None:
        _start_over(self, _Symbol(self.name, self.detectors, self.pairs))


@dataclass(slots=True)
class _PairState:
    config: Pair
    index_a: int
    index_b: int
    started: bool = False
    day: int = 0
    second: int = 0
    closes: int = 0
    ratio: float = 0.0
    mean: float = 0.0
    variance: float = 0.0
    deviations: int = 0
    sd: float = 0.0
    up: float = INF
    down: float = -INF
    rearm_up: float = INF
    rearm_down: float = -INF
    armed: bool = True
    cooldown_until: int = 0

    def reset(self) -> None:
        _start_over(self, _PairState(self.config, self.index_a, self.index_b))


MOMENTUM, REVERSION, IMBALANCE, BREAKOUT, VWAP, PAIR = range(len(PATTERNS))


class ReferenceEngine:
    """The pattern engine in pure Python (see the module docstring for the rules)."""

    def __init__(self, config: EngineConfig) -> None:
        self._config = config
        self._index = {symbol: index for index, symbol in enumerate(config.symbols)}
        pairs_of: list[list[int]] = [[] for _ in config.symbols]
        self._pairs: list[_PairState] = []
        for number, pair in enumerate(config.pairs):
            state = _PairState(pair, self._index[pair.leg_a], self._index[pair.leg_b])
            self._pairs.append(state)
            if pair.enabled:
                pairs_of[state.index_a].append(number)
                pairs_of[state.index_b].append(number)
        self._symbols = [
            _Symbol(symbol, config.detectors_for(symbol), pairs_of[index])
            for index, symbol in enumerate(config.symbols)
        ]
        self._ticks = 0
        self._skipped = dict.fromkeys(SKIP_REASONS, 0)
        self._signals = dict.fromkeys(PATTERNS, 0)

    @property
    def implementation(self) -> Implementation:
        return "python"

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._config.symbols)

    def counters(self) -> dict[str, int]:
        return {
            "ticks": self._ticks,
            **{f"skipped_{reason}": count for reason, count in self._skipped.items()},
            **{f"signals_{pattern}": count for pattern, count in self._signals.items()},
        }

    def on_tick(self, tick: Tick) -> list[Detection]:
        out: list[Detection] = []
        self.process(tick.symbol, tick_input(tick), out)
        return out

    def on_ticks(self, ticks: Iterable[Tick]) -> list[Detection]:
        out: list[Detection] = []
        for tick in ticks:
            self.process(tick.symbol, tick_input(tick), out)
        return out

    def process(self, symbol: str, tick: TickInput, out: list[Detection]) -> None:
        """Feed one tick of ``symbol``; append what fires to ``out``."""
        index = self._index.get(symbol)
        if index is None:
            self._skipped["unknown_symbol"] += 1
            return
        reason = skip_reason(tick)
        state = self._symbols[index]
        if reason is None and tick.ts_ns < state.last_ts:
            reason = "out_of_order"
        if reason is not None:
            self._skipped[reason] += 1
            return
        self._ticks += 1
        mid = mid_of(tick)
        self._advance(state, tick.ts_ns, mid)
        state.last_ts = tick.ts_ns
        state.mid = mid
        state.ltp = tick.ltp
        state.cum_qty += tick.ltq
        state.vwap_pq += tick.ltp * float(tick.ltq)
        state.vwap_qty += tick.ltq

        warm = state.closes >= self._config.warmup_s
        detectors = state.detectors
        if detectors.momentum_burst.enabled:
            self._momentum(state, tick, warm, out)
        if detectors.mean_reversion.enabled:
            self._reversion(state, tick, warm, out)
        if detectors.book_imbalance.enabled:
            self._imbalance(state, tick, warm, out)
        if detectors.breakout.enabled:
            self._breakout(state, tick, warm, out)
        if detectors.vwap_deviation.enabled:
            self._vwap(state, tick, warm, out)
        for number in state.pairs:
            self._pair(self._pairs[number], tick, out)

    # -- the clock ----------------------------------------------------------------------------------------

    def _advance(self, state: _Symbol, ts_ns: int, mid: float) -> None:
        second = ts_ns // NANOS
        day = (ts_ns + IST_OFFSET_NS) // DAY_NS
        if state.started and (day != state.day or second - state.second > MAX_GAP_S):
            state.reset()
        if not state.started:
            state.started = True
            state.day = day
            state.second = second
            state.second_high = mid
            state.second_low = mid
            return
        if second == state.second:
            state.second_high = max(state.second_high, mid)
            state.second_low = min(state.second_low, mid)
            return
        for closing in range(state.second, second):
            self._close(state, closing)
        self._bands(state)
        state.second = second
        state.second_high = mid
        state.second_low = mid

    def _close(self, state: _Symbol, closing: int) -> None:
        """Close second ``closing``: the first call of a catch-up closes the second that had ticks."""
        mid = state.mid
        quantity = state.cum_qty - state.close_qty
        high, low = (state.second_high, state.second_low) if closing == state.second else (mid, mid)
        state.closes += 1
        if state.closes > 1:
            state.returns += 1
            change = _clipped(mid / state.close_mid - 1.0, state.variance)
            state.variance += _ewma_alpha(state.returns, self._config.volatility_tau_s) * (
                change * change - state.variance
            )
        state.qty_rate += _ewma_alpha(state.closes, self._config.volume_tau_s) * (float(quantity) - state.qty_rate)
        reversion = state.detectors.mean_reversion
        if state.closes == 1:
            state.ema = mid
        else:
            state.ema += _ewma_alpha(state.closes, reversion.ewma_tau_s) * (mid - state.ema)
        window = state.detectors.breakout.window_s
        while state.highs and state.highs[-1][1] <= high:
            state.highs.pop()
        state.highs.append((closing, high))
        while state.lows and state.lows[-1][1] >= low:
            state.lows.pop()
        state.lows.append((closing, low))
        while state.highs[0][0] <= closing - window:
            state.highs.popleft()
        while state.lows[0][0] <= closing - window:
            state.lows.popleft()
        state.ring.push(mid, state.cum_qty)
        state.close_mid = mid
        state.close_qty = state.cum_qty

    def _bands(self, state: _Symbol) -> None:
        """Each detector's thresholds for the second that starts now, from the estimates after the closes."""
        detectors = state.detectors
        ring = state.ring
        variance_ok = state.returns > 0 and state.variance > 0.0

        momentum = detectors.momentum_burst
        state.momentum_up, state.momentum_down, state.momentum_qty = INF, -INF, INF
        if variance_ok and state.closes >= momentum.window_s and state.qty_rate > 0.0:
            at = ring.back(momentum.window_s)
            sigma = math.sqrt(state.variance * float(momentum.window_s))
            band = momentum.k * sigma
            base = ring.mids[at]
            state.momentum_sigma = sigma
            state.momentum_base_mid = base
            state.momentum_base_qty = ring.quantities[at]
            state.momentum_up = base * (1.0 + band)
            state.momentum_down = base * (1.0 - band)
            state.momentum_qty = float(ring.quantities[at]) + momentum.volume_surge * state.qty_rate * float(
                momentum.window_s
            )

        reversion = detectors.mean_reversion
        state.reversion_up, state.reversion_down = INF, -INF
        state.reversion_rearm_up, state.reversion_rearm_down = INF, -INF
        # A random walk's distance from its EWMA has variance sigma^2 x tau / 2 (per-second sigma, tau in
        # seconds). Scaling by the return volatility rather than by the distance's own history keeps a long
        # trend from inflating the yardstick and hiding the next overreaction.
        sd = math.sqrt(state.variance * float(reversion.ewma_tau_s) * 0.5) if variance_ok else 0.0
        if sd > 0.0 and state.ema > 0.0:
            state.reversion_sd = sd
            state.reversion_up = state.ema * (1.0 + reversion.z * sd)
            state.reversion_down = state.ema * (1.0 - reversion.z * sd)
            state.reversion_rearm_up = state.ema * (1.0 + reversion.rearm_z * sd)
            state.reversion_rearm_down = state.ema * (1.0 - reversion.rearm_z * sd)
        state.reversion_qty_cap = INF
        if state.closes >= reversion.window_s and state.qty_rate > 0.0:
            at = ring.back(reversion.window_s)
            state.reversion_base_qty = ring.quantities[at]
            state.reversion_qty_cap = float(ring.quantities[at]) + reversion.max_volume_surge * state.qty_rate * float(
                reversion.window_s
            )

        breakout = detectors.breakout
        tight = False
        if variance_ok and state.closes >= breakout.window_s:
            high = state.highs[0][1]
            low = state.lows[0][1]
            extent = high - low
            limit = breakout.max_range_sigmas * math.sqrt(state.variance * float(breakout.window_s))
            tight = extent <= limit * low
        if tight:
            state.breakout_high = high
            state.breakout_low = low
            state.breakout_up = high + breakout.break_fraction * extent
            state.breakout_down = low - breakout.break_fraction * extent
            state.breakout_until = state.closes + breakout.hold_s
        elif state.closes > state.breakout_until:
            state.breakout_up, state.breakout_down = INF, -INF

    # -- detectors ----------------------------------------------------------------------------------------

    def _ready(self, state: _Symbol, pattern: int, ts_ns: int, warm: bool) -> bool:
        return warm and ts_ns >= state.cooldown_until[pattern]

    def _emit(
        self,
        state: _Symbol,
        pattern: int,
        tick: TickInput,
        side: Literal[1, -1],
        score: float,
        features: dict[str, float],
        cooldown_s: int,
        out: list[Detection],
        symbol: str | None = None,
        price: float | None = None,
    ) -> None:
        state.cooldown_until[pattern] = tick.ts_ns + cooldown_s * NANOS
        self._signals[PATTERNS[pattern]] += 1
        out.append(
            Detection(
                symbol=state.name if symbol is None else symbol,
                pattern=PATTERNS[pattern],
                side=side,
                score=score,
                price=tick.ltp if price is None else price,
                tick_ts_ns=tick.ts_ns,
                features=dict(sorted(features.items())),
            )
        )

    def _momentum(self, state: _Symbol, tick: TickInput, warm: bool, out: list[Detection]) -> None:
        mid = state.mid
        if not (mid >= state.momentum_up or mid <= state.momentum_down):
            return
        if float(state.cum_qty) < state.momentum_qty or not self._ready(state, MOMENTUM, tick.ts_ns, warm):
            return
        config = state.detectors.momentum_burst
        change = mid / state.momentum_base_mid - 1.0
        z = change / state.momentum_sigma
        side = _sign(change)
        usual = state.qty_rate * float(config.window_s)
        features = {
            "return_bps": change * 10_000.0,
            "sigma_multiple": z,
            "volume_ratio": float(state.cum_qty - state.momentum_base_qty) / usual,
        }
        self._emit(state, MOMENTUM, tick, side, _score(side, abs(z), config.k), features, config.cooldown_s, out)

    def _reversion(self, state: _Symbol, tick: TickInput, warm: bool, out: list[Detection]) -> None:
        mid = state.mid
        if not state.reversion_armed:
            if state.reversion_rearm_down < mid < state.reversion_rearm_up:
                state.reversion_armed = True
            return
        if not (mid >= state.reversion_up or mid <= state.reversion_down):
            return
        if float(state.cum_qty) > state.reversion_qty_cap or not self._ready(state, REVERSION, tick.ts_ns, warm):
            return
        config = state.detectors.mean_reversion
        deviation = mid / state.ema - 1.0
        z = deviation / state.reversion_sd
        side: Literal[1, -1] = 1 if deviation < 0.0 else -1
        features = {"deviation_bps": deviation * 10_000.0, "z": z}
        if state.reversion_qty_cap < INF:
            usual = state.qty_rate * float(config.window_s)
            features["volume_ratio"] = float(state.cum_qty - state.reversion_base_qty) / usual
        state.reversion_armed = False
        self._emit(state, REVERSION, tick, side, _score(side, abs(z), config.z), features, config.cooldown_s, out)

    def _imbalance(self, state: _Symbol, tick: TickInput, warm: bool, out: list[Detection]) -> None:
        config = state.detectors.book_imbalance
        bids = float(tick.bid_depth_qty)
        asks = float(tick.ask_depth_qty)
        total = bids + asks
        if total > 0.0 and bids - asks >= config.threshold * total:
            state.imbalance_run = state.imbalance_run + 1 if state.imbalance_run > 0 else 1
        elif total > 0.0 and asks - bids >= config.threshold * total:
            state.imbalance_run = state.imbalance_run - 1 if state.imbalance_run < 0 else -1
        else:
            state.imbalance_run = 0
            state.imbalance_fired = False
            return
        if state.imbalance_fired or abs(state.imbalance_run) < config.persist_ticks:
            return
        side: Literal[1, -1] = 1 if state.imbalance_run > 0 else -1
        # The microprice confirms: with the quote two-sided and uncrossed, it leans toward the thin side.
        if not (tick.bid > 0.0 and tick.ask > 0.0 and tick.bid < tick.ask):
            return
        quoted = tick.bid_qty + tick.ask_qty
        if quoted <= 0:
            return
        spread = tick.ask - tick.bid
        microprice = (tick.bid * float(tick.ask_qty) + tick.ask * float(tick.bid_qty)) / float(quoted)
        lean = (microprice - (tick.bid + tick.ask) * 0.5) / spread
        if float(side) * lean < config.microprice_confirm or not self._ready(state, IMBALANCE, tick.ts_ns, warm):
            return
        imbalance = (bids - asks) / total
        features = {"imbalance": imbalance, "microprice_lean": lean, "run_ticks": float(abs(state.imbalance_run))}
        state.imbalance_fired = True
        score = _score(side, abs(imbalance), config.threshold)
        self._emit(state, IMBALANCE, tick, side, score, features, config.cooldown_s, out)

    def _breakout(self, state: _Symbol, tick: TickInput, warm: bool, out: list[Detection]) -> None:
        mid = state.mid
        if mid >= state.breakout_up and mid > state.breakout_high:
            side: Literal[1, -1] = 1
            edge = state.breakout_high
        elif mid <= state.breakout_down and mid < state.breakout_low:
            side = -1
            edge = state.breakout_low
        else:
            return
        if not self._ready(state, BREAKOUT, tick.ts_ns, warm):
            return
        config = state.detectors.breakout
        extent = state.breakout_high - state.breakout_low
        beyond = abs(mid - edge)
        score = _score(side, beyond / extent, config.break_fraction) if extent > 0.0 else float(side)
        features = {
            "breach_bps": beyond / edge * 10_000.0,
            "range_bps": extent / state.breakout_low * 10_000.0,
        }
        state.breakout_up, state.breakout_down, state.breakout_until = INF, -INF, 0
        self._emit(state, BREAKOUT, tick, side, score, features, config.cooldown_s, out)

    def _vwap(self, state: _Symbol, tick: TickInput, warm: bool, out: list[Detection]) -> None:
        config = state.detectors.vwap_deviation
        vwap = state.vwap_pq / float(state.vwap_qty)
        price = tick.ltp
        if not state.vwap_armed:
            if vwap * (1.0 - config.rearm_bps / 10_000.0) < price < vwap * (1.0 + config.rearm_bps / 10_000.0):
                state.vwap_armed = True
            return
        if price >= vwap * (1.0 + config.threshold_bps / 10_000.0):
            side: Literal[1, -1] = -1
        elif price <= vwap * (1.0 - config.threshold_bps / 10_000.0):
            side = 1
        else:
            return
        if not self._ready(state, VWAP, tick.ts_ns, warm):
            return
        deviation_bps = (price / vwap - 1.0) * 10_000.0
        state.vwap_armed = False
        features = {"deviation_bps": deviation_bps, "vwap": vwap}
        score = _score(side, abs(deviation_bps), config.threshold_bps)
        self._emit(state, VWAP, tick, side, score, features, config.cooldown_s, out)

    # -- pairs --------------------------------------------------------------------------------------------

    def _pair(self, pair: _PairState, tick: TickInput, out: list[Detection]) -> None:
        leg_a = self._symbols[pair.index_a]
        leg_b = self._symbols[pair.index_b]
        if not (leg_a.started and leg_b.started):
            return
        config = pair.config
        ratio = leg_a.mid / leg_b.mid
        second = tick.ts_ns // NANOS
        day = (tick.ts_ns + IST_OFFSET_NS) // DAY_NS
        if pair.started and (day != pair.day or second - pair.second > MAX_GAP_S):
            pair.reset()
        if not pair.started:
            pair.started = True
            pair.day = day
            pair.second = second
        elif second > pair.second:
            for _ in range(pair.second, second):
                pair.closes += 1
                if pair.closes == 1:
                    pair.mean = pair.ratio
                else:
                    pair.deviations += 1
                    deviation = _clipped(pair.ratio - pair.mean, pair.variance)
                    pair.variance += _ewma_alpha(pair.deviations, config.tau_s) * (
                        deviation * deviation - pair.variance
                    )
                    pair.mean += _ewma_alpha(pair.closes, config.tau_s) * deviation
            pair.second = second
            pair.up, pair.down, pair.rearm_up, pair.rearm_down = INF, -INF, INF, -INF
            if pair.deviations > 0 and pair.variance > 0.0 and pair.mean > 0.0:
                pair.sd = math.sqrt(pair.variance)
                pair.up = pair.mean + config.z * pair.sd
                pair.down = pair.mean - config.z * pair.sd
                pair.rearm_up = pair.mean + config.rearm_z * pair.sd
                pair.rearm_down = pair.mean - config.rearm_z * pair.sd
        pair.ratio = ratio
        if not pair.armed:
            if pair.rearm_down < ratio < pair.rearm_up:
                pair.armed = True
            return
        if ratio >= pair.up:
            side: Literal[1, -1] = -1
        elif ratio <= pair.down:
            side = 1
        else:
            return
        if pair.closes < self._config.warmup_s or tick.ts_ns < pair.cooldown_until:
            return
        z = (ratio - pair.mean) / pair.sd
        features = {"leg_b_mid": leg_b.mid, "spread_bps": (ratio / pair.mean - 1.0) * 10_000.0, "z": z}
        pair.armed = False
        pair.cooldown_until = tick.ts_ns + config.cooldown_s * NANOS
        self._signals["pair_spread"] += 1
        out.append(
            Detection(
                symbol=config.leg_a,
                pattern="pair_spread",
                side=side,
                score=_score(side, abs(z), config.z),
                price=leg_a.ltp,
                tick_ts_ns=tick.ts_ns,
                features=dict(sorted(features.items())),
            )
        )
