"""TensorRT engines compute what ONNX Runtime computes on the CPU, for every model of a reference registry.

One directory of models is served twice: by onnx_runner's :class:`~onnx_runner.registry.Registry` (ONNX Runtime
on the CPU: the reference) and by :class:`~tensorrt_runner.engines.TrtRegistry` (engines built for the GPU at
hand, fp32 and fp16). Both run the same random inputs at batch sizes 1, 7, the engines' largest batch and beyond
it (where :class:`~tensorrt_runner.engines.TrtModel` runs chunks), and must agree within

- fp32: rtol 1e-3, atol 1e-4. fp32 engines are built with TF32 off, so only the order in which kernels sum
  differs from ONNX Runtime;
- fp16: rtol 1e-2, atol 1e-2. The layers compute in float16 (11 significant bits, a relative step of about 5e-4:
  :mod:`tensorrt_runner.fp16`), and the rounding of weights and activations adds up over a small network's layers.

(``|trt - cpu| <= atol + rtol * |cpu|`` element by element, as :func:`numpy.allclose` has it.)

Without TensorRT or a GPU every test is skipped with the reason :func:`~tensorrt_runner.device.probe` gives; with
``TRT_CI=1`` (the GPU workflow) they fail instead, so a runner that lost its GPU cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from onnx_runner.registry import Registry
from tensorrt_runner.engines import Precision, TrtRegistry, probe
from tests.onnx_factories import (
    CNN_CHANNELS,
    CNN_LENGTH,
    CNN_OUTPUTS,
    MLP_CLASSES,
    MLP_FEATURES,
    cnn_model,
    mlp_model,
    random_inputs,
    write_model,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # engines are built in the first test's setup

DEVICE = 0
MAX_BATCH = 32
BATCH_SIZES = (1, 7, MAX_BATCH, 2 * MAX_BATCH + 3)

FP32_RTOL, FP32_ATOL = 1e-3, 1e-4
FP16_RTOL, FP16_ATOL = 1e-2, 1e-2
TOLERANCES: dict[str, tuple[float, float]] = {"fp32": (FP32_RTOL, FP32_ATOL), "fp16": (FP16_RTOL, FP16_ATOL)}


@pytest.fixture(scope="module", autouse=True)
def tensorrt_available() -> None:
    """Skip every test here, saying why, where TensorRT or the GPU is missing; fail instead under TRT_CI=1."""
    reason = probe(DEVICE)
    if reason is None:
        return
    if os.environ.get("TRT_CI") == "1":
        pytest.fail(f"TRT_CI=1 but TensorRT cannot run here: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def models(reference_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The registry both runners serve: the project's N-BEATS, MLP and CNN as `aitrader train` publishes them
    (trained small, once per session), and the small hand-built MLP and 1-D CNN of the unit tests."""
    root = tmp_path_factory.mktemp("models")
    shutil.copytree(reference_models, root, dirs_exist_ok=True)
    write_model(
        root,
        "mlp-small",
        mlp_model(),
        name="mlp_small",
        version="1",
        inputs=[{"name": "x", "shape": [-1, MLP_FEATURES]}],
        outputs=[{"name": "y", "shape": [-1, MLP_CLASSES]}],
    )
    write_model(
        root,
        "cnn-small",
        cnn_model(),
        name="cnn_small",
        version="1",
        inputs=[{"name": "x", "shape": [-1, CNN_CHANNELS, CNN_LENGTH]}],
        outputs=[{"name": "y", "shape": [-1, CNN_OUTPUTS]}],
    )
    return root


@pytest.fixture(scope="module")
def cpu_registry(models: Path) -> Registry:
    registry = Registry(models)
    registry.refresh()
    assert registry.errors == {}
    return registry


@pytest.fixture(scope="module", params=["fp32", "fp16"])
def trt_registry(
    request: pytest.FixtureRequest, models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrtRegistry]:
    precision: Precision = request.param
    registry = TrtRegistry(
        models,
        cache_dir=tmp_path_factory.mktemp(f"engines-{precision}"),
        precision=precision,
        max_batch=MAX_BATCH,
        workspace_mib=512,
        device=DEVICE,
    )
    registry.refresh()
    yield registry


def test_every_model_gets_an_engine(cpu_registry: Registry, trt_registry: TrtRegistry) -> None:
    assert trt_registry.errors == {}
    assert [m.meta.key for m in trt_registry.models()] == [m.meta.key for m in cpu_registry.models()]


@pytest.mark.parametrize("batch", BATCH_SIZES)
def test_engines_agree_with_onnx_runtime_on_the_cpu(
    cpu_registry: Registry, trt_registry: TrtRegistry, batch: int
) -> None:
    rtol, atol = TOLERANCES[trt_registry.options.precision]
    rng = np.random.default_rng(batch)
    disagreements = []
    for reference in cpu_registry.models():
        engine = trt_registry.get(reference.meta.key)
        feeds = random_inputs(reference.meta, batch, rng)

        expected = reference.run(feeds)
        actual = engine.execute(engine.prepare(feeds))

        for name, want in expected.items():
            got = actual[name]
            assert got.shape == want.shape and got.dtype == want.dtype, (reference.meta.key, name)
            if not np.allclose(got, want, rtol=rtol, atol=atol):
                excess = np.abs(got - want) - (atol + rtol * np.abs(want))
                disagreements.append(
                    f"{reference.meta.key} output {name!r}: {int((excess > 0).sum())} of {want.size} values off, "
                    f"max |diff| {float(np.abs(got - want).max()):.3g}"
                )
    assert disagreements == [], f"{trt_registry.options.precision}, batch {batch}"


def test_cached_engines_are_loaded_not_rebuilt_and_a_corrupt_one_is_rebuilt(
    models: Path, trt_registry: TrtRegistry
) -> None:
    engines = sorted(trt_registry.cache.directory.glob("*.engine"))
    stamps = {path: path.stat().st_mtime_ns for path in engines}
    corrupt = engines[0]

    again = _registry_like(trt_registry, models)
    again.refresh()
    assert again.errors == {}
    assert {path: path.stat().st_mtime_ns for path in engines} == stamps

    corrupt.write_bytes(b"not an engine")
    rebuilt = _registry_like(trt_registry, models)
    rebuilt.refresh()
    assert rebuilt.errors == {}
    assert corrupt.stat().st_size > len(b"not an engine")
    assert [m.meta.key for m in rebuilt.models()] == [m.meta.key for m in trt_registry.models()]


def _registry_like(registry: TrtRegistry, root: Path) -> TrtRegistry:
    options = registry.options
    return TrtRegistry(
        root,
        cache_dir=registry.cache.directory,
        precision=options.precision,
        max_batch=options.max_batch,
        workspace_mib=options.workspace_mib,
        device=options.device,
    )
