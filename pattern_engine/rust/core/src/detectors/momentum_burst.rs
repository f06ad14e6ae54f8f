//! Momentum burst: the mid's return over the last `window_s` seconds beyond `k` sigma, on at least
//! `volume_surge` x the usual quantity for that window (reference.py `_momentum`).

use super::{qty_f64, score, sign, Fire};
use crate::config::MomentumBurst;
use crate::engine::Market;

/// The bands for the current second; infinite bands cannot be crossed.
#[derive(Clone, Debug, PartialEq)]
pub struct MomentumState {
    pub sigma: f64,
    pub up: f64,
    pub down: f64,
    pub qty: f64,
    pub base_mid: f64,
    pub base_qty: i128,
}

impl Default for MomentumState {
    fn default() -> Self {
        Self {
            sigma: 0.0,
            up: f64::INFINITY,
            down: f64::NEG_INFINITY,
            qty: f64::INFINITY,
            base_mid: 0.0,
            base_qty: 0,
        }
    }
}

impl MomentumState {
    /// The thresholds for the second that starts now, from the estimates after the closes.
    #[inline]
    pub(crate) fn bands(&mut self, config: &MomentumBurst, market: &Market, variance_ok: bool) {
        self.up = f64::INFINITY;
        self.down = f64::NEG_INFINITY;
        self.qty = f64::INFINITY;
        if variance_ok && market.closes >= config.window_s && market.qty_rate > 0.0 {
            let at = market.ring.back(config.window_s);
            let sigma = (market.variance * config.window_s as f64).sqrt();
            let band = config.k * sigma;
            let base = market.ring.mid(at);
            self.sigma = sigma;
            self.base_mid = base;
            self.base_qty = market.ring.quantity(at);
            self.up = base * (1.0 + band);
            self.down = base * (1.0 - band);
            self.qty =
                qty_f64(market.ring.quantity(at)) + config.volume_surge * market.qty_rate * config.window_s as f64;
        }
    }

    /// Whether this tick fires; `ready` (warm and out of cooldown) is asked only once the bands are crossed.
    #[inline(always)]
    pub(crate) fn check(&self, config: &MomentumBurst, market: &Market, ready: impl FnOnce() -> bool) -> Option<Fire> {
        let mid = market.mid;
        if !(mid >= self.up || mid <= self.down) {
            return None;
        }
        if qty_f64(market.cum_qty) < self.qty || !ready() {
            return None;
        }
        Some(self.fire(config, market))
    }

    #[cold]
    #[inline(never)]
    fn fire(&self, config: &MomentumBurst, market: &Market) -> Fire {
        let change = market.mid / self.base_mid - 1.0;
        let z = change / self.sigma;
        let side = sign(change);
        let usual = market.qty_rate * config.window_s as f64;
        Fire::three(
            side,
            score(side, z.abs(), config.k),
            [
                ("return_bps", change * 10_000.0),
                ("sigma_multiple", z),
                ("volume_ratio", qty_f64(market.cum_qty - self.base_qty) / usual),
            ],
        )
    }
}
