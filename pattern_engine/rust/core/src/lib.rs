//! AITrader's Rust core. No Python here: the pyo3 crate beside it only converts.
//!
//! `contracts` mirrors the bus messages of `aitrader/contracts` with serde, so that msgpack written here
//! is byte for byte what the Python side (msgspec) writes; the golden vectors in `tests/golden/` prove it.

pub mod contracts;
pub mod tickfile;
pub mod ticks;
