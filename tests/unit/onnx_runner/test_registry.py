"""The model registry over a directory of ONNX files: loading, versions, hot reload, refusals that say why."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from aitrader.errors import NotFoundError, ValidationError
from onnx_runner.registry import Registry
from tests.onnx_factories import affine_model, write_model


def bump(path: Path) -> None:
    """Move a file's modification time on, as a new copy of it would."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_a_model_is_loaded_with_its_metadata_and_runs(tmp_path: Path) -> None:
    write_model(tmp_path, "double", affine_model(2.0, 1.0), name="double", version="1")
    registry = Registry(tmp_path)

    assert registry.refresh()

    model = registry.get("double")
    [[y]] = [model.run({"x": np.array([[1, 2, 3, 4]], dtype=np.float32)})["y"]]
    assert y.tolist() == [3.0, 5.0, 7.0, 9.0]
    assert registry.errors == {}
    assert not registry.refresh()  # nothing changed on disk


def test_the_highest_version_is_served_by_name_and_any_by_name_at_version(tmp_path: Path) -> None:
    write_model(tmp_path, "m-9", affine_model(9.0, 0.0), name="m", version="1.9")
    write_model(tmp_path, "m-10", affine_model(10.0, 0.0), name="m", version="1.10")
    registry = Registry(tmp_path)
    registry.refresh()

    x = {"x": np.ones((1, 4), dtype=np.float32)}
    assert registry.get("m").meta.version == "1.10"
    assert registry.get("m@1.9").run(x)["y"][0, 0] == 9.0
    with pytest.raises(NotFoundError, match=r"no model 'n'; served: m@1.10, m@1.9"):
        registry.get("n")


def test_changed_files_are_reloaded_and_deleted_ones_dropped(tmp_path: Path) -> None:
    path = write_model(tmp_path, "m", affine_model(2.0, 0.0), name="m", version="1")
    registry = Registry(tmp_path)
    registry.refresh()

    write_model(tmp_path, "m", affine_model(3.0, 0.0), name="m", version="2")
    bump(path)
    assert registry.refresh()
    assert [m.meta.key for m in registry.models()] == ["m@2"]  # the file now holds version 2 only

    path.unlink()
    path.with_suffix(".json").unlink()
    assert registry.refresh()
    assert registry.models() == []


def test_a_broken_update_keeps_the_last_good_version_and_says_why(tmp_path: Path) -> None:
    path = write_model(tmp_path, "m", affine_model(2.0, 0.0), name="m", version="1")
    registry = Registry(tmp_path)
    registry.refresh()

    path.write_bytes(b"not an onnx file")
    bump(path)
    registry.refresh()

    assert registry.get("m").meta.version == "1"
    assert "sha256" in registry.errors["m"]


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({"inputs": [{"name": "z", "shape": [-1, 4]}]}, "describes inputs ['z'], the model has ['x']"),
        ({"outputs": [{"name": "w", "shape": [-1, 4]}]}, "outputs ['w'] the model does not produce"),
        ({"colour": "red"}, "unknown field"),
        ({"sha256": "0" * 64}, "differs from the metadata's"),
    ],
)
def test_metadata_that_does_not_fit_the_model_is_refused(
    tmp_path: Path, metadata: dict[str, object], problem: str
) -> None:
    write_model(tmp_path, "m", affine_model(2.0, 0.0), name="m", version="1", **metadata)
    registry = Registry(tmp_path)

    registry.refresh()

    assert registry.models() == []
    assert problem in registry.errors["m"]


def test_an_onnx_file_without_metadata_is_reported(tmp_path: Path) -> None:
    (tmp_path / "lonely.onnx").write_bytes(affine_model(1.0, 0.0))
    registry = Registry(tmp_path)

    registry.refresh()

    assert registry.errors == {"lonely": "lonely.onnx has no metadata file lonely.json"}


@pytest.mark.parametrize(
    ("x", "problem"),
    [
        (np.ones((1, 3)), "input 'x' must have shape Nx4, was 1x3"),
        (np.ones(4), "must have shape Nx4, was 4"),
        (np.array([[1.0, np.nan, 0.0, 0.0]]), "holds NaN or infinite values"),
    ],
)
def test_bad_inputs_are_refused_with_what_is_wrong(tmp_path: Path, x: np.ndarray, problem: str) -> None:
    write_model(tmp_path, "m", affine_model(2.0, 0.0), name="m", version="1")
    registry = Registry(tmp_path)
    registry.refresh()

    with pytest.raises(ValidationError, match=problem):
        registry.get("m").run({"x": x})
    with pytest.raises(ValidationError, match=r"missing \['x'\], unknown \['q'\]"):
        registry.get("m").run({"q": x})
