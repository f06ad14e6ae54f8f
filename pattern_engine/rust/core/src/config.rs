//! The pattern engine's config file (TOML), read with the rules of `pattern_engine/config.py`.
//!
//! The two must accept the same files and resolve them to the same thresholds: every default, every
//! per-key constraint (msgspec's `Meta`) and every rule between keys is repeated here. A file is checked in
//! the same three stages as in Python: the shape of each table with its keys' types and ranges, then the
//! rules across the file (symbols, overrides, pairs, and the rules between keys of a section), then each
//! symbol's overrides merged into the defaults and checked again. Unlike msgspec, each stage reports every
//! problem it finds, each naming its key with the table path (`momentum_burst`, `overrides.INFY.breakout`,
//! `pairs[0]`).
//!
//! Known differences from `tomllib` (TOML 1.0 in both): an integer outside the 64-bit range is a syntax error
//! here, while Python reads it whole (so `k = 99999999999999999999` is `1e20` there and rejected here).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The longest window, time constant or cooldown any detector accepts, in seconds.
pub const MAX_WINDOW_S: i64 = 3_600;

/// The per-symbol detectors, in the order they run (and the order of `[overrides.<symbol>]` tables).
pub const DETECTORS: [&str; 5] = [
    "momentum_burst",
    "mean_reversion",
    "book_imbalance",
    "breakout",
    "vwap_deviation",
];

const TOP_LEVEL_KEYS: [&str; 11] = [
    "symbols",
    "warmup_s",
    "volatility_tau_s",
    "volume_tau_s",
    "momentum_burst",
    "mean_reversion",
    "book_imbalance",
    "breakout",
    "vwap_deviation",
    "overrides",
    "pairs",
];

/// A config that cannot be used; the message names every offending key with its table path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The text is not TOML.
    #[error("not valid TOML: {0}")]
    Syntax(String),
    /// The text is not JSON ([`EngineConfig::from_json`]).
    #[error("not valid JSON: {0}")]
    Json(String),
    /// The TOML is well formed but breaks the config's rules: one entry per problem, joined by "; ".
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// Return over the last `window_s` seconds beyond `k` sigma, on at least `volume_surge` x the usual volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MomentumBurst {
    pub enabled: bool,
    pub window_s: i64,
    pub k: f64,
    pub volume_surge: f64,
    pub cooldown_s: i64,
}

impl Default for MomentumBurst {
    fn default() -> Self {
        Self {
            enabled: true,
            window_s: 30,
            k: 3.0,
            volume_surge: 2.5,
            cooldown_s: 60,
        }
    }
}

/// Mid's deviation from its EWMA beyond `z` standard deviations of a random walk's distance from its EWMA
/// (sigma x sqrt(ewma_tau_s / 2)); fades the move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeanReversion {
    pub enabled: bool,
    pub ewma_tau_s: i64,
    pub z: f64,
    pub rearm_z: f64,
    pub window_s: i64,
    pub max_volume_surge: f64,
    pub cooldown_s: i64,
}

impl Default for MeanReversion {
    fn default() -> Self {
        Self {
            enabled: true,
            ewma_tau_s: 120,
            z: 5.0,
            rearm_z: 2.0,
            window_s: 10,
            max_volume_surge: 2.0,
            cooldown_s: 60,
        }
    }
}

/// Depth imbalance beyond `threshold` for `persist_ticks` ticks in a row, confirmed by the microprice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BookImbalance {
    pub enabled: bool,
    pub threshold: f64,
    pub persist_ticks: i64,
    pub microprice_confirm: f64,
    pub cooldown_s: i64,
}

impl Default for BookImbalance {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: 0.6,
            persist_ticks: 5,
            microprice_confirm: 0.05,
            cooldown_s: 60,
        }
    }
}

/// Mid beyond the high (low) of a tight range of the last `window_s` seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Breakout {
    pub enabled: bool,
    pub window_s: i64,
    pub max_range_sigmas: f64,
    pub break_fraction: f64,
    pub hold_s: i64,
    pub cooldown_s: i64,
}

impl Default for Breakout {
    fn default() -> Self {
        Self {
            enabled: true,
            window_s: 120,
            max_range_sigmas: 0.5,
            break_fraction: 1.0,
            hold_s: 30,
            cooldown_s: 120,
        }
    }
}

/// Last price `threshold_bps` or more away from the session VWAP; fades the move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VwapDeviation {
    pub enabled: bool,
    pub threshold_bps: f64,
    pub rearm_bps: f64,
    pub cooldown_s: i64,
}

impl Default for VwapDeviation {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold_bps: 60.0,
            rearm_bps: 30.0,
            cooldown_s: 300,
        }
    }
}

fn yes() -> bool {
    true
}
fn pair_tau_s() -> i64 {
    1_200
}
fn pair_z() -> f64 {
    3.0
}
fn pair_rearm_z() -> f64 {
    1.0
}
fn pair_cooldown_s() -> i64 {
    60
}

/// The ratio `mid(leg_a) / mid(leg_b)` against its EWMA mean in units of its EWMA dispersion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    pub leg_a: String,
    pub leg_b: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "pair_tau_s")]
    pub tau_s: i64,
    #[serde(default = "pair_z")]
    pub z: f64,
    #[serde(default = "pair_rearm_z")]
    pub rearm_z: f64,
    #[serde(default = "pair_cooldown_s")]
    pub cooldown_s: i64,
}

/// One symbol's thresholds for every per-symbol detector.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Detectors {
    pub momentum_burst: MomentumBurst,
    pub mean_reversion: MeanReversion,
    pub book_imbalance: BookImbalance,
    pub breakout: Breakout,
    pub vwap_deviation: VwapDeviation,
}

fn warmup_s() -> i64 {
    300
}
fn volatility_tau_s() -> i64 {
    900
}
fn volume_tau_s() -> i64 {
    600
}

/// The whole file; [`EngineConfig::detectors_for`] gives a symbol's thresholds with its overrides applied.
///
/// Build it with [`EngineConfig::from_toml`]: a value built any other way has not been checked (see
/// [`EngineConfig::validate`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub symbols: Vec<String>,
    #[serde(default = "warmup_s")]
    pub warmup_s: i64,
    #[serde(default = "volatility_tau_s")]
    pub volatility_tau_s: i64,
    #[serde(default = "volume_tau_s")]
    pub volume_tau_s: i64,
    #[serde(default)]
    pub momentum_burst: MomentumBurst,
    #[serde(default)]
    pub mean_reversion: MeanReversion,
    #[serde(default)]
    pub book_imbalance: BookImbalance,
    #[serde(default)]
    pub breakout: Breakout,
    #[serde(default)]
    pub vwap_deviation: VwapDeviation,
    /// `[overrides.<symbol>.<detector>]`: a symbol's own values for some keys of a detector.
    #[serde(default)]
    pub overrides: BTreeMap<String, BTreeMap<String, toml::Table>>,
    #[serde(default)]
    pub pairs: Vec<Pair>,
}

impl EngineConfig {
    /// A config with `symbols` and every other key at its default.
    pub fn with_symbols<S: Into<String>>(symbols: impl IntoIterator<Item = S>) -> EngineConfig {
        EngineConfig {
            symbols: symbols.into_iter().map(Into::into).collect(),
            warmup_s: warmup_s(),
            volatility_tau_s: volatility_tau_s(),
            volume_tau_s: volume_tau_s(),
            momentum_burst: MomentumBurst::default(),
            mean_reversion: MeanReversion::default(),
            book_imbalance: BookImbalance::default(),
            breakout: Breakout::default(),
            vwap_deviation: VwapDeviation::default(),
            overrides: BTreeMap::new(),
            pairs: Vec::new(),
        }
    }

    /// Parse and check a config file's text; every problem is named in the error.
    pub fn from_toml(text: &str) -> Result<EngineConfig, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax(e.to_string().trim_end().to_owned()))?;
        let config = from_table(table)?;
        config.validate()?;
        Ok(config)
    }

    /// The config as a JSON object with the file's keys (how `pattern_engine.native` hands over a config
    /// Python has parsed), under the same rules as [`EngineConfig::from_toml`]. JSON has no infinity: a
    /// key that is `inf` in TOML cannot be passed this way.
    pub fn from_json(text: &str) -> Result<EngineConfig, ConfigError> {
        let table: toml::Table = serde_json::from_str(text).map_err(|e| ConfigError::Json(e.to_string()))?;
        let config = from_table(table)?;
        config.validate()?;
        Ok(config)
    }

    /// Check the rules `from_toml` checks after reading the file: per-key ranges, then the rules across
    /// keys, then every symbol's overrides.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        self.range_problems(&mut problems);
        if problems.is_empty() {
            self.file_problems(&mut problems);
        }
        if problems.is_empty() {
            for symbol in self.overrides.keys() {
                if let Err(ConfigError::Invalid(found)) = self.detectors_for(symbol) {
                    problems.extend(found);
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// `symbol`'s thresholds: the defaults with its `[overrides.<symbol>.<detector>]` keys applied.
    pub fn detectors_for(&self, symbol: &str) -> Result<Detectors, ConfigError> {
        let mut detectors = Detectors {
            momentum_burst: self.momentum_burst.clone(),
            mean_reversion: self.mean_reversion.clone(),
            book_imbalance: self.book_imbalance.clone(),
            breakout: self.breakout.clone(),
            vwap_deviation: self.vwap_deviation.clone(),
        };
        let Some(sections) = self.overrides.get(symbol) else {
            return Ok(detectors);
        };
        let mut problems = Vec::new();
        let path = |name: &str| format!("overrides.{symbol}.{name}");
        for (name, changes) in sections {
            if changes.is_empty() {
                continue;
            }
            let path = path(name);
            match name.as_str() {
                "momentum_burst" => {
                    if let Some(section) = merged(&detectors.momentum_burst, changes, &path, &mut problems) {
                        section.problems(&path, &mut problems);
                        detectors.momentum_burst = section;
                    }
                }
                "mean_reversion" => {
                    if let Some(section) = merged(&detectors.mean_reversion, changes, &path, &mut problems) {
                        section.problems(&path, &mut problems);
                        detectors.mean_reversion = section;
                    }
                }
                "book_imbalance" => {
                    if let Some(section) = merged(&detectors.book_imbalance, changes, &path, &mut problems) {
                        section.problems(&path, &mut problems);
                        detectors.book_imbalance = section;
                    }
                }
                "breakout" => {
                    if let Some(section) = merged(&detectors.breakout, changes, &path, &mut problems) {
                        section.problems(&path, &mut problems);
                        detectors.breakout = section;
                    }
                }
                "vwap_deviation" => {
                    if let Some(section) = merged(&detectors.vwap_deviation, changes, &path, &mut problems) {
                        section.problems(&path, &mut problems);
                        detectors.vwap_deviation = section;
                    }
                }
                _ => problems.push(unknown_detector(symbol, name)),
            }
        }
        if problems.is_empty() {
            Ok(detectors)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Per-key constraints (msgspec's `Meta` in config.py), for the top level, the detector tables and pairs.
    fn range_problems(&self, problems: &mut Vec<String>) {
        for (index, symbol) in self.symbols.iter().enumerate() {
            let length = symbol.chars().count();
            if !(1..=64).contains(&length) {
                problems.push(format!(
                    "symbols[{index}] must be 1 to 64 characters long, was {length}"
                ));
            }
        }
        int_in(problems, "warmup_s", self.warmup_s, 0, 86_400);
        seconds(problems, "volatility_tau_s", self.volatility_tau_s);
        seconds(problems, "volume_tau_s", self.volume_tau_s);
        self.momentum_burst.ranges("momentum_burst", problems);
        self.mean_reversion.ranges("mean_reversion", problems);
        self.book_imbalance.ranges("book_imbalance", problems);
        self.breakout.ranges("breakout", problems);
        self.vwap_deviation.ranges("vwap_deviation", problems);
        for (index, pair) in self.pairs.iter().enumerate() {
            pair.ranges(&format!("pairs[{index}]"), problems);
        }
    }

    /// config.py's `_problems`: rules across the file, then the rules between keys of each section.
    fn file_problems(&self, problems: &mut Vec<String>) {
        if self.symbols.is_empty() {
            problems.push("symbols must list at least one symbol".to_owned());
        }
        let mut seen = HashSet::new();
        let mut repeated: Vec<&str> = self
            .symbols
            .iter()
            .filter(|symbol| !seen.insert(symbol.as_str()))
            .map(String::as_str)
            .collect();
        repeated.sort_unstable();
        repeated.dedup();
        if !repeated.is_empty() {
            problems.push(format!(
                "symbols must not repeat, was {} more than once",
                repeated.join(", ")
            ));
        }
        let known: HashSet<&str> = self.symbols.iter().map(String::as_str).collect();
        for (symbol, sections) in &self.overrides {
            if !known.contains(symbol.as_str()) {
                problems.push(format!("overrides.{symbol}: {symbol} is not in symbols"));
            }
            for name in sections.keys() {
                if !DETECTORS.contains(&name.as_str()) {
                    problems.push(unknown_detector(symbol, name));
                }
            }
        }
        for (index, pair) in self.pairs.iter().enumerate() {
            for leg in [&pair.leg_a, &pair.leg_b] {
                if !known.contains(leg.as_str()) {
                    problems.push(format!("pairs[{index}]: {leg} is not in symbols"));
                }
            }
            if pair.leg_a == pair.leg_b {
                problems.push(format!(
                    "pairs[{index}]: leg_a and leg_b must differ, both were {}",
                    pair.leg_a
                ));
            }
        }
        self.mean_reversion.problems("mean_reversion", problems);
        self.vwap_deviation.problems("vwap_deviation", problems);
        for (index, pair) in self.pairs.iter().enumerate() {
            pair.problems(&format!("pairs[{index}]"), problems);
        }
    }
}

fn unknown_detector(symbol: &str, name: &str) -> String {
    format!(
        "overrides.{symbol}: unknown detector `{name}`, expected one of {}",
        DETECTORS.join(", ")
    )
}

/// A section's keys constrained one by one, and its rules between keys (config.py's `_section_problems`).
trait Section: Serialize + for<'de> Deserialize<'de> {
    fn ranges(&self, path: &str, problems: &mut Vec<String>);
    fn problems(&self, _path: &str, _problems: &mut Vec<String>) {}
}

impl Section for MomentumBurst {
    fn ranges(&self, path: &str, problems: &mut Vec<String>) {
        seconds(problems, &format!("{path}.window_s"), self.window_s);
        positive(problems, &format!("{path}.k"), self.k);
        positive(problems, &format!("{path}.volume_surge"), self.volume_surge);
        seconds(problems, &format!("{path}.cooldown_s"), self.cooldown_s);
    }
}

impl Section for MeanReversion {
    fn ranges(&self, path: &str, problems: &mut Vec<String>) {
        seconds(problems, &format!("{path}.ewma_tau_s"), self.ewma_tau_s);
        positive(problems, &format!("{path}.z"), self.z);
        positive(problems, &format!("{path}.rearm_z"), self.rearm_z);
        seconds(problems, &format!("{path}.window_s"), self.window_s);
        positive(problems, &format!("{path}.max_volume_surge"), self.max_volume_surge);
        seconds(problems, &format!("{path}.cooldown_s"), self.cooldown_s);
    }

    fn problems(&self, path: &str, problems: &mut Vec<String>) {
        if self.rearm_z >= self.z {
            problems.push(format!(
                "{path}: rearm_z must be < z, was {:?} >= {:?}",
                self.rearm_z, self.z
            ));
        }
    }
}

impl Section for BookImbalance {
    fn ranges(&self, path: &str, problems: &mut Vec<String>) {
        let threshold = self.threshold;
        if !(threshold > 0.0 && threshold < 1.0) {
            problems.push(format!("{path}.threshold must be > 0 and < 1, was {threshold:?}"));
        }
        int_in(
            problems,
            &format!("{path}.persist_ticks"),
            self.persist_ticks,
            1,
            10_000,
        );
        let confirm = self.microprice_confirm;
        if !(0.0..0.5).contains(&confirm) {
            problems.push(format!(
                "{path}.microprice_confirm must be >= 0 and < 0.5, was {confirm:?}"
            ));
        }
        seconds(problems, &format!("{path}.cooldown_s"), self.cooldown_s);
    }
}

impl Section for Breakout {
    fn ranges(&self, path: &str, problems: &mut Vec<String>) {
        seconds(problems, &format!("{path}.window_s"), self.window_s);
        positive(problems, &format!("{path}.max_range_sigmas"), self.max_range_sigmas);
        positive(problems, &format!("{path}.break_fraction"), self.break_fraction);
        seconds(problems, &format!("{path}.hold_s"), self.hold_s);
        seconds(problems, &format!("{path}.cooldown_s"), self.cooldown_s);
    }
}

impl Section for VwapDeviation {
    fn ranges(&self, path: &str, problems: &mut Vec<String>) {
        positive(problems, &format!("{path}.threshold_bps"), self.threshold_bps);
        positive(problems, &format!("{path}.rearm_bps"), self.rearm_bps);
        seconds(problems, &format!("{path}.cooldown_s"), self.cooldown_s);
    }

    fn problems(&self, path: &str, problems: &mut Vec<String>) {
        if self.rearm_bps >= self.threshold_bps {
            problems.push(format!(
                "{path}: rearm_bps must be < threshold_bps, was {:?} >= {:?}",
                self.rearm_bps, self.threshold_bps
            ));
        }
    }
}

impl Section for Pair {
    fn ranges(&self, path: &str, problems: &mut Vec<String>) {
        seconds(problems, &format!("{path}.tau_s"), self.tau_s);
        positive(problems, &format!("{path}.z"), self.z);
        positive(problems, &format!("{path}.rearm_z"), self.rearm_z);
        seconds(problems, &format!("{path}.cooldown_s"), self.cooldown_s);
    }

    fn problems(&self, path: &str, problems: &mut Vec<String>) {
        if self.rearm_z >= self.z {
            problems.push(format!(
                "{path}: rearm_z must be < z, was {:?} >= {:?}",
                self.rearm_z, self.z
            ));
        }
    }
}

fn seconds(problems: &mut Vec<String>, path: &str, value: i64) {
    int_in(problems, path, value, 1, MAX_WINDOW_S);
}

fn int_in(problems: &mut Vec<String>, path: &str, value: i64, low: i64, high: i64) {
    if !(low..=high).contains(&value) {
        problems.push(format!("{path} must be >= {low} and <= {high}, was {value}"));
    }
}

fn positive(problems: &mut Vec<String>, path: &str, value: f64) {
    // NaN is not > 0, as msgspec's `gt=0.0` has it; +inf is.
    if value.is_nan() || value <= 0.0 {
        problems.push(format!("{path} must be > 0, was {value:?}"));
    }
}

/// `base` with `changes` applied, typed and range-checked (config.py's `_apply_overrides`).
fn merged<T: Section>(base: &T, changes: &toml::Table, path: &str, problems: &mut Vec<String>) -> Option<T> {
    let section = typed(base, changes, path, problems)?;
    let before = problems.len();
    section.ranges(path, problems);
    (problems.len() == before).then_some(section)
}

/// `base` with the keys of `changes` replaced, as a `T`; a key that is unknown or of the wrong type is
/// named in `problems` (each one, not just the first).
fn typed<T: Serialize + for<'de> Deserialize<'de>>(
    base: &T,
    changes: &toml::Table,
    path: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    let base = match toml::Table::try_from(base) {
        Ok(table) => table,
        Err(e) => {
            problems.push(format!("{path}: {e}"));
            return None;
        }
    };
    let with = |keys: &mut dyn Iterator<Item = (&String, &toml::Value)>| {
        let mut table = base.clone();
        for (key, value) in keys {
            table.insert(key.clone(), value.clone());
        }
        toml::Value::Table(table).try_into::<T>()
    };
    match with(&mut changes.iter()) {
        Ok(section) => Some(section),
        Err(whole) => {
            let before = problems.len();
            for (key, value) in changes {
                if let Err(e) = with(&mut std::iter::once((key, value))) {
                    if e.message().starts_with("unknown field") {
                        problems.push(format!("{path}: {}", e.message()));
                    } else {
                        problems.push(format!("{path}.{key}: {}", e.message()));
                    }
                }
            }
            if problems.len() == before {
                problems.push(format!("{path}: {}", whole.message()));
            }
            None
        }
    }
}

/// A table-valued key (a detector's defaults, a pair) read over `base`, or why not under `path`.
fn section<T: Serialize + for<'de> Deserialize<'de>>(
    value: toml::Value,
    path: &str,
    base: &T,
    problems: &mut Vec<String>,
) -> Option<T> {
    match value {
        toml::Value::Table(table) => typed(base, &table, path, problems),
        other => {
            problems.push(format!("{path}: expected a table, was {}", other.type_str()));
            None
        }
    }
}

/// A top-level integer key.
fn integer(value: toml::Value, path: &str, slot: &mut i64, problems: &mut Vec<String>) {
    match value {
        toml::Value::Integer(n) => *slot = n,
        other => problems.push(format!("{path}: expected an integer, was {}", other.type_str())),
    }
}

/// Read each top-level key into its type, naming the key (with its table path) of any that is unknown or
/// mistyped.
fn from_table(mut table: toml::Table) -> Result<EngineConfig, ConfigError> {
    let mut problems = Vec::new();
    for key in table.keys() {
        if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
            problems.push(format!(
                "unknown field `{key}`, expected one of {}",
                TOP_LEVEL_KEYS.map(|k| format!("`{k}`")).join(", ")
            ));
        }
    }
    let mut config = EngineConfig::with_symbols(Vec::<String>::new());
    match table.remove("symbols") {
        None => problems.push("missing field `symbols`".to_owned()),
        Some(toml::Value::Array(items)) => {
            for (index, item) in items.into_iter().enumerate() {
                match item {
                    toml::Value::String(symbol) => config.symbols.push(symbol),
                    other => problems.push(format!("symbols[{index}]: expected a string, was {}", other.type_str())),
                }
            }
        }
        Some(other) => problems.push(format!(
            "symbols: expected an array of strings, was {}",
            other.type_str()
        )),
    }
    if let Some(value) = table.remove("warmup_s") {
        integer(value, "warmup_s", &mut config.warmup_s, &mut problems);
    }
    if let Some(value) = table.remove("volatility_tau_s") {
        integer(value, "volatility_tau_s", &mut config.volatility_tau_s, &mut problems);
    }
    if let Some(value) = table.remove("volume_tau_s") {
        integer(value, "volume_tau_s", &mut config.volume_tau_s, &mut problems);
    }
    macro_rules! detector {
        ($name:ident) => {
            if let Some(value) = table.remove(stringify!($name)) {
                if let Some(parsed) = section(value, stringify!($name), &config.$name, &mut problems) {
                    config.$name = parsed;
                }
            }
        };
    }
    detector!(momentum_burst);
    detector!(mean_reversion);
    detector!(book_imbalance);
    detector!(breakout);
    detector!(vwap_deviation);
    if let Some(value) = table.remove("overrides") {
        read_overrides(value, &mut config.overrides, &mut problems);
    }
    if let Some(value) = table.remove("pairs") {
        read_pairs(value, &mut config.pairs, &mut problems);
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// `[[pairs]]`: `leg_a` and `leg_b` are required, every other key has a default.
fn read_pairs(value: toml::Value, pairs: &mut Vec<Pair>, problems: &mut Vec<String>) {
    let toml::Value::Array(items) = value else {
        problems.push(format!("pairs: expected an array of tables, was {}", value.type_str()));
        return;
    };
    let base = Pair {
        leg_a: String::new(),
        leg_b: String::new(),
        enabled: true,
        tau_s: pair_tau_s(),
        z: pair_z(),
        rearm_z: pair_rearm_z(),
        cooldown_s: pair_cooldown_s(),
    };
    for (index, item) in items.into_iter().enumerate() {
        let path = format!("pairs[{index}]");
        if let toml::Value::Table(keys) = &item {
            for leg in ["leg_a", "leg_b"] {
                match keys.get(leg) {
                    None => problems.push(format!("{path}: missing field `{leg}`")),
                    // A TOML date would read as its text; msgspec wants a str.
                    Some(toml::Value::String(_)) => {}
                    Some(other) => problems.push(format!("{path}.{leg}: expected a string, was {}", other.type_str())),
                }
            }
        }
        if let Some(pair) = section(item, &path, &base, problems) {
            pairs.push(pair);
        }
    }
}

/// `overrides` must be a table of tables of tables (symbol -> detector -> keys); the keys are typed later.
fn read_overrides(
    value: toml::Value,
    overrides: &mut BTreeMap<String, BTreeMap<String, toml::Table>>,
    problems: &mut Vec<String>,
) {
    let toml::Value::Table(symbols) = value else {
        problems.push(format!("overrides: expected a table, was {}", value.type_str()));
        return;
    };
    for (symbol, sections) in symbols {
        let toml::Value::Table(sections) = sections else {
            problems.push(format!(
                "overrides.{symbol}: expected a table, was {}",
                sections.type_str()
            ));
            continue;
        };
        let entry = overrides.entry(symbol.clone()).or_default();
        for (name, keys) in sections {
            match keys {
                toml::Value::Table(keys) => {
                    entry.insert(name, keys);
                }
                other => problems.push(format!(
                    "overrides.{symbol}.{name}: expected a table, was {}",
                    other.type_str()
                )),
            }
        }
    }
}
