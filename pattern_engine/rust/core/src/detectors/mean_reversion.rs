//! Mean reversion: the mid's deviation from its EWMA beyond `z` standard deviations, the yardstick being a
//! random walk's distance from its EWMA, sigma x sqrt(ewma_tau_s / 2) from the one-second return variance;
//! the signal fades the move unless more than `max_volume_surge` x the usual quantity carried it
//! (reference.py `_bands` and `_reversion`). Re-arms once the mid is back inside `rearm_z`.

use super::{qty_f64, score, Fire};
use crate::config::MeanReversion;
use crate::engine::Market;

#[derive(Clone, Debug, PartialEq)]
pub struct ReversionState {
    pub sd: f64,
    pub up: f64,
    pub down: f64,
    pub rearm_up: f64,
    pub rearm_down: f64,
    pub qty_cap: f64,
    pub base_qty: i128,
    pub armed: bool,
}

impl Default for ReversionState {
    fn default() -> Self {
        Self {
            sd: 0.0,
            up: f64::INFINITY,
            down: f64::NEG_INFINITY,
            rearm_up: f64::INFINITY,
            rearm_down: f64::NEG_INFINITY,
            qty_cap: f64::INFINITY,
            base_qty: 0,
            armed: true,
        }
    }
}

impl ReversionState {
    #[inline]
    pub(crate) fn bands(&mut self, config: &MeanReversion, market: &Market, variance_ok: bool) {
        self.up = f64::INFINITY;
        self.down = f64::NEG_INFINITY;
        self.rearm_up = f64::INFINITY;
        self.rearm_down = f64::NEG_INFINITY;
        // A random walk's distance from its EWMA has variance sigma^2 x tau / 2.
        let sd = if variance_ok {
            (market.variance * config.ewma_tau_s as f64 * 0.5).sqrt()
        } else {
            0.0
        };
        if sd > 0.0 && market.ema > 0.0 {
            self.sd = sd;
            self.up = market.ema * (1.0 + config.z * sd);
            self.down = market.ema * (1.0 - config.z * sd);
            self.rearm_up = market.ema * (1.0 + config.rearm_z * sd);
            self.rearm_down = market.ema * (1.0 - config.rearm_z * sd);
        }
        self.qty_cap = f64::INFINITY;
        if market.closes >= config.window_s && market.qty_rate > 0.0 {
            let at = market.ring.back(config.window_s);
            self.base_qty = market.ring.quantity(at);
            self.qty_cap =
                qty_f64(market.ring.quantity(at)) + config.max_volume_surge * market.qty_rate * config.window_s as f64;
        }
    }

    #[inline(always)]
    pub(crate) fn check(
        &mut self,
        config: &MeanReversion,
        market: &Market,
        ready: impl FnOnce() -> bool,
    ) -> Option<Fire> {
        let mid = market.mid;
        if !self.armed {
            if self.rearm_down < mid && mid < self.rearm_up {
                self.armed = true;
            }
            return None;
        }
        if !(mid >= self.up || mid <= self.down) {
            return None;
        }
        if qty_f64(market.cum_qty) > self.qty_cap || !ready() {
            return None;
        }
        Some(self.fire(config, market))
    }

    #[cold]
    #[inline(never)]
    fn fire(&mut self, config: &MeanReversion, market: &Market) -> Fire {
        let deviation = market.mid / market.ema - 1.0;
        let z = deviation / self.sd;
        let side: i8 = if deviation < 0.0 { 1 } else { -1 };
        let deviation_bps = ("deviation_bps", deviation * 10_000.0);
        let score = score(side, z.abs(), config.z);
        self.armed = false;
        if self.qty_cap < f64::INFINITY {
            let usual = market.qty_rate * config.window_s as f64;
            let ratio = qty_f64(market.cum_qty - self.base_qty) / usual;
            Fire::three(side, score, [deviation_bps, ("volume_ratio", ratio), ("z", z)])
        } else {
            Fire::two(side, score, deviation_bps, ("z", z))
        }
    }
}
