//! Tick files read in batches of owned columns, so that a file can be replayed through the engine without
//! Python and without ever holding a multi-GB file whole.
//!
//! The files are those `aitrader.marketdata.files.TickFile` reads, with the columns listed in
//! `aitrader/marketdata/schema.py`: CSV (`.csv`, `.csv.gz`) and Parquet (`.parquet`, `.pq`); `timestamp`,
//! `symbol` and `ltp` are required, every other column is optional with its default (quantities 0, prices
//! absent); `timestamp` is ISO-8601 (no offset: IST, +05:30) or integer nanoseconds since the epoch, and in
//! Parquet also a timestamp (a naive one is IST) or an integer.
//!
//! Unlike the Python reader, this one does not judge values: a NaN or negative price, a zero or negative
//! quantity, a negative or out-of-order time all pass as given (quantities as `i64`, never wrapped), for
//! the engine to count. Only a row that cannot become a tick is left out and counted in
//! [`TickFile::unreadable_rows`]: a CSV row with the wrong number of fields or a cell that is not a number
//! (not UTF-8, not a time), and in either format a row without a time or without a symbol. An empty or
//! null price is NaN (for `ltp` too, so that the engine counts it as a bad price). Structural problems
//! (no such file, unknown extension, a required column missing, an unknown column, a column of the wrong
//! type, a damaged file) are [`TickFileError`]s naming the file and the column, line or row group.
//!
//! Depth: a level of a side counts when the file has both its `<side>_price_N` and `<side>_qty_N`
//! columns, as in `aitrader.marketdata.schema`. A tick has depth when any level on either side has a price
//! and a quantity other than 0; then `bid_depth_qty`/`ask_depth_qty` sum the quantities of the side's
//! levels that have a price, otherwise they equal `bid_qty`/`ask_qty`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveTime};
use parquet::basic::{ConvertedType, LogicalType, TimeUnit, Type as PhysicalType};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, DataType};
use parquet::errors::ParquetError;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::ColumnDescriptor;
use thiserror::Error;

use crate::ticks::DEPTH_LEVELS;

pub const REQUIRED_COLUMNS: [&str; 3] = ["timestamp", "symbol", "ltp"];
pub const OPTIONAL_COLUMNS: [&str; 8] = ["venue", "seq", "ltq", "volume", "bid", "ask", "bid_qty", "ask_qty"];
const SIDES: [&str; 2] = ["bid", "ask"];
const DEPTH_FIELDS: [&str; 3] = ["price", "qty", "orders"];
/// How many unreadable rows are described in [`TickFile::problems`]; the rest are only counted.
pub const PROBLEMS_KEPT: usize = 20;
/// India Standard Time, the exchange's time, as an offset east of UTC: NSE and BSE keep no daylight saving.
pub const IST_OFFSET_NS: i64 = 19_800 * NANOS_PER_SECOND;
const NANOS_PER_SECOND: i64 = 1_000_000_000;

#[derive(Debug, Error)]
pub enum TickFileError {
    #[error("{path}: unknown tick file type, expected .csv, .csv.gz, .parquet or .pq")]
    UnknownFormat { path: PathBuf },
    #[error("batch_rows must be > 0, was 0")]
    BatchRows,
    #[error("{path}: cannot read the file: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: the file is empty, expected a header line")]
    Empty { path: PathBuf },
    #[error("{path}: missing required column(s) {}; the columns were {}", .missing.join(", "), .columns.join(", "))]
    MissingColumns {
        path: PathBuf,
        missing: Vec<String>,
        columns: Vec<String>,
    },
    #[error(
        "{path}: unknown column(s) {}; see aitrader/marketdata/schema.py for the tick file columns",
        .unknown.join(", ")
    )]
    UnknownColumns { path: PathBuf, unknown: Vec<String> },
    #[error("{path}: column {column} {problem}")]
    ColumnType {
        path: PathBuf,
        column: String,
        problem: String,
    },
    #[error("{path}: not a readable Parquet file: {source}")]
    Parquet { path: PathBuf, source: ParquetError },
    #[error("{path}: row group {row_group}, column {column}: {problem}")]
    ParquetRead {
        path: PathBuf,
        row_group: usize,
        column: String,
        problem: String,
    },
    #[error("{path}:line {line}: {source}")]
    Csv {
        path: PathBuf,
        line: u64,
        source: csv::Error,
    },
}

/// The file formats, told by the file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv { gzip: bool },
    Parquet,
}

impl FileFormat {
    pub fn of(path: &Path) -> Result<Self, TickFileError> {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if name.ends_with(".parquet") || name.ends_with(".pq") {
            Ok(Self::Parquet)
        } else if name.ends_with(".csv") {
            Ok(Self::Csv { gzip: false })
        } else if name.ends_with(".csv.gz") {
            Ok(Self::Csv { gzip: true })
        } else {
            Err(TickFileError::UnknownFormat { path: path.to_owned() })
        }
    }
}

/// Up to `batch_rows` ticks as columns, in file order; row `i` of every vector is one tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickBatch {
    pub ts_ns: Vec<i64>,
    /// Index into [`TickFile::symbols`].
    pub symbol: Vec<u32>,
    /// Index into [`TickFile::venues`]; [`DEFAULT_VENUE`] where the file has no venue.
    pub venue: Vec<u32>,
    pub ltp: Vec<f64>,
    pub ltq: Vec<i64>,
    pub volume: Vec<i64>,
    /// NaN: no quote on that side.
    pub bid: Vec<f64>,
    pub ask: Vec<f64>,
    pub bid_qty: Vec<i64>,
    pub ask_qty: Vec<i64>,
    /// Sum of the quantities over the side's depth levels that have a price; `bid_qty`/`ask_qty` when the
    /// tick has no depth.
    pub bid_depth_qty: Vec<i64>,
    pub ask_depth_qty: Vec<i64>,
}

impl TickBatch {
    fn with_capacity(rows: usize) -> Self {
        Self {
            ts_ns: Vec::with_capacity(rows),
            symbol: Vec::with_capacity(rows),
            venue: Vec::with_capacity(rows),
            ltp: Vec::with_capacity(rows),
            ltq: Vec::with_capacity(rows),
            volume: Vec::with_capacity(rows),
            bid: Vec::with_capacity(rows),
            ask: Vec::with_capacity(rows),
            bid_qty: Vec::with_capacity(rows),
            ask_qty: Vec::with_capacity(rows),
            bid_depth_qty: Vec::with_capacity(rows),
            ask_depth_qty: Vec::with_capacity(rows),
        }
    }

    pub fn len(&self) -> usize {
        self.ts_ns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts_ns.is_empty()
    }

    /// Keep only the rows whose flag is true (`keep.len() == self.len()`).
    fn retain(&mut self, keep: &[bool]) {
        fn filter<T: Copy>(values: &mut Vec<T>, keep: &[bool]) {
            let mut flags = keep.iter();
            values.retain(|_| *flags.next().unwrap_or(&true));
        }
        filter(&mut self.ts_ns, keep);
        filter(&mut self.symbol, keep);
        filter(&mut self.venue, keep);
        filter(&mut self.ltp, keep);
        filter(&mut self.ltq, keep);
        filter(&mut self.volume, keep);
        filter(&mut self.bid, keep);
        filter(&mut self.ask, keep);
        filter(&mut self.bid_qty, keep);
        filter(&mut self.ask_qty, keep);
        filter(&mut self.bid_depth_qty, keep);
        filter(&mut self.ask_depth_qty, keep);
    }
}

/// The venue of a row without one, as in `aitrader.marketdata.schema`.
pub const DEFAULT_VENUE: &str = "NSE";

/// Names in the order they first appear; an index once given never changes.
#[derive(Debug, Default)]
struct Names {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Names {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&index) = self.index.get(name) {
            return index;
        }
        let index = u32::try_from(self.names.len()).expect("fewer than 2^32 names");
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), index);
        index
    }
}

/// The symbols and the venues of a file, each interned in the order they first appear.
#[derive(Debug, Default)]
struct Symbols {
    names: Vec<String>,
    index: HashMap<String, u32>,
    venues: Names,
}

impl Symbols {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&index) = self.index.get(name) {
            return index;
        }
        let index = u32::try_from(self.names.len()).expect("fewer than 2^32 symbols");
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), index);
        index
    }

    /// A venue's index; an empty one is [`DEFAULT_VENUE`].
    fn venue(&mut self, name: &str) -> u32 {
        self.venues.intern(if name.is_empty() { DEFAULT_VENUE } else { name })
    }
}

/// One tick file, read front to back in batches.
pub struct TickFile {
    path: PathBuf,
    format: FileFormat,
    batch_rows: usize,
    source: Source,
    symbols: Symbols,
    unreadable: u64,
    problems: Vec<String>,
}

enum Source {
    Csv(Box<CsvSource>),
    Parquet(Box<ParquetSource>),
}

impl TickFile {
    /// Open `path` and check its columns; `batch_rows` (> 0) is the most rows a batch holds.
    pub fn open(path: &Path, batch_rows: usize) -> Result<Self, TickFileError> {
        let format = FileFormat::of(path)?;
        if batch_rows == 0 {
            return Err(TickFileError::BatchRows);
        }
        let io = |source| TickFileError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.is_dir() {
            return Err(io(std::io::Error::other("is a directory")));
        }
        let source = match format {
            FileFormat::Csv { gzip } => Source::Csv(Box::new(CsvSource::open(path, file, gzip)?)),
            FileFormat::Parquet => Source::Parquet(Box::new(ParquetSource::open(path, file)?)),
        };
        Ok(Self {
            path: path.to_owned(),
            format,
            batch_rows,
            source,
            symbols: Symbols::default(),
            unreadable: 0,
            problems: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// Rows in the file when known without reading it (Parquet's footer); `None` for CSV.
    pub fn rows_total(&self) -> Option<u64> {
        match &self.source {
            Source::Csv(_) => None,
            Source::Parquet(source) => u64::try_from(source.reader.metadata().file_metadata().num_rows()).ok(),
        }
    }

    /// The symbols seen so far, in the order they first appeared; [`TickBatch::symbol`] indexes this list.
    /// In Parquet it may hold a symbol seen only on a row that was then left out as unreadable.
    pub fn symbols(&self) -> &[String] {
        &self.symbols.names
    }

    /// The venues seen so far, in the order they first appeared; [`TickBatch::venue`] indexes this list.
    pub fn venues(&self) -> &[String] {
        &self.symbols.venues.names
    }

    /// Rows left out so far because they cannot become a tick.
    pub fn unreadable_rows(&self) -> u64 {
        self.unreadable
    }

    /// The first [`PROBLEMS_KEPT`] unreadable rows, each as `<file>:<line or row>: <what was wrong>`.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The next batch of at most `batch_rows` ticks (never empty); `None` at the end of the file.
    pub fn next_batch(&mut self) -> Result<Option<TickBatch>, TickFileError> {
        let mut bad = Vec::new();
        let batch = match &mut self.source {
            Source::Csv(source) => source.next_batch(&self.path, self.batch_rows, &mut self.symbols, &mut bad)?,
            Source::Parquet(source) => source.next_batch(&self.path, self.batch_rows, &mut self.symbols, &mut bad)?,
        };
        for problem in bad {
            self.unreadable += 1;
            if self.problems.len() < PROBLEMS_KEPT {
                self.problems.push(format!("{}:{problem}", self.path.display()));
            }
        }
        Ok(batch)
    }
}

impl Iterator for TickFile {
    type Item = Result<TickBatch, TickFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}

// -- columns -------------------------------------------------------------------------------------------

fn depth_column(side: &str, field: &str, level: usize) -> String {
    format!("{side}_{field}_{level}")
}

fn is_known(name: &str) -> bool {
    if REQUIRED_COLUMNS.contains(&name) || OPTIONAL_COLUMNS.contains(&name) {
        return true;
    }
    SIDES.iter().any(|side| {
        DEPTH_FIELDS
            .iter()
            .any(|field| (1..=DEPTH_LEVELS).any(|level| name == depth_column(side, field, level)))
    })
}

/// Fail on a missing required column or an unknown one, as the Python reader does.
fn check_columns(path: &Path, columns: &[String]) -> Result<(), TickFileError> {
    let missing: Vec<String> = REQUIRED_COLUMNS
        .iter()
        .filter(|name| !columns.iter().any(|column| column == *name))
        .map(|name| (*name).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(TickFileError::MissingColumns {
            path: path.to_owned(),
            missing,
            columns: columns.to_vec(),
        });
    }
    let mut unknown: Vec<String> = columns.iter().filter(|name| !is_known(name)).cloned().collect();
    if !unknown.is_empty() {
        unknown.sort();
        unknown.dedup();
        return Err(TickFileError::UnknownColumns {
            path: path.to_owned(),
            unknown,
        });
    }
    Ok(())
}

/// Where each column sits (a CSV field or a Parquet leaf), by name; `levels[side]` pairs each depth
/// level's price and quantity columns (levels missing either are absent), best first.
#[derive(Debug, Default)]
struct Positions {
    timestamp: usize,
    symbol: usize,
    venue: Option<usize>,
    ltp: usize,
    ltq: Option<usize>,
    volume: Option<usize>,
    bid: Option<usize>,
    ask: Option<usize>,
    bid_qty: Option<usize>,
    ask_qty: Option<usize>,
    levels: [Vec<(usize, usize)>; 2],
}

impl Positions {
    fn new(find: impl Fn(&str) -> Option<usize>) -> Self {
        let required = |name: &str| find(name).expect("required columns are checked first");
        let levels = SIDES.map(|side| {
            (1..=DEPTH_LEVELS)
                .filter_map(|level| {
                    Some((
                        find(&depth_column(side, "price", level))?,
                        find(&depth_column(side, "qty", level))?,
                    ))
                })
                .collect()
        });
        Self {
            timestamp: required("timestamp"),
            symbol: required("symbol"),
            venue: find("venue"),
            ltp: required("ltp"),
            ltq: find("ltq"),
            volume: find("volume"),
            bid: find("bid"),
            ask: find("ask"),
            bid_qty: find("bid_qty"),
            ask_qty: find("ask_qty"),
            levels,
        }
    }
}

/// Per row, each side's depth: the summed quantity of levels with a price, and whether any level has a
/// price and a quantity other than 0 (the tick then has depth).
#[derive(Debug, Clone, Copy, Default)]
struct DepthSum {
    qty: [i64; 2],
    has_depth: bool,
}

impl DepthSum {
    fn add(&mut self, side: usize, price: f64, qty: i64) {
        if !price.is_nan() {
            self.qty[side] = self.qty[side].saturating_add(qty);
            self.has_depth |= qty != 0;
        }
    }
}

/// Fill `bid_depth_qty`/`ask_depth_qty` from the per-row sums (rows from `start` on).
fn finish_depth(batch: &mut TickBatch, start: usize, sums: Option<&[DepthSum]>) {
    for row in start..batch.len() {
        let (bid, ask) = match sums.map(|sums| sums[row - start]) {
            Some(sum) if sum.has_depth => (sum.qty[0], sum.qty[1]),
            _ => (batch.bid_qty[row], batch.ask_qty[row]),
        };
        batch.bid_depth_qty.push(bid);
        batch.ask_depth_qty.push(ask);
    }
}

// -- cells -------------------------------------------------------------------------------------------

/// Nanoseconds since the epoch from ISO-8601 or from an integer of nanoseconds, as
/// `aitrader.marketdata.files.parse_timestamp` reads them: `2025-11-21T09:15:00.25+05:30`,
/// `2025-11-21 09:15:00` (no offset: IST), `20251121T0915`, `...Z`, `...+0530`; up to 9 fraction digits.
/// A negative integer is kept as given.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("timestamp is empty".to_owned());
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map_err(|_| format!("timestamp does not fit in 64-bit nanoseconds, was {text}"));
    }
    parse_iso(text).ok_or_else(|| format!("timestamp is neither ISO-8601 nor epoch nanoseconds, was {text:?}"))
}

fn parse_iso(text: &str) -> Option<i64> {
    let split = text.find(['T', ' '])?;
    let (date, rest) = (&text[..split], &text[split + 1..]);
    let date = match date.len() {
        10 if date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-' => {
            NaiveDate::from_ymd_opt(number(&date[..4])?, number(&date[5..7])?, number(&date[8..])?)
        }
        8 => NaiveDate::from_ymd_opt(number(&date[..4])?, number(&date[4..6])?, number(&date[6..])?),
        _ => None,
    }?;
    // The time: [0-9:]+, then an optional fraction, then an optional zone.
    let time_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':'))
        .unwrap_or(rest.len());
    let (time, mut rest) = rest.split_at(time_end);
    let parts: Vec<&str> = if time.contains(':') {
        time.split(':').collect()
    } else {
        (0..time.len())
            .step_by(2)
            .map(|at| time.get(at..at + 2).unwrap_or(""))
            .collect()
    };
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|part| part.len() != 2) {
        return None;
    }
    let field = |index: usize| parts.get(index).map_or(Some(0), |part| number::<u32>(part));
    let time = NaiveTime::from_hms_opt(field(0)?, field(1)?, field(2)?)?;
    let mut fraction = 0i64;
    if let Some(after) = rest.strip_prefix('.') {
        let end = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
        if end == 0 || end > 9 {
            return None;
        }
        fraction = number::<i64>(&after[..end])? * 10i64.pow(9 - end as u32);
        rest = &after[end..];
    }
    let offset_ns = match rest {
        "" => IST_OFFSET_NS,
        "Z" => 0,
        zone => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let zone = &zone[1..];
            let (hours, minutes) = match zone.len() {
                5 if zone.as_bytes()[2] == b':' => (&zone[..2], &zone[3..]),
                4 => (&zone[..2], &zone[2..]),
                _ => return None,
            };
            let (hours, minutes) = (number::<i64>(hours)?, number::<i64>(minutes)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60) * NANOS_PER_SECOND
        }
    };
    let seconds = date.and_time(time).and_utc().timestamp();
    seconds
        .checked_mul(NANOS_PER_SECOND)?
        .checked_add(fraction)?
        .checked_sub(offset_ns)
}

/// A run of ASCII digits as a number (no sign, no spaces).
fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A price cell: empty is NaN; anything Rust reads as a float is kept as given (NaN and negatives too).
fn parse_price(name: &str, text: &str) -> Result<f64, String> {
    if text.is_empty() {
        return Ok(f64::NAN);
    }
    text.parse::<f64>()
        .map_err(|_| format!("{name} must be a number, was {text:?}"))
}

/// A quantity cell: empty is 0; a whole number, also written as a float (`12.0`, `1e3`); sign kept.
fn parse_quantity(name: &str, text: &str) -> Result<i64, String> {
    if text.is_empty() {
        return Ok(0);
    }
    if let Ok(value) = text.parse::<i64>() {
        return Ok(value);
    }
    // -2^63 <= value < 2^63: exactly the whole floats that fit in an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    match text.parse::<f64>() {
        Ok(value) if value.fract() == 0.0 && (-LIMIT..LIMIT).contains(&value) => Ok(value as i64),
        _ => Err(format!("{name} must be a whole number, was {text:?}")),
    }
}

// -- CSV -----------------------------------------------------------------------------------------------

struct CsvSource {
    reader: csv::Reader<Box<dyn Read + Send>>,
    width: usize,
    at: Positions,
    /// Columns that feed nothing but must still parse, as the Python reader checks them: (position, name,
    /// is a price).
    checked: Vec<(usize, String, bool)>,
    record: csv::ByteRecord,
}

impl CsvSource {
    fn open(path: &Path, file: File, gzip: bool) -> Result<Self, TickFileError> {
        let input: Box<dyn Read + Send> = if gzip {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
        } else {
            Box::new(file)
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(input);
        let header = reader
            .byte_headers()
            .map_err(|source| TickFileError::Csv {
                path: path.to_owned(),
                line: 1,
                source,
            })?
            .clone();
        if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
            return Err(TickFileError::Empty { path: path.to_owned() });
        }
        let names: Vec<String> = header
            .iter()
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect();
        check_columns(path, &names)?;
        // As Python's dict of the header: a repeated name means its last position.
        let find = |name: &str| names.iter().rposition(|column| column == name);
        let at = Positions::new(find);
        let mut used: Vec<usize> = vec![at.timestamp, at.symbol, at.ltp];
        used.extend(
            [at.ltq, at.volume, at.bid, at.ask, at.bid_qty, at.ask_qty]
                .into_iter()
                .flatten(),
        );
        used.extend(at.levels.iter().flatten().flat_map(|&(price, qty)| [price, qty]));
        let checked = names
            .iter()
            .enumerate()
            .filter(|(position, name)| {
                !used.contains(position) && name.as_str() != "venue" && find(name) == Some(*position)
            })
            .map(|(position, name)| (position, name.clone(), name.contains("_price_")))
            .collect();
        Ok(Self {
            reader,
            width: names.len(),
            at,
            checked,
            record: csv::ByteRecord::new(),
        })
    }

    fn next_batch(
        &mut self,
        path: &Path,
        batch_rows: usize,
        symbols: &mut Symbols,
        bad: &mut Vec<String>,
    ) -> Result<Option<TickBatch>, TickFileError> {
        let mut batch = TickBatch::with_capacity(batch_rows.min(1 << 16));
        let mut sums = Vec::new();
        while batch.len() < batch_rows {
            let more = self.reader.read_byte_record(&mut self.record).map_err(|source| {
                let line = source.position().map_or(0, |position| position.line());
                TickFileError::Csv {
                    path: path.to_owned(),
                    line,
                    source,
                }
            })?;
            if !more {
                break;
            }
            if self.record.len() == 1 && self.record[0].is_empty() {
                continue;
            }
            if let Err(problem) = self.row(&mut batch, &mut sums, symbols) {
                // The line the record ends on, as Python's csv reports it: the csv crate starts a record
                // after blank lines at the first of them, so the reader's line after the record is used too.
                let start = self.record.position().map_or(0, |position| position.line());
                let line = start.max(self.reader.position().line().saturating_sub(1));
                bad.push(format!("line {line}: {problem}"));
            }
        }
        let depth = (!self.at.levels.iter().all(Vec::is_empty)).then_some(sums.as_slice());
        finish_depth(&mut batch, 0, depth);
        Ok((!batch.is_empty()).then_some(batch))
    }

    /// Parse the current record and append it to `batch`; nothing is appended when a cell is unreadable.
    fn row(&self, batch: &mut TickBatch, sums: &mut Vec<DepthSum>, symbols: &mut Symbols) -> Result<(), String> {
        let record = &self.record;
        if record.len() != self.width {
            return Err(format!("expected {} fields, was {}", self.width, record.len()));
        }
        let cell = |position: usize, name: &str| {
            std::str::from_utf8(&record[position]).map_err(|_| format!("{name} is not UTF-8 text"))
        };
        let optional = |position: Option<usize>, name: &str| position.map_or(Ok(""), |position| cell(position, name));
        let at = &self.at;

        let ts_ns = parse_timestamp(cell(at.timestamp, "timestamp")?)?;
        let symbol = cell(at.symbol, "symbol")?;
        if symbol.is_empty() {
            return Err("symbol is empty".to_owned());
        }
        let venue = optional(at.venue, "venue")?;
        let ltp = parse_price("ltp", cell(at.ltp, "ltp")?)?;
        let ltq = parse_quantity("ltq", optional(at.ltq, "ltq")?)?;
        let volume = parse_quantity("volume", optional(at.volume, "volume")?)?;
        let bid = parse_price("bid", optional(at.bid, "bid")?)?;
        let ask = parse_price("ask", optional(at.ask, "ask")?)?;
        let bid_qty = parse_quantity("bid_qty", optional(at.bid_qty, "bid_qty")?)?;
        let ask_qty = parse_quantity("ask_qty", optional(at.ask_qty, "ask_qty")?)?;
        let mut sum = DepthSum::default();
        for (side, levels) in at.levels.iter().enumerate() {
            for &(price, qty) in levels {
                let price = parse_price("depth price", cell(price, "depth price")?)?;
                sum.add(side, price, parse_quantity("depth qty", cell(qty, "depth qty")?)?);
            }
        }
        for (position, name, is_price) in &self.checked {
            let text = cell(*position, name)?;
            if *is_price {
                parse_price(name, text)?;
            } else {
                parse_quantity(name, text)?;
            }
        }

        batch.ts_ns.push(ts_ns);
        batch.symbol.push(symbols.intern(symbol));
        batch.venue.push(symbols.venue(venue));
        batch.ltp.push(ltp);
        batch.ltq.push(ltq);
        batch.volume.push(volume);
        batch.bid.push(bid);
        batch.ask.push(ask);
        batch.bid_qty.push(bid_qty);
        batch.ask_qty.push(ask_qty);
        sums.push(sum);
        Ok(())
    }
}

// -- Parquet -------------------------------------------------------------------------------------------

/// How a Parquet column's values become ours.
#[derive(Debug, Clone, Copy)]
enum Decode {
    /// Integer time: nanoseconds per stored unit; `naive` times are IST.
    Time {
        ns_per_unit: i64,
        naive: bool,
    },
    /// INT96 time (legacy Impala/Spark): read as a naive time, as pyarrow does, so IST.
    Int96Time,
    /// ISO-8601 or integer text, as in CSV.
    TextTime,
    Text,
    /// A number as f64, divided by `divisor` (a decimal's 10^scale, else 1).
    Float {
        divisor: f64,
    },
    Integer,
}

/// What a column holds for us, which decides the Parquet types it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Time,
    Text,
    Price,
    Quantity,
}

#[derive(Debug, Clone)]
struct Plan {
    index: usize,
    name: String,
    decode: Decode,
}

/// A Parquet leaf column, described for messages.
fn describe(column: &ColumnDescriptor) -> String {
    match column.logical_type_ref() {
        Some(logical) => format!("{} ({logical:?})", column.physical_type()),
        None => column.physical_type().to_string(),
    }
}

fn plan(path: &Path, column: &ColumnDescriptor, index: usize, role: Role) -> Result<Plan, TickFileError> {
    let name = column.name().to_owned();
    let wrong = |expected: &str| TickFileError::ColumnType {
        path: path.to_owned(),
        column: name.clone(),
        problem: format!("must be {expected}, was {}", describe(column)),
    };
    if column.max_rep_level() > 0 || column.path().parts().len() != 1 {
        return Err(wrong("a flat (not nested or repeated) column"));
    }
    let physical = column.physical_type();
    let logical = column.logical_type_ref();
    let decode = match role {
        Role::Time => match (physical, logical, column.converted_type()) {
            (PhysicalType::INT64 | PhysicalType::INT32, Some(LogicalType::Timestamp(kind)), _) => Decode::Time {
                ns_per_unit: match kind.unit {
                    TimeUnit::MILLIS => 1_000_000,
                    TimeUnit::MICROS => 1_000,
                    TimeUnit::NANOS => 1,
                },
                naive: !kind.is_adjusted_to_u_t_c,
            },
            (PhysicalType::INT64, None, ConvertedType::TIMESTAMP_MILLIS) => Decode::Time {
                ns_per_unit: 1_000_000,
                naive: false,
            },
            (PhysicalType::INT64, None, ConvertedType::TIMESTAMP_MICROS) => Decode::Time {
                ns_per_unit: 1_000,
                naive: false,
            },
            (PhysicalType::INT64 | PhysicalType::INT32, None | Some(LogicalType::Integer(_)), _) => Decode::Time {
                ns_per_unit: 1,
                naive: false,
            },
            (PhysicalType::INT96, _, _) => Decode::Int96Time,
            (PhysicalType::BYTE_ARRAY, None | Some(LogicalType::String), _) => Decode::TextTime,
            _ => return Err(wrong("timestamps, integers (ns) or ISO-8601 text")),
        },
        Role::Text => match (physical, logical) {
            (PhysicalType::BYTE_ARRAY, None | Some(LogicalType::String | LogicalType::Enum)) => Decode::Text,
            _ => return Err(wrong("text")),
        },
        Role::Price => match (physical, logical) {
            (PhysicalType::DOUBLE | PhysicalType::FLOAT, _) => Decode::Float { divisor: 1.0 },
            (PhysicalType::INT64 | PhysicalType::INT32, None | Some(LogicalType::Integer(_))) => {
                Decode::Float { divisor: 1.0 }
            }
            (PhysicalType::INT64 | PhysicalType::INT32, Some(LogicalType::Decimal(decimal))) => Decode::Float {
                divisor: 10f64.powi(decimal.scale),
            },
            _ => return Err(wrong("numbers (DOUBLE, FLOAT, INT32, INT64 or a decimal of them)")),
        },
        _ => match (physical, logical) {
            (PhysicalType::INT64 | PhysicalType::INT32, None | Some(LogicalType::Integer(_))) => Decode::Integer,
            _ => return Err(wrong("integers (INT32 or INT64)")),
        },
    };
    Ok(Plan { index, name, decode })
}

/// The columns this reader takes from a Parquet file.
struct ParquetPlan {
    timestamp: Plan,
    symbol: Plan,
    venue: Option<Plan>,
    ltp: Plan,
    ltq: Option<Plan>,
    volume: Option<Plan>,
    bid: Option<Plan>,
    ask: Option<Plan>,
    bid_qty: Option<Plan>,
    ask_qty: Option<Plan>,
    levels: [Vec<(Plan, Plan)>; 2],
}

struct ParquetSource {
    reader: SerializedFileReader<File>,
    plan: ParquetPlan,
    next_group: usize,
    group: Option<Group>,
    /// Rows before the current row group, for messages.
    rows_before: u64,
}

/// The open column readers of one row group and the rows left in it.
struct Group {
    index: usize,
    rows: usize,
    remaining: usize,
    timestamp: Column,
    symbol: Column,
    venue: Option<Column>,
    ltp: Column,
    ltq: Option<Column>,
    volume: Option<Column>,
    bid: Option<Column>,
    ask: Option<Column>,
    bid_qty: Option<Column>,
    ask_qty: Option<Column>,
    levels: [Vec<(Column, Column)>; 2],
}

impl ParquetSource {
    fn open(path: &Path, file: File) -> Result<Self, TickFileError> {
        let reader = SerializedFileReader::new(file).map_err(|source| TickFileError::Parquet {
            path: path.to_owned(),
            source,
        })?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let names: Vec<String> = schema
            .root_schema()
            .get_fields()
            .iter()
            .map(|field| field.name().to_owned())
            .collect();
        check_columns(path, &names)?;
        let find = |name: &str| {
            schema
                .columns()
                .iter()
                .position(|column| column.path().parts() == [name])
        };
        // A known top-level name without a leaf of that path is a nested column.
        for name in &names {
            if find(name).is_none() {
                return Err(TickFileError::ColumnType {
                    path: path.to_owned(),
                    column: name.clone(),
                    problem: "must be a flat (not nested) column".to_owned(),
                });
            }
        }
        let at = Positions::new(find);
        let plan_of = |index: usize, role: Role| plan(path, &schema.column(index), index, role);
        let optional = |index: Option<usize>, role: Role| index.map(|index| plan_of(index, role)).transpose();
        let mut levels: [Vec<(Plan, Plan)>; 2] = Default::default();
        for (side, pairs) in at.levels.iter().enumerate() {
            for &(price, qty) in pairs {
                levels[side].push((plan_of(price, Role::Price)?, plan_of(qty, Role::Quantity)?));
            }
        }
        let plan = ParquetPlan {
            timestamp: plan_of(at.timestamp, Role::Time)?,
            symbol: plan_of(at.symbol, Role::Text)?,
            venue: optional(at.venue, Role::Text)?,
            ltp: plan_of(at.ltp, Role::Price)?,
            ltq: optional(at.ltq, Role::Quantity)?,
            volume: optional(at.volume, Role::Quantity)?,
            bid: optional(at.bid, Role::Price)?,
            ask: optional(at.ask, Role::Price)?,
            bid_qty: optional(at.bid_qty, Role::Quantity)?,
            ask_qty: optional(at.ask_qty, Role::Quantity)?,
            levels,
        };
        // Columns read by nothing (seq, orders) still must have a usable type, as in Python.
        for name in &names {
            let Some(leaf) = find(name) else { continue };
            let role = match name.as_str() {
                "seq" => Role::Quantity,
                name if name.contains("_orders_") || name.contains("_qty_") => Role::Quantity,
                name if name.contains("_price_") => Role::Price,
                _ => continue,
            };
            plan_of(leaf, role)?;
        }
        Ok(Self {
            reader,
            plan,
            next_group: 0,
            group: None,
            rows_before: 0,
        })
    }

    fn open_group(&self, path: &Path, index: usize) -> Result<Group, TickFileError> {
        let failed = |column: &str, problem: String| TickFileError::ParquetRead {
            path: path.to_owned(),
            row_group: index,
            column: column.to_owned(),
            problem,
        };
        let group = self
            .reader
            .get_row_group(index)
            .map_err(|e| failed("(all)", e.to_string()))?;
        let rows = usize::try_from(group.metadata().num_rows()).map_err(|e| failed("(all)", e.to_string()))?;
        let open = |plan: &Plan| -> Result<Column, TickFileError> {
            let reader = group
                .get_column_reader(plan.index)
                .map_err(|e| failed(&plan.name, e.to_string()))?;
            let max_def = group.metadata().column(plan.index).column_descr().max_def_level();
            Ok(Column {
                name: plan.name.clone(),
                decode: plan.decode,
                max_def,
                reader,
            })
        };
        let optional = |plan: &Option<Plan>| plan.as_ref().map(open).transpose();
        let plan = &self.plan;
        let mut levels: [Vec<(Column, Column)>; 2] = Default::default();
        for (side, pairs) in plan.levels.iter().enumerate() {
            for (price, qty) in pairs {
                levels[side].push((open(price)?, open(qty)?));
            }
        }
        Ok(Group {
            index,
            rows,
            remaining: rows,
            timestamp: open(&plan.timestamp)?,
            symbol: open(&plan.symbol)?,
            venue: optional(&plan.venue)?,
            ltp: open(&plan.ltp)?,
            ltq: optional(&plan.ltq)?,
            volume: optional(&plan.volume)?,
            bid: optional(&plan.bid)?,
            ask: optional(&plan.ask)?,
            bid_qty: optional(&plan.bid_qty)?,
            ask_qty: optional(&plan.ask_qty)?,
            levels,
        })
    }

    fn next_batch(
        &mut self,
        path: &Path,
        batch_rows: usize,
        symbols: &mut Symbols,
        bad: &mut Vec<String>,
    ) -> Result<Option<TickBatch>, TickFileError> {
        loop {
            let mut batch = TickBatch::with_capacity(batch_rows.min(1 << 16));
            let mut unreadable: Vec<usize> = Vec::new();
            while batch.len() < batch_rows {
                let group = match &mut self.group {
                    Some(group) if group.remaining > 0 => group,
                    _ => {
                        if let Some(done) = self.group.take() {
                            self.rows_before += done.rows as u64;
                        }
                        if self.next_group == self.reader.num_row_groups() {
                            break;
                        }
                        self.group = Some(self.open_group(path, self.next_group)?);
                        self.next_group += 1;
                        continue;
                    }
                };
                let rows = (batch_rows - batch.len()).min(group.remaining);
                let first_row = self.rows_before + (group.rows - group.remaining) as u64;
                group.read(path, rows, first_row, &mut batch, symbols, &mut unreadable, bad)?;
                group.remaining -= rows;
            }
            if !unreadable.is_empty() {
                let mut keep = vec![true; batch.len()];
                for row in unreadable {
                    keep[row] = false;
                }
                batch.retain(&keep);
            }
            if !batch.is_empty() {
                return Ok(Some(batch));
            }
            if self.group.is_none() && self.next_group == self.reader.num_row_groups() {
                return Ok(None);
            }
        }
    }
}

impl Group {
    /// Append the next `rows` rows to `batch`; rows without a time or a symbol are recorded in
    /// `unreadable` (positions in `batch`) and `bad` (why) for the caller to drop.
    #[allow(clippy::too_many_arguments)]
    fn read(
        &mut self,
        path: &Path,
        rows: usize,
        first_row: u64,
        batch: &mut TickBatch,
        symbols: &mut Symbols,
        unreadable: &mut Vec<usize>,
        bad: &mut Vec<String>,
    ) -> Result<(), TickFileError> {
        let start = batch.len();
        let index = self.index;
        let failed = |column: &Column, problem: String| TickFileError::ParquetRead {
            path: path.to_owned(),
            row_group: index,
            column: column.name.clone(),
            problem,
        };
        let mut problems: Vec<(usize, String)> = Vec::new();
        self.timestamp
            .times(rows, &mut batch.ts_ns, &mut problems)
            .map_err(|e| failed(&self.timestamp, e))?;
        self.symbol
            .symbols(rows, symbols, &mut batch.symbol, &mut problems)
            .map_err(|e| failed(&self.symbol, e))?;
        match &mut self.venue {
            Some(column) => column
                .venues(rows, symbols, &mut batch.venue, &mut problems)
                .map_err(|e| failed(column, e))?,
            None => batch.venue.resize(start + rows, symbols.venue("")),
        }
        self.ltp
            .floats(rows, &mut batch.ltp)
            .map_err(|e| failed(&self.ltp, e))?;
        for (column, out) in [(&mut self.bid, &mut batch.bid), (&mut self.ask, &mut batch.ask)] {
            match column {
                Some(column) => column.floats(rows, out).map_err(|e| failed(column, e))?,
                None => out.resize(start + rows, f64::NAN),
            }
        }
        for (column, out) in [
            (&mut self.ltq, &mut batch.ltq),
            (&mut self.volume, &mut batch.volume),
            (&mut self.bid_qty, &mut batch.bid_qty),
            (&mut self.ask_qty, &mut batch.ask_qty),
        ] {
            match column {
                Some(column) => column.integers(rows, out).map_err(|e| failed(column, e))?,
                None => out.resize(start + rows, 0),
            }
        }
        let sums = if self.levels.iter().all(Vec::is_empty) {
            None
        } else {
            let mut sums = vec![DepthSum::default(); rows];
            let (mut prices, mut quantities) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
            for (side, levels) in self.levels.iter_mut().enumerate() {
                for (price, qty) in levels {
                    prices.clear();
                    quantities.clear();
                    price.floats(rows, &mut prices).map_err(|e| failed(price, e))?;
                    qty.integers(rows, &mut quantities).map_err(|e| failed(qty, e))?;
                    for (sum, (&price, &qty)) in sums.iter_mut().zip(prices.iter().zip(&quantities)) {
                        sum.add(side, price, qty);
                    }
                }
            }
            Some(sums)
        };
        finish_depth(batch, start, sums.as_deref());

        problems.sort_by_key(|(row, _)| *row);
        problems.dedup_by_key(|(row, _)| *row);
        for (row, problem) in problems {
            unreadable.push(start + row);
            bad.push(format!("row {}: {problem}", first_row + row as u64 + 1));
        }
        Ok(())
    }
}

/// One column's reader in a row group.
struct Column {
    name: String,
    decode: Decode,
    max_def: i16,
    reader: ColumnReader,
}

/// Read exactly `rows` records, calling `each` with every value in row order (`None`: null).
fn read_values<T: DataType>(
    reader: &mut ColumnReaderImpl<T>,
    max_def: i16,
    rows: usize,
    mut each: impl FnMut(Option<&T::T>),
) -> Result<(), String> {
    let mut values: Vec<T::T> = Vec::with_capacity(rows);
    let mut levels: Vec<i16> = Vec::new();
    let mut read = 0;
    while read < rows {
        let levels = (max_def > 0).then_some(&mut levels);
        let (records, _, _) = reader
            .read_records(rows - read, levels, None, &mut values)
            .map_err(|e| e.to_string())?;
        if records == 0 {
            return Err(format!("the column ended after {read} of {rows} rows"));
        }
        read += records;
    }
    if max_def == 0 {
        values.iter().for_each(|value| each(Some(value)));
    } else {
        let mut values = values.iter();
        for &level in &levels {
            each(if level == max_def { values.next() } else { None });
        }
    }
    Ok(())
}

impl Column {
    fn unexpected(&self) -> String {
        format!("unexpected physical type for {:?}", self.decode)
    }

    /// Numbers as f64; null is NaN.
    fn floats(&mut self, rows: usize, out: &mut Vec<f64>) -> Result<(), String> {
        let Decode::Float { divisor } = self.decode else {
            return Err(self.unexpected());
        };
        let max_def = self.max_def;
        match &mut self.reader {
            ColumnReader::DoubleColumnReader(reader) => read_values(reader, max_def, rows, |value| {
                out.push(value.map_or(f64::NAN, |value| *value))
            }),
            ColumnReader::FloatColumnReader(reader) => read_values(reader, max_def, rows, |value| {
                out.push(value.map_or(f64::NAN, |value| f64::from(*value)))
            }),
            ColumnReader::Int64ColumnReader(reader) => read_values(reader, max_def, rows, |value| {
                out.push(value.map_or(f64::NAN, |value| *value as f64 / divisor))
            }),
            ColumnReader::Int32ColumnReader(reader) => read_values(reader, max_def, rows, |value| {
                out.push(value.map_or(f64::NAN, |value| f64::from(*value) / divisor))
            }),
            _ => Err(self.unexpected()),
        }
    }

    /// Integers as i64; null is 0.
    fn integers(&mut self, rows: usize, out: &mut Vec<i64>) -> Result<(), String> {
        let max_def = self.max_def;
        match &mut self.reader {
            ColumnReader::Int64ColumnReader(reader) => {
                read_values(reader, max_def, rows, |value| out.push(value.copied().unwrap_or(0)))
            }
            ColumnReader::Int32ColumnReader(reader) => read_values(reader, max_def, rows, |value| {
                out.push(value.map_or(0, |value| i64::from(*value)))
            }),
            _ => Err(self.unexpected()),
        }
    }

    /// Times as nanoseconds since the epoch; a null or unreadable time is 0 plus a problem for its row.
    fn times(&mut self, rows: usize, out: &mut Vec<i64>, problems: &mut Vec<(usize, String)>) -> Result<(), String> {
        let start = out.len();
        let mut push = |value: Result<i64, String>| {
            match value {
                Ok(value) => out.push(value),
                Err(problem) => {
                    problems.push((out.len() - start, problem));
                    out.push(0);
                }
            };
        };
        let missing = || Err("timestamp is missing".to_owned());
        let max_def = self.max_def;
        let overflow = |value: i64| format!("timestamp {value} does not fit in 64-bit nanoseconds");
        match (self.decode, &mut self.reader) {
            (Decode::Time { ns_per_unit, naive }, ColumnReader::Int64ColumnReader(reader)) => {
                read_values(reader, max_def, rows, |value| {
                    push(value.map_or_else(missing, |&value| {
                        scale_time(value, ns_per_unit, naive).ok_or_else(|| overflow(value))
                    }))
                })
            }
            (Decode::Time { ns_per_unit, naive }, ColumnReader::Int32ColumnReader(reader)) => {
                read_values(reader, max_def, rows, |value| {
                    push(value.map_or_else(missing, |&value| {
                        scale_time(i64::from(value), ns_per_unit, naive).ok_or_else(|| overflow(i64::from(value)))
                    }))
                })
            }
            (Decode::Int96Time, ColumnReader::Int96ColumnReader(reader)) => {
                read_values(reader, max_def, rows, |value| {
                    push(value.map_or_else(missing, |value| Ok(value.to_nanos().wrapping_sub(IST_OFFSET_NS))))
                })
            }
            (Decode::TextTime, ColumnReader::ByteArrayColumnReader(reader)) => {
                read_values(reader, max_def, rows, |value| {
                    push(value.map_or_else(missing, |value| match value.as_utf8() {
                        Ok(text) => parse_timestamp(text),
                        Err(_) => Err("timestamp is not UTF-8 text".to_owned()),
                    }))
                })
            }
            _ => Err(self.unexpected()),
        }
    }

    /// Venues as indices into `symbols.venues`; a null or empty venue is [`DEFAULT_VENUE`], a non-UTF-8 one
    /// a problem for its row.
    fn venues(
        &mut self,
        rows: usize,
        symbols: &mut Symbols,
        out: &mut Vec<u32>,
        problems: &mut Vec<(usize, String)>,
    ) -> Result<(), String> {
        let ColumnReader::ByteArrayColumnReader(reader) = &mut self.reader else {
            return Err(self.unexpected());
        };
        let start = out.len();
        read_values(reader, self.max_def, rows, |value| {
            let text = match value {
                None => Ok(""),
                Some(value) => value.as_utf8().map_err(|_| ()),
            };
            match text {
                Ok(text) => out.push(symbols.venue(text)),
                Err(()) => {
                    problems.push((out.len() - start, "venue is not UTF-8 text".to_owned()));
                    out.push(u32::MAX);
                }
            }
        })
    }

    /// Symbols as indices into `symbols`; a null, empty or non-UTF-8 symbol is a problem for its row.
    fn symbols(
        &mut self,
        rows: usize,
        symbols: &mut Symbols,
        out: &mut Vec<u32>,
        problems: &mut Vec<(usize, String)>,
    ) -> Result<(), String> {
        let ColumnReader::ByteArrayColumnReader(reader) = &mut self.reader else {
            return Err(self.unexpected());
        };
        let start = out.len();
        // Consecutive rows often repeat a symbol (and dictionary pages repeat the same bytes): skip the map.
        let mut last: Option<(ByteArray, u32)> = None;
        read_values(reader, self.max_def, rows, |value| {
            let problem = match value {
                None => "symbol is missing",
                Some(value) if value.data().is_empty() => "symbol is empty",
                Some(value) => {
                    if let Some((bytes, index)) = &last {
                        if bytes.data() == value.data() {
                            out.push(*index);
                            return;
                        }
                    }
                    match value.as_utf8() {
                        Ok(text) => {
                            let index = symbols.intern(text);
                            last = Some((value.clone(), index));
                            out.push(index);
                            return;
                        }
                        Err(_) => "symbol is not UTF-8 text",
                    }
                }
            };
            problems.push((out.len() - start, problem.to_owned()));
            out.push(u32::MAX);
        })
    }
}

/// `value` units since the epoch as UTC nanoseconds; a naive time is IST.
fn scale_time(value: i64, ns_per_unit: i64, naive: bool) -> Option<i64> {
    let ns = value.checked_mul(ns_per_unit)?;
    if naive {
        ns.checked_sub(IST_OFFSET_NS)
    } else {
        Some(ns)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parquet::basic::{Compression, ZstdLevel};
    use parquet::data_type::{ByteArrayType, DoubleType, Int32Type, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    use super::*;

    const T0: i64 = 1_763_696_700_000_000_000; // 2025-11-21 09:15:00 IST

    /// A directory of its own per test, removed at the end.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("pe-tickfile-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Every batch of the file, and the reader after its last batch.
    fn read_all(path: &Path, batch_rows: usize) -> (Vec<TickBatch>, TickFile) {
        let mut file = TickFile::open(path, batch_rows).unwrap();
        let mut batches = Vec::new();
        while let Some(batch) = file.next_batch().unwrap() {
            assert!(!batch.is_empty() && batch.len() <= batch_rows);
            batches.push(batch);
        }
        assert!(file.next_batch().unwrap().is_none(), "the end stays the end");
        (batches, file)
    }

    /// All batches as one.
    fn concat(batches: &[TickBatch]) -> TickBatch {
        let mut all = TickBatch::default();
        for batch in batches {
            all.ts_ns.extend(&batch.ts_ns);
            all.symbol.extend(&batch.symbol);
            all.venue.extend(&batch.venue);
            all.ltp.extend(&batch.ltp);
            all.ltq.extend(&batch.ltq);
            all.volume.extend(&batch.volume);
            all.bid.extend(&batch.bid);
            all.ask.extend(&batch.ask);
            all.bid_qty.extend(&batch.bid_qty);
            all.ask_qty.extend(&batch.ask_qty);
            all.bid_depth_qty.extend(&batch.bid_depth_qty);
            all.ask_depth_qty.extend(&batch.ask_depth_qty);
        }
        all
    }

    fn read_one(path: &Path) -> (TickBatch, TickFile) {
        let (batches, file) = read_all(path, 1000);
        (concat(&batches), file)
    }

    /// Prices compared with NaN equal to NaN.
    fn prices(values: &[f64]) -> Vec<Option<f64>> {
        values.iter().map(|value| (!value.is_nan()).then_some(*value)).collect()
    }

    enum Values {
        I64(Vec<Option<i64>>),
        I32(Vec<Option<i32>>),
        F64(Vec<Option<f64>>),
        Text(Vec<Option<&'static str>>),
    }

    fn present<T: Clone>(values: &[Option<T>]) -> (Vec<T>, Vec<i16>) {
        (
            values.iter().flatten().cloned().collect(),
            values.iter().map(|value| i16::from(value.is_some())).collect(),
        )
    }

    /// A Parquet file of `columns` (in schema order), one row group per entry of `groups` (row counts).
    fn write_parquet(path: &Path, schema: &str, columns: &[Values], groups: &[usize], properties: WriterProperties) {
        let schema = Arc::new(parse_message_type(schema).unwrap());
        let mut writer = SerializedFileWriter::new(File::create(path).unwrap(), schema, Arc::new(properties)).unwrap();
        let mut first = 0;
        for &rows in groups {
            let range = first..first + rows;
            first += rows;
            let mut group = writer.next_row_group().unwrap();
            let mut index = 0;
            while let Some(mut column) = group.next_column().unwrap() {
                let levels = |defs: Vec<i16>| defs;
                match &columns[index] {
                    Values::I64(values) => {
                        let (values, defs) = present(&values[range.clone()]);
                        column
                            .typed::<Int64Type>()
                            .write_batch(&values, Some(&levels(defs)), None)
                            .unwrap();
                    }
                    Values::I32(values) => {
                        let (values, defs) = present(&values[range.clone()]);
                        column
                            .typed::<Int32Type>()
                            .write_batch(&values, Some(&defs), None)
                            .unwrap();
                    }
                    Values::F64(values) => {
                        let (values, defs) = present(&values[range.clone()]);
                        column
                            .typed::<DoubleType>()
                            .write_batch(&values, Some(&defs), None)
                            .unwrap();
                    }
                    Values::Text(values) => {
                        let (values, defs) = present(&values[range.clone()]);
                        let values: Vec<ByteArray> = values.into_iter().map(ByteArray::from).collect();
                        column
                            .typed::<ByteArrayType>()
                            .write_batch(&values, Some(&defs), None)
                            .unwrap();
                    }
                }
                column.close().unwrap();
                index += 1;
            }
            group.close().unwrap();
        }
        writer.close().unwrap();
    }

    fn zstd(dictionary: bool) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_dictionary_enabled(dictionary)
            .build()
    }

    // -- Parquet ----------------------------------------------------------------------------------------

    const DEPTH_SCHEMA: &str = "message ticks {
        REQUIRED INT64 timestamp (TIMESTAMP(NANOS,true));
        REQUIRED BYTE_ARRAY symbol (STRING);
        OPTIONAL BYTE_ARRAY venue (STRING);
        REQUIRED INT64 seq;
        REQUIRED DOUBLE ltp;
        REQUIRED INT64 ltq;
        REQUIRED INT64 volume;
        OPTIONAL DOUBLE bid;
        OPTIONAL DOUBLE ask;
        REQUIRED INT64 bid_qty;
        REQUIRED INT64 ask_qty;
        OPTIONAL DOUBLE bid_price_1;
        OPTIONAL INT64 bid_qty_1;
        OPTIONAL INT64 bid_orders_1;
        OPTIONAL DOUBLE bid_price_2;
        OPTIONAL INT64 bid_qty_2;
        OPTIONAL INT64 bid_orders_2;
        OPTIONAL DOUBLE ask_price_1;
        OPTIONAL INT64 ask_qty_1;
        OPTIONAL INT64 ask_orders_1;
        OPTIONAL DOUBLE ask_qty_2;
    }";

    fn depth_columns() -> Vec<Values> {
        vec![
            Values::I64(vec![Some(T0), Some(T0 + 1), Some(T0 + 2), Some(T0 - 5)]),
            Values::Text(vec![Some("INFY"), Some("TCS"), Some("INFY"), Some("TCS")]),
            Values::Text(vec![Some("NSE"), Some("BSE"), None, Some("")]),
            Values::I64(vec![Some(1), Some(1), Some(2), Some(2)]),
            Values::F64(vec![Some(1500.05), Some(3400.0), Some(-1.0), Some(f64::NAN)]),
            Values::I64(vec![Some(10), Some(0), Some(-3), Some(5)]),
            Values::I64(vec![Some(10), Some(70_000), Some(7), Some(70_005)]),
            Values::F64(vec![Some(1500.0), None, Some(1499.0), Some(3399.0)]),
            Values::F64(vec![Some(1500.1), None, Some(1501.0), Some(3401.0)]),
            Values::I64(vec![Some(300), Some(0), Some(40), Some(11)]),
            Values::I64(vec![Some(200), Some(0), Some(50), Some(12)]),
            // bid level 1, level 2, ask level 1; ask_qty_2 has no price column, so it is no level.
            Values::F64(vec![Some(1500.0), None, Some(1499.0), None]),
            Values::I64(vec![Some(300), None, Some(40), None]),
            Values::I64(vec![Some(3), None, Some(1), None]),
            Values::F64(vec![Some(1499.95), None, None, None]),
            Values::I64(vec![Some(100), None, Some(99), None]),
            Values::I64(vec![Some(2), None, None, None]),
            Values::F64(vec![Some(1500.1), None, Some(1501.0), None]),
            Values::I64(vec![Some(200), None, Some(0), None]),
            Values::I64(vec![Some(5), None, Some(0), None]),
            Values::F64(vec![Some(9.0), None, Some(9.0), None]),
        ]
    }

    #[test]
    fn parquet_with_depth_sums_the_levels_that_have_a_price() {
        let dir = TempDir::new("parquet-depth");
        let path = dir.0.join("ticks.parquet");
        let schema = DEPTH_SCHEMA.replace("OPTIONAL DOUBLE ask_qty_2", "OPTIONAL INT64 ask_qty_2");
        let mut columns = depth_columns();
        columns[20] = Values::I64(vec![Some(9), None, Some(9), None]);
        write_parquet(&path, &schema, &columns, &[4], zstd(true));

        let (batch, file) = read_one(&path);

        assert_eq!(file.symbols(), ["INFY", "TCS"]);
        assert_eq!(file.venues(), ["NSE", "BSE"]);
        assert_eq!(batch.venue, [0, 1, 0, 0], "a null or empty venue is NSE");
        assert_eq!(file.rows_total(), Some(4));
        assert_eq!(batch.ts_ns, [T0, T0 + 1, T0 + 2, T0 - 5], "out of order is kept");
        assert_eq!(batch.symbol, [0, 1, 0, 1]);
        assert_eq!(
            prices(&batch.ltp),
            [Some(1500.05), Some(3400.0), Some(-1.0), None],
            "bad prices are kept"
        );
        assert_eq!(batch.ltq, [10, 0, -3, 5], "negative quantities are kept, not wrapped");
        assert_eq!(batch.volume, [10, 70_000, 7, 70_005]);
        assert_eq!(prices(&batch.bid), [Some(1500.0), None, Some(1499.0), Some(3399.0)]);
        assert_eq!(prices(&batch.ask), [Some(1500.1), None, Some(1501.0), Some(3401.0)]);
        assert_eq!(batch.bid_qty, [300, 0, 40, 11]);
        assert_eq!(batch.ask_qty, [200, 0, 50, 12]);
        // Row 2: bid level 2 has a quantity but no price; the ask level has a price and qty 0.
        // Rows 1 and 3 have no depth, so the best quantities stand in.
        assert_eq!(batch.bid_depth_qty, [400, 0, 40, 11]);
        assert_eq!(batch.ask_depth_qty, [200, 0, 0, 12]);
        assert_eq!(file.unreadable_rows(), 0);
    }

    #[test]
    fn parquet_with_plain_strings_and_integer_time_and_no_optional_columns() {
        let dir = TempDir::new("parquet-plain");
        let path = dir.0.join("ticks.pq");
        let schema = "message ticks {
            REQUIRED BYTE_ARRAY symbol (STRING);
            REQUIRED INT64 timestamp;
            REQUIRED INT32 ltp;
            OPTIONAL INT32 ltq;
        }";
        let columns = vec![
            Values::Text(vec![Some("SBIN"), Some("ITC"), Some("SBIN")]),
            Values::I64(vec![Some(T0), Some(T0 + 10), Some(T0 + 20)]),
            Values::I32(vec![Some(800), Some(400), Some(801)]),
            Values::I32(vec![Some(5), None, Some(-7)]),
        ];
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(false)
            .build();
        write_parquet(&path, schema, &columns, &[3], properties);

        let (batch, file) = read_one(&path);

        assert_eq!(file.symbols(), ["SBIN", "ITC"]);
        assert_eq!(
            (file.venues(), batch.venue.as_slice()),
            (&["NSE".to_owned()][..], &[0, 0, 0][..])
        );
        assert_eq!(batch.ts_ns, [T0, T0 + 10, T0 + 20]);
        assert_eq!(batch.symbol, [0, 1, 0]);
        assert_eq!(batch.ltp, [800.0, 400.0, 801.0]);
        assert_eq!(batch.ltq, [5, 0, -7], "a null quantity is 0");
        assert_eq!(batch.volume, [0, 0, 0]);
        assert_eq!(prices(&batch.bid), [None, None, None]);
        assert_eq!(prices(&batch.ask), [None, None, None]);
        assert_eq!((batch.bid_qty, batch.ask_qty), (vec![0; 3], vec![0; 3]));
        assert_eq!((batch.bid_depth_qty, batch.ask_depth_qty), (vec![0; 3], vec![0; 3]));
    }

    #[test]
    fn parquet_naive_times_are_ist_and_text_times_are_parsed() {
        let dir = TempDir::new("parquet-times");
        let naive = dir.0.join("naive.parquet");
        let schema = "message ticks {
            REQUIRED INT64 timestamp (TIMESTAMP(MICROS,false));
            REQUIRED BYTE_ARRAY symbol (STRING);
            REQUIRED DOUBLE ltp;
        }";
        // 09:15:00 and 09:15:00.000001 as wall-clock microseconds, as a naive pyarrow timestamp stores them.
        let wall = (T0 + IST_OFFSET_NS) / 1000;
        let columns = vec![
            Values::I64(vec![Some(wall), Some(wall + 1)]),
            Values::Text(vec![Some("INFY"); 2]),
            Values::F64(vec![Some(1.0); 2]),
        ];
        write_parquet(&naive, schema, &columns, &[2], zstd(true));
        assert_eq!(read_one(&naive).0.ts_ns, [T0, T0 + 1000]);

        let text = dir.0.join("text.parquet");
        let schema = "message ticks {
            REQUIRED BYTE_ARRAY timestamp (STRING);
            REQUIRED BYTE_ARRAY symbol (STRING);
            REQUIRED DOUBLE ltp;
        }";
        let columns = vec![
            Values::Text(vec![
                Some("2025-11-21T09:15:00.5"),
                Some("nonsense"),
                Some("1763696700000000001"),
            ]),
            Values::Text(vec![Some("INFY"); 3]),
            Values::F64(vec![Some(1.0); 3]),
        ];
        write_parquet(&text, schema, &columns, &[3], zstd(false));
        let (batch, file) = read_one(&text);
        assert_eq!(batch.ts_ns, [T0 + 500_000_000, T0 + 1]);
        assert_eq!(file.unreadable_rows(), 1);
        assert!(
            file.problems()[0]
                .ends_with("text.parquet:row 2: timestamp is neither ISO-8601 nor epoch nanoseconds, was \"nonsense\""),
            "{:?}",
            file.problems()
        );
    }

    #[test]
    fn parquet_rows_without_time_or_symbol_are_unreadable_and_a_null_ltp_is_nan() {
        let dir = TempDir::new("parquet-nulls");
        let path = dir.0.join("ticks.parquet");
        let schema = "message ticks {
            OPTIONAL INT64 timestamp (TIMESTAMP(MILLIS,true));
            OPTIONAL BYTE_ARRAY symbol (STRING);
            OPTIONAL DOUBLE ltp;
        }";
        let columns = vec![
            Values::I64(vec![Some(1), None, Some(3), Some(4), Some(5)]),
            Values::Text(vec![Some("A"), Some("B"), None, Some(""), Some("A")]),
            Values::F64(vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0), None]),
        ];
        write_parquet(&path, schema, &columns, &[5], zstd(true));

        let (batch, file) = read_one(&path);

        assert_eq!(batch.ts_ns, [1_000_000, 5_000_000]);
        assert_eq!(prices(&batch.ltp), [Some(1.0), None]);
        assert_eq!(
            file.symbols(),
            ["A", "B"],
            "columns are read whole: a row's symbol is seen before it is left out"
        );
        assert_eq!(file.unreadable_rows(), 3);
        let problems: Vec<&str> = file
            .problems()
            .iter()
            .map(|p| p.rsplit(".parquet:").next().unwrap())
            .collect();
        assert_eq!(
            problems,
            [
                "row 2: timestamp is missing",
                "row 3: symbol is missing",
                "row 4: symbol is empty"
            ]
        );
    }

    #[test]
    fn parquet_batches_run_across_pages_and_row_groups() {
        let dir = TempDir::new("parquet-batches");
        let path = dir.0.join("ticks.parquet");
        let schema = "message ticks {
            REQUIRED INT64 timestamp (TIMESTAMP(NANOS,true));
            REQUIRED BYTE_ARRAY symbol (STRING);
            REQUIRED DOUBLE ltp;
            OPTIONAL DOUBLE bid;
            OPTIONAL INT64 bid_qty;
            OPTIONAL DOUBLE bid_price_1;
            OPTIONAL INT64 bid_qty_1;
        }";
        let rows = 15;
        let names = ["A", "B", "C", "D"];
        let columns = vec![
            Values::I64((0..rows).map(|i| Some(T0 + i)).collect()),
            Values::Text((0..rows).map(|i| Some(names[(i as usize * 7) % 4])).collect()),
            Values::F64((0..rows).map(|i| Some(100.0 + i as f64)).collect()),
            Values::F64((0..rows).map(|i| (i % 3 != 0).then_some(99.0 + i as f64)).collect()),
            Values::I64((0..rows).map(|i| (i % 2 == 0).then_some(i)).collect()),
            Values::F64((0..rows).map(|i| (i % 4 != 0).then_some(99.0)).collect()),
            Values::I64((0..rows).map(|i| Some(10 * i)).collect()),
        ];
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_data_page_row_count_limit(2)
            .set_write_batch_size(2)
            .build();
        write_parquet(&path, schema, &columns, &[5, 7, 3], properties);

        let (batches, file) = read_all(&path, 4);

        assert_eq!(batches.iter().map(TickBatch::len).collect::<Vec<_>>(), [4, 4, 4, 3]);
        let all = concat(&batches);
        assert_eq!(all.ts_ns, (0..rows).map(|i| T0 + i).collect::<Vec<_>>());
        assert_eq!(all.ltp, (0..rows).map(|i| 100.0 + i as f64).collect::<Vec<_>>());
        assert_eq!(file.symbols(), ["A", "D", "C", "B"]);
        let symbols: Vec<&str> = all
            .symbol
            .iter()
            .map(|&s| file.symbols()[s as usize].as_str())
            .collect();
        assert_eq!(
            symbols,
            (0..rows).map(|i| names[(i as usize * 7) % 4]).collect::<Vec<_>>()
        );
        assert_eq!(
            prices(&all.bid),
            (0..rows)
                .map(|i| (i % 3 != 0).then_some(99.0 + i as f64))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            all.bid_qty,
            (0..rows).map(|i| if i % 2 == 0 { i } else { 0 }).collect::<Vec<_>>()
        );
        let depth = (0..rows).map(|i| {
            if i % 4 != 0 && i != 0 {
                10 * i
            } else if i % 2 == 0 {
                i
            } else {
                0
            }
        });
        assert_eq!(all.bid_depth_qty, depth.collect::<Vec<_>>());
        assert_eq!(all.ask_depth_qty, vec![0; rows as usize]);
    }

    // -- CSV ----------------------------------------------------------------------------------------------

    #[test]
    fn csv_times_with_and_without_offset_and_in_nanoseconds() {
        let dir = TempDir::new("csv-times");
        let path = dir.write(
            "ticks.csv",
            "timestamp,symbol,ltp\n\
             2025-11-21T09:15:00.25+05:30,INFY,1500\n\
             2025-11-21 09:15:00,INFY,1500\n\
             2025-11-21T03:45:00Z,TCS,3400\n\
             2025-11-21T09:15:00.000000001,TCS,3400\n\
             1763696700000000002,INFY,1500\n\
             \x20 2025-11-21T04:45:00+01:00 , INFY ,1500\n",
        );

        let (batch, file) = read_one(&path);

        assert_eq!(batch.ts_ns, [T0 + 250_000_000, T0, T0, T0 + 1, T0 + 2, T0]);
        assert_eq!(file.symbols(), ["INFY", "TCS"]);
        assert_eq!(batch.symbol, [0, 0, 1, 1, 0, 0]);
        assert_eq!(file.unreadable_rows(), 0);
    }

    #[test]
    fn csv_optional_columns_default_and_empty_quotes_are_nan() {
        let dir = TempDir::new("csv-optional");
        let path = dir.write(
            "ticks.csv",
            "symbol,timestamp,ltp,bid,ask,bid_qty,volume\n\
             INFY,1,1500.05,1500,1500.1,300,10\n\
             INFY,2,1500.05,,,0,\n\
             INFY,3,,1499,,-4,12.0\n",
        );

        let (batch, _) = read_one(&path);

        assert_eq!(prices(&batch.ltp), [Some(1500.05), Some(1500.05), None]);
        assert_eq!(prices(&batch.bid), [Some(1500.0), None, Some(1499.0)]);
        assert_eq!(prices(&batch.ask), [Some(1500.1), None, None]);
        assert_eq!(batch.bid_qty, [300, 0, -4]);
        assert_eq!(batch.ask_qty, [0, 0, 0]);
        assert_eq!(batch.ltq, [0, 0, 0]);
        assert_eq!(batch.volume, [10, 0, 12]);
        assert_eq!(batch.bid_depth_qty, [300, 0, -4]);
        assert_eq!(batch.ask_depth_qty, [0, 0, 0]);
    }

    #[test]
    fn csv_venues_are_read_and_an_empty_or_missing_one_is_nse() {
        let dir = TempDir::new("csv-venues");
        let with = dir.write(
            "with.csv",
            "timestamp,symbol,venue,ltp\n1,RELIANCE,NSE,1500\n2,RELIANCE25NOVFUT,NFO,1506\n3,INFY,,1500\n",
        );
        let without = dir.write("without.csv", "timestamp,symbol,ltp\n1,INFY,1500\n");

        let (batch, file) = read_one(&with);
        let (plain, plain_file) = read_one(&without);

        assert_eq!(file.venues(), ["NSE", "NFO"]);
        assert_eq!(batch.venue, [0, 1, 0]);
        assert_eq!(
            (plain_file.venues(), plain.venue.as_slice()),
            (&["NSE".to_owned()][..], &[0][..])
        );
    }

    #[test]
    fn csv_depth_sums_levels_with_a_price() {
        let dir = TempDir::new("csv-depth");
        let path = dir.write(
            "ticks.csv",
            "timestamp,symbol,ltp,bid_qty,ask_qty,bid_price_1,bid_qty_1,bid_orders_1,bid_price_2,bid_qty_2,ask_price_1,ask_qty_1\n\
             1,INFY,10,5,6,9.9,100,2,9.8,50,10.1,70\n\
             2,INFY,10,5,6,9.9,100,2,,50,,70\n\
             3,INFY,10,5,6,,,,,,,\n\
             4,INFY,10,5,6,9.9,0,,9.8,0,10.1,7\n",
        );

        let (batch, _) = read_one(&path);

        assert_eq!(batch.bid_depth_qty, [150, 100, 5, 0]);
        assert_eq!(batch.ask_depth_qty, [70, 0, 6, 7]);
    }

    #[test]
    fn csv_rows_that_cannot_be_parsed_are_counted_and_skipped() {
        let dir = TempDir::new("csv-garbage");
        let path = dir.write(
            "ticks.csv",
            "timestamp,symbol,ltp,ltq,seq,bid_orders_1\n\
             1,INFY,10,1,1,1\n\
             yesterday,INFY,10,1,2,1\n\
             3,INFY,ten,1,3,1\n\
             \n\
             4,INFY,10,1.5,4,1\n\
             5,,10,1,5,1\n\
             6,INFY,10,1\n\
             7,INFY,10,1,x,1\n\
             8,INFY,10,1,8,one\n\
             2025-11-21T24:00:00,INFY,10,1,9,1\n\
             9,INFY,-10,-1,10,\n\
             10,\"IN\nFY\",10,x,11,1\n\
             11,INFY,10,1,12,1",
        );

        let (batch, file) = read_one(&path);

        assert_eq!(batch.ts_ns, [1, 9, 11]);
        assert_eq!(batch.ltp, [10.0, -10.0, 10.0]);
        assert_eq!(batch.ltq, [1, -1, 1]);
        assert_eq!(file.unreadable_rows(), 9);
        let problems: Vec<&str> = file
            .problems()
            .iter()
            .map(|p| p.rsplit(".csv:").next().unwrap())
            .collect();
        assert_eq!(
            problems,
            [
                "line 3: timestamp is neither ISO-8601 nor epoch nanoseconds, was \"yesterday\"",
                "line 4: ltp must be a number, was \"ten\"",
                "line 6: ltq must be a whole number, was \"1.5\"",
                "line 7: symbol is empty",
                "line 8: expected 6 fields, was 4",
                "line 9: seq must be a whole number, was \"x\"",
                "line 10: bid_orders_1 must be a whole number, was \"one\"",
                "line 11: timestamp is neither ISO-8601 nor epoch nanoseconds, was \"2025-11-21T24:00:00\"",
                "line 14: ltq must be a whole number, was \"x\"",
            ]
        );
    }

    #[test]
    fn csv_batches_hold_batch_rows_readable_rows_and_symbols_keep_their_index() {
        let dir = TempDir::new("csv-batches");
        let mut text = String::from("timestamp,symbol,ltp\n");
        for i in 0..10 {
            text.push_str(&format!("{i},S{},1\n", i % 4));
            if i == 4 {
                text.push_str("bad,S9,1\n");
            }
        }
        let path = dir.write("ticks.csv", text);

        let (batches, file) = read_all(&path, 3);

        assert_eq!(batches.iter().map(TickBatch::len).collect::<Vec<_>>(), [3, 3, 3, 1]);
        let all = concat(&batches);
        assert_eq!(all.ts_ns, (0..10).collect::<Vec<_>>());
        assert_eq!(all.symbol, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
        assert_eq!(file.symbols(), ["S0", "S1", "S2", "S3"]);
        assert_eq!(file.unreadable_rows(), 1);
    }

    #[test]
    fn gzipped_csv_reads_as_csv() {
        use std::io::Write;

        let dir = TempDir::new("csv-gzip");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder
            .write_all(b"timestamp,symbol,ltp\n1,INFY,10\n2,TCS,20\n")
            .unwrap();
        let path = dir.write("ticks.CSV.GZ", encoder.finish().unwrap());

        let (batch, file) = read_one(&path);

        assert_eq!(file.format(), FileFormat::Csv { gzip: true });
        assert_eq!((batch.ts_ns, batch.ltp), (vec![1, 2], vec![10.0, 20.0]));
    }

    // -- errors -------------------------------------------------------------------------------------------

    fn open_error(path: &Path) -> String {
        match TickFile::open(path, 10) {
            Ok(_) => panic!("{} opened", path.display()),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn structural_problems_are_errors_naming_file_and_column() {
        let dir = TempDir::new("errors");
        let name = |file: &str| dir.0.join(file).display().to_string();

        let path = dir.write("ticks.txt", "timestamp,symbol,ltp\n");
        assert_eq!(
            open_error(&path),
            format!(
                "{}: unknown tick file type, expected .csv, .csv.gz, .parquet or .pq",
                name("ticks.txt")
            )
        );
        assert!(open_error(&dir.0.join("absent.csv"))
            .starts_with(&format!("{}: cannot read the file: ", name("absent.csv"))));
        let path = dir.write("ticks.csv", "timestamp,symbol,ltp\n1,A,1\n");
        assert_eq!(
            TickFile::open(&path, 0).err().unwrap().to_string(),
            "batch_rows must be > 0, was 0"
        );

        let path = dir.write("empty.csv", "");
        assert_eq!(
            open_error(&path),
            format!("{}: the file is empty, expected a header line", name("empty.csv"))
        );
        let path = dir.write("missing.csv", "timestamp,ltp,bid\n1,2,3\n");
        assert_eq!(
            open_error(&path),
            format!(
                "{}: missing required column(s) symbol; the columns were timestamp, ltp, bid",
                name("missing.csv")
            )
        );
        let path = dir.write("unknown.csv", "timestamp,symbol,ltp,bid_price_6,oi\n");
        assert_eq!(
            open_error(&path),
            format!(
                "{}: unknown column(s) bid_price_6, oi; see aitrader/marketdata/schema.py for the tick file columns",
                name("unknown.csv")
            )
        );

        let path = dir.write("garbage.parquet", "this is not parquet");
        assert!(open_error(&path).starts_with(&format!("{}: not a readable Parquet file: ", name("garbage.parquet"))));

        let path = dir.0.join("missing.parquet");
        let schema = "message ticks { REQUIRED INT64 timestamp; REQUIRED DOUBLE ltp; }";
        write_parquet(
            &path,
            schema,
            &[Values::I64(vec![Some(1)]), Values::F64(vec![Some(1.0)])],
            &[1],
            zstd(true),
        );
        assert!(open_error(&path).contains("missing.parquet: missing required column(s) symbol;"));

        let path = dir.0.join("typed.parquet");
        let schema = "message ticks {
            REQUIRED INT64 timestamp;
            REQUIRED BYTE_ARRAY symbol (STRING);
            REQUIRED BYTE_ARRAY ltp (STRING);
        }";
        let columns = [
            Values::I64(vec![Some(1)]),
            Values::Text(vec![Some("A")]),
            Values::Text(vec![Some("1.0")]),
        ];
        write_parquet(&path, schema, &columns, &[1], zstd(true));
        assert_eq!(
            open_error(&path),
            format!(
                "{}: column ltp must be numbers (DOUBLE, FLOAT, INT32, INT64 or a decimal of them), was BYTE_ARRAY (String)",
                name("typed.parquet")
            )
        );

        let path = dir.0.join("orders.parquet");
        let schema = "message ticks {
            REQUIRED INT64 timestamp;
            REQUIRED BYTE_ARRAY symbol (STRING);
            REQUIRED DOUBLE ltp;
            REQUIRED DOUBLE bid_orders_1;
        }";
        let columns = [
            Values::I64(vec![Some(1)]),
            Values::Text(vec![Some("A")]),
            Values::F64(vec![Some(1.0)]),
            Values::F64(vec![Some(1.0)]),
        ];
        write_parquet(&path, schema, &columns, &[1], zstd(true));
        assert!(open_error(&path).ends_with("column bid_orders_1 must be integers (INT32 or INT64), was DOUBLE"));
    }

    #[test]
    fn a_damaged_parquet_body_is_an_error_naming_the_row_group_and_column() {
        let dir = TempDir::new("damaged");
        let path = dir.0.join("ticks.parquet");
        let schema = "message ticks {
            REQUIRED INT64 timestamp;
            REQUIRED BYTE_ARRAY symbol (STRING);
            REQUIRED DOUBLE ltp;
        }";
        let rows = 1000;
        let columns = [
            Values::I64((0..rows).map(Some).collect()),
            Values::Text((0..rows).map(|_| Some("A")).collect()),
            Values::F64((0..rows).map(|i| Some(i as f64 * 1.37)).collect()),
        ];
        write_parquet(&path, schema, &columns, &[rows as usize], zstd(false));
        // Overwrite the middle of the body (the footer stays readable).
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 3;
        bytes[middle..middle + 64].fill(0xAB);
        std::fs::write(&path, bytes).unwrap();

        let mut file = TickFile::open(&path, 100).unwrap();
        let error = std::iter::from_fn(|| Some(file.next_batch()))
            .find_map(Result::err)
            .unwrap()
            .to_string();
        assert!(
            error.starts_with(&format!("{}: row group 0, column ", path.display())),
            "{error}"
        );
    }

    #[test]
    fn a_tick_file_can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<TickFile>();
        send::<TickBatch>();
        send::<TickFileError>();
    }

    // -- cells --------------------------------------------------------------------------------------------

    #[test]
    fn timestamps_parse_as_the_python_reader_parses_them() {
        // Expected values from aitrader.marketdata.files.parse_timestamp.
        let cases = [
            ("2025-11-21T09:15:00.25+05:30", Some(1_763_696_700_250_000_000)),
            ("2025-11-21 09:15:00", Some(1_763_696_700_000_000_000)),
            ("2025-11-21T09:15", Some(1_763_696_700_000_000_000)),
            ("2025-11-21T09", Some(1_763_695_800_000_000_000)),
            ("20251121T091500", Some(1_763_696_700_000_000_000)),
            ("2025-11-21T0915", Some(1_763_696_700_000_000_000)),
            ("2025-11-21T09:15:00Z", Some(1_763_716_500_000_000_000)),
            ("2025-11-21T09:15:00+0530", Some(1_763_696_700_000_000_000)),
            ("2025-11-21T09:15:00-00:00", Some(1_763_716_500_000_000_000)),
            ("  2025-11-21T09:15:00  ", Some(1_763_696_700_000_000_000)),
            ("1969-12-31T23:59:59Z", Some(-1_000_000_000)),
            ("2024-02-29T00:00:00.123456789Z", Some(1_709_164_800_123_456_789)),
            ("1763696700000000000", Some(1_763_696_700_000_000_000)),
            ("-5", Some(-5)),
            ("2025-11-21T24:00:00", None),
            ("2025-02-29T00:00:00", None),
            ("2025-11-21T09:15:00.1234567891", None),
            ("2025-11-21T09:15:00,5", None),
            ("2025-11-21T09:15:00+05", None),
            ("2025-11-21T09:15:00+24:00", None),
            ("2025-11-21", None),
            ("99999999999999999999", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_timestamp(text).ok(), expected, "{text:?}");
        }
    }

    #[test]
    fn quantities_are_whole_numbers_with_their_sign() {
        assert_eq!(parse_quantity("q", "12"), Ok(12));
        assert_eq!(parse_quantity("q", "-3"), Ok(-3));
        assert_eq!(parse_quantity("q", "12.0"), Ok(12));
        assert_eq!(parse_quantity("q", "1e3"), Ok(1000));
        assert_eq!(parse_quantity("q", ""), Ok(0));
        assert_eq!(
            parse_quantity("q", "12.5"),
            Err("q must be a whole number, was \"12.5\"".to_owned())
        );
        assert!(parse_quantity("q", "inf").is_err());
        assert!(parse_quantity("q", "1e30").is_err());
        assert!(parse_price("p", "").unwrap().is_nan());
        assert_eq!(parse_price("p", "-1.5"), Ok(-1.5));
        assert!(parse_price("p", "1,5").is_err());
    }
}
