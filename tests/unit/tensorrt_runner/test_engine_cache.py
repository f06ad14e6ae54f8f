"""The engine cache's key and file names, the optimisation profile, and the input checks, all pure: no TensorRT."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec
import pytest

from onnx_runner.registry import ModelMeta, TensorSpec
from tensorrt_runner.build import BatchProfile, EngineBuildError, profile_shapes
from tensorrt_runner.device import GpuIdentity
from tensorrt_runner.engines import RECIPE, EngineKey, EngineRecord, engine_key

H100 = GpuIdentity(name="NVIDIA H100 80GB HBM3", compute_capability="9.0")
INPUTS = (TensorSpec("x", (-1, 4)),)


def key(**changes: Any) -> EngineKey:
    parts: dict[str, Any] = {
        "onnx_sha256": "a" * 64,
        "gpu": H100,
        "tensorrt": "11.4.0.106",
        "precision": "fp32",
        "batch": BatchProfile.up_to(64),
        "inputs": INPUTS,
    }
    parts.update(changes)
    return engine_key(**parts)


def test_the_file_name_is_the_model_stem_and_16_hex_digits_of_the_key_hash() -> None:
    name = key().file_name("nbeats")

    assert name == f"nbeats-{key().digest()[:16]}.engine"
    assert key().file_name("nbeats") == name  # the same parts always give the same file
    assert key().recipe == RECIPE


@pytest.mark.parametrize(
    "change",
    [
        {"onnx_sha256": "b" * 64},
        {"gpu": GpuIdentity(name="NVIDIA A100-SXM4-80GB", compute_capability="9.0")},
        {"gpu": replace(H100, compute_capability="9.1")},
        {"tensorrt": "11.4.1.1"},
        {"precision": "fp16"},
        {"batch": BatchProfile.up_to(128)},
        {"batch": BatchProfile(1, 8, 64)},
        {"inputs": (TensorSpec("x", (-1, 5)),)},
    ],
    ids=["onnx", "gpu", "compute-capability", "tensorrt", "precision", "max-batch", "opt-batch", "inputs"],
)
def test_every_key_part_changes_the_file_name(change: dict[str, Any]) -> None:
    assert key(**change).file_name("m") != key().file_name("m")


def test_a_new_recipe_changes_the_file_name() -> None:
    newer = msgspec.structs.replace(key(), recipe=RECIPE + 1)

    assert newer.file_name("m") != key().file_name("m")


def test_the_sidecar_records_every_key_part_and_reads_back_equal() -> None:
    record = EngineRecord(
        key=key(), model="m@1", onnx_file="m.onnx", built_at="2026-01-02T03:04:05+00:00", build_seconds=1.5, size=10
    )

    document = msgspec.json.decode(msgspec.json.encode(record))
    assert set(document["key"]) == {
        "onnx_sha256",
        "gpu",
        "compute_capability",
        "tensorrt",
        "precision",
        "batch",
        "inputs",
        "recipe",
    }
    assert document["key"]["batch"] == [1, 32, 64]
    assert msgspec.json.decode(msgspec.json.encode(record), type=EngineRecord) == record


def test_the_batch_profile_spans_1_to_max_tuned_for_half() -> None:
    assert BatchProfile.up_to(64) == BatchProfile(1, 32, 64)
    assert BatchProfile.up_to(1) == BatchProfile(1, 1, 1)
    with pytest.raises(ValueError, match="max_batch must be >= 1, was 0"):
        BatchProfile.up_to(0)


def meta(*inputs: TensorSpec) -> ModelMeta:
    return ModelMeta(name="m", version="1", inputs=inputs, outputs=(TensorSpec("y", (-1, 1)),))


def test_the_profile_spans_the_batch_and_takes_other_dimensions_from_metadata_or_model() -> None:
    described = meta(TensorSpec("window", (-1, 64)), TensorSpec("features", (-1, 3, -1)), TensorSpec("k", (2,)))
    modelled = {"window": (-1, -1), "features": (-1, 3, 8), "k": (2,)}

    shapes = profile_shapes(described, modelled, BatchProfile(1, 16, 32))

    assert shapes == {
        "window": ((1, 64), (16, 64), (32, 64)),
        "features": ((1, 3, 8), (16, 3, 8), (32, 3, 8)),
    }  # "k" is static: no profile


@pytest.mark.parametrize(
    ("inputs", "modelled", "problem"),
    [
        ((TensorSpec("x", (-1, 4)),), {"x": (-1, 5)}, "dimension 1 of input 'x' is 5 in the model, 4 in the metadata"),
        ((TensorSpec("x", (-1, -1)),), {"x": (-1, -1)}, "dimension 1 of input 'x' is dynamic in both"),
        ((TensorSpec("x", (-1, 4)),), {"x": (1, 4)}, "the model fixes the batch of input 'x' at 1"),
        ((TensorSpec("x", (-1, 4)),), {"x": (-1, 4, 1)}, "input 'x' has 3 dimensions in the model, 2 in the metadata"),
        ((TensorSpec("x", (-1, 4)),), {"z": (-1, 4)}, "the model has input 'z', the metadata describes ['x']"),
    ],
)
def test_a_profile_the_metadata_and_model_disagree_on_is_refused(
    inputs: tuple[TensorSpec, ...], modelled: dict[str, tuple[int, ...]], problem: str
) -> None:
    with pytest.raises(EngineBuildError) as refused:
        profile_shapes(meta(*inputs), modelled, BatchProfile(1, 2, 4))

    assert problem in str(refused.value)
    assert str(refused.value).startswith("m@1: ")
