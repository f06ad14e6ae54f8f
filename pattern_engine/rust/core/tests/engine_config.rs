//! The config file's rules, as `pattern_engine/config.py` states them: defaults, overrides, unknown keys
//! named with their table path, every per-key range and every rule between keys.

use pattern_engine_core::config::{ConfigError, EngineConfig, MAX_WINDOW_S};
use pattern_engine_core::engine::PatternEngine;

const SYMBOLS: &str = "symbols = [\"RELIANCE\", \"INFY\"]\n";

fn parse(extra: &str) -> Result<EngineConfig, ConfigError> {
    EngineConfig::from_toml(&format!("{SYMBOLS}{extra}"))
}

fn problems(extra: &str) -> String {
    match parse(extra) {
        Ok(_) => panic!("accepted:\n{extra}"),
        Err(e) => e.to_string(),
    }
}

fn assert_rejected(extra: &str, needle: &str) {
    let message = problems(extra);
    assert!(message.contains(needle), "{needle:?} not in {message:?} for\n{extra}");
}

#[test]
fn a_minimal_file_takes_every_default_of_config_py() {
    let config = parse("").unwrap();
    assert_eq!(config.symbols, ["RELIANCE", "INFY"]);
    assert_eq!(
        (config.warmup_s, config.volatility_tau_s, config.volume_tau_s),
        (300, 900, 600)
    );
    let m = &config.momentum_burst;
    assert!(m.enabled);
    assert_eq!((m.window_s, m.k, m.volume_surge, m.cooldown_s), (30, 3.0, 2.5, 60));
    let r = &config.mean_reversion;
    assert!(r.enabled);
    assert_eq!((r.ewma_tau_s, r.window_s, r.cooldown_s), (120, 10, 60));
    assert_eq!((r.z, r.rearm_z, r.max_volume_surge), (5.0, 2.0, 2.0));
    let b = &config.book_imbalance;
    assert!(b.enabled);
    assert_eq!(
        (b.threshold, b.persist_ticks, b.microprice_confirm, b.cooldown_s),
        (0.6, 5, 0.05, 60)
    );
    let o = &config.breakout;
    assert!(o.enabled);
    assert_eq!((o.window_s, o.hold_s, o.cooldown_s), (120, 30, 120));
    assert_eq!((o.max_range_sigmas, o.break_fraction), (0.5, 1.0));
    let v = &config.vwap_deviation;
    assert!(v.enabled);
    assert_eq!((v.threshold_bps, v.rearm_bps, v.cooldown_s), (60.0, 30.0, 300));
    assert!(config.overrides.is_empty());
    assert!(config.pairs.is_empty());
}

#[test]
fn the_default_toml_of_the_package_parses() {
    let text = include_str!("../../../default.toml");
    let config = EngineConfig::from_toml(text).unwrap();
    assert_eq!(config.symbols.len(), 13);
    assert_eq!(config.pairs.len(), 1);
    let pair = &config.pairs[0];
    assert_eq!(
        (pair.leg_a.as_str(), pair.leg_b.as_str()),
        ("RELIANCE25NOVFUT", "RELIANCE")
    );
    assert!(pair.enabled);
    assert_eq!(
        (pair.tau_s, pair.z, pair.rearm_z, pair.cooldown_s),
        (1_200, 3.0, 1.0, 60)
    );
}

#[test]
fn a_symbols_overrides_change_only_its_own_keys() {
    let config = parse(
        "[momentum_burst]\nk = 3.2\n\
         [overrides.INFY.momentum_burst]\nk = 3.5\nwindow_s = 20\n\
         [overrides.INFY.vwap_deviation]\nenabled = false\n",
    )
    .unwrap();
    let infy = config.detectors_for("INFY").unwrap();
    assert_eq!((infy.momentum_burst.k, infy.momentum_burst.window_s), (3.5, 20));
    assert_eq!(infy.momentum_burst.volume_surge, 2.5);
    assert!(!infy.vwap_deviation.enabled);
    assert_eq!(infy.breakout, config.breakout);
    let reliance = config.detectors_for("RELIANCE").unwrap();
    assert_eq!((reliance.momentum_burst.k, reliance.momentum_burst.window_s), (3.2, 30));
    assert!(reliance.vwap_deviation.enabled);
}

#[test]
fn an_empty_override_table_keeps_the_defaults() {
    let config = parse("[overrides.INFY.breakout]\n[overrides.RELIANCE]\n").unwrap();
    assert_eq!(config.detectors_for("INFY").unwrap().breakout, config.breakout);
}

#[test]
fn an_integer_is_accepted_for_a_float_key_as_in_msgspec() {
    let config = parse("[momentum_burst]\nk = 4\n").unwrap();
    assert_eq!(config.momentum_burst.k, 4.0);
}

#[test]
fn infinity_is_positive_as_in_msgspec() {
    assert_eq!(
        parse("[momentum_burst]\nk = inf\n").unwrap().momentum_burst.k,
        f64::INFINITY
    );
}

#[test]
fn unknown_keys_are_named_with_their_table() {
    assert_rejected("bogus = 1\n", "unknown field `bogus`");
    assert_rejected("[momentum_burst]\nbogus = 1\n", "momentum_burst: unknown field `bogus`");
    assert_rejected(
        "[overrides.INFY.breakout]\nbogus = 1\n",
        "overrides.INFY.breakout: unknown field `bogus`",
    );
    assert_rejected(
        "[[pairs]]\nleg_a = \"RELIANCE\"\nleg_b = \"INFY\"\nbogus = 1\n",
        "pairs[0]: unknown field `bogus`",
    );
    assert_rejected(
        "[overrides.INFY.bogus]\nk = 1\n",
        "overrides.INFY: unknown detector `bogus`, expected one of momentum_burst, mean_reversion",
    );
}

#[test]
fn missing_required_keys_are_named() {
    assert!(EngineConfig::from_toml("warmup_s = 1\n")
        .unwrap_err()
        .to_string()
        .contains("missing field `symbols`"));
    assert_rejected("[[pairs]]\nleg_a = \"RELIANCE\"\n", "pairs[0]: missing field `leg_b`");
}

#[test]
fn mistyped_values_are_named_with_their_key() {
    assert_rejected(
        "[momentum_burst]\nwindow_s = 30.0\n",
        "momentum_burst.window_s: invalid type",
    );
    assert_rejected(
        "[momentum_burst]\nenabled = 1\n",
        "momentum_burst.enabled: invalid type",
    );
    assert_rejected("[momentum_burst]\nk = 1979-05-27\n", "momentum_burst.k: invalid type");
    assert_rejected("[momentum_burst]\nk = \"3\"\n", "momentum_burst.k: invalid type");
    assert_rejected(
        "[overrides.INFY.breakout]\nwindow_s = 10.0\n",
        "overrides.INFY.breakout.window_s: invalid type",
    );
    assert_rejected(
        "[overrides.INFY]\nbreakout = 3\n",
        "overrides.INFY.breakout: expected a table",
    );
    assert_rejected("overrides = 3\n", "overrides: expected a table");
    assert_rejected("momentum_burst = 3\n", "momentum_burst: expected a table");
    assert_rejected("warmup_s = \"300\"\n", "warmup_s: expected an integer, was string");
    assert_rejected("pairs = 3\n", "pairs: expected an array of tables");
    assert_rejected(
        "[[pairs]]\nleg_a = 1979-05-27\nleg_b = \"INFY\"\n",
        "pairs[0].leg_a: expected a string, was datetime",
    );
    assert_rejected(
        "[[pairs]]\nleg_a = \"RELIANCE\"\nleg_b = \"INFY\"\nz = \"high\"\n",
        "pairs[0].z: invalid type",
    );
    let err = EngineConfig::from_toml("symbols = [\"A\", 1]\n")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "symbols[1]: expected a string, was integer");
    // Each bad key of a table is named, not only the first.
    let message = problems("[overrides.INFY.breakout]\nbogus = 1\nwindow_s = 1.5\n");
    assert!(
        message.contains("overrides.INFY.breakout: unknown field `bogus`"),
        "{message}"
    );
    assert!(
        message.contains("overrides.INFY.breakout.window_s: invalid type"),
        "{message}"
    );
}

#[test]
fn seconds_must_be_between_1_and_3600() {
    for key in ["volatility_tau_s", "volume_tau_s"] {
        assert_rejected(
            &format!("{key} = 0\n"),
            &format!("{key} must be >= 1 and <= 3600, was 0"),
        );
        assert_rejected(&format!("{key} = 3601\n"), key);
        parse(&format!("{key} = 1\n")).unwrap();
        parse(&format!("{key} = {MAX_WINDOW_S}\n")).unwrap();
    }
    for (section, key) in [
        ("momentum_burst", "window_s"),
        ("momentum_burst", "cooldown_s"),
        ("mean_reversion", "ewma_tau_s"),
        ("mean_reversion", "window_s"),
        ("mean_reversion", "cooldown_s"),
        ("book_imbalance", "cooldown_s"),
        ("breakout", "window_s"),
        ("breakout", "hold_s"),
        ("breakout", "cooldown_s"),
        ("vwap_deviation", "cooldown_s"),
    ] {
        assert_rejected(
            &format!("[{section}]\n{key} = 0\n"),
            &format!("{section}.{key} must be >= 1"),
        );
        assert_rejected(&format!("[{section}]\n{key} = -5\n"), &format!("{section}.{key}"));
        assert_rejected(&format!("[{section}]\n{key} = 3601\n"), &format!("{section}.{key}"));
        parse(&format!("[{section}]\n{key} = 3600\n")).unwrap();
        assert_rejected(
            &format!("[overrides.INFY.{section}]\n{key} = 0\n"),
            &format!("overrides.INFY.{section}.{key}"),
        );
    }
    for key in ["tau_s", "cooldown_s"] {
        let pair = "[[pairs]]\nleg_a = \"RELIANCE\"\nleg_b = \"INFY\"\n";
        assert_rejected(&format!("{pair}{key} = 0\n"), &format!("pairs[0].{key}"));
        parse(&format!("{pair}{key} = 3600\n")).unwrap();
    }
}

#[test]
fn positive_keys_reject_zero_negative_and_nan() {
    for (section, key) in [
        ("momentum_burst", "k"),
        ("momentum_burst", "volume_surge"),
        ("mean_reversion", "z"),
        ("mean_reversion", "rearm_z"),
        ("mean_reversion", "max_volume_surge"),
        ("breakout", "max_range_sigmas"),
        ("breakout", "break_fraction"),
        ("vwap_deviation", "threshold_bps"),
        ("vwap_deviation", "rearm_bps"),
    ] {
        for bad in ["0.0", "-1.0", "nan", "-inf"] {
            assert_rejected(
                &format!("[{section}]\n{key} = {bad}\n"),
                &format!("{section}.{key} must be > 0"),
            );
        }
    }
    let pair = "[[pairs]]\nleg_a = \"RELIANCE\"\nleg_b = \"INFY\"\n";
    assert_rejected(&format!("{pair}z = 0.0\n"), "pairs[0].z must be > 0");
    assert_rejected(&format!("{pair}rearm_z = nan\n"), "pairs[0].rearm_z must be > 0");
}

#[test]
fn imbalance_keys_keep_their_ranges() {
    for bad in ["0.0", "1.0", "nan", "-0.5", "1.5"] {
        assert_rejected(
            &format!("[book_imbalance]\nthreshold = {bad}\n"),
            "book_imbalance.threshold",
        );
    }
    parse("[book_imbalance]\nthreshold = 0.999\n").unwrap();
    for bad in ["0", "10001", "-1"] {
        assert_rejected(&format!("[book_imbalance]\npersist_ticks = {bad}\n"), "persist_ticks");
    }
    parse("[book_imbalance]\npersist_ticks = 10000\n").unwrap();
    for bad in ["-0.1", "0.5", "nan"] {
        assert_rejected(
            &format!("[book_imbalance]\nmicroprice_confirm = {bad}\n"),
            "microprice_confirm",
        );
    }
    parse("[book_imbalance]\nmicroprice_confirm = 0.0\n").unwrap();
    parse("[book_imbalance]\nmicroprice_confirm = -0.0\n").unwrap();
}

#[test]
fn warmup_and_symbol_names_keep_their_ranges() {
    assert_rejected("warmup_s = -1\n", "warmup_s must be >= 0 and <= 86400, was -1");
    assert_rejected("warmup_s = 86401\n", "warmup_s");
    parse("warmup_s = 0\n").unwrap();
    parse("warmup_s = 86400\n").unwrap();
    let err = EngineConfig::from_toml("symbols = [\"\"]\n").unwrap_err().to_string();
    assert!(
        err.contains("symbols[0] must be 1 to 64 characters long, was 0"),
        "{err}"
    );
    let long = "x".repeat(65);
    let err = EngineConfig::from_toml(&format!("symbols = [\"{long}\"]\n")).unwrap_err();
    assert!(err.to_string().contains("symbols[0]"));
    // Characters, not bytes, as Python's len().
    let wide = "é".repeat(64);
    EngineConfig::from_toml(&format!("symbols = [\"{wide}\"]\n")).unwrap();
}

#[test]
fn the_universe_must_be_nonempty_and_unrepeated() {
    let err = EngineConfig::from_toml("symbols = []\n").unwrap_err().to_string();
    assert_eq!(err, "symbols must list at least one symbol");
    let err = EngineConfig::from_toml("symbols = [\"B\", \"A\", \"B\", \"A\", \"C\"]\n")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "symbols must not repeat, was A, B more than once");
}

#[test]
fn overrides_and_pairs_must_name_symbols_of_the_universe() {
    assert_rejected(
        "[overrides.TCS.breakout]\nwindow_s = 10\n",
        "overrides.TCS: TCS is not in symbols",
    );
    assert_rejected(
        "[[pairs]]\nleg_a = \"RELIANCE\"\nleg_b = \"TCS\"\n",
        "pairs[0]: TCS is not in symbols",
    );
    assert_rejected(
        "[[pairs]]\nleg_a = \"INFY\"\nleg_b = \"INFY\"\n",
        "pairs[0]: leg_a and leg_b must differ, both were INFY",
    );
}

#[test]
fn rearm_levels_must_lie_inside_the_trigger_levels() {
    assert_rejected(
        "[mean_reversion]\nrearm_z = 5.0\n",
        "mean_reversion: rearm_z must be < z, was 5.0 >= 5.0",
    );
    assert_rejected(
        "[mean_reversion]\nz = inf\nrearm_z = inf\n",
        "rearm_z must be < z, was inf >= inf",
    );
    assert_rejected(
        "[vwap_deviation]\nrearm_bps = 70.0\n",
        "vwap_deviation: rearm_bps must be < threshold_bps, was 70.0 >= 60.0",
    );
    assert_rejected(
        "[[pairs]]\nleg_a = \"RELIANCE\"\nleg_b = \"INFY\"\nrearm_z = 4.0\n",
        "pairs[0]: rearm_z must be < z, was 4.0 >= 3.0",
    );
    assert_rejected(
        "[overrides.INFY.mean_reversion]\nrearm_z = 5.0\n",
        "overrides.INFY.mean_reversion: rearm_z must be < z, was 5.0 >= 5.0",
    );
    assert_rejected(
        "[overrides.INFY.vwap_deviation]\nthreshold_bps = 20.0\n",
        "overrides.INFY.vwap_deviation: rearm_bps must be < threshold_bps",
    );
    // Overriding both keys consistently is fine.
    parse("[overrides.INFY.mean_reversion]\nz = 6.0\nrearm_z = 5.0\n").unwrap();
}

#[test]
fn every_problem_of_a_stage_is_reported_at_once() {
    let err = parse("warmup_s = -1\n[momentum_burst]\nk = 0.0\n[breakout]\nwindow_s = 0\n").unwrap_err();
    let ConfigError::Invalid(found) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(err.to_string(), found.join("; "));
}

#[test]
fn text_that_is_not_toml_is_a_syntax_error() {
    assert!(matches!(
        EngineConfig::from_toml("symbols = [\n"),
        Err(ConfigError::Syntax(_))
    ));
    // TOML 1.1's multi-line inline tables are not TOML 1.0, which Python's tomllib reads.
    assert!(matches!(
        EngineConfig::from_toml("symbols = [\"A\"]\nmomentum_burst = {\n k = 3.0\n}\n"),
        Err(ConfigError::Syntax(_))
    ));
}

#[test]
fn an_engine_refuses_a_config_that_skipped_the_checks() {
    let mut config = EngineConfig::with_symbols(["A", "B"]);
    config.breakout.window_s = 0;
    assert!(PatternEngine::try_new(config).is_err());
    let mut config = EngineConfig::with_symbols(["A"]);
    config.pairs.push(pattern_engine_core::config::Pair {
        leg_a: "A".into(),
        leg_b: "Z".into(),
        enabled: true,
        tau_s: 600,
        z: 3.5,
        rearm_z: 1.5,
        cooldown_s: 60,
    });
    let err = PatternEngine::try_new(config).err().unwrap().to_string();
    assert!(err.contains("pairs[0]: Z is not in symbols"), "{err}");
}

/// `msgspec.json.encode(parse_config(SMALL_TOML))`, as `pattern_engine.native` passes a config.
const SMALL_TOML: &str = r#"symbols = ["RELIANCE", "INFY", "RELIANCE25NOVFUT"]
warmup_s = 120
[momentum_burst]
k = 3.1
[overrides.INFY.momentum_burst]
k = 4
window_s = 20
[overrides.INFY.breakout]
enabled = false
[[pairs]]
leg_a = "RELIANCE25NOVFUT"
leg_b = "RELIANCE"
z = 2.7
"#;
const SMALL_JSON: &str = r#"{"symbols":["RELIANCE","INFY","RELIANCE25NOVFUT"],"warmup_s":120,"volatility_tau_s":900,"volume_tau_s":600,"momentum_burst":{"enabled":true,"window_s":30,"k":3.1,"volume_surge":2.5,"cooldown_s":60},"mean_reversion":{"enabled":true,"ewma_tau_s":120,"z":5.0,"rearm_z":2.0,"window_s":10,"max_volume_surge":2.0,"cooldown_s":60},"book_imbalance":{"enabled":true,"threshold":0.6,"persist_ticks":5,"microprice_confirm":0.05,"cooldown_s":60},"breakout":{"enabled":true,"window_s":120,"max_range_sigmas":0.5,"break_fraction":1.0,"hold_s":30,"cooldown_s":120},"vwap_deviation":{"enabled":true,"threshold_bps":60.0,"rearm_bps":30.0,"cooldown_s":300},"overrides":{"INFY":{"momentum_burst":{"k":4,"window_s":20},"breakout":{"enabled":false}}},"pairs":[{"leg_a":"RELIANCE25NOVFUT","leg_b":"RELIANCE","enabled":true,"tau_s":1200,"z":2.7,"rearm_z":1.0,"cooldown_s":60}]}"#;

#[test]
fn the_json_python_writes_reads_as_the_toml_it_came_from() {
    let from_toml = EngineConfig::from_toml(SMALL_TOML).unwrap();
    let from_json = EngineConfig::from_json(SMALL_JSON).unwrap();
    for symbol in &from_toml.symbols {
        assert_eq!(
            from_toml.detectors_for(symbol).unwrap(),
            from_json.detectors_for(symbol).unwrap()
        );
    }
    assert_eq!(from_toml.pairs, from_json.pairs);
    assert_eq!(from_json.momentum_burst.k.to_bits(), 3.1_f64.to_bits());
    let infy = from_json.detectors_for("INFY").unwrap();
    assert_eq!((infy.momentum_burst.k, infy.momentum_burst.window_s), (4.0, 20));
    assert!(!infy.breakout.enabled);
}

#[test]
fn json_is_held_to_the_same_rules() {
    let err = EngineConfig::from_json(r#"{"symbols": ["A"], "bogus": 1}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `bogus`"), "{err}");
    let err = EngineConfig::from_json(r#"{"symbols": ["A"], "breakout": {"window_s": 30.0}}"#).unwrap_err();
    assert!(err.to_string().contains("breakout.window_s"), "{err}");
    let err = EngineConfig::from_json(r#"{"symbols": ["A"], "momentum_burst": {"k": null}}"#).unwrap_err();
    assert!(matches!(err, ConfigError::Json(_)), "{err:?}");
    assert!(matches!(EngineConfig::from_json("{"), Err(ConfigError::Json(_))));
}
