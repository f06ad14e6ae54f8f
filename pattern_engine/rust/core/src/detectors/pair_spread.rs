//! Pair / spread arbitrage: the ratio `mid(leg_a) / mid(leg_b)` against its EWMA mean, in units of its EWMA
//! dispersion; beyond `z` it signals on `leg_a` (sell a rich leg, buy a cheap one). Re-arms once back inside
//! `rearm_z` (reference.py `_pair`).
//!
//! A pair keeps its own one-second clock, advanced by the ticks of either leg; each closed second updates
//! the mean and variance with the ratio as it stood at the close. Like a symbol, a pair starts over on a new
//! IST day or after more than [`crate::engine::MAX_GAP_S`] seconds without a tick.

use super::{clipped, cooldown_end, score, Alpha, Fire};
use crate::config::Pair;
use crate::engine::{day_of, Market, MAX_GAP_S};

/// What a pair keeps across a restart: its legs (engine indices) and thresholds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairParams {
    pub(crate) alpha: Alpha,
    pub index_a: u32,
    pub index_b: u32,
    pub tau_s: i64,
    pub z: f64,
    pub rearm_z: f64,
    pub cooldown_s: i64,
}

impl PairParams {
    pub(crate) fn new(config: &Pair, index_a: u32, index_b: u32) -> PairParams {
        PairParams {
            alpha: Alpha::new(config.tau_s),
            index_a,
            index_b,
            tau_s: config.tau_s,
            z: config.z,
            rearm_z: config.rearm_z,
            cooldown_s: config.cooldown_s,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PairState {
    pub params: PairParams,
    pub started: bool,
    pub day: i64,
    pub second: i64,
    pub closes: i64,
    pub ratio: f64,
    pub mean: f64,
    pub variance: f64,
    pub deviations: i64,
    pub sd: f64,
    pub up: f64,
    pub down: f64,
    pub rearm_up: f64,
    pub rearm_down: f64,
    pub armed: bool,
    pub cooldown_until: i128,
}

impl PairState {
    pub(crate) fn new(params: PairParams) -> PairState {
        PairState {
            params,
            started: false,
            day: 0,
            second: 0,
            closes: 0,
            ratio: 0.0,
            mean: 0.0,
            variance: 0.0,
            deviations: 0,
            sd: 0.0,
            up: f64::INFINITY,
            down: f64::NEG_INFINITY,
            rearm_up: f64::INFINITY,
            rearm_down: f64::NEG_INFINITY,
            armed: true,
            cooldown_until: 0,
        }
    }

    fn reset(&mut self) {
        *self = PairState::new(self.params);
    }

    /// A tick of either leg (both legs already updated with it): advance the pair's clock, then check the
    /// ratio against the bands. `warmup_s` is the engine's.
    #[inline]
    pub(crate) fn on_tick(&mut self, leg_a: &Market, leg_b: &Market, ts_ns: i64, warmup_s: i64) -> Option<Fire> {
        if !(leg_a.started && leg_b.started) {
            return None;
        }
        let ratio = leg_a.mid / leg_b.mid;
        let second = ts_ns.div_euclid(crate::engine::NANOS);
        if !(self.started && second == self.second) {
            self.advance(second);
        }
        self.ratio = ratio;
        if !self.armed {
            if self.rearm_down < ratio && ratio < self.rearm_up {
                self.armed = true;
            }
            return None;
        }
        let side: i8 = if ratio >= self.up {
            -1
        } else if ratio <= self.down {
            1
        } else {
            return None;
        };
        if self.closes < warmup_s || i128::from(ts_ns) < self.cooldown_until {
            return None;
        }
        Some(self.fire(leg_b, ts_ns, side))
    }

    /// The clock: a new day or a long gap starts over; a later second closes every second since the last.
    #[inline(never)]
    fn advance(&mut self, second: i64) {
        let day = day_of(second);
        if self.started && (day != self.day || second - self.second > MAX_GAP_S) {
            self.reset();
        }
        if !self.started {
            self.started = true;
            self.day = day;
            self.second = second;
        } else if second > self.second {
            for _ in self.second..second {
                self.closes += 1;
                if self.closes == 1 {
                    self.mean = self.ratio;
                } else {
                    self.deviations += 1;
                    let deviation = clipped(self.ratio - self.mean, self.variance);
                    self.variance += self.params.alpha.at(self.deviations) * (deviation * deviation - self.variance);
                    self.mean += self.params.alpha.at(self.closes) * deviation;
                }
            }
            self.second = second;
            self.up = f64::INFINITY;
            self.down = f64::NEG_INFINITY;
            self.rearm_up = f64::INFINITY;
            self.rearm_down = f64::NEG_INFINITY;
            if self.deviations > 0 && self.variance > 0.0 && self.mean > 0.0 {
                self.sd = self.variance.sqrt();
                self.up = self.mean + self.params.z * self.sd;
                self.down = self.mean - self.params.z * self.sd;
                self.rearm_up = self.mean + self.params.rearm_z * self.sd;
                self.rearm_down = self.mean - self.params.rearm_z * self.sd;
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn fire(&mut self, leg_b: &Market, ts_ns: i64, side: i8) -> Fire {
        let ratio = self.ratio;
        let z = (ratio - self.mean) / self.sd;
        let spread_bps = (ratio / self.mean - 1.0) * 10_000.0;
        self.armed = false;
        self.cooldown_until = cooldown_end(ts_ns, self.params.cooldown_s);
        Fire::three(
            side,
            score(side, z.abs(), self.params.z),
            [("leg_b_mid", leg_b.mid), ("spread_bps", spread_bps), ("z", z)],
        )
    }
}
