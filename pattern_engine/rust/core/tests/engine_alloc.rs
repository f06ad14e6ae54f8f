//! The hot path allocates nothing: after `PatternEngine::new`, a day of ticks on which nothing fires
//! makes no heap allocation (counted by a global allocator, per thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use pattern_engine_core::config::EngineConfig;
use pattern_engine_core::engine::{EngineColumns, PatternEngine, TickInput};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const T0: i64 = 1_763_696_700_000_000_000;

#[test]
fn ticks_that_fire_nothing_allocate_nothing() {
    let text = "symbols = [\"A\", \"B\", \"C\"]\nwarmup_s = 10\n\
                [[pairs]]\nleg_a = \"A\"\nleg_b = \"B\"\n";
    let mut engine = PatternEngine::new(EngineConfig::from_toml(text).unwrap());
    // Two hours of calm ticks, across a gap that starts every symbol over.
    let rows = 3 * 4 * 7_200;
    let mut ts = Vec::with_capacity(rows);
    let mut symbol = Vec::with_capacity(rows);
    let mut ltp = Vec::with_capacity(rows);
    for row in 0..rows as i64 {
        let gap = if row >= (rows as i64) / 2 { 5_000 } else { 0 };
        ts.push(T0 + (row / 12 + gap) * 1_000_000_000 + (row % 12) * 80_000_000);
        symbol.push((row % 3) as u32);
        ltp.push([100.0, 50.0, 75.0][(row % 3) as usize] * (1.0 + 1e-4 * ((row * 7_919) % 3 - 1) as f64));
    }
    let bid: Vec<f64> = ltp.iter().map(|p| p - 0.01).collect();
    let ask: Vec<f64> = ltp.iter().map(|p| p + 0.01).collect();
    let ones = vec![10_i64; rows];
    let depth = vec![5_000_i64; rows];
    let codes = [Some(0), Some(1), Some(2)];
    let columns = EngineColumns {
        ts_ns: &ts,
        symbol: &symbol,
        symbols: &codes,
        ltp: &ltp,
        ltq: &ones,
        bid: &bid,
        ask: &ask,
        bid_qty: &ones,
        ask_qty: &ones,
        bid_depth_qty: &depth,
        ask_depth_qty: &depth,
    };
    let mut out = Vec::new();
    let before = allocations();
    engine.on_columns(&columns, &mut out).unwrap();
    let tick = TickInput {
        ts_ns: ts[rows - 1],
        ltp: 100.0,
        ltq: 1,
        bid: f64::NAN,
        ask: f64::NAN,
        bid_qty: 0,
        ask_qty: 0,
        bid_depth_qty: 0,
        ask_depth_qty: 0,
    };
    engine.on_tick(Some(0), &tick, &mut out);
    engine.on_tick(None, &tick, &mut out);
    let after = allocations();
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(engine.counters().ticks, rows as u64 + 1);
    assert_eq!(after - before, 0);
}
