//! AITrader's Rust core. No Python here: the pyo3 crate beside it only converts.
//!
//! `contracts` mirrors the bus messages of `aitrader/contracts` with serde, so that msgpack written here
//! is byte for byte what the Python side (msgspec) writes; the golden vectors in `tests/golden/` prove it.
//!
//! `engine` (with `detectors` and `config`) is the pattern engine: the detectors of
//! `pattern_engine/reference.py`, arithmetic for arithmetic, so both give the same signals bit for bit.

pub mod config;
pub mod contracts;
pub mod detectors;
pub mod engine;
pub mod tickfile;
pub mod ticks;
