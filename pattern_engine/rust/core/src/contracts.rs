//! Serde mirrors of the bus messages (see `aitrader/contracts/messages.py`).
//!
//! Wire rules, as msgspec writes them: a message is a map whose first key `msg` names its type and whose
//! second key `v` is the schema version; every field follows in declaration order, defaults included;
//! unsigned integers take their smallest msgpack form, floats are float64, `None` is nil. A depth level is
//! an array `[price, qty, orders]`.

use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;
pub const TICK_TAG: &str = "tick";

/// One price level of a book side: `[price, qty, orders]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Level(pub f64, pub u64, pub u64);

/// Up to five levels per side, best first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Depth {
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

/// A tick (`aitrader.contracts.Tick`); `msg` is always `"tick"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    pub msg: String,
    pub v: u32,
    pub ts_ns: u64,
    pub symbol: String,
    pub venue: String,
    pub seq: u64,
    pub ltp: f64,
    pub ltq: u64,
    pub volume: u64,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
    pub bid_qty: u64,
    pub ask_qty: u64,
    pub depth: Option<Depth>,
}

/// The msgpack bytes of a message, as field `d` of a stream entry carries them.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    rmp_serde::to_vec_named(message)
}

/// Decode msgpack bytes into a message.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn golden(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/golden").join(name)
    }

    #[test]
    fn the_golden_tick_decodes_to_its_json_and_encodes_to_the_same_bytes() {
        let bytes = std::fs::read(golden("tick.msgpack")).unwrap();
        let tick: Tick = decode(&bytes).unwrap();
        let json: Tick = serde_json::from_str(&std::fs::read_to_string(golden("tick.json")).unwrap()).unwrap();

        assert_eq!(tick, json);
        assert_eq!(tick.msg, TICK_TAG);
        assert_eq!(encode(&tick).unwrap(), bytes);
    }
}
