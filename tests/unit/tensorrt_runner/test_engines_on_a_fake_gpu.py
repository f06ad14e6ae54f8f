"""The engine cache, TrtRegistry and TrtModel end to end on a CPU stand-in for TensorRT and CUDA (``fake_gpu/``):
engines built once and reused, corrupt ones rebuilt, results equal to ONNX Runtime's through real copies in and
out of bounds-checked "device" buffers, large batches in chunks, and the build script as a user runs it.

The stand-in has the API surface tensorrt_runner calls; tests/test_trt_vs_cpu.py checks the real one on a GPU.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aitrader.errors import NotFoundError
from onnx_runner.registry import Registry
from tensorrt_runner.build import trt_logger
from tensorrt_runner.engines import TrtRegistry
from tests.onnx_factories import (
    CNN_CHANNELS,
    CNN_LENGTH,
    CNN_OUTPUTS,
    MLP_CLASSES,
    MLP_FEATURES,
    affine_model,
    cnn_model,
    mlp_model,
    random_inputs,
    write_model,
)
from tests.test_trt_vs_cpu import FP16_ATOL, FP16_RTOL

FAKES = Path(__file__).parent / "fake_gpu"
REPO_ROOT = Path(__file__).resolve().parents[3]
MAX_BATCH = 8


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``tensorrt`` and ``cuda.bindings.runtime`` are the stand-ins for this test (and the real ones, where
    installed, again after it)."""
    gpu_modules = ("tensorrt", "cuda")
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] in gpu_modules}
    monkeypatch.syspath_prepend(str(FAKES))
    trt_logger.cache_clear()
    trt = importlib.import_module("tensorrt")
    assert trt.__file__ == str(FAKES / "tensorrt.py")
    yield trt
    trt_logger.cache_clear()
    for name in [name for name in sys.modules if name.split(".")[0] in gpu_modules]:
        del sys.modules[name]
    sys.modules.update(saved)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_model(root, "affine", affine_model(2.0, 0.5), name="affine", version="1")
    write_model(
        root,
        "mlp",
        mlp_model(),
        name="mlp",
        version="1",
        inputs=[{"name": "x", "shape": [-1, MLP_FEATURES]}],
        outputs=[{"name": "y", "shape": [-1, MLP_CLASSES]}],
    )
    write_model(
        root,
        "cnn",
        cnn_model(),
        name="cnn",
        version="1",
        inputs=[{"name": "x", "shape": [-1, CNN_CHANNELS, CNN_LENGTH]}],
        outputs=[{"name": "y", "shape": [-1, CNN_OUTPUTS]}],
    )
    return root


def registry(models: Path, cache: Path, precision: str = "fp32") -> TrtRegistry:
    return TrtRegistry(models, cache_dir=cache, precision=precision, max_batch=MAX_BATCH, workspace_mib=64)  # type: ignore[arg-type]


def test_engines_are_built_into_the_cache_with_a_sidecar_naming_every_key_part(
    fake_gpu: Any, models: Path, tmp_path: Path
) -> None:
    engines = registry(models, tmp_path / "engines")

    assert engines.refresh()

    assert engines.errors == {}
    assert [m.meta.key for m in engines.models()] == ["affine@1", "cnn@1", "mlp@1"]
    assert sorted(fake_gpu.BUILDS) == ["affine", "cnn", "mlp"]
    files = sorted(path.name for path in (tmp_path / "engines").iterdir())
    assert len(files) == 6 and all(name.endswith((".engine", ".json")) for name in files)
    model = engines.get("mlp")
    record = json.loads(model.engine_path.with_suffix(".json").read_text())
    assert record["model"] == "mlp@1" and record["onnx_file"] == "mlp.onnx"
    assert record["key"] | {"inputs": None} == {
        "onnx_sha256": model.sha256,
        "gpu": "Fake GPU 80GB",
        "compute_capability": "9.0",
        "tensorrt": "11.4.0.106",
        "precision": "fp32",
        "batch": [1, 4, 8],
        "inputs": None,
        "recipe": 1,
    }
    assert model.engine_path.name == f"mlp-{model.record.key.digest()[:16]}.engine"


@pytest.mark.parametrize("batch", [1, 5, MAX_BATCH, 3 * MAX_BATCH + 1, 0])
def test_engines_compute_what_onnx_runtime_computes_in_chunks_of_the_largest_batch(
    fake_gpu: Any, models: Path, tmp_path: Path, batch: int
) -> None:
    engines = registry(models, tmp_path / "engines")
    engines.refresh()
    reference = Registry(models)
    reference.refresh()
    rng = np.random.default_rng(batch)

    for expected_model in reference.models():
        feeds = random_inputs(expected_model.meta, batch, rng)
        model = engines.get(expected_model.meta.key)

        actual = model.execute(model.prepare(feeds))

        expected = expected_model.run(feeds)
        assert actual.keys() == expected.keys()
        for name, want in expected.items():
            assert actual[name].shape == want.shape and actual[name].dtype == want.dtype
            np.testing.assert_array_equal(actual[name], want)
    assert fake_gpu.LARGEST_BATCH[0] == min(batch, MAX_BATCH)


def test_fp16_engines_agree_within_the_fp16_tolerance(fake_gpu: Any, models: Path, tmp_path: Path) -> None:
    engines = registry(models, tmp_path / "engines", precision="fp16")
    engines.refresh()
    reference = Registry(models)
    reference.refresh()

    assert engines.errors == {}
    for expected_model in reference.models():
        feeds = random_inputs(expected_model.meta, 7, np.random.default_rng(0))
        model = engines.get(expected_model.meta.key)
        actual = model.execute(model.prepare(feeds))
        for name, want in expected_model.run(feeds).items():
            np.testing.assert_allclose(actual[name], want, rtol=FP16_RTOL, atol=FP16_ATOL)


def test_concurrent_batches_on_one_engine_each_get_their_own_results(
    fake_gpu: Any, models: Path, tmp_path: Path
) -> None:
    engines = registry(models, tmp_path / "engines")
    engines.refresh()
    model = engines.get("affine")
    batches = [np.full((3, 4), float(i), dtype=np.float32) for i in range(32)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda x: model.execute(model.prepare({"x": x}))["y"], batches))

    for x, y in zip(batches, results, strict=True):
        np.testing.assert_array_equal(y, x * 2.0 + 0.5)


def test_a_second_registry_loads_the_cached_engines_without_building(
    fake_gpu: Any, models: Path, tmp_path: Path
) -> None:
    registry(models, tmp_path / "engines").refresh()
    built = list(fake_gpu.BUILDS)

    again = registry(models, tmp_path / "engines")
    again.refresh()

    assert built == fake_gpu.BUILDS
    assert [m.meta.key for m in again.models()] == ["affine@1", "cnn@1", "mlp@1"]


def test_another_precision_or_batch_profile_builds_its_own_engine(fake_gpu: Any, models: Path, tmp_path: Path) -> None:
    registry(models, tmp_path / "engines").refresh()
    fp16 = registry(models, tmp_path / "engines", precision="fp16")
    fp16.refresh()
    larger = TrtRegistry(models, cache_dir=tmp_path / "engines", max_batch=16)
    larger.refresh()

    assert len(fake_gpu.BUILDS) == 9
    assert len(list((tmp_path / "engines").glob("*.engine"))) == 9
    assert larger.get("mlp").max_batch == 16


@pytest.mark.parametrize("damage", [b"not an engine", b""], ids=["garbage", "empty"])
def test_a_corrupt_cached_engine_is_built_again(fake_gpu: Any, models: Path, tmp_path: Path, damage: bytes) -> None:
    first = registry(models, tmp_path / "engines")
    first.refresh()
    engine_path = first.get("mlp").engine_path
    engine_path.write_bytes(damage)

    again = registry(models, tmp_path / "engines")
    again.refresh()

    assert again.errors == {}
    assert fake_gpu.BUILDS.count("mlp") == 2
    assert engine_path.read_bytes().startswith(fake_gpu.MAGIC)


def test_a_sidecar_for_another_key_is_not_trusted(fake_gpu: Any, models: Path, tmp_path: Path) -> None:
    first = registry(models, tmp_path / "engines")
    first.refresh()
    sidecar = first.get("mlp").engine_path.with_suffix(".json")
    document = json.loads(sidecar.read_text())
    document["key"]["tensorrt"] = "10.0.0"
    sidecar.write_text(json.dumps(document))

    registry(models, tmp_path / "engines").refresh()

    assert fake_gpu.BUILDS.count("mlp") == 2


def test_a_broken_update_keeps_the_last_good_engine_and_says_why(fake_gpu: Any, models: Path, tmp_path: Path) -> None:
    engines = registry(models, tmp_path / "engines")
    engines.refresh()
    onnx_path = models / "affine.onnx"
    onnx_path.write_bytes(b"not an onnx file")
    stat = onnx_path.stat()
    os.utime(onnx_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    engines.refresh()

    assert engines.get("affine").meta.version == "1"
    assert "sha256" in engines.errors["affine"]


def test_a_model_tensorrt_cannot_parse_is_reported_with_the_parsers_words(fake_gpu: Any, tmp_path: Path) -> None:
    root = tmp_path / "models"
    write_model(root, "broken", b"not an onnx file", name="broken", version="1", sha256=None)
    engines = registry(root, tmp_path / "engines")

    engines.refresh()

    assert engines.errors["broken"].startswith("EngineBuildError: broken@1: TensorRT could not parse the model: ")
    assert "failed to parse the ONNX model" in engines.errors["broken"]
    assert not (tmp_path / "engines").exists()


def test_a_dimension_dynamic_in_both_model_and_metadata_is_refused(fake_gpu: Any, tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "free",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "width"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "width"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    root = tmp_path / "models"
    write_model(
        root,
        "free",
        model.SerializeToString(),
        name="free",
        version="1",
        inputs=[{"name": "x", "shape": [-1, -1]}],
        outputs=[{"name": "y", "shape": [-1, -1]}],
    )
    engines = registry(root, tmp_path / "engines")

    engines.refresh()

    assert "dimension 1 of input 'x' is dynamic in both the model and the metadata" in engines.errors["free"]


def test_models_are_served_by_name_and_version(fake_gpu: Any, tmp_path: Path) -> None:
    root = tmp_path / "models"
    write_model(root, "m-9", affine_model(9.0, 0.0), name="m", version="1.9")
    write_model(root, "m-10", affine_model(10.0, 0.0), name="m", version="1.10")
    engines = registry(root, tmp_path / "engines")
    engines.refresh()
    x = {"x": np.ones((1, 4), dtype=np.float32)}

    assert engines.get("m").meta.version == "1.10"
    model = engines.get("m@1.9")
    assert model.execute(model.prepare(x))["y"][0, 0] == 9.0
    with pytest.raises(NotFoundError, match=r"no model 'n'; served: m@1.10, m@1.9"):
        engines.get("n")

    (root / "m-10.onnx").unlink()
    assert engines.refresh()
    assert engines.get("m").meta.version == "1.9"


def test_device_buffers_are_given_back_when_a_model_goes(fake_gpu: Any, models: Path, tmp_path: Path) -> None:
    cudart = importlib.import_module("cuda.bindings.runtime")
    before = cudart.allocated()
    engines = registry(models, tmp_path / "engines")
    engines.refresh()
    assert cudart.allocated() > before

    del engines
    gc.collect()

    assert cudart.allocated() == before


def test_the_build_script_builds_then_finds_the_engines_cached_and_rebuilds_when_forced(
    models: Path, tmp_path: Path
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TENSORRT_RUNNER_")}
    environment["PYTHONPATH"] = os.pathsep.join([str(FAKES), str(REPO_ROOT)])
    command = [
        sys.executable,
        str(REPO_ROOT / "scripts" / "build_trt_engine.py"),
        "--models-dir",
        str(models),
        "--cache-dir",
        str(tmp_path / "engines"),
        "--precision",
        "fp16",
        "--max-batch",
        "16",
    ]

    def build(*names: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *names], capture_output=True, text=True, env=environment, timeout=120, check=False
        )

    first = build()
    again = build("mlp", "cnn@1")
    forced = build("--force", "affine")
    unknown = build("mlp", "nope")

    assert first.returncode == 0, first.stderr
    assert [line.split()[:3] for line in first.stdout.splitlines()] == [
        ["built", "affine@1", "fp16"],
        ["built", "cnn@1", "fp16"],
        ["built", "mlp@1", "fp16"],
    ]
    assert all(line.endswith("MiB") and str(tmp_path / "engines") in line for line in first.stdout.splitlines())
    assert again.returncode == 0, again.stderr
    assert [line.split()[:2] for line in again.stdout.splitlines()] == [["cached", "cnn@1"], ["cached", "mlp@1"]]
    assert [line.split()[:2] for line in forced.stdout.splitlines()] == [["built", "affine@1"]]
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == f"error: no model nope in {models}"
