"""N-BEATS (Oreshkin et al., 2019): a deep stack of fully connected blocks with backward and forward residual
links, trained on bar closes and exported to ONNX for the runners.

Each block reads what the blocks before it could not explain (the residual of the lookback window), passes it
through ``layers`` ReLU layers, and projects the result onto expansion coefficients of a backcast (subtracted
from the residual) and of a forecast (added to the model's output).

* **Generic** architecture: the projections onto the backcast and forecast are learnt (a linear basis).
* **Interpretable** architecture: a trend stack whose basis is polynomials of time (``trend_degree``) and a
  seasonality stack whose basis is a Fourier series (``harmonics``); the blocks of each stack share their
  weights, as in the paper. Time runs across the whole window in units of the lookback (``-1`` is the window's
  first bar, ``0`` the first forecast step), so a trend or a cycle is one curve through past and future.

**Scale.** Prices differ by orders of magnitude between symbols, so each window is taken relative to its last
close: ``(price / last - 1 - mean) / std``, with ``mean`` and ``std`` those of the training targets. A network
that outputs zeros therefore forecasts "no change": the naive forecast is where training starts from.

**The exported graph** takes raw closes (``history``, batch x lookback) and returns prices: ``forecast`` and a
``lower``/``upper`` band (batch x horizon). The band is split-conformal: per step, the quantiles of the
validation residuals at ``band_level``; its coverage on the test set is reported.

**Evaluation.** On the test set (the latest windows of every series), the model's mean absolute error is
reported next to the naive forecast (the last close, held) and the seasonal-naive one (the last ``season``
closes, repeated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from aitrader.errors import ValidationError
from onnx_runner.training.data import Floats, Split, Windows
from onnx_runner.training.fit import Epoch, FitConfig, Params, fit, glorot
from onnx_runner.training.graph import GraphBuilder

Architecture = Literal["generic", "interpretable"]


@dataclass(frozen=True)
class NBeatsConfig:
    lookback: int = 60
    horizon: int = 10
    architecture: Architecture = "generic"
    width: int = 128
    """Units of each fully connected layer."""
    layers: int = 4
    """Fully connected layers per block."""
    stacks: int = 2
    """Stacks of the generic architecture (the interpretable one has a trend and a seasonality stack)."""
    blocks: int = 3
    """Blocks per stack."""
    theta: int = 16
    """Expansion coefficients of a generic block."""
    trend_degree: int = 3
    harmonics: int = 8
    """Fourier harmonics of the seasonality basis (periods of lookback / k bars, k = 1..harmonics)."""
    band_level: float = 0.9
    season: int = 30
    """Period, in bars, of the seasonal-naive baseline."""
    fit: FitConfig = field(default_factory=FitConfig)

    def check(self) -> None:
        problems = []
        for name in ("lookback", "horizon", "width", "layers", "stacks", "blocks", "theta", "harmonics", "season"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, was {getattr(self, name)}")
        if self.trend_degree < 0:
            problems.append(f"trend_degree must be >= 0, was {self.trend_degree}")
        if not 0 < self.band_level < 1:
            problems.append(f"band_level must be between 0 and 1, was {self.band_level}")
        if self.season > self.lookback:
            problems.append(f"season must not exceed the lookback ({self.lookback}), was {self.season}")
        if self.fit.epochs < 1 or self.fit.batch_size < 1 or self.fit.learning_rate <= 0:
            problems.append(f"epochs and batch size must be >= 1 and the learning rate > 0, were {self.fit}")
        if problems:
            raise ValidationError("; ".join(problems))


@dataclass(frozen=True)
class Block:
    """One block: its parameters live under ``prefix`` (shared by every block of an interpretable stack)."""

    prefix: str
    kind: Literal["generic", "trend", "seasonality"]
    theta: int


@dataclass(frozen=True)
class Plan:
    """The architecture unrolled: the blocks in order and the fixed bases of the interpretable ones."""

    config: NBeatsConfig
    blocks: tuple[Block, ...]
    bases: dict[str, npt.NDArray[np.float32]]
    """``<kind>.backcast`` (theta x lookback) and ``<kind>.forecast`` (theta x horizon)."""


def plan(config: NBeatsConfig) -> Plan:
    config.check()
    if config.architecture == "generic":
        blocks = tuple(
            Block(f"s{s}.b{b}", "generic", config.theta) for s in range(config.stacks) for b in range(config.blocks)
        )
        return Plan(config, blocks, {})
    past = np.arange(-config.lookback, 0) / config.lookback
    future = np.arange(config.horizon) / config.lookback
    powers = np.arange(config.trend_degree + 1)[:, None]
    harmonics = np.arange(1, config.harmonics + 1)[:, None]

    def fourier(t: Floats) -> Floats:
        angle = 2 * np.pi * harmonics * t
        return np.concatenate([np.ones((1, len(t))), np.cos(angle), np.sin(angle)])

    bases = {
        "trend.backcast": past**powers,
        "trend.forecast": future**powers,
        "seasonality.backcast": fourier(past),
        "seasonality.forecast": fourier(future),
    }
    trend = [Block("trend", "trend", config.trend_degree + 1)] * config.blocks
    seasonality = [Block("seasonality", "seasonality", 2 * config.harmonics + 1)] * config.blocks
    return Plan(config, (*trend, *seasonality), {k: v.astype(np.float32) for k, v in bases.items()})


def init_params(plan: Plan, seed: int = 0) -> Params:
    """Glorot weights, zero biases; the last projections start small so the first forecast is near naive."""
    config = plan.config
    rng = np.random.default_rng(seed)
    params: Params = {}
    for block in plan.blocks:
        if f"{block.prefix}.fc0.w" in params:
            continue  # shared by an earlier block of the stack
        fan_in = config.lookback
        for k in range(config.layers):
            params[f"{block.prefix}.fc{k}.w"] = glorot(rng, fan_in, config.width)
            params[f"{block.prefix}.fc{k}.b"] = np.zeros(config.width, np.float32)
            fan_in = config.width
        for side in ("backcast", "forecast"):
            params[f"{block.prefix}.theta_{side}.w"] = 0.1 * glorot(rng, config.width, block.theta)
        if block.kind == "generic":
            for side, size in (("backcast", config.lookback), ("forecast", config.horizon)):
                params[f"{block.prefix}.basis_{side}.w"] = glorot(rng, block.theta, size)
                params[f"{block.prefix}.basis_{side}.b"] = np.zeros(size, np.float32)
    return params


def forward(plan: Plan, params: Any, x: Any, xp: ModuleType = np) -> Any:
    """The network on scaled windows ``x`` (batch x lookback) -> scaled forecasts (batch x horizon); ``xp`` is
    NumPy or ``jax.numpy``."""
    residual = x
    forecast = xp.zeros((x.shape[0], plan.config.horizon), dtype=x.dtype)
    for block in plan.blocks:
        p = block.prefix
        hidden = residual
        for k in range(plan.config.layers):
            hidden = xp.maximum(hidden @ params[f"{p}.fc{k}.w"] + params[f"{p}.fc{k}.b"], 0)
        theta_backcast = hidden @ params[f"{p}.theta_backcast.w"]
        theta_forecast = hidden @ params[f"{p}.theta_forecast.w"]
        if block.kind == "generic":
            backcast = theta_backcast @ params[f"{p}.basis_backcast.w"] + params[f"{p}.basis_backcast.b"]
            block_forecast = theta_forecast @ params[f"{p}.basis_forecast.w"] + params[f"{p}.basis_forecast.b"]
        else:
            backcast = theta_backcast @ plan.bases[f"{block.kind}.backcast"]
            block_forecast = theta_forecast @ plan.bases[f"{block.kind}.forecast"]
        residual = residual - backcast
        forecast = forecast + block_forecast
    return forecast


@dataclass(frozen=True)
class Scale:
    """Windows relative to their last close, centred and scaled by the training targets' statistics."""

    mean: float
    std: float

    @staticmethod
    def fit(windows: Windows) -> Scale:
        relative = windows.targets / windows.inputs[:, -1:] - 1
        return Scale(float(relative.mean()), float(relative.std()) or 1.0)

    def inputs(self, prices: Floats) -> npt.NDArray[np.float32]:
        return ((prices / prices[:, -1:] - 1 - self.mean) / self.std).astype(np.float32)

    def targets(self, windows: Windows) -> npt.NDArray[np.float32]:
        return ((windows.targets / windows.inputs[:, -1:] - 1 - self.mean) / self.std).astype(np.float32)

    def prices(self, scaled: Floats, history: Floats) -> Floats:
        return history[:, -1:] * (1 + self.mean + np.asarray(scaled, dtype=np.float64) * self.std)


@dataclass
class NBeatsModel:
    """A trained N-BEATS: the parameters, the scale and the band, and what evaluation measured."""

    plan: Plan
    params: Params
    scale: Scale
    band: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]
    """Per-step lower and upper residual quantiles, in scaled units."""
    metrics: dict[str, float]
    history: list[Epoch]

    def predict(self, history: Floats) -> tuple[Floats, Floats, Floats]:
        """Forecast, lower and upper band in prices for raw closes (batch x lookback), computed in NumPy."""
        history = np.asarray(history, dtype=np.float64)
        scaled = forward(self.plan, self.params, self.scale.inputs(history))
        lower, upper = self.band
        return (
            self.scale.prices(scaled, history),
            self.scale.prices(scaled + lower, history),
            self.scale.prices(scaled + upper, history),
        )

    def to_onnx(self) -> bytes:
        return export(self)

    def describe(self) -> dict[str, Any]:
        """The training configuration, for the model's metadata."""
        config = asdict(self.plan.config)
        return {k: v for k, v in config.items() if k != "fit"} | {"fit": config["fit"]}


def train(split: Split, config: NBeatsConfig, progress: Callable[[Epoch], None] | None = None) -> NBeatsModel:
    """Train on ``split.train``, keep the best epoch on ``split.validation``, evaluate on ``split.test``."""
    import jax.numpy as jnp

    the_plan = plan(config)
    for name, part in (("train", split.train), ("validation", split.validation), ("test", split.test)):
        if part.inputs.shape[1:] != (config.lookback,) or part.targets.shape[1:] != (config.horizon,):
            raise ValidationError(
                f"{name} windows must be {config.lookback}+{config.horizon}, were "
                f"{part.inputs.shape[1:]}+{part.targets.shape[1:]}"
            )
        if not np.isfinite(part.inputs).all() or (part.inputs <= 0).any():
            raise ValidationError(f"{name} closes must be positive and finite")
    scale = Scale.fit(split.train)
    bases = {name: jnp.asarray(value) for name, value in the_plan.bases.items()}
    jax_plan = Plan(config, the_plan.blocks, bases)  # type: ignore[arg-type]  # JAX arrays stand in for NumPy's

    def loss(params: Any, inputs: Any, targets: Any) -> Any:
        return jnp.mean(jnp.abs(forward(jax_plan, params, inputs, jnp) - targets))

    result = fit(
        loss,
        init_params(the_plan, config.fit.seed),
        (scale.inputs(split.train.inputs), scale.targets(split.train)),
        (scale.inputs(split.validation.inputs), scale.targets(split.validation)),
        config.fit,
        progress,
    )
    residuals = scale.targets(split.validation) - forward(
        the_plan, result.params, scale.inputs(split.validation.inputs)
    )
    tail = (1 - config.band_level) / 2
    band = (
        np.quantile(residuals, tail, axis=0).astype(np.float32),
        np.quantile(residuals, 1 - tail, axis=0).astype(np.float32),
    )
    model = NBeatsModel(the_plan, result.params, scale, band, {}, result.history)
    model.metrics = evaluate(model, split.test, config.season) | {
        "train_windows": float(len(split.train)),
        "validation_windows": float(len(split.validation)),
        "best_epoch": float(result.best_epoch),
        "epochs_run": float(len(result.history)),
        "train_seconds": round(result.seconds, 3),
    }
    return model


def evaluate(model: NBeatsModel, test: Windows, season: int) -> dict[str, float]:
    """Mean absolute (and squared) errors on ``test`` of the model and both baselines, and the band's coverage."""
    forecast, lower, upper = model.predict(test.inputs)
    naive = np.repeat(test.inputs[:, -1:], test.targets.shape[1], axis=1)
    seasonal = seasonal_naive(test.inputs, test.targets.shape[1], season)
    metrics = {"test_windows": float(len(test))}
    for name, prediction in (("nbeats", forecast), ("naive", naive), ("seasonal_naive", seasonal)):
        error = prediction - test.targets
        metrics[f"{name}_mae"] = float(np.abs(error).mean())
        metrics[f"{name}_rmse"] = float(np.sqrt((error**2).mean()))
        metrics[f"{name}_mape_pct"] = float(100 * np.abs(error / test.targets).mean())
    metrics["mae_vs_naive"] = metrics["nbeats_mae"] / metrics["naive_mae"]
    metrics["mae_vs_seasonal_naive"] = metrics["nbeats_mae"] / metrics["seasonal_naive_mae"]
    metrics["band_level"] = model.plan.config.band_level
    metrics["band_coverage"] = float(((test.targets >= lower) & (test.targets <= upper)).mean())
    return metrics


def seasonal_naive(history: Floats, horizon: int, season: int) -> Floats:
    """Each step ``h`` forecast by the close one season earlier: the last ``season`` closes, repeated."""
    last_season = history[:, -season:]
    return np.asarray(last_season[:, np.arange(horizon) % season], dtype=np.float64)


def export(model: NBeatsModel) -> bytes:
    """The whole forecaster as one ONNX graph: raw closes in, forecast and band out, in prices."""
    config = model.plan.config
    graph = GraphBuilder("nbeats")
    residual, last = graph.window(config.lookback, model.scale.mean, model.scale.std)
    offset = graph.constant("scale.offset", 1 + model.scale.mean)
    spread = graph.constant("scale.std", model.scale.std)
    forecast: str | None = None
    for index, block in enumerate(model.plan.blocks):
        p = block.prefix
        hidden = residual
        for k in range(config.layers):
            weight = graph.constant(f"{p}.fc{k}.w", model.params[f"{p}.fc{k}.w"])
            hidden = graph.relu(
                graph.dense(hidden, weight, graph.constant(f"{p}.fc{k}.b", model.params[f"{p}.fc{k}.b"]))
            )
        sides = {}
        for side in ("backcast", "forecast"):
            theta = graph.dense(hidden, graph.constant(f"{p}.theta_{side}.w", model.params[f"{p}.theta_{side}.w"]))
            if block.kind == "generic":
                basis = graph.constant(f"{p}.basis_{side}.w", model.params[f"{p}.basis_{side}.w"])
                sides[side] = graph.dense(
                    theta, basis, graph.constant(f"{p}.basis_{side}.b", model.params[f"{p}.basis_{side}.b"])
                )
            else:
                sides[side] = graph.dense(
                    theta, graph.constant(f"{block.kind}.{side}", model.plan.bases[f"{block.kind}.{side}"])
                )
        if index < len(model.plan.blocks) - 1:  # the last block's backcast feeds nothing
            residual = graph.node("Sub", [residual, sides["backcast"]])
        forecast = sides["forecast"] if forecast is None else graph.node("Add", [forecast, sides["forecast"]])
    assert forecast is not None  # plan() makes at least one block
    lower, upper = model.band

    def to_prices(scaled: str, name: str) -> str:
        return graph.output(
            graph.node("Mul", [last, graph.node("Add", [graph.node("Mul", [scaled, spread]), offset])]),
            name,
            config.horizon,
        )

    to_prices(forecast, "forecast")
    to_prices(graph.node("Add", [forecast, graph.constant("band.lower", lower)]), "lower")
    to_prices(graph.node("Add", [forecast, graph.constant("band.upper", upper)]), "upper")
    return graph.build()
