//! `PatternEngine`: the core's engine for Python. Ticks come in as `aitrader.contracts.Tick` objects (read by
//! attribute) or as numpy columns; detections go out as tuples
//! `(symbol, pattern, side, score, price, tick_ts_ns, features)`. Batches run with the GIL released.

use std::collections::HashMap;

use numpy::PyReadonlyArray1;
use pattern_engine_core::config::EngineConfig;
use pattern_engine_core::engine::{Detection, EngineColumns, PatternEngine, TickInput, PATTERNS, SKIP_REASONS};
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The pattern engine over one config (TOML text, or JSON through `from_json`).
#[pyclass(module = "pattern_engine_pyo3", name = "PatternEngine")]
pub struct PyPatternEngine {
    engine: PatternEngine,
    out: Vec<Detection>,
}

pub(crate) fn slice<'a, T: numpy::Element>(name: &str, array: &'a PyReadonlyArray1<'_, T>) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a contiguous array")))
}

/// A detection as the Python tuple the stub describes.
pub(crate) fn detection_tuple<'py>(
    py: Python<'py>,
    engine: &PatternEngine,
    detection: &Detection,
) -> PyResult<Bound<'py, PyTuple>> {
    let features = PyDict::new(py);
    for (name, value) in &detection.features[..usize::from(detection.feature_count)] {
        features.set_item(*name, *value)?;
    }
    let symbol = engine
        .symbols()
        .get(detection.symbol as usize)
        .map(String::as_str)
        .unwrap_or("");
    let pattern = PATTERNS.get(usize::from(detection.pattern)).copied().unwrap_or("");
    (
        symbol,
        pattern,
        detection.side,
        detection.score,
        detection.price,
        detection.tick_ts_ns,
        features,
    )
        .into_pyobject(py)
}

fn optional_price(tick: &Bound<'_, PyAny>, name: &Bound<'_, pyo3::types::PyString>) -> PyResult<f64> {
    let value: Option<f64> = tick.getattr(name)?.extract()?;
    Ok(value.unwrap_or(f64::NAN))
}

/// The depth totals of a tick's `depth` (None: the best quantities), as `reference.tick_input` sums them.
fn depth_totals(depth: &Bound<'_, PyAny>, bid_qty: i64, ask_qty: i64) -> PyResult<(i64, i64)> {
    if depth.is_none() {
        return Ok((bid_qty, ask_qty));
    }
    let py = depth.py();
    let mut totals = [0i64; 2];
    for (total, side) in totals.iter_mut().zip([intern!(py, "bids"), intern!(py, "asks")]) {
        for level in depth.getattr(side)?.try_iter()? {
            let level = level?;
            let price: f64 = level.getattr(intern!(py, "price"))?.extract()?;
            if price > 0.0 {
                let qty: i64 = level.getattr(intern!(py, "qty"))?.extract()?;
                *total = total.saturating_add(qty);
            }
        }
    }
    Ok((totals[0], totals[1]))
}

impl PyPatternEngine {
    fn with_config(config: EngineConfig) -> Self {
        Self {
            engine: PatternEngine::new(config),
            out: Vec::new(),
        }
    }

    fn drain<'py>(&mut self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let tuples = self
            .out
            .iter()
            .map(|detection| detection_tuple(py, &self.engine, detection))
            .collect::<PyResult<Vec<_>>>();
        self.out.clear();
        tuples
    }
}

#[pymethods]
impl PyPatternEngine {
    #[new]
    fn py_new(config: &str) -> PyResult<Self> {
        let config = EngineConfig::from_toml(config).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self::with_config(config))
    }

    /// An engine from the config as JSON (the keys of the TOML file): how `pattern_engine.native` passes it.
    #[staticmethod]
    #[pyo3(name = "from_json")]
    fn py_from_json(config: &str) -> PyResult<Self> {
        let config = EngineConfig::from_json(config).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self::with_config(config))
    }

    #[getter]
    #[pyo3(name = "symbols")]
    fn py_symbols(&self) -> Vec<String> {
        self.engine.symbols().to_vec()
    }

    /// Feed one tick (any object with the attributes of `aitrader.contracts.Tick`).
    #[pyo3(name = "on_tick")]
    fn py_on_tick<'py>(&mut self, py: Python<'py>, tick: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let symbol = tick.getattr(intern!(py, "symbol"))?;
        let symbol = symbol.cast::<pyo3::types::PyString>()?.to_str()?;
        let index = self.engine.symbol_index(symbol);
        let bid_qty: i64 = tick.getattr(intern!(py, "bid_qty"))?.extract()?;
        let ask_qty: i64 = tick.getattr(intern!(py, "ask_qty"))?.extract()?;
        let (bid_depth_qty, ask_depth_qty) = depth_totals(&tick.getattr(intern!(py, "depth"))?, bid_qty, ask_qty)?;
        let input = TickInput {
            ts_ns: tick.getattr(intern!(py, "ts_ns"))?.extract()?,
            ltp: tick.getattr(intern!(py, "ltp"))?.extract()?,
            ltq: tick.getattr(intern!(py, "ltq"))?.extract()?,
            bid: optional_price(tick, intern!(py, "bid"))?,
            ask: optional_price(tick, intern!(py, "ask"))?,
            bid_qty,
            ask_qty,
            bid_depth_qty,
            ask_depth_qty,
        };
        self.engine.on_tick(index, &input, &mut self.out);
        self.drain(py)
    }

    /// Feed a batch of ticks as columns (symbols as dictionary codes into `symbols`); the GIL is released.
    /// Without depth totals the best quantities stand in for them.
    #[pyo3(name = "on_batch", signature = (
        ts_ns, symbol_codes, symbols, ltp, ltq, bid, ask, bid_qty, ask_qty, bid_depth_qty=None, ask_depth_qty=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn py_on_batch<'py>(
        &mut self,
        py: Python<'py>,
        ts_ns: PyReadonlyArray1<'py, i64>,
        symbol_codes: PyReadonlyArray1<'py, i32>,
        symbols: Vec<String>,
        ltp: PyReadonlyArray1<'py, f64>,
        ltq: PyReadonlyArray1<'py, i64>,
        bid: PyReadonlyArray1<'py, f64>,
        ask: PyReadonlyArray1<'py, f64>,
        bid_qty: PyReadonlyArray1<'py, i64>,
        ask_qty: PyReadonlyArray1<'py, i64>,
        bid_depth_qty: Option<PyReadonlyArray1<'py, i64>>,
        ask_depth_qty: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let codes: Vec<u32> = slice("symbol_codes", &symbol_codes)?
            .iter()
            .map(|&code| u32::try_from(code).unwrap_or(u32::MAX))
            .collect();
        let mapping: Vec<Option<u32>> = symbols.iter().map(|symbol| self.engine.symbol_index(symbol)).collect();
        let bid_qty = slice("bid_qty", &bid_qty)?;
        let ask_qty = slice("ask_qty", &ask_qty)?;
        let bid_depth_qty = match &bid_depth_qty {
            Some(array) => slice("bid_depth_qty", array)?,
            None => bid_qty,
        };
        let ask_depth_qty = match &ask_depth_qty {
            Some(array) => slice("ask_depth_qty", array)?,
            None => ask_qty,
        };
        let columns = EngineColumns {
            ts_ns: slice("ts_ns", &ts_ns)?,
            symbol: &codes,
            symbols: &mapping,
            ltp: slice("ltp", &ltp)?,
            ltq: slice("ltq", &ltq)?,
            bid: slice("bid", &bid)?,
            ask: slice("ask", &ask)?,
            bid_qty,
            ask_qty,
            bid_depth_qty,
            ask_depth_qty,
        };
        let (engine, out) = (&mut self.engine, &mut self.out);
        py.detach(|| engine.on_columns(&columns, out))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        self.drain(py)
    }

    /// `ticks`, `skipped_<reason>` and `signals_<pattern>` since the engine was made.
    #[pyo3(name = "counters")]
    fn py_counters(&self) -> HashMap<String, u64> {
        let counters = self.engine.counters();
        let mut map = HashMap::new();
        map.insert("ticks".to_owned(), counters.ticks);
        for (reason, count) in SKIP_REASONS.iter().zip(counters.skipped) {
            map.insert(format!("skipped_{reason}"), count);
        }
        for (pattern, count) in PATTERNS.iter().zip(counters.signals) {
            map.insert(format!("signals_{pattern}"), count);
        }
        map
    }
}
