//! Throughput of the whole detector set on synthetic random-walk ticks, in release mode:
//!
//! `cargo test --release -p pattern_engine_core --test engine_throughput -- --ignored --nocapture`
//!
//! Ignored by default: a timing belongs in a release run, not in the debug test suite.

use std::time::Instant;

use pattern_engine_core::config::EngineConfig;
use pattern_engine_core::engine::{EngineColumns, PatternEngine, TickInput};

struct Columns {
    ts_ns: Vec<i64>,
    symbol: Vec<u32>,
    ltp: Vec<f64>,
    ltq: Vec<i64>,
    bid: Vec<f64>,
    ask: Vec<f64>,
    bid_qty: Vec<i64>,
    ask_qty: Vec<i64>,
    bid_depth_qty: Vec<i64>,
    ask_depth_qty: Vec<i64>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        // Irwin-Hall: close enough to a normal for a random walk.
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }
}

/// `ticks` ticks over `symbols` symbols, `rate` ticks per second per symbol on average, from 09:15 IST.
fn random_walk(ticks: usize, symbols: usize, rate: f64, seed: u64) -> Columns {
    let mut rng = Rng(seed);
    let mut mids: Vec<f64> = (0..symbols).map(|i| 100.0 + 50.0 * i as f64).collect();
    let mut ts: i64 = 1_763_696_700_000_000_000;
    let step = 1e9 / (rate * symbols as f64);
    let mut c = Columns {
        ts_ns: Vec::with_capacity(ticks),
        symbol: Vec::with_capacity(ticks),
        ltp: Vec::with_capacity(ticks),
        ltq: Vec::with_capacity(ticks),
        bid: Vec::with_capacity(ticks),
        ask: Vec::with_capacity(ticks),
        bid_qty: Vec::with_capacity(ticks),
        ask_qty: Vec::with_capacity(ticks),
        bid_depth_qty: Vec::with_capacity(ticks),
        ask_depth_qty: Vec::with_capacity(ticks),
    };
    for _ in 0..ticks {
        ts += (-(1.0 - rng.uniform()).ln() * step) as i64;
        let s = (rng.next() % symbols as u64) as usize;
        mids[s] *= 1.0 + 0.0004 * rng.normal();
        let half = (mids[s] * 0.0002).max(0.05);
        let bid = ((mids[s] - half) * 20.0).floor() / 20.0;
        let ask = bid + 2.0 * half;
        let bid_qty = 1 + (rng.next() % 2000) as i64;
        let ask_qty = 1 + (rng.next() % 2000) as i64;
        c.ts_ns.push(ts);
        c.symbol.push(s as u32);
        c.ltp.push(if rng.next().is_multiple_of(2) { bid } else { ask });
        c.ltq.push(1 + (rng.next() % 500) as i64);
        c.bid.push(bid);
        c.ask.push(ask);
        c.bid_qty.push(bid_qty);
        c.ask_qty.push(ask_qty);
        c.bid_depth_qty.push(bid_qty + (rng.next() % 20_000) as i64);
        c.ask_depth_qty.push(ask_qty + (rng.next() % 20_000) as i64);
    }
    c
}

fn engine(symbols: usize) -> (PatternEngine, Vec<Option<u32>>) {
    let names: Vec<String> = (0..symbols).map(|i| format!("SYM{i}")).collect();
    let mut text = format!("symbols = {names:?}\nwarmup_s = 60\n");
    text.push_str("[[pairs]]\nleg_a = \"SYM0\"\nleg_b = \"SYM1\"\n[[pairs]]\nleg_a = \"SYM2\"\nleg_b = \"SYM3\"\n");
    let config = EngineConfig::from_toml(&text).unwrap();
    let engine = PatternEngine::new(config);
    let mapping = names.iter().map(|n| engine.symbol_index(n)).collect();
    (engine, mapping)
}

fn run(label: &str, ticks: usize, symbols: usize, rate: f64) {
    let c = random_walk(ticks, symbols, rate, 0x5eed ^ rate.to_bits());
    let (mut batch, mapping) = engine(symbols);
    let columns = EngineColumns {
        ts_ns: &c.ts_ns,
        symbol: &c.symbol,
        symbols: &mapping,
        ltp: &c.ltp,
        ltq: &c.ltq,
        bid: &c.bid,
        ask: &c.ask,
        bid_qty: &c.bid_qty,
        ask_qty: &c.ask_qty,
        bid_depth_qty: &c.bid_depth_qty,
        ask_depth_qty: &c.ask_depth_qty,
    };
    let mut out = Vec::with_capacity(1 << 16);
    let start = Instant::now();
    batch.on_columns(&columns, &mut out).unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    let detections = out.len();

    let (mut single, _) = engine(symbols);
    out.clear();
    let start = Instant::now();
    for row in 0..ticks {
        let tick = TickInput {
            ts_ns: c.ts_ns[row],
            ltp: c.ltp[row],
            ltq: c.ltq[row],
            bid: c.bid[row],
            ask: c.ask[row],
            bid_qty: c.bid_qty[row],
            ask_qty: c.ask_qty[row],
            bid_depth_qty: c.bid_depth_qty[row],
            ask_depth_qty: c.ask_depth_qty[row],
        };
        single.on_tick(mapping[c.symbol[row] as usize], &tick, &mut out);
    }
    let elapsed_single = start.elapsed().as_secs_f64();
    assert_eq!(out.len(), detections);
    let seconds = (c.ts_ns[ticks - 1] - c.ts_ns[0]) as f64 / 1e9;
    println!(
        "{label}: {ticks} ticks, {symbols} symbols, {rate} ticks/s/symbol ({seconds:.0} s of market), \
         {detections} detections: on_columns {:.1} ns/tick ({:.1} M ticks/s), on_tick {:.1} ns/tick",
        elapsed * 1e9 / ticks as f64,
        ticks as f64 / elapsed / 1e6,
        elapsed_single * 1e9 / ticks as f64,
    );
}

fn column<const N: usize, T>(dir: &std::path::Path, name: &str, from: fn([u8; N]) -> T) -> Vec<T> {
    let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    bytes
        .chunks_exact(N)
        .map(|chunk| from(chunk.try_into().unwrap()))
        .collect()
}

/// The ticks of a parity vector directory (see `engine_parity.rs`), e.g. the sample day, when
/// `PATTERN_ENGINE_VECTORS` names one.
fn recorded_day() {
    let Ok(dir) = std::env::var("PATTERN_ENGINE_VECTORS") else {
        return;
    };
    let dir = std::path::Path::new(&dir);
    let config = EngineConfig::from_toml(&std::fs::read_to_string(dir.join("config.toml")).unwrap()).unwrap();
    let names: Vec<String> = serde_json::from_str(&std::fs::read_to_string(dir.join("symbols.json")).unwrap()).unwrap();
    let c = Columns {
        ts_ns: column(dir, "ts.i64", i64::from_le_bytes),
        symbol: column(dir, "sym.u32", u32::from_le_bytes),
        ltp: column(dir, "ltp.f64", f64::from_le_bytes),
        ltq: column(dir, "ltq.i64", i64::from_le_bytes),
        bid: column(dir, "bid.f64", f64::from_le_bytes),
        ask: column(dir, "ask.f64", f64::from_le_bytes),
        bid_qty: column(dir, "bid_qty.i64", i64::from_le_bytes),
        ask_qty: column(dir, "ask_qty.i64", i64::from_le_bytes),
        bid_depth_qty: column(dir, "bid_depth.i64", i64::from_le_bytes),
        ask_depth_qty: column(dir, "ask_depth.i64", i64::from_le_bytes),
    };
    let mut best = f64::INFINITY;
    let mut detections = 0;
    for _ in 0..20 {
        let mut engine = PatternEngine::new(config.clone());
        let mapping: Vec<Option<u32>> = names.iter().map(|n| engine.symbol_index(n)).collect();
        let columns = EngineColumns {
            ts_ns: &c.ts_ns,
            symbol: &c.symbol,
            symbols: &mapping,
            ltp: &c.ltp,
            ltq: &c.ltq,
            bid: &c.bid,
            ask: &c.ask,
            bid_qty: &c.bid_qty,
            ask_qty: &c.ask_qty,
            bid_depth_qty: &c.bid_depth_qty,
            ask_depth_qty: &c.ask_depth_qty,
        };
        let mut out = Vec::with_capacity(1 << 12);
        let start = Instant::now();
        engine.on_columns(&columns, &mut out).unwrap();
        best = best.min(start.elapsed().as_secs_f64());
        detections = out.len();
    }
    let ticks = c.ts_ns.len();
    println!(
        "{}: {ticks} ticks, {detections} detections: on_columns {:.1} ns/tick ({:.1} M ticks/s), best of 20",
        dir.display(),
        best * 1e9 / ticks as f64,
        ticks as f64 / best / 1e6
    );
}

#[test]
#[ignore = "a timing: run in release with --ignored --nocapture"]
fn recorded_day_throughput() {
    recorded_day();
}

#[test]
#[ignore = "a timing: run in release with --ignored --nocapture"]
fn random_walk_throughput() {
    run("sample-day density", 5_000_000, 16, 4.0);
    run("busy", 5_000_000, 16, 50.0);
    run("sparse", 5_000_000, 16, 0.5);
}
