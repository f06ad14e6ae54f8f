//! Python bindings of the Rust core: conversions only, no rules.
//!
//! `PatternEngine` (module `engine`) runs the detectors on ticks given one by one or as columns;
//! `run_replay_publish` (module `replay`) runs a tick file through them and publishes the signals.
//! `TickAppender` appends ticks given as columns (numpy arrays from an Arrow table) to a Redis stream:
//! encoding and the pipelined XADDs run with the GIL released. Core errors become `ValueError`, Redis
//! errors `ConnectionError`; no panic crosses into Python.

mod engine;
mod replay;

use numpy::{PyReadonlyArray1, PyReadonlyArray2};
use pattern_engine_core::ticks::{encode_ticks, SideColumns, TickColumns};
use pyo3::exceptions::{PyConnectionError, PyValueError};
use pyo3::prelude::*;

/// Appends ticks to one stream over one connection, trimming it to about `maxlen` entries.
#[pyclass(module = "pattern_engine_pyo3")]
struct TickAppender {
    connection: redis::Connection,
    key: String,
    maxlen: Option<u64>,
}

type Side<'py> = (
    PyReadonlyArray2<'py, f64>,
    PyReadonlyArray2<'py, i64>,
    PyReadonlyArray2<'py, i64>,
);

fn redis_error(e: redis::RedisError) -> PyErr {
    PyConnectionError::new_err(format!("redis: {e}"))
}

fn slice<'a, T: numpy::Element>(name: &str, array: &'a PyReadonlyArray1<'_, T>) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a contiguous array")))
}

fn slice2<'a, T: numpy::Element>(name: &str, array: &'a PyReadonlyArray2<'_, T>) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a C-contiguous array")))
}

#[pymethods]
impl TickAppender {
    #[new]
    #[pyo3(signature = (redis_url, key, maxlen=None))]
    fn py_new(py: Python<'_>, redis_url: &str, key: String, maxlen: Option<u64>) -> PyResult<Self> {
        let connection = py
            .detach(|| redis::Client::open(redis_url).and_then(|client| client.get_connection()))
            .map_err(redis_error)?;
        Ok(Self {
            connection,
            key,
            maxlen,
        })
    }

    /// Append the rows in order; returns (entries appended, id of the last one).
    #[pyo3(name = "append", signature = (
        ts_ns, symbol_codes, symbols, venue_codes, venues, seq, ltp, ltq, volume, bid, ask, bid_qty, ask_qty,
        bid_depth=None, ask_depth=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn py_append(
        &mut self,
        py: Python<'_>,
        ts_ns: PyReadonlyArray1<'_, i64>,
        symbol_codes: PyReadonlyArray1<'_, i32>,
        symbols: Vec<String>,
        venue_codes: PyReadonlyArray1<'_, i32>,
        venues: Vec<String>,
        seq: PyReadonlyArray1<'_, i64>,
        ltp: PyReadonlyArray1<'_, f64>,
        ltq: PyReadonlyArray1<'_, i64>,
        volume: PyReadonlyArray1<'_, i64>,
        bid: PyReadonlyArray1<'_, f64>,
        ask: PyReadonlyArray1<'_, f64>,
        bid_qty: PyReadonlyArray1<'_, i64>,
        ask_qty: PyReadonlyArray1<'_, i64>,
        bid_depth: Option<Side<'_>>,
        ask_depth: Option<Side<'_>>,
    ) -> PyResult<(usize, Option<String>)> {
        let depth = match (&bid_depth, &ask_depth) {
            (Some(bids), Some(asks)) => Some((
                SideColumns {
                    price: slice2("bid_depth prices", &bids.0)?,
                    qty: slice2("bid_depth quantities", &bids.1)?,
                    orders: slice2("bid_depth orders", &bids.2)?,
                },
                SideColumns {
                    price: slice2("ask_depth prices", &asks.0)?,
                    qty: slice2("ask_depth quantities", &asks.1)?,
                    orders: slice2("ask_depth orders", &asks.2)?,
                },
            )),
            (None, None) => None,
            _ => return Err(PyValueError::new_err("give both bid_depth and ask_depth, or neither")),
        };
        let columns = TickColumns {
            ts_ns: slice("ts_ns", &ts_ns)?,
            symbol_codes: slice("symbol_codes", &symbol_codes)?,
            symbols: &symbols,
            venue_codes: slice("venue_codes", &venue_codes)?,
            venues: &venues,
            seq: slice("seq", &seq)?,
            ltp: slice("ltp", &ltp)?,
            ltq: slice("ltq", &ltq)?,
            volume: slice("volume", &volume)?,
            bid: slice("bid", &bid)?,
            ask: slice("ask", &ask)?,
            bid_qty: slice("bid_qty", &bid_qty)?,
            ask_qty: slice("ask_qty", &ask_qty)?,
            depth,
        };
        let (key, maxlen, connection) = (&self.key, self.maxlen, &mut self.connection);
        py.detach(|| -> PyResult<(usize, Option<String>)> {
            let payloads = encode_ticks(&columns).map_err(|e| PyValueError::new_err(e.to_string()))?;
            if payloads.is_empty() {
                return Ok((0, None));
            }
            let mut pipe = redis::pipe();
            for payload in &payloads {
                pipe.cmd("XADD").arg(key).arg("*").arg("d").arg(payload);
            }
            if let Some(maxlen) = maxlen {
                pipe.cmd("XTRIM").arg(key).arg("MAXLEN").arg("~").arg(maxlen).ignore();
            }
            let ids: Vec<String> = pipe.query(connection).map_err(redis_error)?;
            Ok((ids.len(), ids.last().cloned()))
        })
    }
}

#[pymodule]
fn pattern_engine_pyo3(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<TickAppender>()?;
    module.add_class::<engine::PyPatternEngine>()?;
    module.add_function(wrap_pyfunction!(replay::py_run_replay_publish, module)?)?;
    Ok(())
}
