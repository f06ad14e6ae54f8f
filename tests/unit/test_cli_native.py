"""`aitrader native build` refuses clearly when it cannot build; `make setup` runs the real build."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from aitrader.cli import app


def test_a_source_without_the_crate_is_refused_with_the_path(tmp_path: Path):
    result = CliRunner().invoke(app, ["native", "build", "--source", str(tmp_path)])

    assert result.exit_code == 1
    assert f"no Rust crate at {tmp_path}/pattern_engine/rust/pyo3/Cargo.toml" in result.output
