//! Breakout: the mid beyond the high (low) of the last `window_s` seconds by `break_fraction` of that range,
//! when the range was tight (at most `max_range_sigmas` x sigma x sqrt(window)). A tight range stays the
//! reference for `hold_s` seconds after the window stops being tight, or until it breaks (reference.py
//! `_bands` and `_breakout`). The rolling high and low are monotonic deques kept by the clock.

use super::{score, Fire};
use crate::config::Breakout;
use crate::engine::Market;

#[derive(Clone, Debug, PartialEq)]
pub struct BreakoutState {
    pub up: f64,
    pub down: f64,
    pub high: f64,
    pub low: f64,
    /// The close count until which a tight range stays the reference.
    pub until: i64,
}

impl Default for BreakoutState {
    fn default() -> Self {
        Self {
            up: f64::INFINITY,
            down: f64::NEG_INFINITY,
            high: 0.0,
            low: 0.0,
            until: 0,
        }
    }
}

impl BreakoutState {
    #[inline]
    pub(crate) fn bands(&mut self, config: &Breakout, market: &Market, variance_ok: bool) {
        let mut tight = false;
        let (mut high, mut low, mut extent) = (0.0, 0.0, 0.0);
        if variance_ok && market.closes >= config.window_s {
            high = market.highs.front_value();
            low = market.lows.front_value();
            extent = high - low;
            let limit = config.max_range_sigmas * (market.variance * config.window_s as f64).sqrt();
            tight = extent <= limit * low;
        }
        if tight {
            self.high = high;
            self.low = low;
            self.up = high + config.break_fraction * extent;
            self.down = low - config.break_fraction * extent;
            self.until = market.closes.saturating_add(config.hold_s);
        } else if market.closes > self.until {
            self.up = f64::INFINITY;
            self.down = f64::NEG_INFINITY;
        }
    }

    #[inline(always)]
    pub(crate) fn check(&mut self, config: &Breakout, market: &Market, ready: impl FnOnce() -> bool) -> Option<Fire> {
        let mid = market.mid;
        let (side, edge): (i8, f64) = if mid >= self.up && mid > self.high {
            (1, self.high)
        } else if mid <= self.down && mid < self.low {
            (-1, self.low)
        } else {
            return None;
        };
        if !ready() {
            return None;
        }
        Some(self.fire(config, mid, side, edge))
    }

    #[cold]
    #[inline(never)]
    fn fire(&mut self, config: &Breakout, mid: f64, side: i8, edge: f64) -> Fire {
        let extent = self.high - self.low;
        let beyond = (mid - edge).abs();
        let score = if extent > 0.0 {
            score(side, beyond / extent, config.break_fraction)
        } else {
            f64::from(side)
        };
        let breach_bps = beyond / edge * 10_000.0;
        let range_bps = extent / self.low * 10_000.0;
        self.up = f64::INFINITY;
        self.down = f64::NEG_INFINITY;
        self.until = 0;
        Fire::two(side, score, ("breach_bps", breach_bps), ("range_bps", range_bps))
    }
}
