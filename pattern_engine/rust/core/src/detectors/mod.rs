//! The detectors, one module each, and the arithmetic they share with `pattern_engine/reference.py`.
//!
//! Each per-symbol detector has a state (its price bands for the current second and what it remembers
//! between ticks), a `bands` step run once per second after the clock closes the seconds since the last
//! tick, and a `check` run on every tick. `check` costs a few comparisons; the divisions that describe a
//! signal run only when it fires. Every expression keeps the association and order of the Python reference,
//! so that both give the same floats bit for bit.

pub mod book_imbalance;
pub mod breakout;
pub mod mean_reversion;
pub mod momentum_burst;
pub mod pair_spread;
pub mod vwap_deviation;

/// Variance updates see a value clipped to this many standard deviations of the estimate so far.
pub const CLIP_SIGMAS: f64 = 4.0;

/// A detector firing: what the engine turns into a [`crate::engine::Detection`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fire {
    pub side: i8,
    pub score: f64,
    /// Keys sorted, as Python's `dict(sorted(...))`; entries past `feature_count` are `("", 0.0)`.
    pub features: [(&'static str, f64); 3],
    pub feature_count: u8,
}

impl Fire {
    #[inline]
    pub(crate) fn three(side: i8, score: f64, features: [(&'static str, f64); 3]) -> Fire {
        Fire {
            side,
            score,
            features,
            feature_count: 3,
        }
    }

    #[inline]
    pub(crate) fn two(side: i8, score: f64, first: (&'static str, f64), second: (&'static str, f64)) -> Fire {
        Fire {
            side,
            score,
            features: [first, second, ("", 0.0)],
            feature_count: 2,
        }
    }
}

/// Python's `min(a, b)`: `a` unless `b < a` (so a NaN `b` gives `a`, a NaN `a` stays).
#[inline(always)]
pub(crate) fn py_min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// Python's `max(a, b)`: `a` unless `b > a`.
#[inline(always)]
pub(crate) fn py_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

/// A running mean for the first `tau` updates, an EWMA with time constant `tau` after.
#[inline(always)]
pub(crate) fn ewma_alpha(count: i64, tau: i64) -> f64 {
    1.0 / (count.min(tau) as f64)
}

/// `value` limited to [`CLIP_SIGMAS`] standard deviations, so one jump cannot inflate a variance.
#[inline(always)]
pub(crate) fn clipped(value: f64, variance: f64) -> f64 {
    if variance > 0.0 {
        let limit = CLIP_SIGMAS * variance.sqrt();
        py_min(py_max(value, -limit), limit)
    } else {
        value
    }
}

/// `side * min(1, move / (2 threshold))`: a signal at its threshold scores 0.5.
#[inline(always)]
pub(crate) fn score(side: i8, size: f64, threshold: f64) -> f64 {
    f64::from(side) * py_min(1.0, size / (2.0 * threshold))
}

#[inline(always)]
pub(crate) fn sign(value: f64) -> i8 {
    if value > 0.0 {
        1
    } else {
        -1
    }
}

/// Python's `float(n)` of an integer: correctly rounded (ties to even), as `as f64` is.
///
/// The quantities fit an `i64` in practice, whose conversion is one instruction; the wide conversion is a
/// library call, kept out of line so the compiler cannot fold the two branches into it.
#[inline(always)]
pub(crate) fn qty_f64(n: i128) -> f64 {
    let small = n as i64;
    if i128::from(small) == n {
        small as f64
    } else {
        wide_f64(n)
    }
}

#[cold]
#[inline(never)]
fn wide_f64(n: i128) -> f64 {
    n as f64
}

/// `1.0 / float(min(count, tau))` with the division done once for the steady state (`count >= tau`); the
/// same float either way.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Alpha {
    tau: i64,
    steady: f64,
}

impl Alpha {
    pub(crate) fn new(tau: i64) -> Alpha {
        Alpha {
            tau,
            steady: 1.0 / (tau.max(1) as f64),
        }
    }

    #[inline(always)]
    pub(crate) fn at(self, count: i64) -> f64 {
        if count >= self.tau {
            self.steady
        } else {
            ewma_alpha(count, self.tau)
        }
    }
}

/// `ts_ns + cooldown_s * 10^9`, exact (Python's integers do not overflow).
#[inline(always)]
pub(crate) fn cooldown_end(ts_ns: i64, cooldown_s: i64) -> i128 {
    i128::from(ts_ns) + i128::from(cooldown_s) * 1_000_000_000
}
