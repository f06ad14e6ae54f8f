from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from aitrader.devstack.state import (
    ComponentState,
    ProcessRecord,
    StackState,
    process_alive,
    read_state,
    redact,
    write_state,
)
from aitrader.errors import ConfigurationError


def test_state_round_trips_through_the_file(tmp_path: Path):
    state = StackState(run_id="r1", home=str(tmp_path), services_selected=["backend"])
    state.database = ComponentState(name="postgres", kind="database", url="postgresql://p@h:1/d", port=1)
    state.services["backend"] = ComponentState(name="backend", kind="service", port=8000, restarts=2)
    path = tmp_path / "state.json"

    write_state(path, state)
    loaded = read_state(path)

    assert loaded == state
    assert [c.name for c in loaded.components()] == ["postgres", "backend"]


def test_state_file_is_private_and_leaves_no_temporary_files(tmp_path: Path):
    path = tmp_path / "state.json"

    write_state(path, StackState(run_id="r1", home=str(tmp_path)))
    write_state(path, StackState(run_id="r2", home=str(tmp_path)))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert read_state(path).run_id == "r2"


def test_missing_state_file_reads_as_none(tmp_path: Path):
    assert read_state(tmp_path / "state.json") is None


def test_corrupt_state_file_is_an_error_naming_it(tmp_path: Path):
    path = tmp_path / "state.json"
    path.write_text("{not json")

    with pytest.raises(ConfigurationError, match=r"state\.json is not valid"):
        read_state(path)


def test_this_process_is_alive_and_a_different_start_time_is_not():
    me = ProcessRecord.of(os.getpid())

    assert me is not None and me.alive()
    assert not process_alive(me.pid, me.create_time - 1000)


def test_a_stack_without_a_supervisor_process_is_not_running(tmp_path: Path):
    assert not StackState(run_id="r", home=str(tmp_path)).running()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://nobody:s3cret@127.0.0.1:5/x", "postgresql://nobody:***@127.0.0.1:5/x"),
        ("redis://:pw@h:6379/0 and mysql://u:p%40ss@h/d", "redis://:***@h:6379/0 and mysql://u:***@h/d"),
        ("postgresql://nobody@127.0.0.1:5/x", "postgresql://nobody@127.0.0.1:5/x"),
        ("port 8000 on 127.0.0.1", "port 8000 on 127.0.0.1"),
    ],
)
def test_redact_hides_passwords_in_urls_only(text: str, expected: str):
    assert redact(text) == expected
