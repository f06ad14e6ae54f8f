//! Parity with `pattern_engine/reference.py` on vectors it wrote: `PATTERN_ENGINE_VECTORS=<dir>` names a
//! directory with the ticks as little-endian columns, the config, and the reference's detections (floats as
//! u64 bit patterns). Ignored by default: the vectors are generated outside the repository.
//!
//! `PATTERN_ENGINE_VECTORS=/tmp/vectors cargo test -p pattern_engine_core --test engine_parity -- --ignored`

use std::path::Path;

use pattern_engine_core::config::EngineConfig;
use pattern_engine_core::engine::{Detection, EngineColumns, PatternEngine, TickInput, PATTERNS};

fn column<const N: usize, T>(dir: &Path, name: &str, from: fn([u8; N]) -> T) -> Vec<T> {
    let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    bytes
        .chunks_exact(N)
        .map(|chunk| from(chunk.try_into().unwrap()))
        .collect()
}

struct Vectors {
    config: EngineConfig,
    names: Vec<String>,
    ts: Vec<i64>,
    sym: Vec<u32>,
    ltp: Vec<f64>,
    ltq: Vec<i64>,
    bid: Vec<f64>,
    ask: Vec<f64>,
    bid_qty: Vec<i64>,
    ask_qty: Vec<i64>,
    bid_depth: Vec<i64>,
    ask_depth: Vec<i64>,
    expected: serde_json::Value,
}

fn load(dir: &Path) -> Vectors {
    let text = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let names: Vec<String> = serde_json::from_str(&std::fs::read_to_string(dir.join("symbols.json")).unwrap()).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    Vectors {
        config: EngineConfig::from_toml(&text).unwrap(),
        names,
        ts: column(dir, "ts.i64", i64::from_le_bytes),
        sym: column(dir, "sym.u32", u32::from_le_bytes),
        ltp: column(dir, "ltp.f64", f64::from_le_bytes),
        ltq: column(dir, "ltq.i64", i64::from_le_bytes),
        bid: column(dir, "bid.f64", f64::from_le_bytes),
        ask: column(dir, "ask.f64", f64::from_le_bytes),
        bid_qty: column(dir, "bid_qty.i64", i64::from_le_bytes),
        ask_qty: column(dir, "ask_qty.i64", i64::from_le_bytes),
        bid_depth: column(dir, "bid_depth.i64", i64::from_le_bytes),
        ask_depth: column(dir, "ask_depth.i64", i64::from_le_bytes),
        expected,
    }
}

fn describe(d: &Detection) -> String {
    let features: Vec<String> = d
        .features()
        .iter()
        .map(|(k, v)| format!("{k}={v:?}/{:#x}", v.to_bits()))
        .collect();
    format!(
        "sym={} {} side={} score={:?}/{:#x} price={:?} ts={} [{}]",
        d.symbol,
        PATTERNS[d.pattern as usize],
        d.side,
        d.score,
        d.score.to_bits(),
        d.price,
        d.tick_ts_ns,
        features.join(", ")
    )
}

fn expected_detection(value: &serde_json::Value) -> (u64, Detection) {
    let f = |key: &str| f64::from_bits(value[key].as_u64().unwrap());
    let mut features = [("", 0.0); 3];
    let list = value["features"].as_array().unwrap();
    for (slot, entry) in features.iter_mut().zip(list) {
        let name = entry[0].as_str().unwrap();
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        *slot = (name, f64::from_bits(entry[1].as_u64().unwrap()));
    }
    (
        value["row"].as_u64().unwrap(),
        Detection {
            symbol: value["symbol"].as_u64().unwrap() as u32,
            pattern: value["pattern"].as_u64().unwrap() as u8,
            side: value["side"].as_i64().unwrap() as i8,
            score: f("score"),
            price: f("price"),
            tick_ts_ns: value["tick_ts_ns"].as_i64().unwrap(),
            features,
            feature_count: list.len() as u8,
        },
    )
}

fn same(a: &Detection, b: &Detection) -> bool {
    a.symbol == b.symbol
        && a.pattern == b.pattern
        && a.side == b.side
        && a.tick_ts_ns == b.tick_ts_ns
        && a.score.to_bits() == b.score.to_bits()
        && a.price.to_bits() == b.price.to_bits()
        && a.feature_count == b.feature_count
        && a.features()
            .iter()
            .zip(b.features())
            .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
}

#[test]
#[ignore = "needs PATTERN_ENGINE_VECTORS, written by the reference engine"]
fn rust_matches_the_reference_bit_for_bit() {
    let dir = std::env::var("PATTERN_ENGINE_VECTORS").expect("set PATTERN_ENGINE_VECTORS");
    let v = load(Path::new(&dir));
    // The config as Python resolved it (every key, defaults included) is the config Rust read from the
    // TOML: the defaults agree.
    if let Ok(json) = std::fs::read_to_string(Path::new(&dir).join("config.json")) {
        let python = EngineConfig::from_json(&json).unwrap();
        for symbol in &v.config.symbols {
            assert_eq!(
                python.detectors_for(symbol).unwrap(),
                v.config.detectors_for(symbol).unwrap(),
                "{symbol}"
            );
        }
        assert_eq!(python.pairs, v.config.pairs);
        assert_eq!(
            (python.warmup_s, python.volatility_tau_s, python.volume_tau_s),
            (v.config.warmup_s, v.config.volatility_tau_s, v.config.volume_tau_s)
        );
    }
    let mut engine = PatternEngine::new(v.config.clone());
    let mapping: Vec<Option<u32>> = v.names.iter().map(|n| engine.symbol_index(n)).collect();

    // Per tick, so each detection can be placed on its row.
    let mut got: Vec<(u64, Detection)> = Vec::new();
    let mut out = Vec::new();
    for row in 0..v.ts.len() {
        let tick = TickInput {
            ts_ns: v.ts[row],
            ltp: v.ltp[row],
            ltq: v.ltq[row],
            bid: v.bid[row],
            ask: v.ask[row],
            bid_qty: v.bid_qty[row],
            ask_qty: v.ask_qty[row],
            bid_depth_qty: v.bid_depth[row],
            ask_depth_qty: v.ask_depth[row],
        };
        out.clear();
        engine.on_tick(mapping[v.sym[row] as usize], &tick, &mut out);
        got.extend(out.drain(..).map(|d| (row as u64, d)));
    }
    let want: Vec<(u64, Detection)> = v.expected["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(expected_detection)
        .collect();
    let mut mismatches = 0;
    for i in 0..got.len().max(want.len()) {
        match (got.get(i), want.get(i)) {
            (Some(g), Some(w)) if g.0 == w.0 && same(&g.1, &w.1) => {}
            (g, w) => {
                mismatches += 1;
                if mismatches <= 10 {
                    eprintln!("#{i}: rust   {:?}", g.map(|(r, d)| format!("row {r} {}", describe(d))));
                    eprintln!("#{i}: python {:?}", w.map(|(r, d)| format!("row {r} {}", describe(d))));
                }
            }
        }
    }
    let counters = engine.counters();
    let c = &v.expected["counters"];
    let mut want_counters = vec![c["ticks"].as_u64().unwrap()];
    for reason in ["unknown_symbol", "bad_price", "bad_quantity", "out_of_order"] {
        want_counters.push(c[format!("skipped_{reason}")].as_u64().unwrap());
    }
    for pattern in PATTERNS {
        want_counters.push(c[format!("signals_{pattern}")].as_u64().unwrap());
    }
    let mut got_counters = vec![counters.ticks];
    got_counters.extend(counters.skipped);
    got_counters.extend(counters.signals);
    eprintln!(
        "{} ticks, {} detections (python {}), {mismatches} mismatches",
        v.ts.len(),
        got.len(),
        want.len()
    );
    assert_eq!(mismatches, 0);
    assert_eq!(got_counters, want_counters);

    // The batch path gives the same detections.
    let mut batch_engine = PatternEngine::new(v.config);
    let columns = EngineColumns {
        ts_ns: &v.ts,
        symbol: &v.sym,
        symbols: &mapping,
        ltp: &v.ltp,
        ltq: &v.ltq,
        bid: &v.bid,
        ask: &v.ask,
        bid_qty: &v.bid_qty,
        ask_qty: &v.ask_qty,
        bid_depth_qty: &v.bid_depth,
        ask_depth_qty: &v.ask_depth,
    };
    let mut batch = Vec::new();
    batch_engine.on_columns(&columns, &mut batch).unwrap();
    assert_eq!(batch.len(), got.len());
    assert!(batch.iter().zip(&got).all(|(a, (_, b))| same(a, b)));
    assert_eq!(batch_engine.counters(), engine.counters());
}
