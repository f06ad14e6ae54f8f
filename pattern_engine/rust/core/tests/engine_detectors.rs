//! Each detector fires on a pattern built for it, with the side, score and features of
//! `pattern_engine/reference.py`, and stays quiet on calm ticks; warm-up, cooldowns, re-arming, session
//! resets and bad input behave as the reference says.

use pattern_engine_core::config::EngineConfig;
use pattern_engine_core::engine::{Detection, EngineColumns, PatternEngine, TickInput, PATTERNS, SKIP_REASONS};

/// 2025-11-21 09:15 IST.
const T0: i64 = 1_763_696_700_000_000_000;
const SECOND: i64 = 1_000_000_000;
const QUARTER: i64 = SECOND / 4;

const MOMENTUM: u8 = 0;
const REVERSION: u8 = 1;
const IMBALANCE: u8 = 2;
const BREAKOUT: u8 = 3;
const VWAP: u8 = 4;
const PAIR: u8 = 5;

/// Only the named detectors stay enabled (pairs are configured by the caller).
fn only(enabled: &[&str]) -> String {
    let mut text = String::new();
    for name in &PATTERNS[..5] {
        if !enabled.contains(name) {
            text.push_str(&format!("[{name}]\nenabled = false\n"));
        }
    }
    text
}

/// The defaults of config.py, with one pair.
fn defaults() -> EngineConfig {
    EngineConfig::from_toml("symbols = [\"A\", \"B\"]\n[[pairs]]\nleg_a = \"A\"\nleg_b = \"B\"\n").unwrap()
}

fn engine(extra: &str) -> PatternEngine {
    let text = format!("symbols = [\"A\", \"B\", \"C\"]\n{extra}");
    PatternEngine::new(EngineConfig::from_toml(&text).unwrap())
}

/// A quiet two-sided tick around `mid`: balanced book, 10 traded.
fn quiet(ts_ns: i64, mid: f64) -> TickInput {
    TickInput {
        ts_ns,
        ltp: mid,
        ltq: 10,
        bid: mid - 0.01,
        ask: mid + 0.01,
        bid_qty: 500,
        ask_qty: 500,
        bid_depth_qty: 5_000,
        ask_depth_qty: 5_000,
    }
}

/// A feed of ticks into one engine, collecting what fires.
struct Feed {
    engine: PatternEngine,
    out: Vec<Detection>,
    seed: u64,
}

impl Feed {
    fn new(extra: &str) -> Feed {
        Feed {
            engine: engine(extra),
            out: Vec::new(),
            seed: 0x2545_f491_4f6c_dd1d,
        }
    }

    /// Uniform in [-1, 1).
    fn noise(&mut self) -> f64 {
        self.seed = self
            .seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.seed >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn tick(&mut self, symbol: u32, tick: TickInput) -> Vec<Detection> {
        let before = self.out.len();
        self.engine.on_tick(Some(symbol), &tick, &mut self.out);
        self.out[before..].to_vec()
    }

    /// `seconds` calm seconds of `symbol` from second `from` (after T0): four ticks a second, the mid an
    /// i.i.d. wobble of 2 bps around `level`, so that no detector has anything to see.
    fn calm(&mut self, symbol: u32, from: i64, seconds: i64, level: f64) -> Vec<Detection> {
        let before = self.out.len();
        for second in from..from + seconds {
            for quarter in 0..4 {
                let mid = level * (1.0 + 2e-4 * self.noise());
                let tick = quiet(T0 + second * SECOND + quarter * QUARTER, mid);
                self.engine.on_tick(Some(symbol), &tick, &mut self.out);
            }
        }
        self.out[before..].to_vec()
    }

    /// Calm seconds of two symbols interleaved (for pairs).
    fn calm_both(&mut self, from: i64, seconds: i64, levels: [f64; 2]) -> Vec<Detection> {
        let before = self.out.len();
        for second in from..from + seconds {
            for quarter in 0..4 {
                for (symbol, level) in levels.iter().enumerate() {
                    let mid = level * (1.0 + 2e-4 * self.noise());
                    let ts = T0 + second * SECOND + quarter * QUARTER + symbol as i64;
                    self.engine.on_tick(Some(symbol as u32), &quiet(ts, mid), &mut self.out);
                }
            }
        }
        self.out[before..].to_vec()
    }
}

fn feature(detection: &Detection, key: &str) -> f64 {
    detection
        .features()
        .iter()
        .find(|(k, _)| *k == key)
        .unwrap_or_else(|| panic!("no {key} in {detection:?}"))
        .1
}

fn keys(detection: &Detection) -> Vec<&'static str> {
    detection.features().iter().map(|(k, _)| *k).collect()
}

fn score(side: i8, size: f64, threshold: f64) -> f64 {
    f64::from(side) * (size / (2.0 * threshold)).min(1.0)
}

#[test]
fn no_detector_fires_on_an_hour_of_calm_ticks() {
    let mut feed = Feed::new("[[pairs]]\nleg_a = \"A\"\nleg_b = \"B\"\n");
    let fired = feed.calm_both(0, 3_600, [100.0, 50.0]);
    assert!(fired.is_empty(), "{fired:?}");
    let counters = feed.engine.counters();
    assert_eq!(counters.ticks, 3_600 * 8);
    assert_eq!(counters.signals, [0; 6]);
    assert_eq!(counters.skipped, [0; 4]);
}

/// 400 calm seconds, then `ticks` ticks a quarter second apart, each moving the mid by `step` (relative)
/// and trading `ltq`.
fn burst(feed: &mut Feed, from_s: i64, ticks: i64, step: f64, ltq: i64) -> Vec<Detection> {
    let mut fired = Vec::new();
    let mut mid = 100.0;
    for n in 0..ticks {
        mid *= 1.0 + step;
        let mut tick = quiet(T0 + from_s * SECOND + n * QUARTER, mid);
        tick.ltq = ltq;
        fired.extend(feed.tick(0, tick));
    }
    fired
}

#[test]
fn momentum_burst_fires_on_a_fast_move_carried_by_volume() {
    let mut feed = Feed::new(&only(&["momentum_burst"]));
    assert!(feed.calm(0, 0, 400, 100.0).is_empty());
    let fired = burst(&mut feed, 400, 12, 0.0005, 200);
    assert_eq!(fired.len(), 1, "{fired:?}");
    let d = &fired[0];
    assert_eq!((d.symbol, d.pattern, d.side), (0, MOMENTUM, 1));
    assert_eq!(keys(d), ["return_bps", "sigma_multiple", "volume_ratio"]);
    assert!(feature(d, "return_bps") > 20.0);
    assert!(feature(d, "sigma_multiple") >= 3.0);
    assert!(feature(d, "volume_ratio") >= 2.5);
    assert_eq!(d.score, score(1, feature(d, "sigma_multiple"), 3.0));
    assert_eq!(feed.engine.counters().signals, [1, 0, 0, 0, 0, 0]);
}

#[test]
fn momentum_burst_fires_down_on_a_fall() {
    let mut feed = Feed::new(&only(&["momentum_burst"]));
    feed.calm(0, 0, 400, 100.0);
    let fired = burst(&mut feed, 400, 12, -0.0005, 200);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].side, -1);
    assert!(feature(&fired[0], "return_bps") < 0.0);
    assert!(fired[0].score < 0.0 && fired[0].score >= -1.0);
}

#[test]
fn momentum_burst_needs_the_volume_surge() {
    let mut feed = Feed::new(&only(&["momentum_burst"]));
    feed.calm(0, 0, 400, 100.0);
    assert!(burst(&mut feed, 400, 12, 0.0005, 10).is_empty());
}

#[test]
fn momentum_burst_waits_out_its_cooldown() {
    let mut feed = Feed::new(&only(&["momentum_burst"]));
    feed.calm(0, 0, 400, 100.0);
    assert_eq!(burst(&mut feed, 400, 12, 0.0005, 400).len(), 1);
    feed.calm(0, 404, 30, 100.0);
    // 34 s after the first signal: within the 60 s cooldown.
    assert!(burst(&mut feed, 434, 12, 0.0005, 400).is_empty());
    feed.calm(0, 438, 60, 100.0);
    assert_eq!(burst(&mut feed, 498, 12, 0.0005, 400).len(), 1);
}

/// A jump of the mid to `level` at second `at`, held for `hold` seconds at four quiet ticks a second.
fn jump(feed: &mut Feed, symbol: u32, at: i64, hold: i64, level: f64) -> Vec<Detection> {
    let mut fired = Vec::new();
    for second in at..at + hold {
        for quarter in 0..4 {
            fired.extend(feed.tick(symbol, quiet(T0 + second * SECOND + quarter * QUARTER, level)));
        }
    }
    fired
}

#[test]
fn mean_reversion_fades_a_jump_on_usual_volume() {
    let mut feed = Feed::new(&only(&["mean_reversion"]));
    feed.calm(0, 0, 400, 100.0);
    let fired = jump(&mut feed, 0, 400, 1, 100.8);
    assert_eq!(fired.len(), 1, "{fired:?}");
    let d = &fired[0];
    assert_eq!(
        (d.pattern, d.side, d.price, d.tick_ts_ns),
        (REVERSION, -1, 100.8, T0 + 400 * SECOND)
    );
    assert_eq!(keys(d), ["deviation_bps", "volume_ratio", "z"]);
    assert!(feature(d, "deviation_bps") > 25.0);
    let z = defaults().mean_reversion.z;
    assert!(feature(d, "z") >= z);
    assert!(feature(d, "volume_ratio") < 2.0);
    assert_eq!(d.score, score(-1, feature(d, "z"), z));

    let mut feed = Feed::new(&only(&["mean_reversion"]));
    feed.calm(0, 0, 400, 100.0);
    let fired = jump(&mut feed, 0, 400, 1, 99.2);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].side, 1);
    assert!(feature(&fired[0], "z") <= -z);
}

#[test]
fn mean_reversion_does_not_fade_a_move_carried_by_volume() {
    let mut feed = Feed::new(&only(&["mean_reversion"]));
    feed.calm(0, 0, 400, 100.0);
    let mut tick = quiet(T0 + 400 * SECOND, 100.8);
    tick.ltq = 2_000;
    assert!(feed.tick(0, tick).is_empty());
}

#[test]
fn mean_reversion_rearms_only_back_inside_rearm_z() {
    let mut feed = Feed::new(&only(&["mean_reversion"]));
    feed.calm(0, 0, 400, 100.0);
    assert_eq!(jump(&mut feed, 0, 400, 1, 100.8).len(), 1);
    // Staying away past the cooldown: still disarmed, even further away.
    assert!(jump(&mut feed, 0, 401, 70, 100.8).is_empty());
    assert!(jump(&mut feed, 0, 471, 1, 101.6).is_empty());
    // Back near the mean re-arms it; the next jump past the cooldown fires.
    let mut feed = Feed::new(&only(&["mean_reversion"]));
    feed.calm(0, 0, 400, 100.0);
    assert_eq!(jump(&mut feed, 0, 400, 1, 100.8).len(), 1);
    assert!(feed.calm(0, 401, 70, 100.0).is_empty());
    assert_eq!(jump(&mut feed, 0, 471, 1, 100.8).len(), 1);
}

/// One tick with a book leaning to the bids (`side` 1) or the asks (-1).
fn leaning(ts_ns: i64, side: i8, best_ratio: i64) -> TickInput {
    let mut tick = quiet(ts_ns, 100.0);
    let (heavy, light) = (9_000, 1_000);
    let (heavy_best, light_best) = (100 * best_ratio, 100);
    if side > 0 {
        (tick.bid_depth_qty, tick.ask_depth_qty) = (heavy, light);
        (tick.bid_qty, tick.ask_qty) = (heavy_best, light_best);
    } else {
        (tick.bid_depth_qty, tick.ask_depth_qty) = (light, heavy);
        (tick.bid_qty, tick.ask_qty) = (light_best, heavy_best);
    }
    tick
}

fn lean_run(feed: &mut Feed, at_s: i64, ticks: i64, side: i8, best_ratio: i64) -> Vec<Detection> {
    (0..ticks)
        .flat_map(|n| feed.tick(0, leaning(T0 + at_s * SECOND + n * 1_000_000, side, best_ratio)))
        .collect()
}

#[test]
fn book_imbalance_fires_once_a_run_persists_with_the_microprice() {
    let mut feed = Feed::new(&only(&["book_imbalance"]));
    feed.calm(0, 0, 400, 100.0);
    let fired = lean_run(&mut feed, 400, 8, 1, 9);
    assert_eq!(fired.len(), 1, "{fired:?}");
    let d = &fired[0];
    assert_eq!((d.pattern, d.side), (IMBALANCE, 1));
    assert_eq!(
        d.tick_ts_ns,
        T0 + 400 * SECOND + 4 * 1_000_000,
        "fires on the 5th tick of the run"
    );
    assert_eq!(keys(d), ["imbalance", "microprice_lean", "run_ticks"]);
    assert_eq!(feature(d, "imbalance"), 0.8);
    assert_eq!(feature(d, "run_ticks"), 5.0);
    // microprice = (bid * 100 + ask * 900) / 1000: 0.4 of the spread above the mid.
    assert!((feature(d, "microprice_lean") - 0.4).abs() < 1e-9);
    assert_eq!(d.score, score(1, 0.8, 0.6));

    let mut feed = Feed::new(&only(&["book_imbalance"]));
    feed.calm(0, 0, 400, 100.0);
    let fired = lean_run(&mut feed, 400, 5, -1, 9);
    assert_eq!(fired.len(), 1);
    assert_eq!((fired[0].side, feature(&fired[0], "imbalance")), (-1, -0.8));
}

#[test]
fn book_imbalance_needs_the_run_and_the_microprice() {
    let mut feed = Feed::new(&only(&["book_imbalance"]));
    feed.calm(0, 0, 400, 100.0);
    assert!(lean_run(&mut feed, 400, 4, 1, 9).is_empty(), "4 ticks are not 5");
    feed.calm(0, 401, 1, 100.0);
    // Depth leans to the bids but the best level leans the other way: the microprice does not confirm.
    let contrary: Vec<Detection> = (0..8)
        .flat_map(|n| {
            let mut tick = leaning(T0 + 402 * SECOND + n * 1_000_000, 1, 1);
            (tick.bid_qty, tick.ask_qty) = (100, 900);
            feed.tick(0, tick)
        })
        .collect();
    assert!(contrary.is_empty());
}

#[test]
fn book_imbalance_waits_out_its_cooldown_between_runs() {
    let mut feed = Feed::new(&only(&["book_imbalance"]));
    feed.calm(0, 0, 400, 100.0);
    assert_eq!(lean_run(&mut feed, 400, 5, 1, 9).len(), 1);
    feed.calm(0, 401, 10, 100.0);
    assert!(lean_run(&mut feed, 411, 5, 1, 9).is_empty(), "within 60 s");
    feed.calm(0, 412, 60, 100.0);
    assert_eq!(lean_run(&mut feed, 472, 5, 1, 9).len(), 1);
}

#[test]
fn breakout_fires_when_the_mid_leaves_a_tight_range() {
    let mut feed = Feed::new(&only(&["breakout"]));
    feed.calm(0, 0, 400, 100.0);
    let fired = jump(&mut feed, 0, 400, 1, 100.1);
    assert_eq!(fired.len(), 1, "{fired:?}");
    let d = &fired[0];
    assert_eq!((d.pattern, d.side, d.tick_ts_ns), (BREAKOUT, 1, T0 + 400 * SECOND));
    assert_eq!(keys(d), ["breach_bps", "range_bps"]);
    let (breach, range) = (feature(d, "breach_bps"), feature(d, "range_bps"));
    assert!(
        range > 0.0 && range <= 4.0,
        "the calm range is 4 bps wide at most: {range}"
    );
    assert!(breach >= range * 0.99, "beyond the high by break_fraction x the range");
    assert!(d.score > 0.0 && d.score <= 1.0);
    // The range is spent: holding beyond it does not fire again.
    assert!(jump(&mut feed, 0, 401, 5, 100.1).is_empty());

    let mut feed = Feed::new(&only(&["breakout"]));
    feed.calm(0, 0, 400, 100.0);
    let fired = jump(&mut feed, 0, 400, 1, 99.9);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].side, -1);
}

#[test]
fn breakout_needs_a_tight_range() {
    // A range wider than max_range_sigmas allows is no reference.
    let mut feed = Feed::new(&format!("{}[breakout]\nmax_range_sigmas = 0.01\n", only(&["breakout"])));
    feed.calm(0, 0, 400, 100.0);
    assert!(jump(&mut feed, 0, 400, 1, 100.1).is_empty());
}

#[test]
fn vwap_deviation_fades_a_price_far_from_the_session_vwap() {
    let mut feed = Feed::new(&only(&["vwap_deviation"]));
    feed.calm(0, 0, 400, 100.0);
    assert!(jump(&mut feed, 0, 400, 1, 100.5).is_empty(), "50 bps is inside 60");
    let fired = jump(&mut feed, 0, 401, 1, 100.8);
    assert_eq!(fired.len(), 1, "{fired:?}");
    let d = &fired[0];
    assert_eq!((d.pattern, d.side, d.price), (VWAP, -1, 100.8));
    assert_eq!(keys(d), ["deviation_bps", "vwap"]);
    let vwap = feature(d, "vwap");
    assert!((vwap - 100.0).abs() < 0.05, "{vwap}");
    assert_eq!(feature(d, "deviation_bps"), (100.8 / vwap - 1.0) * 10_000.0);
    assert_eq!(d.score, score(-1, feature(d, "deviation_bps").abs(), 60.0));

    let mut feed = Feed::new(&only(&["vwap_deviation"]));
    feed.calm(0, 0, 400, 100.0);
    let fired = jump(&mut feed, 0, 400, 1, 99.2);
    assert_eq!((fired.len(), fired[0].side), (1, 1));
}

#[test]
fn vwap_deviation_rearms_back_within_rearm_bps() {
    let mut feed = Feed::new(&format!(
        "{}[vwap_deviation]\ncooldown_s = 10\n",
        only(&["vwap_deviation"])
    ));
    feed.calm(0, 0, 400, 100.0);
    assert_eq!(jump(&mut feed, 0, 400, 1, 100.8).len(), 1);
    // Away for longer than the cooldown: no second signal while disarmed.
    assert!(jump(&mut feed, 0, 401, 20, 100.8).is_empty());
    // Back within 30 bps of the VWAP re-arms; the next excursion fires.
    assert!(feed.calm(0, 421, 5, 100.0).is_empty());
    assert_eq!(jump(&mut feed, 0, 426, 1, 100.9).len(), 1);
}

#[test]
fn pair_spread_signals_the_rich_leg() {
    let pair = "[[pairs]]\nleg_a = \"A\"\nleg_b = \"B\"\n";
    let mut feed = Feed::new(&format!("{}{pair}", only(&[])));
    assert!(feed.calm_both(0, 400, [100.0, 50.0]).is_empty());
    let fired = jump(&mut feed, 0, 400, 1, 100.5);
    assert_eq!(fired.len(), 1, "{fired:?}");
    let d = &fired[0];
    assert_eq!((d.symbol, d.pattern, d.side, d.price), (0, PAIR, -1, 100.5));
    assert_eq!(keys(d), ["leg_b_mid", "spread_bps", "z"]);
    assert!((feature(d, "leg_b_mid") - 50.0).abs() < 0.02);
    assert!(feature(d, "spread_bps") > 40.0);
    let z = defaults().pairs[0].z;
    assert!(feature(d, "z") >= z);
    assert_eq!(d.score, score(-1, feature(d, "z"), z));
    assert_eq!(feed.engine.counters().signals, [0, 0, 0, 0, 0, 1]);

    // A tick of leg_b makes leg_a cheap: the pair buys leg_a.
    let mut feed = Feed::new(&format!("{}{pair}", only(&[])));
    feed.calm_both(0, 400, [100.0, 50.0]);
    let fired = jump(&mut feed, 1, 400, 1, 50.25);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!((fired[0].symbol, fired[0].side), (0, 1));
}

#[test]
fn a_disabled_pair_never_fires() {
    let pair = "[[pairs]]\nleg_a = \"A\"\nleg_b = \"B\"\nenabled = false\n";
    let mut feed = Feed::new(&format!("{}{pair}", only(&[])));
    feed.calm_both(0, 400, [100.0, 50.0]);
    assert!(jump(&mut feed, 0, 400, 1, 100.5).is_empty());
}

#[test]
fn nothing_fires_before_the_warm_up() {
    let mut feed = Feed::new(&only(&["vwap_deviation"]));
    feed.calm(0, 0, 100, 100.0);
    assert!(
        jump(&mut feed, 0, 100, 1, 100.8).is_empty(),
        "100 closed seconds < warmup_s 300"
    );
    let mut feed = Feed::new(&format!("warmup_s = 50\n{}", only(&["vwap_deviation"])));
    feed.calm(0, 0, 100, 100.0);
    assert_eq!(jump(&mut feed, 0, 100, 1, 100.8).len(), 1);

    let pair = "[[pairs]]\nleg_a = \"A\"\nleg_b = \"B\"\n";
    let mut feed = Feed::new(&format!("{}{pair}", only(&[])));
    feed.calm_both(0, 100, [100.0, 50.0]);
    assert!(jump(&mut feed, 0, 100, 1, 100.5).is_empty());
}

#[test]
fn a_gap_of_more_than_an_hour_starts_the_symbol_over() {
    for (gap, fires) in [(3_599, true), (3_601, false)] {
        let mut feed = Feed::new(&only(&["vwap_deviation"]));
        feed.calm(0, 0, 400, 100.0);
        let fired = jump(&mut feed, 0, 400 + gap, 1, 100.8);
        assert_eq!(fired.len() == 1, fires, "gap {gap}: {fired:?}");
    }
}

#[test]
fn a_new_ist_day_starts_the_symbol_over() {
    // 23:50 IST on 2025-11-21 is T0 + 14 h 35 min; midnight follows 600 s later.
    let before_midnight = 14 * 3_600 + 35 * 60;
    let mut feed = Feed::new(&format!("warmup_s = 60\n{}", only(&["vwap_deviation"])));
    feed.calm(0, before_midnight, 590, 100.0);
    // 20 s later, across midnight: a new session, not warm, whose VWAP is its own first price.
    assert!(jump(&mut feed, 0, before_midnight + 610, 1, 100.8).is_empty());
    let fired = jump(&mut feed, 0, before_midnight + 611, 70, 100.8);
    assert!(fired.is_empty(), "the new session's VWAP is 100.8: {fired:?}");
    // The same ticks within one day do fire.
    let mut feed = Feed::new(&format!("warmup_s = 60\n{}", only(&["vwap_deviation"])));
    feed.calm(0, 0, 590, 100.0);
    assert_eq!(jump(&mut feed, 0, 610, 1, 100.8).len(), 1);
}

#[test]
fn bad_ticks_are_counted_by_reason_and_skipped() {
    let mut engine = engine("");
    let mut out = Vec::new();
    let good = quiet(T0, 100.0);
    engine.on_tick(Some(0), &good, &mut out);
    engine.on_tick(None, &good, &mut out);
    engine.on_tick(Some(3), &good, &mut out);
    engine.on_tick(Some(u32::MAX), &good, &mut out);
    let bad_prices = [
        TickInput { ltp: f64::NAN, ..good },
        TickInput { ltp: -1.0, ..good },
        TickInput { ltp: 0.0, ..good },
        TickInput {
            ltp: f64::INFINITY,
            ..good
        },
        TickInput {
            ltp: f64::NEG_INFINITY,
            ..good
        },
        TickInput { bid: -0.5, ..good },
        TickInput {
            ask: f64::INFINITY,
            ..good
        },
        TickInput {
            bid: f64::NEG_INFINITY,
            ..good
        },
    ];
    for tick in &bad_prices {
        engine.on_tick(Some(0), tick, &mut out);
    }
    let bad_quantities = [
        TickInput { ltq: 0, ..good },
        TickInput { ltq: -5, ..good },
        TickInput { bid_qty: -1, ..good },
        TickInput {
            ask_qty: i64::MIN,
            ..good
        },
        TickInput {
            bid_depth_qty: -1,
            ..good
        },
        TickInput {
            ask_depth_qty: -1,
            ..good
        },
    ];
    for tick in &bad_quantities {
        engine.on_tick(Some(0), tick, &mut out);
    }
    engine.on_tick(Some(0), &TickInput { ts_ns: T0 - 1, ..good }, &mut out);
    // An absent quote (NaN) or a zero quote is not bad; the same timestamp again is in order.
    engine.on_tick(
        Some(0),
        &TickInput {
            bid: f64::NAN,
            ask: f64::NAN,
            ..good
        },
        &mut out,
    );
    engine.on_tick(Some(0), &TickInput { bid: 0.0, ..good }, &mut out);
    let counters = engine.counters();
    assert_eq!(counters.ticks, 3);
    assert_eq!(counters.skipped, [3, 8, 6, 1]);
    assert_eq!(
        SKIP_REASONS,
        ["unknown_symbol", "bad_price", "bad_quantity", "out_of_order"]
    );
    assert!(out.is_empty());
}

#[test]
fn a_price_problem_is_counted_before_a_quantity_or_time_problem() {
    let mut engine = engine("");
    let mut out = Vec::new();
    engine.on_tick(Some(0), &quiet(T0, 100.0), &mut out);
    let tick = TickInput {
        ts_ns: 0,
        ltp: f64::NAN,
        ltq: 0,
        ..quiet(T0, 100.0)
    };
    engine.on_tick(Some(0), &tick, &mut out);
    let tick = TickInput {
        ts_ns: 0,
        ltq: 0,
        ..quiet(T0, 100.0)
    };
    engine.on_tick(Some(0), &tick, &mut out);
    assert_eq!(engine.counters().skipped, [0, 1, 1, 0]);
}

#[test]
fn a_first_tick_before_minus_one_nanosecond_is_out_of_order_as_in_the_reference() {
    // The reference starts every symbol at last_ts = -1.
    let mut engine = engine("");
    let mut out = Vec::new();
    engine.on_tick(Some(0), &quiet(-2, 100.0), &mut out);
    engine.on_tick(Some(1), &quiet(-1, 100.0), &mut out);
    engine.on_tick(Some(2), &quiet(i64::MIN, 100.0), &mut out);
    assert_eq!(engine.counters().skipped, [0, 0, 0, 2]);
    assert_eq!(engine.counters().ticks, 1);
}

/// xorshift64*: garbage for the fuzz loop.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Mostly a plausible price; one time in five something no price should be.
fn garbage_f64(state: &mut u64, level: f64) -> f64 {
    const SPECIAL: [f64; 12] = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        -1.0,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        1e300,
        1e-300,
        100.05,
    ];
    let r = next(state);
    match r % 20 {
        0 | 1 => SPECIAL[(r >> 8) as usize % SPECIAL.len()],
        2 => f64::from_bits(next(state)),
        3 => level * 1.5,
        _ => level * (1.0 + ((r >> 16) % 2_000) as f64 / 100_000.0 - 0.01),
    }
}

/// Mostly a plausible quantity; one time in six something extreme.
fn garbage_i64(state: &mut u64) -> i64 {
    const SPECIAL: [i64; 7] = [i64::MIN, -1, 0, 1, i64::MAX, 1 << 62, 10];
    let r = next(state);
    match r % 30 {
        0 => SPECIAL[(r >> 8) as usize % SPECIAL.len()],
        1 => next(state) as i64,
        _ => 1 + (r >> 20) as i64 % 5_000,
    }
}

#[test]
fn garbage_never_panics_and_every_tick_is_accounted_for() {
    let pairs = "[[pairs]]\nleg_a = \"A\"\nleg_b = \"B\"\n[[pairs]]\nleg_a = \"C\"\nleg_b = \"A\"\n\
                 tau_s = 1\nz = 0.5\nrearm_z = 0.1\n";
    let fast = "warmup_s = 0\n[mean_reversion]\newma_tau_s = 1\nz = 0.5\nrearm_z = 0.1\n\
                [momentum_burst]\nk = 0.1\nvolume_surge = 0.1\n[book_imbalance]\npersist_ticks = 1\n";
    let mut engine = engine(&format!("{fast}{pairs}"));
    let mut out = Vec::new();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut ts = T0;
    let rows = 200_000;
    let mut level = 100.0;
    for row in 0..rows {
        let r = next(&mut state);
        level *= 1.0 + ((r >> 8) % 100) as f64 / 10_000.0 - 0.005;
        ts = match r % 2_000 {
            // Timestamps near the ends of i64 leave a symbol unable to go on: only at the end.
            0 if row > rows * 99 / 100 => garbage_i64(&mut state),
            1..=4 => ts.saturating_add(3_700 * SECOND),
            5..=40 => ts.saturating_sub(SECOND),
            _ => ts.saturating_add((r >> 32) as i64 % (2 * SECOND)),
        };
        let tick = TickInput {
            ts_ns: ts,
            ltp: garbage_f64(&mut state, level),
            ltq: garbage_i64(&mut state),
            bid: garbage_f64(&mut state, level * 0.999),
            ask: garbage_f64(&mut state, level * 1.001),
            bid_qty: garbage_i64(&mut state),
            ask_qty: garbage_i64(&mut state),
            bid_depth_qty: garbage_i64(&mut state),
            ask_depth_qty: garbage_i64(&mut state),
        };
        let r = next(&mut state);
        let symbol = match r % 16 {
            0 => None,
            1 => Some(3 + (r >> 8) as u32 % 1_000),
            _ => Some((r >> 8) as u32 % 3),
        };
        engine.on_tick(symbol, &tick, &mut out);
    }
    let counters = engine.counters();
    assert_eq!(counters.ticks + counters.skipped.iter().sum::<u64>(), rows);
    assert_eq!(counters.signals.iter().sum::<u64>(), out.len() as u64);
    assert!(counters.ticks > 50_000, "{counters:?}");
    assert!(counters.skipped.iter().all(|&n| n > 100), "{counters:?}");
    assert!(!out.is_empty(), "{counters:?}");
    for d in &out {
        assert!(d.side == 1 || d.side == -1);
        assert!((-1.0..=1.0).contains(&d.score), "{d:?}");
        assert!(d.symbol < 3 && d.pattern < 6 && d.feature_count >= 2 && d.feature_count <= 3);
        let keys = keys(d);
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    }
}

/// A mixed day: calm, a burst, a jump, an imbalance run, a pair move.
fn mixed(engine: &mut PatternEngine) -> Vec<Detection> {
    let mut feed = Feed {
        engine: std::mem::replace(engine, self::engine("")),
        out: Vec::new(),
        seed: 7,
    };
    feed.calm_both(0, 400, [100.0, 50.0]);
    burst(&mut feed, 400, 12, 0.0005, 200);
    feed.calm_both(404, 100, [100.0, 50.0]);
    jump(&mut feed, 0, 504, 2, 100.8);
    lean_run(&mut feed, 506, 6, -1, 9);
    feed.calm_both(507, 200, [100.0, 50.0]);
    *engine = feed.engine;
    feed.out
}

#[test]
fn the_same_ticks_give_the_same_detections() {
    let config = "[[pairs]]\nleg_a = \"A\"\nleg_b = \"B\"\n";
    let mut first = engine(config);
    let mut second = engine(config);
    let (a, b) = (mixed(&mut first), mixed(&mut second));
    assert!(a.len() >= 4, "{a:?}");
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert!(a.iter().zip(&b).all(|(x, y)| x.score.to_bits() == y.score.to_bits()));
    assert_eq!(first.counters(), second.counters());
}

#[test]
fn a_batch_gives_what_the_same_ticks_give_one_by_one() {
    let mut state = 42_u64;
    let rows = 20_000;
    let mut ts = Vec::with_capacity(rows);
    let mut symbol = Vec::with_capacity(rows);
    let mut mids = [100.0, 50.0, 75.0];
    let mut ltp = Vec::with_capacity(rows);
    let mut t = T0;
    for _ in 0..rows {
        let r = next(&mut state);
        t += (r % 300_000_000) as i64;
        let s = (r >> 40) % 4;
        symbol.push(s as u32);
        if s < 3 {
            mids[s as usize] *= 1.0 + ((r >> 20) % 200) as f64 / 100_000.0 - 0.001;
        }
        ts.push(t);
        ltp.push(mids[(s % 3) as usize]);
    }
    let bid: Vec<f64> = ltp.iter().map(|p| p - 0.01).collect();
    let ask: Vec<f64> = ltp.iter().map(|p| p + 0.01).collect();
    let ltq = vec![10_i64; rows];
    let bid_qty: Vec<i64> = (0..rows as i64).map(|i| 100 + (i * 37) % 900).collect();
    let ask_qty: Vec<i64> = (0..rows as i64).map(|i| 100 + (i * 53) % 900).collect();
    let bid_depth: Vec<i64> = bid_qty.iter().map(|q| q * 10).collect();
    let ask_depth: Vec<i64> = ask_qty.iter().map(|q| q * 9).collect();
    let config = "warmup_s = 10\n[[pairs]]\nleg_a = \"A\"\nleg_b = \"B\"\n";
    let mut batch = engine(config);
    // Code 3 is a symbol outside the universe.
    let codes = [Some(0), Some(1), Some(2), None];
    let columns = EngineColumns {
        ts_ns: &ts,
        symbol: &symbol,
        symbols: &codes,
        ltp: &ltp,
        ltq: &ltq,
        bid: &bid,
        ask: &ask,
        bid_qty: &bid_qty,
        ask_qty: &ask_qty,
        bid_depth_qty: &bid_depth,
        ask_depth_qty: &ask_depth,
    };
    let mut from_batch = Vec::new();
    batch.on_columns(&columns, &mut from_batch).unwrap();
    let mut single = engine(config);
    let mut from_ticks = Vec::new();
    for row in 0..rows {
        let tick = TickInput {
            ts_ns: ts[row],
            ltp: ltp[row],
            ltq: ltq[row],
            bid: bid[row],
            ask: ask[row],
            bid_qty: bid_qty[row],
            ask_qty: ask_qty[row],
            bid_depth_qty: bid_depth[row],
            ask_depth_qty: ask_depth[row],
        };
        single.on_tick(codes[symbol[row] as usize], &tick, &mut from_ticks);
    }
    assert!(!from_batch.is_empty());
    assert_eq!(format!("{from_batch:?}"), format!("{from_ticks:?}"));
    assert_eq!(batch.counters(), single.counters());
    assert!(batch.counters().skipped[0] > 0);
}

#[test]
fn a_batch_with_a_short_column_is_refused_whole_and_a_stray_code_is_an_unknown_symbol() {
    let mut engine = engine("");
    let mut out = Vec::new();
    let ts = [T0, T0 + 1];
    let codes = [Some(0)];
    let f = [100.0, 100.0];
    let q = [10_i64, 10];
    let mut columns = EngineColumns {
        ts_ns: &ts,
        symbol: &[0, 5],
        symbols: &codes,
        ltp: &f,
        ltq: &q,
        bid: &f,
        ask: &f[..1],
        bid_qty: &q,
        ask_qty: &q,
        bid_depth_qty: &q,
        ask_depth_qty: &q,
    };
    let err = engine.on_columns(&columns, &mut out).unwrap_err();
    assert_eq!(err.to_string(), "column ask has 1 rows, expected 2 (the rows of ts_ns)");
    assert_eq!(engine.counters().ticks, 0);
    columns.ask = &f;
    engine.on_columns(&columns, &mut out).unwrap();
    assert_eq!(engine.counters().ticks, 1);
    assert_eq!(engine.counters().skipped, [1, 0, 0, 0]);
}

#[test]
fn symbols_are_indexed_in_config_order() {
    let engine = engine("");
    assert_eq!(engine.symbols(), ["A", "B", "C"]);
    assert_eq!(engine.symbol_index("B"), Some(1));
    assert_eq!(engine.symbol_index("Z"), None);
    assert_eq!(
        PATTERNS,
        [
            "momentum_burst",
            "mean_reversion",
            "book_imbalance",
            "breakout",
            "vwap_deviation",
            "pair_spread"
        ]
    );
}
