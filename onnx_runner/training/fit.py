"""The one training loop every model here uses: Adam on minibatches, the best epoch on validation kept.

Models are a pure JAX function ``loss(params, inputs, targets)`` over a dict of arrays; the loop compiles one
update step with :func:`jax.jit`, shuffles with a seeded generator, and returns the parameters of the epoch with
the lowest validation loss (early stopping after ``patience`` epochs without improvement), as NumPy arrays ready
to be written into an ONNX graph.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Params = dict[str, npt.NDArray[np.float32]]
Loss = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class Epoch:
    """What one epoch did; the progress callback gets one per epoch."""

    number: int
    epochs: int
    train_loss: float
    validation_loss: float
    best: bool
    seconds: float


@dataclass(frozen=True)
class FitConfig:
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    patience: int = 10
    """Epochs without a better validation loss before training stops."""
    seed: int = 0


@dataclass
class FitResult:
    params: Params
    history: list[Epoch] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def fit(
    loss: Loss,
    params: Params,
    train: tuple[npt.NDArray[Any], npt.NDArray[Any]],
    validation: tuple[npt.NDArray[Any], npt.NDArray[Any]],
    config: FitConfig,
    progress: Callable[[Epoch], None] | None = None,
) -> FitResult:
    import jax
    import jax.numpy as jnp
    import optax

    optimiser = optax.adam(config.learning_rate)
    state = {name: jnp.asarray(value) for name, value in params.items()}
    opt_state = optimiser.init(state)

    @jax.jit
    def step(state: Any, opt_state: Any, inputs: Any, targets: Any) -> tuple[Any, Any, Any]:
        value, grads = jax.value_and_grad(loss)(state, inputs, targets)
        updates, opt_state = optimiser.update(grads, opt_state, state)
        return optax.apply_updates(state, updates), opt_state, value

    evaluate = jax.jit(loss)
    train_inputs, train_targets = (np.asarray(a) for a in train)
    validation_inputs, validation_targets = (jnp.asarray(a) for a in validation)
    rng = np.random.default_rng(config.seed)
    n = len(train_inputs)
    batch = min(config.batch_size, n)
    result = FitResult(params=_numpy(state))
    best_loss = float(evaluate(state, validation_inputs, validation_targets))
    started = time.perf_counter()
    since_best = 0
    for number in range(1, config.epochs + 1):
        epoch_started = time.perf_counter()
        order = rng.permutation(n)
        losses = []
        for first in range(0, n - batch + 1, batch):  # whole batches only: one compiled shape
            index = order[first : first + batch]
            state, opt_state, value = step(state, opt_state, train_inputs[index], train_targets[index])
            losses.append(value)
        validation_loss = float(evaluate(state, validation_inputs, validation_targets))
        best = validation_loss < best_loss
        if best:
            best_loss, since_best = validation_loss, 0
            result.params, result.best_epoch = _numpy(state), number
        else:
            since_best += 1
        epoch = Epoch(
            number,
            config.epochs,
            float(np.mean([float(v) for v in losses])),
            validation_loss,
            best,
            time.perf_counter() - epoch_started,
        )
        result.history.append(epoch)
        if progress is not None:
            progress(epoch)
        if since_best >= config.patience:
            break
    result.seconds = time.perf_counter() - started
    return result


def _numpy(state: Any) -> Params:
    return {name: np.asarray(value, dtype=np.float32) for name, value in state.items()}


def glorot(rng: np.random.Generator, fan_in: int, fan_out: int, *shape: int) -> npt.NDArray[np.float32]:
    """Glorot-uniform weights of ``shape`` (``(fan_in, fan_out)`` when not given)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape or (fan_in, fan_out)).astype(np.float32)
