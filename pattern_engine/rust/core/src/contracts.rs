//! Serde mirrors of the bus messages (see `aitrader/contracts/messages.py`).
//!
//! Wire rules, as msgspec writes them: a message is a map whose first key `msg` names its type and whose
//! second key `v` is the schema version; every field follows in declaration order, defaults included;
//! unsigned integers take their smallest msgpack form, floats are float64, `None` is nil. A depth level is
//! an array `[price, qty, orders]`. A `dict[str, float]` keeps its insertion order on the wire, so it is
//! mirrored as a `Vec` of pairs written as a map (see [`ordered_map`]).

use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;
pub const TICK_TAG: &str = "tick";
pub const SIGNAL_TAG: &str = "signal";

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

pub const END_OF_DATA_TAG: &str = "end_of_data";

/// The last entry of a replay on a stream (`aitrader.contracts.EndOfData`): `messages` counts what the
/// replay published on the stream before it; `complete` is false when it stopped early.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndOfData {
    pub msg: String,
    pub v: u32,
    pub ts_ns: u64,
    pub replay_id: String,
    pub source: String,
    pub messages: u64,
    pub last_tick_ts_ns: Option<u64>,
    pub complete: bool,
}

/// A detected pattern (`aitrader.contracts.Signal`); `msg` is always `"signal"`, `side` is 1 (buy) or -1
/// (sell), `score` lies in [-1, 1] and `features` keeps the order its entries were added in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub msg: String,
    pub v: u32,
    pub id: String,
    pub ts_ns: u64,
    pub tick_ts_ns: u64,
    pub symbol: String,
    pub venue: String,
    pub pattern: String,
    pub side: i8,
    pub score: f64,
    pub price: f64,
    #[serde(with = "ordered_map")]
    pub features: Vec<(String, f64)>,
}

/// `Vec<(String, V)>` as a map, entries in vector order: msgspec writes a `dict` in insertion order, and
/// decoding keeps the order of the bytes (a duplicated key stays duplicated, as the bytes had it).
pub mod ordered_map {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, V: Serialize>(entries: &[(String, V)], serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (key, value) in entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>, V: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, V)>, D::Error> {
        struct Entries<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
            type Value = Vec<(String, V)>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a map with string keys")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(1024));
                while let Some(entry) = access.next_entry()? {
                    entries.push(entry);
                }
                Ok(entries)
            }
        }

        deserializer.deserialize_map(Entries(PhantomData))
    }
}

/// The longest signal id the contract accepts (`Identifier`: 1 to 64 characters).
pub const MAX_ID_LENGTH: usize = 64;

/// A signal's id, as `pattern_engine.engine.signal_id` makes it: `SYMBOL-TICKTS-PATTERN`, or when that is
/// longer than [`MAX_ID_LENGTH`], `sig-` and the hex BLAKE2b-128 digest of it. Deterministic, so a signal made
/// twice (a redelivered tick) is recognisable downstream.
pub fn signal_id(symbol: &str, tick_ts_ns: i64, pattern: &str) -> String {
    use blake2::digest::{Update, VariableOutput};

    let readable = format!("{symbol}-{tick_ts_ns}-{pattern}");
    if readable.len() <= MAX_ID_LENGTH {
        return readable;
    }
    let mut digest = [0u8; 16];
    let mut hasher = blake2::Blake2bVar::new(digest.len()).expect("16 bytes is a BLAKE2b output size");
    hasher.update(readable.as_bytes());
    hasher
        .finalize_variable(&mut digest)
        .expect("the buffer has the output size");
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sig-{hex}")
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
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../tests/golden")
            .join(name)
    }

    #[test]
    fn signal_ids_are_readable_when_short_and_a_digest_when_long() {
        assert_eq!(signal_id("INFY", 17, "breakout"), "INFY-17-breakout");
        // hashlib.blake2b(b"XXX...-1763696700000000000-momentum_burst", digest_size=16).hexdigest()
        let long = signal_id(&"X".repeat(60), 1_763_696_700_000_000_000, "momentum_burst");
        assert_eq!(long, "sig-6d5442276a39de1714ad28a127358492");
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

    #[test]
    fn the_golden_end_of_data_decodes_to_its_json_and_encodes_to_the_same_bytes() {
        let bytes = std::fs::read(golden("end_of_data.msgpack")).unwrap();
        let marker: EndOfData = decode(&bytes).unwrap();
        let json: EndOfData =
            serde_json::from_str(&std::fs::read_to_string(golden("end_of_data.json")).unwrap()).unwrap();

        assert_eq!(marker, json);
        assert_eq!(marker.msg, END_OF_DATA_TAG);
        assert_eq!(encode(&marker).unwrap(), bytes);
    }

    #[test]
    fn the_golden_signal_decodes_to_its_json_and_encodes_to_the_same_bytes() {
        let bytes = std::fs::read(golden("signal.msgpack")).unwrap();
        let signal: Signal = decode(&bytes).unwrap();
        let json: Signal = serde_json::from_str(&std::fs::read_to_string(golden("signal.json")).unwrap()).unwrap();

        assert_eq!(signal, json);
        assert_eq!((signal.msg.as_str(), signal.side), (SIGNAL_TAG, -1));
        let keys: Vec<&str> = signal.features.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["return_bps", "sigma_multiple", "volume_ratio"]);
        assert_eq!(encode(&signal).unwrap(), bytes);
    }

    #[test]
    fn features_keep_their_order_and_an_empty_map_is_a_map() {
        let mut signal: Signal = decode(&std::fs::read(golden("signal.msgpack")).unwrap()).unwrap();
        signal.features = vec![("z".to_owned(), 1.0), ("a".to_owned(), -2.5)];
        let again: Signal = decode(&encode(&signal).unwrap()).unwrap();
        assert_eq!(again.features, signal.features);

        signal.features.clear();
        let bytes = encode(&signal).unwrap();
        assert_eq!(bytes[bytes.len() - 1], 0x80, "features is written as an empty fixmap");
        assert_eq!(decode::<Signal>(&bytes).unwrap(), signal);
    }
}
