"""`aitrader native build`: build the Rust extension (module ``pattern_engine_pyo3``) into this environment.

One explicit step, as ``make setup`` runs it: maturin builds ``pattern_engine/rust/pyo3`` with the release
profile (fat LTO, one codegen unit) and installs it into the virtualenv of the running Python. Nothing here
imports the extension or the services.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from aitrader.cli._output import fail

native_app = typer.Typer(help="The Rust extension (pattern engine, tick appender).", no_args_is_help=True)
MANIFEST = Path("pattern_engine") / "rust" / "pyo3" / "Cargo.toml"


def register(app: typer.Typer) -> None:
    app.add_typer(native_app, name="native")


@native_app.command(help="Build pattern_engine_pyo3 with maturin and install it into this virtualenv.")
def build(
    debug: Annotated[bool, typer.Option("--debug", help="the dev profile: faster to build, slower to run")] = False,
    source: Annotated[Path, typer.Option(help="the repository root (holds pattern_engine/rust)")] = Path("."),
) -> None:
    manifest = source / MANIFEST
    if not manifest.is_file():
        raise fail(f"no Rust crate at {manifest}: run this from the repository root, or pass --source")
    if shutil.which("cargo") is None:
        raise fail("cargo not found: install Rust (https://rustup.rs) and run this again")
    maturin = Path(sys.executable).with_name("maturin")
    if not maturin.exists():
        raise fail(f"maturin is not installed beside {sys.executable}: pip install -e '.[dev]' installs it")
    command = [str(maturin), "develop", "--quiet", "-m", str(manifest)]
    if not debug:
        command.insert(2, "--release")
    environment = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    result = subprocess.run(command, env=environment, check=False)
    if result.returncode != 0:
        raise fail(f"maturin failed (exit {result.returncode}); its output is above", result.returncode)
    typer.echo(f"pattern_engine_pyo3 built ({'dev' if debug else 'release'} profile) into {sys.prefix}")
