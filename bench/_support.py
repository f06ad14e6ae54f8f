"""What the service benchmarks share: servers started as processes on loopback, percentiles, the commit measured.

Imported by the scripts beside it (``python bench/<name>.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

import gc
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from aitrader.devstack.ports import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


@dataclass
class Server:
    label: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    settings: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far (all its threads)."""
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)


def launch(
    stack: ExitStack, label: str, command: list[str], settings: dict[str, str], port_variable: str, scratch: Path
) -> Server:
    """``command`` on a free loopback port (``port_variable``), stopped when ``stack`` closes; not waited for."""
    port = free_port()
    settings = {**settings, port_variable: str(port)}
    log = scratch / f"{label}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=scratch,  # away from the repository's .env: the settings here are the whole configuration
            env={**os.environ, **settings, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
    server = Server(label, port, process, log, settings)
    stack.callback(server.stop)
    return server


def percentile(sorted_values: Sequence[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def summarise(values_ms: Sequence[float], digits: int = 4) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {
        "count": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50), digits),
        "p99_ms": round(percentile(ordered, 0.99), digits),
        "max_ms": round(ordered[-1], digits),
    }


@contextmanager
def collector_paused() -> Iterator[None]:
    """The bench's own garbage collector off while it times, so its pauses land on neither side."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def measured_commit(paths: Sequence[str]) -> str:
    """The commit measured, with ``+dirty`` when ``paths`` have changes of their own on top."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *paths], cwd=REPO_ROOT, capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def expect_ok(answer: httpx.Response) -> httpx.Response:
    if answer.status_code != 200:
        raise RuntimeError(
            f"{answer.request.method} {answer.request.url.path} answered {answer.status_code}: {answer.text[:500]}"
        )
    return answer
