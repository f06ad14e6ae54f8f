//! The pattern engine: per-symbol state, the one-second clock, and the detectors run on every tick.
//!
//! `pattern_engine/reference.py` is the specification; this is the same arithmetic in the same order, so
//! both give the same detections bit for bit (same pattern, side, tick, score and features). See the
//! reference's module docstring for the rules; in short:
//!
//! * **The clock.** Each symbol keeps a one-second clock. A tick in a later second first closes every second
//!   since the last one (at most [`MAX_GAP_S`]; a longer silence, or a new IST day, starts the symbol over),
//!   updating the slow estimates, then each detector turns them into price bands for the new second. A tick
//!   then costs a few comparisons against the bands.
//! * **A tick** is checked ([`SKIP_REASONS`], in order), updates its symbol, runs the detectors of
//!   [`PATTERNS`] in order, then the enabled pairs that include its symbol, in config order.
//!
//! All state is allocated in [`PatternEngine::new`]: the rings and the monotonic deques have fixed
//! capacities, and a tick allocates nothing unless a detector fires (one `out.push`).
//!
//! **Where Python's unbounded integers could differ:** cumulative quantities and quoted quantity sums are
//! `i128` (exact for any `i64` inputs over any realistic tick count), cooldown ends are `i128`, and the IST
//! day is computed from the second (`ts_ns // 10^9`), so none overflows and all match Python for every
//! `i64` input. Python raises `ZeroDivisionError` in two pathological cases where this code goes on with
//! IEEE results (inf or NaN) instead: a mean-reversion EWMA that rounds to exactly 0.0 (`ewma_tau_s = 1`
//! with a mid that moves by more than a factor 2^53 within a second), and a pair whose mean ratio is
//! exactly 0.0 (a leg-mid ratio below 5e-324) when it fires.

use std::collections::HashMap;

use thiserror::Error;

use crate::config::{Detectors, EngineConfig};
use crate::detectors::book_imbalance::ImbalanceState;
use crate::detectors::breakout::BreakoutState;
use crate::detectors::mean_reversion::ReversionState;
use crate::detectors::momentum_burst::MomentumState;
use crate::detectors::pair_spread::{PairParams, PairState};
use crate::detectors::vwap_deviation::VwapState;
use crate::detectors::{clipped, cooldown_end, py_max, py_min, qty_f64, Alpha, Fire};

/// Every pattern the engine emits, in the order its detectors run on a tick.
pub const PATTERNS: [&str; 6] = [
    "momentum_burst",
    "mean_reversion",
    "book_imbalance",
    "breakout",
    "vwap_deviation",
    "pair_spread",
];

/// Why a tick is counted and skipped, checked in this order (see `pattern_engine/engine.py`).
pub const SKIP_REASONS: [&str; 4] = ["unknown_symbol", "bad_price", "bad_quantity", "out_of_order"];

pub const MOMENTUM: u8 = 0;
pub const REVERSION: u8 = 1;
pub const IMBALANCE: u8 = 2;
pub const BREAKOUT: u8 = 3;
pub const VWAP: u8 = 4;
pub const PAIR: u8 = 5;

const UNKNOWN_SYMBOL: usize = 0;
const BAD_PRICE: usize = 1;
const BAD_QUANTITY: usize = 2;
const OUT_OF_ORDER: usize = 3;

pub const NANOS: i64 = 1_000_000_000;
/// IST is UTC+05:30; a trading day is an IST calendar day.
pub const IST_OFFSET_S: i64 = 19_800;
pub const DAY_S: i64 = 86_400;
/// A symbol silent for longer than this (or into a new IST day) starts over.
pub const MAX_GAP_S: i64 = 3_600;

/// The IST day of a second: `(ts_ns + IST_OFFSET_NS) // DAY_NS` in Python. Both offsets are whole seconds,
/// so the day depends only on `ts_ns // NANOS`, and this form cannot overflow.
#[inline(always)]
pub fn day_of(second: i64) -> i64 {
    (second + IST_OFFSET_S).div_euclid(DAY_S)
}

/// One tick as the detectors see it; NaN `bid`/`ask` is an absent quote, depth quantities are summed over
/// the priced levels (the best level's quantity when the tick has no depth).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TickInput {
    pub ts_ns: i64,
    pub ltp: f64,
    pub ltq: i64,
    pub bid: f64,
    pub ask: f64,
    pub bid_qty: i64,
    pub ask_qty: i64,
    pub bid_depth_qty: i64,
    pub ask_depth_qty: i64,
}

/// One detector firing on one tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Index into [`PatternEngine::symbols`]; a pair signal names its `leg_a`.
    pub symbol: u32,
    /// Index into [`PATTERNS`].
    pub pattern: u8,
    pub side: i8,
    pub score: f64,
    pub price: f64,
    pub tick_ts_ns: i64,
    /// Keys sorted, as Python's `dict(sorted(...))`; only the first `feature_count` entries count.
    pub features: [(&'static str, f64); 3],
    pub feature_count: u8,
}

impl Detection {
    /// The features that count, keys sorted.
    pub fn features(&self) -> &[(&'static str, f64)] {
        &self.features[..usize::from(self.feature_count).min(3)]
    }

    /// The pattern's name.
    pub fn pattern_name(&self) -> &'static str {
        PATTERNS[usize::from(self.pattern).min(PATTERNS.len() - 1)]
    }
}

/// Ticks accepted, ticks skipped by reason ([`SKIP_REASONS`] order), signals by pattern ([`PATTERNS`]
/// order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counters {
    pub ticks: u64,
    pub skipped: [u64; 4],
    pub signals: [u64; 6],
}

/// A batch of ticks as columns; `symbol` holds codes into `symbols`, which maps each code to an engine
/// index (`None`: a symbol outside the universe).
pub struct EngineColumns<'a> {
    pub ts_ns: &'a [i64],
    pub symbol: &'a [u32],
    pub symbols: &'a [Option<u32>],
    pub ltp: &'a [f64],
    pub ltq: &'a [i64],
    pub bid: &'a [f64],
    pub ask: &'a [f64],
    pub bid_qty: &'a [i64],
    pub ask_qty: &'a [i64],
    pub bid_depth_qty: &'a [i64],
    pub ask_depth_qty: &'a [i64],
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ColumnsError {
    #[error("column {column} has {found} rows, expected {expected} (the rows of ts_ns)")]
    Length {
        column: &'static str,
        expected: usize,
        found: usize,
    },
}

impl EngineColumns<'_> {
    pub fn rows(&self) -> usize {
        self.ts_ns.len()
    }

    /// Every column has as many rows as `ts_ns`.
    pub fn check(&self) -> Result<(), ColumnsError> {
        let expected = self.rows();
        let lengths = [
            ("symbol", self.symbol.len()),
            ("ltp", self.ltp.len()),
            ("ltq", self.ltq.len()),
            ("bid", self.bid.len()),
            ("ask", self.ask.len()),
            ("bid_qty", self.bid_qty.len()),
            ("ask_qty", self.ask_qty.len()),
            ("bid_depth_qty", self.bid_depth_qty.len()),
            ("ask_depth_qty", self.ask_depth_qty.len()),
        ];
        for (column, found) in lengths {
            if found != expected {
                return Err(ColumnsError::Length {
                    column,
                    expected,
                    found,
                });
            }
        }
        Ok(())
    }
}

/// The closing mid and cumulative quantity of the last `capacity` closed seconds.
#[derive(Clone, Debug)]
pub(crate) struct Ring {
    mids: Box<[f64]>,
    quantities: Box<[i128]>,
    head: usize,
}

impl Ring {
    fn new(capacity: usize) -> Ring {
        let capacity = capacity.max(1);
        Ring {
            mids: vec![0.0; capacity].into_boxed_slice(),
            quantities: vec![0; capacity].into_boxed_slice(),
            head: 0,
        }
    }

    fn reset(&mut self) {
        self.mids.fill(0.0);
        self.quantities.fill(0);
        self.head = 0;
    }

    #[inline]
    fn push(&mut self, mid: f64, quantity: i128) {
        let capacity = self.mids.len();
        if let Some(slot) = self.mids.get_mut(self.head) {
            *slot = mid;
        }
        if let Some(slot) = self.quantities.get_mut(self.head) {
            *slot = quantity;
        }
        self.head += 1;
        if self.head >= capacity {
            self.head = 0;
        }
    }

    /// Index of the second closed `seconds` ago (1: the last one); the caller checks there were that many.
    #[inline]
    pub(crate) fn back(&self, seconds: i64) -> usize {
        let capacity = self.mids.len();
        match usize::try_from(seconds) {
            Ok(seconds) if seconds <= self.head => self.head - seconds,
            Ok(seconds) if seconds <= capacity => self.head + capacity - seconds,
            _ => (self.head as i64 - seconds).rem_euclid(capacity as i64) as usize,
        }
    }

    #[inline]
    pub(crate) fn mid(&self, at: usize) -> f64 {
        self.mids.get(at).copied().unwrap_or(0.0)
    }

    #[inline]
    pub(crate) fn quantity(&self, at: usize) -> i128 {
        self.quantities.get(at).copied().unwrap_or(0)
    }
}

/// A double-ended queue of `(second, value)` with a fixed capacity: the monotonic deque of a rolling high
/// (or low). Holding at most one entry per second of the window, it never needs more than `window + 1`.
#[derive(Clone, Debug)]
pub(crate) struct MonoDeque {
    entries: Box<[(i64, f64)]>,
    head: usize,
    len: usize,
}

impl MonoDeque {
    fn new(capacity: usize) -> MonoDeque {
        MonoDeque {
            entries: vec![(0, 0.0); capacity.max(2)].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    fn reset(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    #[inline(always)]
    fn slot(&self, offset: usize) -> usize {
        let at = self.head + offset;
        if at >= self.entries.len() {
            at - self.entries.len()
        } else {
            at
        }
    }

    #[inline(always)]
    fn back_value(&self) -> f64 {
        self.entries[self.slot(self.len - 1)].1
    }

    /// The oldest entry's value (the window's high or low); the clock keeps at least one entry.
    #[inline(always)]
    pub(crate) fn front_value(&self) -> f64 {
        self.entries[self.head].1
    }

    /// Append `(second, value)` after dropping the entries it dominates: `dominated(back, value)`.
    #[inline(always)]
    fn push(&mut self, second: i64, value: f64, dominated: impl Fn(f64, f64) -> bool) {
        while self.len > 0 && dominated(self.back_value(), value) {
            self.len -= 1;
        }
        if self.len == self.entries.len() {
            // Cannot happen with one entry per second and `expire` after each push; stay in bounds anyway.
            self.pop_front();
        }
        let at = self.slot(self.len);
        self.entries[at] = (second, value);
        self.len += 1;
    }

    #[inline(always)]
    fn pop_front(&mut self) {
        self.head = self.slot(1);
        self.len -= 1;
    }

    /// Drop the entries of seconds at or before `oldest_gone`.
    #[inline(always)]
    fn expire(&mut self, oldest_gone: i64) {
        while self.len > 0 && self.entries[self.head].0 <= oldest_gone {
            self.pop_front();
        }
    }
}

/// A symbol's clock, tick state and slow estimates: what every detector reads.
#[derive(Clone, Debug)]
pub(crate) struct Market {
    pub started: bool,
    pub day: i64,
    pub second: i64,
    pub closes: i64,
    pub last_ts: i64,
    pub mid: f64,
    pub ltp: f64,
    /// Cumulative quantity traded this session; also the VWAP's quantity (the two always agree).
    pub cum_qty: i128,
    pub close_mid: f64,
    pub close_qty: i128,
    pub second_high: f64,
    pub second_low: f64,
    pub variance: f64,
    pub returns: i64,
    pub qty_rate: f64,
    pub ema: f64,
    pub vwap_pq: f64,
    pub highs: MonoDeque,
    pub lows: MonoDeque,
    pub ring: Ring,
}

impl Market {
    fn new(ring_capacity: usize, range_capacity: usize) -> Market {
        Market {
            started: false,
            day: 0,
            second: 0,
            closes: 0,
            last_ts: -1,
            mid: 0.0,
            ltp: 0.0,
            cum_qty: 0,
            close_mid: 0.0,
            close_qty: 0,
            second_high: 0.0,
            second_low: 0.0,
            variance: 0.0,
            returns: 0,
            qty_rate: 0.0,
            ema: 0.0,
            vwap_pq: 0.0,
            highs: MonoDeque::new(range_capacity),
            lows: MonoDeque::new(range_capacity),
            ring: Ring::new(ring_capacity),
        }
    }

    /// Start over without giving back the buffers.
    fn reset(&mut self) {
        self.started = false;
        self.day = 0;
        self.second = 0;
        self.closes = 0;
        self.last_ts = -1;
        self.mid = 0.0;
        self.ltp = 0.0;
        self.cum_qty = 0;
        self.close_mid = 0.0;
        self.close_qty = 0;
        self.second_high = 0.0;
        self.second_low = 0.0;
        self.variance = 0.0;
        self.returns = 0;
        self.qty_rate = 0.0;
        self.ema = 0.0;
        self.vwap_pq = 0.0;
        self.highs.reset();
        self.lows.reset();
        self.ring.reset();
    }
}

/// Everything one symbol's detectors remember.
#[derive(Clone, Debug)]
struct SymbolState {
    market: Market,
    momentum: MomentumState,
    reversion: ReversionState,
    imbalance: ImbalanceState,
    breakout: BreakoutState,
    vwap: VwapState,
    cooldown_until: [i128; 5],
    alphas: Alphas,
    detectors: Detectors,
    /// This symbol's enabled pairs: a range of `PatternEngine::pair_ids`.
    pairs_from: u32,
    pairs_to: u32,
}

/// The EWMA weights of the slow estimates: volatility, volume, the mean-reversion mean.
#[derive(Clone, Copy, Debug)]
struct Alphas {
    volatility: Alpha,
    volume: Alpha,
    ewma: Alpha,
}

impl SymbolState {
    fn new(
        detectors: Detectors,
        volatility_tau_s: i64,
        volume_tau_s: i64,
        pairs_from: u32,
        pairs_to: u32,
    ) -> SymbolState {
        let window = detectors.momentum_burst.window_s.max(detectors.mean_reversion.window_s);
        let ring_capacity = usize::try_from(window).unwrap_or(0).saturating_add(1);
        let range_capacity = usize::try_from(detectors.breakout.window_s)
            .unwrap_or(0)
            .saturating_add(1);
        SymbolState {
            market: Market::new(ring_capacity, range_capacity),
            momentum: MomentumState::default(),
            reversion: ReversionState::default(),
            imbalance: ImbalanceState::default(),
            breakout: BreakoutState::default(),
            vwap: VwapState::new(&detectors.vwap_deviation),
            cooldown_until: [0; 5],
            alphas: Alphas {
                volatility: Alpha::new(volatility_tau_s),
                volume: Alpha::new(volume_tau_s),
                ewma: Alpha::new(detectors.mean_reversion.ewma_tau_s),
            },
            detectors,
            pairs_from,
            pairs_to,
        }
    }

    fn reset(&mut self) {
        self.market.reset();
        self.momentum = MomentumState::default();
        self.reversion = ReversionState::default();
        self.imbalance = ImbalanceState::default();
        self.breakout = BreakoutState::default();
        self.vwap = VwapState::new(&self.detectors.vwap_deviation);
        self.cooldown_until = [0; 5];
    }

    /// The clock (reference.py `_advance`): called with the tick's time and mid before the tick updates
    /// the symbol.
    #[inline(always)]
    fn advance(&mut self, ts_ns: i64, mid: f64) {
        let second = ts_ns.div_euclid(NANOS);
        let market = &mut self.market;
        if market.started && second == market.second {
            // Same second, hence same day: no reset, no close.
            market.second_high = py_max(market.second_high, mid);
            market.second_low = py_min(market.second_low, mid);
            return;
        }
        self.new_second(second, mid);
    }

    #[inline(never)]
    fn new_second(&mut self, second: i64, mid: f64) {
        let day = day_of(second);
        if self.market.started && (day != self.market.day || second - self.market.second > MAX_GAP_S) {
            self.reset();
        }
        let market = &mut self.market;
        if !market.started {
            market.started = true;
            market.day = day;
            market.second = second;
            market.second_high = mid;
            market.second_low = mid;
            return;
        }
        if second == market.second {
            market.second_high = py_max(market.second_high, mid);
            market.second_low = py_min(market.second_low, mid);
            return;
        }
        for closing in market.second..second {
            self.close(closing);
        }
        self.bands();
        let market = &mut self.market;
        market.second = second;
        market.second_high = mid;
        market.second_low = mid;
    }

    /// Close second `closing` (reference.py `_close`): the first call of a catch-up closes the second that
    /// had ticks.
    #[inline]
    fn close(&mut self, closing: i64) {
        let alphas = self.alphas;
        let window = self.detectors.breakout.window_s;
        let market = &mut self.market;
        let mid = market.mid;
        let quantity = market.cum_qty - market.close_qty;
        let (high, low) = if closing == market.second {
            (market.second_high, market.second_low)
        } else {
            (mid, mid)
        };
        market.closes += 1;
        if market.closes > 1 {
            market.returns += 1;
            let change = clipped(mid / market.close_mid - 1.0, market.variance);
            market.variance += alphas.volatility.at(market.returns) * (change * change - market.variance);
        }
        market.qty_rate += alphas.volume.at(market.closes) * (qty_f64(quantity) - market.qty_rate);
        if market.closes == 1 {
            market.ema = mid;
        } else {
            market.ema += alphas.ewma.at(market.closes) * (mid - market.ema);
        }
        market.highs.push(closing, high, |back, value| back <= value);
        market.lows.push(closing, low, |back, value| back >= value);
        market.highs.expire(closing - window);
        market.lows.expire(closing - window);
        market.ring.push(mid, market.cum_qty);
        market.close_mid = mid;
        market.close_qty = market.cum_qty;
    }

    /// Each detector's thresholds for the second that starts now (reference.py `_bands`).
    #[inline]
    fn bands(&mut self) {
        let market = &self.market;
        let variance_ok = market.returns > 0 && market.variance > 0.0;
        self.momentum.bands(&self.detectors.momentum_burst, market, variance_ok);
        self.reversion
            .bands(&self.detectors.mean_reversion, market, variance_ok);
        self.breakout.bands(&self.detectors.breakout, market, variance_ok);
    }
}

/// Why a tick cannot be used (a price or quantity problem), or `None`; time order is checked after.
#[inline(always)]
fn skip_reason(tick: &TickInput) -> Option<usize> {
    if !(tick.ltp.is_finite() && tick.ltp > 0.0) {
        return Some(BAD_PRICE);
    }
    for quote in [tick.bid, tick.ask] {
        if !(quote.is_nan() || (quote.is_finite() && quote >= 0.0)) {
            return Some(BAD_PRICE);
        }
    }
    if tick.ltq <= 0 {
        return Some(BAD_QUANTITY);
    }
    if tick
        .bid_qty
        .min(tick.ask_qty)
        .min(tick.bid_depth_qty)
        .min(tick.ask_depth_qty)
        < 0
    {
        return Some(BAD_QUANTITY);
    }
    None
}

/// `(bid + ask) / 2` for a two-sided, uncrossed quote; else the last price.
#[inline(always)]
pub fn mid_of(tick: &TickInput) -> f64 {
    if tick.bid > 0.0 && tick.ask > 0.0 && tick.bid < tick.ask {
        (tick.bid + tick.ask) * 0.5
    } else {
        tick.ltp
    }
}

/// The pattern engine over a fixed symbol universe; deterministic given the ticks so far.
pub struct PatternEngine {
    config: EngineConfig,
    index: HashMap<String, u32>,
    states: Vec<SymbolState>,
    pairs: Vec<PairState>,
    pair_ids: Vec<u32>,
    warmup_s: i64,
    counters: Counters,
}

impl PatternEngine {
    /// An engine for a config from [`EngineConfig::from_toml`].
    ///
    /// # Panics
    /// If `config` breaks the config's rules (only possible for a config not built by `from_toml`); use
    /// [`PatternEngine::try_new`] for a config of unknown origin.
    pub fn new(config: EngineConfig) -> PatternEngine {
        match PatternEngine::try_new(config) {
            Ok(engine) => engine,
            Err(e) => panic!("invalid pattern engine config: {e}"),
        }
    }

    /// An engine for `config`, after checking it (see [`EngineConfig::validate`]).
    pub fn try_new(config: EngineConfig) -> Result<PatternEngine, crate::config::ConfigError> {
        config.validate()?;
        let index: HashMap<String, u32> = config
            .symbols
            .iter()
            .enumerate()
            .map(|(i, symbol)| (symbol.clone(), i as u32))
            .collect();
        let mut pairs = Vec::with_capacity(config.pairs.len());
        let mut pairs_of: Vec<Vec<u32>> = vec![Vec::new(); config.symbols.len()];
        for (number, pair) in config.pairs.iter().enumerate() {
            let index_a = index[&pair.leg_a];
            let index_b = index[&pair.leg_b];
            pairs.push(PairState::new(PairParams::new(pair, index_a, index_b)));
            if pair.enabled {
                pairs_of[index_a as usize].push(number as u32);
                pairs_of[index_b as usize].push(number as u32);
            }
        }
        let mut pair_ids = Vec::new();
        let mut states = Vec::with_capacity(config.symbols.len());
        for (symbol, mine) in config.symbols.iter().zip(&pairs_of) {
            let from = pair_ids.len() as u32;
            pair_ids.extend_from_slice(mine);
            let detectors = config.detectors_for(symbol)?;
            states.push(SymbolState::new(
                detectors,
                config.volatility_tau_s,
                config.volume_tau_s,
                from,
                pair_ids.len() as u32,
            ));
        }
        Ok(PatternEngine {
            warmup_s: config.warmup_s,
            config,
            index,
            states,
            pairs,
            pair_ids,
            counters: Counters::default(),
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The universe, in config order; a [`Detection::symbol`] indexes it.
    pub fn symbols(&self) -> &[String] {
        &self.config.symbols
    }

    pub fn symbol_index(&self, symbol: &str) -> Option<u32> {
        self.index.get(symbol).copied()
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Feed one tick of the symbol at engine index `symbol` (`None`, or an index outside the universe: an
    /// unknown symbol, counted and skipped); append what fires to `out`, in detector order.
    #[inline]
    pub fn on_tick(&mut self, symbol: Option<u32>, tick: &TickInput, out: &mut Vec<Detection>) {
        let index = match symbol {
            Some(index) if (index as usize) < self.states.len() => index as usize,
            _ => {
                self.counters.skipped[UNKNOWN_SYMBOL] += 1;
                return;
            }
        };
        self.process(index, tick, out);
    }

    /// Feed a batch of ticks in row order; append what fires to `out`, in tick order. Checks the column
    /// lengths first (then feeds nothing if one differs); a code outside `columns.symbols` is an unknown
    /// symbol.
    pub fn on_columns(&mut self, columns: &EngineColumns<'_>, out: &mut Vec<Detection>) -> Result<(), ColumnsError> {
        columns.check()?;
        let rows = columns.rows();
        let ts_ns = &columns.ts_ns[..rows];
        let symbol = &columns.symbol[..rows];
        let ltp = &columns.ltp[..rows];
        let ltq = &columns.ltq[..rows];
        let bid = &columns.bid[..rows];
        let ask = &columns.ask[..rows];
        let bid_qty = &columns.bid_qty[..rows];
        let ask_qty = &columns.ask_qty[..rows];
        let bid_depth_qty = &columns.bid_depth_qty[..rows];
        let ask_depth_qty = &columns.ask_depth_qty[..rows];
        let symbols = columns.symbols;
        let universe = self.states.len();
        for row in 0..rows {
            let tick = TickInput {
                ts_ns: ts_ns[row],
                ltp: ltp[row],
                ltq: ltq[row],
                bid: bid[row],
                ask: ask[row],
                bid_qty: bid_qty[row],
                ask_qty: ask_qty[row],
                bid_depth_qty: bid_depth_qty[row],
                ask_depth_qty: ask_depth_qty[row],
            };
            match symbols.get(symbol[row] as usize) {
                Some(&Some(index)) if (index as usize) < universe => self.process(index as usize, &tick, out),
                _ => self.counters.skipped[UNKNOWN_SYMBOL] += 1,
            }
        }
        Ok(())
    }

    /// reference.py `process`, for a symbol in the universe.
    #[inline(never)]
    fn process(&mut self, index: usize, tick: &TickInput, out: &mut Vec<Detection>) {
        if let Some(reason) = skip_reason(tick) {
            self.counters.skipped[reason] += 1;
            return;
        }
        let Some(state) = self.states.get_mut(index) else {
            self.counters.skipped[UNKNOWN_SYMBOL] += 1;
            return;
        };
        if tick.ts_ns < state.market.last_ts {
            self.counters.skipped[OUT_OF_ORDER] += 1;
            return;
        }
        self.counters.ticks += 1;
        let mid = mid_of(tick);
        state.advance(tick.ts_ns, mid);
        let market = &mut state.market;
        market.last_ts = tick.ts_ns;
        market.mid = mid;
        market.ltp = tick.ltp;
        market.cum_qty += i128::from(tick.ltq);
        market.vwap_pq += tick.ltp * tick.ltq as f64;

        let warm = state.market.closes >= self.warmup_s;
        let ts_ns = i128::from(tick.ts_ns);
        // Warm and out of cooldown; asked only once a detector's bands are crossed.
        let ready = |until: i128| move || warm && ts_ns >= until;
        let symbol = index as u32;
        let counters = &mut self.counters;
        let SymbolState {
            market,
            momentum,
            reversion,
            imbalance,
            breakout,
            vwap,
            cooldown_until,
            detectors,
            ..
        } = state;
        let config = &detectors.momentum_burst;
        if config.enabled {
            if let Some(fire) = momentum.check(config, market, ready(cooldown_until[0])) {
                cooldown_until[0] = emit(out, counters, symbol, MOMENTUM, tick, config.cooldown_s, fire);
            }
        }
        let config = &detectors.mean_reversion;
        if config.enabled {
            if let Some(fire) = reversion.check(config, market, ready(cooldown_until[1])) {
                cooldown_until[1] = emit(out, counters, symbol, REVERSION, tick, config.cooldown_s, fire);
            }
        }
        let config = &detectors.book_imbalance;
        if config.enabled {
            if let Some(fire) = imbalance.check(config, tick, ready(cooldown_until[2])) {
                cooldown_until[2] = emit(out, counters, symbol, IMBALANCE, tick, config.cooldown_s, fire);
            }
        }
        let config = &detectors.breakout;
        if config.enabled {
            if let Some(fire) = breakout.check(config, market, ready(cooldown_until[3])) {
                cooldown_until[3] = emit(out, counters, symbol, BREAKOUT, tick, config.cooldown_s, fire);
            }
        }
        let config = &detectors.vwap_deviation;
        if config.enabled {
            if let Some(fire) = vwap.check(config, market, ready(cooldown_until[4])) {
                cooldown_until[4] = emit(out, counters, symbol, VWAP, tick, config.cooldown_s, fire);
            }
        }
        let (from, to) = (state.pairs_from as usize, state.pairs_to as usize);
        if from < to {
            self.run_pairs(from, to, tick, out);
        }
    }

    #[inline(never)]
    fn run_pairs(&mut self, from: usize, to: usize, tick: &TickInput, out: &mut Vec<Detection>) {
        for number in from..to {
            let Some(&pair_id) = self.pair_ids.get(number) else {
                continue;
            };
            let Some(pair) = self.pairs.get_mut(pair_id as usize) else {
                continue;
            };
            let (Some(leg_a), Some(leg_b)) = (
                self.states.get(pair.params.index_a as usize),
                self.states.get(pair.params.index_b as usize),
            ) else {
                continue;
            };
            if let Some(fire) = pair.on_tick(&leg_a.market, &leg_b.market, tick.ts_ns, self.warmup_s) {
                self.counters.signals[usize::from(PAIR)] += 1;
                out.push(detection(pair.params.index_a, PAIR, leg_a.market.ltp, tick.ts_ns, fire));
            }
        }
    }
}

#[inline(always)]
fn detection(symbol: u32, pattern: u8, price: f64, tick_ts_ns: i64, fire: Fire) -> Detection {
    Detection {
        symbol,
        pattern,
        side: fire.side,
        score: fire.score,
        price,
        tick_ts_ns,
        features: fire.features,
        feature_count: fire.feature_count,
    }
}

#[cold]
#[inline(never)]
/// Count and append a firing; returns the end of its cooldown.
fn emit(
    out: &mut Vec<Detection>,
    counters: &mut Counters,
    symbol: u32,
    pattern: u8,
    tick: &TickInput,
    cooldown_s: i64,
    fire: Fire,
) -> i128 {
    counters.signals[usize::from(pattern)] += 1;
    out.push(detection(symbol, pattern, tick.ltp, tick.ts_ns, fire));
    cooldown_end(tick.ts_ns, cooldown_s)
}

#[cfg(test)]
mod tests {
    use super::{day_of, MonoDeque, Ring, DAY_S, IST_OFFSET_S, NANOS};

    #[test]
    fn the_monotonic_deques_hold_the_rolling_high_and_low_within_their_capacity() {
        let mut state = 12_345_u64;
        for window in [1_i64, 2, 3, 7, 120] {
            let capacity = window as usize + 1;
            let (mut highs, mut lows) = (MonoDeque::new(capacity), MonoDeque::new(capacity));
            let mut values = Vec::new();
            for second in 0..2_000_i64 {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                // Few distinct values, so ties (which must pop) are common.
                let value = ((state >> 33) % 7) as f64;
                values.push(value);
                highs.push(second, value, |back, value| back <= value);
                lows.push(second, value, |back, value| back >= value);
                highs.expire(second - window);
                lows.expire(second - window);
                let from = (second - window + 1).max(0) as usize;
                let seen = &values[from..];
                let max = seen.iter().copied().fold(f64::MIN, f64::max);
                let min = seen.iter().copied().fold(f64::MAX, f64::min);
                assert_eq!((highs.front_value(), lows.front_value()), (max, min));
                assert!(highs.len <= capacity && lows.len <= capacity);
            }
        }
    }

    #[test]
    fn the_ring_looks_back_whole_seconds() {
        let mut ring = Ring::new(4);
        for n in 0..10 {
            ring.push(f64::from(n), i128::from(n) * 10);
            for back in 1..=4_i64.min(i64::from(n) + 1) {
                let at = ring.back(back);
                assert_eq!(ring.mid(at), f64::from(n + 1 - back as i32));
                assert_eq!(ring.quantity(at), i128::from(n + 1 - back as i32) * 10);
            }
        }
    }

    #[test]
    fn the_ist_day_of_a_second_is_the_reference_formula_without_overflow() {
        for ts in [
            0_i64,
            -1,
            1_763_749_799_999_999_999,
            1_763_749_800_000_000_000,
            i64::MIN,
            i64::MAX,
            -19_800 * NANOS,
            -19_800 * NANOS - 1,
        ] {
            let expected = (i128::from(ts) + i128::from(IST_OFFSET_S) * i128::from(NANOS))
                .div_euclid(i128::from(DAY_S) * i128::from(NANOS));
            assert_eq!(i128::from(day_of(ts.div_euclid(NANOS))), expected, "{ts}");
        }
    }
}
