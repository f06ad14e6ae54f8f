//! VWAP deviation: the last price `threshold_bps` or more away from the session VWAP; the signal fades the
//! move (reference.py `_vwap`). Re-arms once back within `rearm_bps`.

use super::{qty_f64, score, Fire};
use crate::config::VwapDeviation;
use crate::engine::Market;

/// The factors `1 +- bps / 10_000` are computed once; the product with the VWAP is the same float as
/// Python's `vwap * (1.0 + config.threshold_bps / 10_000.0)`.
#[derive(Clone, Debug, PartialEq)]
pub struct VwapState {
    pub armed: bool,
    pub up: f64,
    pub down: f64,
    pub rearm_up: f64,
    pub rearm_down: f64,
}

impl VwapState {
    pub(crate) fn new(config: &VwapDeviation) -> VwapState {
        VwapState {
            armed: true,
            up: 1.0 + config.threshold_bps / 10_000.0,
            down: 1.0 - config.threshold_bps / 10_000.0,
            rearm_up: 1.0 + config.rearm_bps / 10_000.0,
            rearm_down: 1.0 - config.rearm_bps / 10_000.0,
        }
    }

    #[inline(always)]
    pub(crate) fn check(
        &mut self,
        config: &VwapDeviation,
        market: &Market,
        ready: impl FnOnce() -> bool,
    ) -> Option<Fire> {
        let vwap = market.vwap_pq / qty_f64(market.cum_qty);
        let price = market.ltp;
        if !self.armed {
            if vwap * self.rearm_down < price && price < vwap * self.rearm_up {
                self.armed = true;
            }
            return None;
        }
        let side: i8 = if price >= vwap * self.up {
            -1
        } else if price <= vwap * self.down {
            1
        } else {
            return None;
        };
        if !ready() {
            return None;
        }
        Some(self.fire(config, price, vwap, side))
    }

    #[cold]
    #[inline(never)]
    fn fire(&mut self, config: &VwapDeviation, price: f64, vwap: f64, side: i8) -> Fire {
        let deviation_bps = (price / vwap - 1.0) * 10_000.0;
        self.armed = false;
        Fire::two(
            side,
            score(side, deviation_bps.abs(), config.threshold_bps),
            ("deviation_bps", deviation_bps),
            ("vwap", vwap),
        )
    }
}
