//! `run_replay_publish`: a tick file through the engine and its signals onto a Redis stream, all in Rust.
//!
//! The backtest-style fast path: no Python object per tick, no bus hop per tick. The file is read in
//! batches (`pattern_engine_core::tickfile`), each batch runs through the engine, and the batch's signals are
//! appended with one pipelined round trip, encoded exactly as msgspec encodes `aitrader.contracts.Signal`.
//! An `EndOfData` marker (`messages`: the signals published) ends the stream's share of the replay.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pattern_engine_core::config::EngineConfig;
use pattern_engine_core::contracts::{
    encode, signal_id, EndOfData, Signal, END_OF_DATA_TAG, SCHEMA_VERSION, SIGNAL_TAG,
};
use pattern_engine_core::engine::{Detection, EngineColumns, PatternEngine, PATTERNS, SKIP_REASONS};
use pattern_engine_core::tickfile::{TickFile, DEFAULT_VENUE};
use pyo3::exceptions::{PyConnectionError, PyValueError};
use pyo3::prelude::*;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64)
}

enum ReplayError {
    Value(String),
    Redis(redis::RedisError),
}

impl From<redis::RedisError> for ReplayError {
    fn from(e: redis::RedisError) -> Self {
        ReplayError::Redis(e)
    }
}

impl From<ReplayError> for PyErr {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::Value(message) => PyValueError::new_err(message),
            ReplayError::Redis(e) => PyConnectionError::new_err(format!("redis: {e}")),
        }
    }
}

struct Target<'a> {
    stream: &'a str,
    replay_id: &'a str,
    maxlen: Option<u64>,
}

/// Each engine symbol's venue, as its latest row in the file gave it.
struct Venues<'a> {
    names: &'a [String],
    of_symbol: &'a [u32],
}

fn signal(engine: &PatternEngine, detection: &Detection, venues: &Venues<'_>, ts_ns: u64) -> Signal {
    let symbol = engine
        .symbols()
        .get(detection.symbol as usize)
        .cloned()
        .unwrap_or_default();
    let pattern = PATTERNS.get(usize::from(detection.pattern)).copied().unwrap_or("");
    let venue = venues
        .of_symbol
        .get(detection.symbol as usize)
        .and_then(|&index| venues.names.get(index as usize))
        .map_or(DEFAULT_VENUE, String::as_str)
        .to_owned();
    Signal {
        msg: SIGNAL_TAG.to_owned(),
        v: SCHEMA_VERSION,
        id: signal_id(&symbol, detection.tick_ts_ns, pattern),
        ts_ns,
        tick_ts_ns: u64::try_from(detection.tick_ts_ns).unwrap_or(0),
        symbol,
        venue,
        pattern: pattern.to_owned(),
        side: detection.side,
        score: detection.score,
        price: detection.price,
        features: detection.features[..usize::from(detection.feature_count)]
            .iter()
            .map(|(name, value)| ((*name).to_owned(), *value))
            .collect(),
    }
}

fn publish(
    connection: &mut redis::Connection,
    engine: &PatternEngine,
    detections: &[Detection],
    venues: &Venues<'_>,
    target: &Target<'_>,
) -> Result<(), ReplayError> {
    let ts_ns = now_ns();
    let mut pipe = redis::pipe();
    for detection in detections {
        let payload = encode(&signal(engine, detection, venues, ts_ns))
            .map_err(|e| ReplayError::Value(format!("encoding a signal failed: {e}")))?;
        let command = pipe.cmd("XADD").arg(target.stream);
        if let Some(maxlen) = target.maxlen {
            command.arg("MAXLEN").arg("~").arg(maxlen);
        }
        command.arg("*").arg("d").arg(payload).ignore();
    }
    pipe.query::<()>(connection)?;
    Ok(())
}

/// The replay's end on the stream, after its signals, as tick_replay ends a tick stream.
fn end_of_data(
    connection: &mut redis::Connection,
    path: &Path,
    published: u64,
    last_tick_ts_ns: Option<u64>,
    target: &Target<'_>,
) -> Result<(), ReplayError> {
    let marker = EndOfData {
        msg: END_OF_DATA_TAG.to_owned(),
        v: SCHEMA_VERSION,
        ts_ns: now_ns(),
        replay_id: target.replay_id.to_owned(),
        source: path.display().to_string(),
        messages: published,
        last_tick_ts_ns,
        complete: true,
    };
    let payload =
        encode(&marker).map_err(|e| ReplayError::Value(format!("encoding the end-of-data marker failed: {e}")))?;
    let mut command = redis::cmd("XADD");
    command.arg(target.stream);
    if let Some(maxlen) = target.maxlen {
        command.arg("MAXLEN").arg("~").arg(maxlen);
    }
    command.arg("*").arg("d").arg(payload).query::<String>(connection)?;
    Ok(())
}

struct Summary {
    rows: u64,
    unreadable_rows: u64,
    published: u64,
    elapsed_ns: u64,
}

fn replay(
    path: &Path,
    redis_url: &str,
    config: EngineConfig,
    batch_rows: usize,
    target: &Target<'_>,
) -> Result<(Summary, PatternEngine), ReplayError> {
    let started = Instant::now();
    let mut file = TickFile::open(path, batch_rows).map_err(|e| ReplayError::Value(e.to_string()))?;
    let mut connection = redis::Client::open(redis_url)?.get_connection()?;
    let mut engine = PatternEngine::new(config);
    let mut mapping: Vec<Option<u32>> = Vec::new();
    let mut venue_of_symbol: Vec<u32> = vec![u32::MAX; engine.symbols().len()];
    let mut out: Vec<Detection> = Vec::new();
    let (mut rows, mut published) = (0u64, 0u64);
    let mut last_tick_ts_ns: Option<u64> = None;
    while let Some(batch) = file.next_batch().map_err(|e| ReplayError::Value(e.to_string()))? {
        for symbol in &file.symbols()[mapping.len()..] {
            mapping.push(engine.symbol_index(symbol));
        }
        let columns = EngineColumns {
            ts_ns: &batch.ts_ns,
            symbol: &batch.symbol,
            symbols: &mapping,
            ltp: &batch.ltp,
            ltq: &batch.ltq,
            bid: &batch.bid,
            ask: &batch.ask,
            bid_qty: &batch.bid_qty,
            ask_qty: &batch.ask_qty,
            bid_depth_qty: &batch.bid_depth_qty,
            ask_depth_qty: &batch.ask_depth_qty,
        };
        engine
            .on_columns(&columns, &mut out)
            .map_err(|e| ReplayError::Value(e.to_string()))?;
        for (&code, &venue) in batch.symbol.iter().zip(&batch.venue) {
            if let Some(&Some(index)) = mapping.get(code as usize) {
                venue_of_symbol[index as usize] = venue;
            }
        }
        rows += batch.ts_ns.len() as u64;
        if let Some(&last) = batch.ts_ns.last() {
            last_tick_ts_ns = u64::try_from(last).ok().or(last_tick_ts_ns);
        }
        if !out.is_empty() {
            let venues = Venues {
                names: file.venues(),
                of_symbol: &venue_of_symbol,
            };
            publish(&mut connection, &engine, &out, &venues, target)?;
            published += out.len() as u64;
            out.clear();
        }
    }
    end_of_data(&mut connection, path, published, last_tick_ts_ns, target)?;
    let summary = Summary {
        rows,
        unreadable_rows: file.unreadable_rows(),
        published,
        elapsed_ns: u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
    };
    Ok((summary, engine))
}

/// Replay a Parquet or CSV tick file through the engine and append its signals to `stream`.
#[pyfunction]
#[pyo3(name = "run_replay_publish", signature = (
    path, redis_url, stream, config, *, batch_rows=65536, maxlen=None, replay_id=None
))]
#[allow(clippy::too_many_arguments)]
pub fn py_run_replay_publish(
    py: Python<'_>,
    path: PathBuf,
    redis_url: &str,
    stream: &str,
    config: &str,
    batch_rows: usize,
    maxlen: Option<u64>,
    replay_id: Option<String>,
) -> PyResult<HashMap<String, u64>> {
    if batch_rows == 0 {
        return Err(PyValueError::new_err("batch_rows must be > 0, was 0"));
    }
    let config = EngineConfig::from_toml(config).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let replay_id = replay_id.unwrap_or_else(|| format!("rust-{:x}", now_ns()));
    if replay_id.is_empty() || replay_id.len() > 64 {
        return Err(PyValueError::new_err(format!(
            "replay_id must be 1 to 64 characters, was {replay_id:?}"
        )));
    }
    let target = Target {
        stream,
        replay_id: &replay_id,
        maxlen,
    };
    let (summary, engine) = py.detach(|| replay(&path, redis_url, config, batch_rows, &target))?;
    let counters = engine.counters();
    let mut result = HashMap::from([
        ("rows".to_owned(), summary.rows),
        ("unreadable_rows".to_owned(), summary.unreadable_rows),
        ("published".to_owned(), summary.published),
        ("elapsed_ns".to_owned(), summary.elapsed_ns),
        ("ticks".to_owned(), counters.ticks),
    ]);
    for (reason, count) in SKIP_REASONS.iter().zip(counters.skipped) {
        result.insert(format!("skipped_{reason}"), count);
    }
    for (pattern, count) in PATTERNS.iter().zip(counters.signals) {
        result.insert(format!("signals_{pattern}"), count);
    }
    Ok(result)
}
