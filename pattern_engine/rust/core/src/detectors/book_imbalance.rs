//! Order-book imbalance: depth imbalance `(B - A) / (B + A)` beyond `threshold` for `persist_ticks` ticks in
//! a row, with the microprice off the mid on the same side by at least `microprice_confirm` of the spread
//! (reference.py `_imbalance`). Fires once per run.

use super::{qty_f64, score, Fire};
use crate::config::BookImbalance;
use crate::engine::TickInput;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImbalanceState {
    /// Ticks in a row beyond the threshold: positive on the bid side, negative on the ask side.
    pub run: i64,
    pub fired: bool,
}

impl ImbalanceState {
    #[inline(always)]
    pub(crate) fn check(
        &mut self,
        config: &BookImbalance,
        tick: &TickInput,
        ready: impl FnOnce() -> bool,
    ) -> Option<Fire> {
        let bids = tick.bid_depth_qty as f64;
        let asks = tick.ask_depth_qty as f64;
        let total = bids + asks;
        if total > 0.0 && bids - asks >= config.threshold * total {
            self.run = if self.run > 0 { self.run.saturating_add(1) } else { 1 };
        } else if total > 0.0 && asks - bids >= config.threshold * total {
            self.run = if self.run < 0 { self.run.saturating_sub(1) } else { -1 };
        } else {
            self.run = 0;
            self.fired = false;
            return None;
        }
        if self.fired || self.run.unsigned_abs() < config.persist_ticks.unsigned_abs() {
            return None;
        }
        self.confirm(config, tick, bids, asks, total, ready)
    }

    /// The microprice confirms: with the quote two-sided and uncrossed, it leans toward the thin side.
    #[cold]
    #[inline(never)]
    fn confirm(
        &mut self,
        config: &BookImbalance,
        tick: &TickInput,
        bids: f64,
        asks: f64,
        total: f64,
        ready: impl FnOnce() -> bool,
    ) -> Option<Fire> {
        let side: i8 = if self.run > 0 { 1 } else { -1 };
        if !(tick.bid > 0.0 && tick.ask > 0.0 && tick.bid < tick.ask) {
            return None;
        }
        let quoted = i128::from(tick.bid_qty) + i128::from(tick.ask_qty);
        if quoted <= 0 {
            return None;
        }
        let spread = tick.ask - tick.bid;
        let microprice = (tick.bid * tick.ask_qty as f64 + tick.ask * tick.bid_qty as f64) / qty_f64(quoted);
        let lean = (microprice - (tick.bid + tick.ask) * 0.5) / spread;
        if f64::from(side) * lean < config.microprice_confirm || !ready() {
            return None;
        }
        let imbalance = (bids - asks) / total;
        self.fired = true;
        Some(Fire::three(
            side,
            score(side, imbalance.abs(), config.threshold),
            [
                ("imbalance", imbalance),
                ("microprice_lean", lean),
                ("run_ticks", self.run.unsigned_abs() as f64),
            ],
        ))
    }
}
