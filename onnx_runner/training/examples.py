"""The example classifiers: an MLP and a 1-D CNN that read the same windows of closes as N-BEATS and say
whether the close ``horizon`` bars ahead will be down, flat or up.

The classes are cut at the training set's terciles of the horizon return, so each is a third of the training
windows and always guessing the most common class scores about 1/3; accuracy on the test set is reported next
to that baseline. Both take raw closes (``history``, batch x lookback) and return ``probabilities`` (batch x 3,
softmax); the window is scaled inside the graph exactly as N-BEATS scales it.

* **MLP:** two ReLU layers.
* **CNN:** two convolutions over time (kernel 5, then 3, "same" padding) with ReLU, a max-pool of 2 between them,
  a global average pool and a linear layer: the convolution and pooling patterns GPU backends handle
  differently, which is what the TensorRT comparison is for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from onnx_runner.training.data import Floats, Split, Windows
from onnx_runner.training.fit import Epoch, FitConfig, Params, fit, glorot
from onnx_runner.training.graph import GraphBuilder
from onnx_runner.training.nbeats import Scale

LABELS = ("down", "flat", "up")
Kind = Literal["mlp", "cnn"]


@dataclass(frozen=True)
class ClassifierConfig:
    kind: Kind = "mlp"
    lookback: int = 60
    horizon: int = 10
    width: int = 64
    """Units of the MLP's layers."""
    channels: tuple[int, int] = (8, 16)
    """Filters of the CNN's two convolutions."""
    fit: FitConfig = field(default_factory=FitConfig)


@dataclass
class Classifier:
    config: ClassifierConfig
    params: Params
    scale: Scale
    cuts: tuple[float, float]
    """Horizon returns below the first are "down", above the second "up"."""
    metrics: dict[str, float]
    history: list[Epoch]

    def probabilities(self, history: Floats) -> npt.NDArray[np.float32]:
        import jax
        import jax.numpy as jnp

        logits = forward(self.config, self.params, jnp.asarray(self.scale.inputs(np.asarray(history))))
        return np.asarray(jax.nn.softmax(logits, axis=-1))

    def to_onnx(self) -> bytes:
        return export(self)


def labels(windows: Windows, cuts: tuple[float, float]) -> npt.NDArray[np.int32]:
    change = windows.targets[:, -1] / windows.inputs[:, -1] - 1
    return np.digitize(change, cuts).astype(np.int32)


def init_params(config: ClassifierConfig, seed: int = 0) -> Params:
    rng = np.random.default_rng(seed)
    classes = len(LABELS)
    if config.kind == "mlp":
        return {
            "fc0.w": glorot(rng, config.lookback, config.width),
            "fc0.b": np.zeros(config.width, np.float32),
            "fc1.w": glorot(rng, config.width, config.width),
            "fc1.b": np.zeros(config.width, np.float32),
            "out.w": glorot(rng, config.width, classes),
            "out.b": np.zeros(classes, np.float32),
        }
    first, second = config.channels
    return {
        "conv0.w": glorot(rng, 5, first * 5, first, 1, 5),
        "conv0.b": np.zeros(first, np.float32),
        "conv1.w": glorot(rng, first * 3, second * 3, second, first, 3),
        "conv1.b": np.zeros(second, np.float32),
        "out.w": glorot(rng, second, classes),
        "out.b": np.zeros(classes, np.float32),
    }


def forward(config: ClassifierConfig, params: Any, x: Any) -> Any:
    """Logits (batch x 3) for scaled windows ``x`` (batch x lookback), in JAX."""
    import jax
    import jax.numpy as jnp

    if config.kind == "mlp":
        hidden = jax.nn.relu(x @ params["fc0.w"] + params["fc0.b"])
        hidden = jax.nn.relu(hidden @ params["fc1.w"] + params["fc1.b"])
        return hidden @ params["out.w"] + params["out.b"]

    def conv(value: Any, name: str, pad: int) -> Any:
        out = jax.lax.conv_general_dilated(
            value, params[f"{name}.w"], (1,), [(pad, pad)], dimension_numbers=("NCH", "OIH", "NCH")
        )
        return jax.nn.relu(out + params[f"{name}.b"][None, :, None])

    hidden = conv(x[:, None, :], "conv0", 2)
    hidden = jax.lax.reduce_window(hidden, -jnp.inf, jax.lax.max, (1, 1, 2), (1, 1, 2), "VALID")
    hidden = conv(hidden, "conv1", 1).mean(axis=2)
    return hidden @ params["out.w"] + params["out.b"]


def train(split: Split, config: ClassifierConfig, progress: Callable[[Epoch], None] | None = None) -> Classifier:
    import jax.numpy as jnp
    import optax

    scale = Scale.fit(split.train)
    train_change = split.train.targets[:, -1] / split.train.inputs[:, -1] - 1
    low, high = np.quantile(train_change, [1 / 3, 2 / 3])
    cuts = (float(low), float(high))

    def loss(params: Any, inputs: Any, targets: Any) -> Any:
        logits = forward(config, params, inputs)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, targets))

    result = fit(
        loss,
        init_params(config, config.fit.seed),
        (scale.inputs(split.train.inputs), labels(split.train, cuts)),
        (scale.inputs(split.validation.inputs), labels(split.validation, cuts)),
        config.fit,
        progress,
    )
    model = Classifier(config, result.params, scale, cuts, {}, result.history)
    truth = labels(split.test, cuts)
    predicted = model.probabilities(split.test.inputs).argmax(axis=1)
    majority = np.bincount(labels(split.train, cuts), minlength=len(LABELS)).argmax()
    model.metrics = {
        "test_windows": float(len(split.test)),
        "accuracy": float((predicted == truth).mean()),
        "majority_accuracy": float((truth == majority).mean()),
        "best_epoch": float(result.best_epoch),
        "train_seconds": round(result.seconds, 3),
    }
    return model


def export(model: Classifier) -> bytes:
    config, params = model.config, model.params
    graph = GraphBuilder(config.kind)
    x, _ = graph.window(config.lookback, model.scale.mean, model.scale.std)

    def const(name: str) -> str:
        return graph.constant(name, params[name])

    if config.kind == "mlp":
        hidden = graph.relu(graph.dense(x, const("fc0.w"), const("fc0.b")))
        hidden = graph.relu(graph.dense(hidden, const("fc1.w"), const("fc1.b")))
    else:
        channels = graph.node("Unsqueeze", [x, graph.constant("channel.axis", [1], np.int64)])
        hidden = graph.relu(graph.node("Conv", [channels, const("conv0.w"), const("conv0.b")], pads=[2, 2]))
        hidden = graph.node("MaxPool", [hidden], kernel_shape=[2], strides=[2])
        hidden = graph.relu(graph.node("Conv", [hidden, const("conv1.w"), const("conv1.b")], pads=[1, 1]))
        hidden = graph.node("Flatten", [graph.node("GlobalAveragePool", [hidden])])
    logits = graph.dense(hidden, const("out.w"), const("out.b"))
    graph.output(graph.node("Softmax", [logits], axis=-1), "probabilities", len(LABELS))
    return graph.build()
