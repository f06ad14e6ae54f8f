"""The pattern engine's config file (TOML): the symbol universe, detector thresholds, per-symbol overrides, pairs.

The Rust core (``rust/core/src/config.rs``) reads the same file with the same rules; the two must agree on
every default below, and the parity tests hold them to it. Layout::

    symbols = ["RELIANCE", "INFY"]      # the universe; a tick of any other symbol is counted and skipped
    warmup_s = 300                       # seconds of a symbol's ticks before any of its detectors may fire
    volatility_tau_s = 900               # time constant of the per-second variance estimate (seconds)
    volume_tau_s = 600                   # time constant of the usual quantity traded per second (seconds)

    [momentum_burst]                     # one table per detector: the defaults for every symbol
    k = 3.0

    [overrides.INFY.momentum_burst]      # a symbol's own values for some keys; the rest stay the defaults
    k = 3.5

    [[pairs]]                            # pair / spread arbitrage between two instruments of the universe
    leg_a = "RELIANCE25NOVFUT"
    leg_b = "RELIANCE"

Unknown keys anywhere are an error naming them, as are bad values; every window and time constant is in
whole seconds, because the detectors advance on a one-second clock.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta

from aitrader.errors import ConfigurationError

Seconds = Annotated[int, Meta(ge=1, le=3_600)]
Positive = Annotated[float, Meta(gt=0.0)]
Fraction = Annotated[float, Meta(gt=0.0, lt=1.0)]

MAX_WINDOW_S: Final = 3_600
"""The longest window or cooldown any detector accepts; also the longest gap the clock walks second by second."""

PATTERNS: Final = (
    "momentum_burst",
    "mean_reversion",
    "book_imbalance",
    "breakout",
    "vwap_deviation",
    "pair_spread",
)
"""Every pattern the engine emits, in the order its detectors run on a tick."""


class _Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class MomentumBurst(_Section, frozen=True):
    """Return over the last ``window_s`` seconds beyond ``k`` sigma, on at least ``volume_surge`` x the usual volume."""

    enabled: bool = True
    window_s: Seconds = 30
    k: Positive = 3.0
    volume_surge: Positive = 2.5
    cooldown_s: Seconds = 60


class MeanReversion(_Section, frozen=True):
    """Mid's deviation from its EWMA (time constant ``ewma_tau_s``) crossing beyond ``z`` standard deviations,
    the yardstick being a random walk's: sigma x sqrt(ewma_tau_s / 2), from the one-second return volatility.

    The signal fades the move. A move carried by more than ``max_volume_surge`` x the usual volume over the
    last ``window_s`` seconds is momentum, not an overreaction, and is not faded. The detector re-arms once
    the z-score is back inside ``rearm_z``.
    """

    enabled: bool = True
    ewma_tau_s: Seconds = 120
    z: Positive = 5.0
    rearm_z: Positive = 2.0
    window_s: Seconds = 10
    max_volume_surge: Positive = 2.0
    cooldown_s: Seconds = 60


class BookImbalance(_Section, frozen=True):
    """Depth imbalance ``(B - A) / (B + A)`` beyond ``threshold`` for ``persist_ticks`` ticks in a row, with the
    microprice off the mid on the same side by at least ``microprice_confirm`` of the spread."""

    enabled: bool = True
    threshold: Fraction = 0.6
    persist_ticks: Annotated[int, Meta(ge=1, le=10_000)] = 5
    microprice_confirm: Annotated[float, Meta(ge=0.0, lt=0.5)] = 0.05
    cooldown_s: Seconds = 60


class Breakout(_Section, frozen=True):
    """Mid beyond the high (low) of the last ``window_s`` seconds by ``break_fraction`` of that range, when the
    range was tight: at most ``max_range_sigmas`` x sigma x sqrt(window). A tight range stays the reference for
    ``hold_s`` seconds after the window stops being tight (the break itself widens it), or until it breaks."""

    enabled: bool = True
    window_s: Seconds = 120
    max_range_sigmas: Positive = 0.5
    break_fraction: Positive = 1.0
    hold_s: Seconds = 30
    cooldown_s: Seconds = 120


class VwapDeviation(_Section, frozen=True):
    """Last price ``threshold_bps`` or more away from the session VWAP; the signal fades the move. Re-arms
    once back within ``rearm_bps``."""

    enabled: bool = True
    threshold_bps: Positive = 60.0
    rearm_bps: Positive = 30.0
    cooldown_s: Seconds = 300


class Pair(_Section, frozen=True):
    """The ratio ``mid(leg_a) / mid(leg_b)`` against its EWMA mean, in units of its EWMA dispersion: beyond ``z``
    it signals on ``leg_a`` (sell a rich leg, buy a cheap one). Re-arms once back inside ``rearm_z``."""

    leg_a: str
    leg_b: str
    enabled: bool = True
    tau_s: Seconds = 1_200
    z: Positive = 3.0
    rearm_z: Positive = 1.0
    cooldown_s: Seconds = 60


class Detectors(_Section, frozen=True):
    """One symbol's thresholds for every per-symbol detector."""

    momentum_burst: MomentumBurst = MomentumBurst()
    mean_reversion: MeanReversion = MeanReversion()
    book_imbalance: BookImbalance = BookImbalance()
    breakout: Breakout = Breakout()
    vwap_deviation: VwapDeviation = VwapDeviation()


class EngineConfig(_Section, frozen=True):
    """The whole file; :meth:`detectors_for` gives a symbol's thresholds with its overrides applied."""

    symbols: list[Annotated[str, Meta(min_length=1, max_length=64)]]
    warmup_s: Annotated[int, Meta(ge=0, le=86_400)] = 300
    volatility_tau_s: Seconds = 900
    volume_tau_s: Seconds = 600
    momentum_burst: MomentumBurst = MomentumBurst()
    mean_reversion: MeanReversion = MeanReversion()
    book_imbalance: BookImbalance = BookImbalance()
    breakout: Breakout = Breakout()
    vwap_deviation: VwapDeviation = VwapDeviation()
    overrides: dict[str, dict[str, dict[str, Any]]] = {}
    pairs: list[Pair] = []

    def detectors_for(self, symbol: str) -> Detectors:
        """``symbol``'s thresholds: the defaults with its ``[overrides.<symbol>.<detector>]`` keys applied."""
        return _apply_overrides(self, symbol)


def parse_config(text: str, *, source: str = "<config>") -> EngineConfig:
    """Parse and check a config; every problem is a :class:`ConfigurationError` naming the key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"{source}: not valid TOML: {e}") from e
    try:
        config = msgspec.convert(raw, EngineConfig)
    except msgspec.ValidationError as e:
        raise ConfigurationError(f"{source}: {e}") from e
    problems = _problems(config)
    if problems:
        raise ConfigurationError(f"{source}: " + "; ".join(problems))
    for symbol in config.overrides:
        try:
            _apply_overrides(config, symbol)
        except ConfigurationError as e:
            raise ConfigurationError(f"{source}: {e}") from e
    return config


def load_config(path: Path | str) -> EngineConfig:
    """Read and parse the config file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigurationError(f"cannot read pattern engine config {path}: {e.strerror or e}") from e
    return parse_config(text, source=str(path))


def _problems(config: EngineConfig) -> list[str]:
    problems: list[str] = []
    if not config.symbols:
        problems.append("symbols must list at least one symbol")
    repeated = sorted({symbol for symbol in config.symbols if config.symbols.count(symbol) > 1})
    if repeated:
        problems.append(f"symbols must not repeat, was {', '.join(repeated)} more than once")
    known = set(config.symbols)
    for symbol, sections in config.overrides.items():
        if symbol not in known:
            problems.append(f"overrides.{symbol}: {symbol} is not in symbols")
        for name in sections:
            if name not in Detectors.__struct_fields__:
                problems.append(
                    f"overrides.{symbol}: unknown detector `{name}`, expected one of "
                    + ", ".join(Detectors.__struct_fields__)
                )
    for index, pair in enumerate(config.pairs):
        for leg in (pair.leg_a, pair.leg_b):
            if leg not in known:
                problems.append(f"pairs[{index}]: {leg} is not in symbols")
        if pair.leg_a == pair.leg_b:
            problems.append(f"pairs[{index}]: leg_a and leg_b must differ, both were {pair.leg_a}")
    for name, section in _sections(config):
        problems += _section_problems(name, section)
    return problems


def _sections(config: EngineConfig) -> list[tuple[str, msgspec.Struct]]:
    sections: list[tuple[str, msgspec.Struct]] = [(name, getattr(config, name)) for name in Detectors.__struct_fields__]
    sections += [(f"pairs[{index}]", pair) for index, pair in enumerate(config.pairs)]
    return sections


def _section_problems(name: str, section: msgspec.Struct) -> list[str]:
    """Rules between two keys of one section, which the per-key constraints cannot state."""
    problems: list[str] = []
    if isinstance(section, MeanReversion | Pair) and section.rearm_z >= section.z:
        problems.append(f"{name}: rearm_z must be < z, was {section.rearm_z} >= {section.z}")
    if isinstance(section, VwapDeviation) and section.rearm_bps >= section.threshold_bps:
        problems.append(
            f"{name}: rearm_bps must be < threshold_bps, was {section.rearm_bps} >= {section.threshold_bps}"
        )
    return problems


def _apply_overrides(config: EngineConfig, symbol: str) -> Detectors:
    sections = config.overrides.get(symbol, {})
    resolved: dict[str, msgspec.Struct] = {}
    for name in Detectors.__struct_fields__:
        default = getattr(config, name)
        changes = sections.get(name)
        if not changes:
            resolved[name] = default
            continue
        merged = {**msgspec.structs.asdict(default), **changes}
        try:
            section = msgspec.convert(merged, type(default))
        except msgspec.ValidationError as e:
            raise ConfigurationError(f"overrides.{symbol}.{name}: {e}") from e
        problems = _section_problems(f"overrides.{symbol}.{name}", section)
        if problems:
            raise ConfigurationError("; ".join(problems))
        resolved[name] = section
    return Detectors(**resolved)  # type: ignore[arg-type]
