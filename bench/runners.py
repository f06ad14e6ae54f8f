"""Model-runner benchmark: ONNX Runtime in process beside onnx_runner over HTTP, in one run.

Figures (each measurement runs in rounds that alternate which side goes first, so drift on this small, noisy
machine hits both; a figure is the median over rounds of the rounds' figures):
- in process: ``Registry`` + ``LoadedModel.run`` (checks and casts the inputs, then ONNX Runtime with one
  intra-op thread, as the service runs it): one-row latency p50 / p99, and rows/s in batches of 64.
- over HTTP: ``python -m onnx_runner`` on a loopback port, POST /infer/{model} from one ``httpx.Client`` over
  one kept-alive connection, the body built and JSON-encoded per request as a caller would: the same figures,
  and the HTTP overhead (HTTP p50 - in-process p50). To say where that overhead goes: GET /health on the same
  connection (HTTP and FastAPI, no model), the same POST from a bare socket client (the request pre-encoded:
  what httpx itself costs), and CPU time per request in this process and in the server.
- 64 concurrent clients, each sending one-row requests back to back (a bounded number each), against two
  servers: micro-batching on (ONNX_RUNNER_MAX_BATCH=64) and batch-1 serving (ONNX_RUNNER_MAX_BATCH=1):
  requests/s for each and the ratio, latency under load, the CPU the server and the clients used, and how
  many requests each batch carried. ``httpx.AsyncClient`` with 64 connections saturates a core at a few
  hundred requests/s while the server idles, so the load comes from a bare HTTP/1.1 keep-alive client
  (asyncio protocol on uvloop, the body pre-encoded, responses framed by Content-Length and checked for 200)
  in ``--client-processes`` processes; one short httpx round per server is kept as the client-bound check.
  These two servers run ``python bench/runners.py --serve``: onnx_runner's own ``__main__.main`` whose app
  gets one read-only route more, GET /bench/batches (the micro-batcher's ``BatchStats``); nothing on the
  request path changes.
Targets: HTTP p50 <= in-process p50 + 0.5 ms, judged from the bare keep-alive client (what the runner adds to a
call; what httpx costs in the caller's process is printed beside it); micro-batching >= 3x batch-1 serving with
64 concurrent clients.

The model comes from :func:`bench_model` alone; everything else reads its inputs from the model's metadata.

    python bench/runners.py [--quick] [--json PATH] [--client-processes N]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

import fastapi
import httpx
import numpy as np
import onnx
import onnxruntime
import uvicorn

from aitrader import runtime
from aitrader.log import configure
from onnx_runner.registry import DTYPES, LoadedModel, ModelMeta, Registry

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the scripts beside this one, when imported as a module
from _support import (
    HOST,
    Server,
    collector_paused,
    expect_ok,
    launch,
    measured_commit,
    summarise,
)

BATCH_ROWS = 64
CLIENTS = 64
INTRA_OP_THREADS = 1
"""As the service runs by default (ONNX_RUNNER_INTRA_OP_THREADS)."""
TARGET_OVERHEAD_MS = 0.5
TARGET_BATCHING_RATIO = 3.0
STATS_PATH = "/bench/batches"
REQUEST_TIMEOUT_S = 30.0
SIZE_BUCKETS = ((1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, 63), (64, 4096))
"""Requests per batch, grouped for the report."""


# -- the model under test --------------------------------------------------------------------------------


def bench_model(models_dir: Path) -> str:
    """Publish the model under test into ``models_dir``; its name.

    The project's N-BEATS with the configuration ``aitrader train nbeats`` uses by default (generic, two stacks
    of three blocks, four layers of 128 units, lookback 60, horizon 10; forecast and band out), trained for two
    epochs on generated closes: what it computes per row is what the runner serves, whatever its accuracy.
    """
    from onnx_runner.training import NBeatsConfig, train_nbeats
    from onnx_runner.training.data import flatten, synthetic_closes
    from onnx_runner.training.fit import FitConfig

    series = flatten(synthetic_closes(["BENCH1", "BENCH2"], 1200, seed=1))
    config = NBeatsConfig(fit=FitConfig(epochs=2))
    published = train_nbeats(series, models_dir, config, allow_worse_than_naive=True, source={"bench": True})
    return published.meta.name


def make_feeds(meta: ModelMeta, rows: int, seed: int) -> dict[str, np.ndarray]:
    """Inputs of ``rows`` rows for ``meta``: random walks around 1 (a price window scaled by its last value)."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for spec in meta.inputs:
        if not spec.shape or spec.shape[0] != -1 or -1 in spec.shape[1:]:
            raise ValueError(f"{meta.key}: input {spec.name!r} must be batched on its first dimension only, was {spec}")
        shape = (rows, *spec.shape[1:])
        dtype = np.dtype(DTYPES[spec.dtype])
        if dtype.kind == "f":
            values: np.ndarray = 1.0 + 0.01 * rng.standard_normal(shape).cumsum(axis=-1)
        else:
            values = rng.integers(0, 10, shape)
        feeds[spec.name] = values.astype(dtype)
    return feeds


def json_body(feeds: Mapping[str, np.ndarray]) -> dict[str, Any]:
    return {"inputs": {name: array.tolist() for name, array in feeds.items()}}


# -- figures ----------------------------------------------------------------------------------------------


def median_of(rounds: list[dict[str, Any]], key: str, digits: int = 4) -> float:
    return round(statistics.median(float(r[key]) for r in rounds), digits)


# -- servers ----------------------------------------------------------------------------------------------


def start_server(
    stack: ExitStack, label: str, command: list[str], models_dir: Path, max_batch: int, scratch: Path
) -> Server:
    """Start an onnx_runner on a free loopback port, stopped when ``stack`` closes; not yet waited for."""
    settings = {
        "ONNX_RUNNER_HOST": HOST,
        "ONNX_RUNNER_MODELS_DIR": str(models_dir),
        "ONNX_RUNNER_MAX_BATCH": str(max_batch),
        "ONNX_RUNNER_MAX_DELAY_MS": "0",
        "ONNX_RUNNER_INTRA_OP_THREADS": str(INTRA_OP_THREADS),
    }
    return launch(stack, label, command, settings, "ONNX_RUNNER_PORT", scratch)


def wait_healthy(servers: list[Server], model: str, timeout_s: float = 60.0) -> None:
    """Until every server answers /health with ``model`` loaded."""
    deadline = time.monotonic() + timeout_s
    waiting = list(servers)
    while waiting:
        server = waiting[0]
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.label} exited with {server.process.returncode}: {server.log.read_text()[-3000:]}"
            )
        try:
            health = httpx.get(f"{server.url}/health", timeout=1.0)
            if health.status_code == 200 and any(key.startswith(f"{model}@") for key in health.json()["models"]):
                waiting.pop(0)
                continue
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{server.label} not serving {model} within {timeout_s:g} s: {server.log.read_text()[-3000:]}"
            )
        time.sleep(0.1)


def serve_with_batch_stats() -> int:
    """onnx_runner's own main, its app given one read-only route more: the micro-batcher's batch sizes."""
    import onnx_runner.__main__ as entry
    from onnx_runner.app import create_app
    from onnx_runner.settings import OnnxRunnerSettings

    def create_app_with_stats(settings: OnnxRunnerSettings) -> fastapi.FastAPI:
        app = create_app(settings)

        @app.get(STATS_PATH, include_in_schema=False)
        async def batches(request: fastapi.Request) -> dict[str, Any]:
            stats = request.app.state.batcher.stats
            return {
                key: {"requests": s.requests, "batches": s.batches, "sizes": {str(k): v for k, v in s.sizes.items()}}
                for key, s in stats.items()
            }

        return app

    entry.create_app = create_app_with_stats  # type: ignore[attr-defined]  # main() looks it up when called
    return entry.main()


def batch_sizes(server: Server) -> dict[int, int] | None:
    """Batches by requests carried, over every model the server has batched; None where it cannot say."""
    try:
        answer = httpx.get(f"{server.url}{STATS_PATH}", timeout=5.0)
        if answer.status_code != 200:
            return None
        sizes: dict[int, int] = {}
        for stats in answer.json().values():
            for size, count in stats["sizes"].items():
                sizes[int(size)] = sizes.get(int(size), 0) + int(count)
        return sizes
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


# -- a bare HTTP/1.1 client -------------------------------------------------------------------------------


def http_request(path: str, port: int, body: bytes) -> bytes:
    """A POST of ``body`` (JSON) to ``path``, encoded once and sent as is on a kept-alive connection."""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {HOST}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def parse_response(buffer: bytearray) -> tuple[int, bytes] | None:
    """The first complete response in ``buffer`` (status, body), removed from it; None while incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    status_line, *headers = bytes(buffer[:end]).split(b"\r\n")
    length = next((int(v) for k, _, v in (h.partition(b":") for h in headers) if k.lower() == b"content-length"), None)
    if length is None:
        raise ConnectionError(f"a response without content-length: {status_line!r}")
    if len(buffer) < end + 4 + length:
        return None
    body = bytes(buffer[end + 4 : end + 4 + length])
    del buffer[: end + 4 + length]
    return int(status_line.split(b" ", 2)[1]), body


class BareClient:
    """One kept-alive HTTP/1.1 connection over a blocking socket."""

    def __init__(self, port: int) -> None:
        self._socket = socket.create_connection((HOST, port), timeout=REQUEST_TIMEOUT_S)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()

    def request(self, payload: bytes) -> tuple[int, bytes]:
        self._socket.sendall(payload)
        while (response := parse_response(self._buffer)) is None:
            chunk = self._socket.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self._buffer += chunk
        return response

    def close(self) -> None:
        self._socket.close()


class Connection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection driven by the event loop: one request in flight at a time."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None or self._waiter.done():
            return
        try:
            response = parse_response(self._buffer)
        except (ConnectionError, ValueError) as e:
            self._waiter.set_exception(ConnectionError(str(e)))
            return
        if response is not None:
            self._waiter.set_result(response)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"the server closed the connection: {exc}"))

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(payload)
        return await asyncio.wait_for(self._waiter, REQUEST_TIMEOUT_S)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


# -- load clients (their own processes) -------------------------------------------------------------------


async def load_client(kind: str, port: int, path: str, body: bytes, connections: int, requests: int) -> None:
    """Runs in its own process: ``connections`` clients each send ``requests`` requests back to back once told
    to go ("go" on stdin), after a few untimed ones; prints the timings as one JSON line."""
    latencies: list[float] = []
    errors: list[str] = []
    loop = asyncio.get_running_loop()
    payload = http_request(path, port, body)
    bare: list[Connection] = []
    pooled: httpx.AsyncClient | None = None
    if kind == "bare":
        bare = [(await loop.create_connection(Connection, HOST, port))[1] for _ in range(connections)]
    else:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        pooled = httpx.AsyncClient(base_url=f"http://{HOST}:{port}", limits=limits, timeout=REQUEST_TIMEOUT_S)

    async def post(index: int) -> tuple[int, bytes]:
        if pooled is None:
            return await bare[index].request(payload)
        answer = await pooled.post(path, content=body, headers={"content-type": "application/json"})
        return answer.status_code, answer.content

    async def send(index: int, count: int) -> None:
        for _ in range(count):
            started = time.perf_counter()
            status, content = await post(index)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200 or b'"outputs"' not in content:
                errors.append(f"{status}: {content[:200]!r}")

    try:
        await asyncio.gather(*(send(index, 3) for index in range(connections)))  # every connection open and warm
        latencies.clear()
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return
        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(send(index, requests) for index in range(connections)))
        finished = time.perf_counter()
        cpu = time.process_time() - cpu
    finally:
        for connection in bare:
            connection.close()
        if pooled is not None:
            await pooled.aclose()
    result = {"started": started, "finished": finished, "cpu_s": cpu, "latencies_ms": latencies, "errors": errors}
    print(json.dumps(result), flush=True)


def run_load(
    server: Server, kind: str, path: str, body: bytes, processes: int, requests: int, scratch: Path
) -> dict[str, Any]:
    """64 clients (split over ``processes``) against ``server``: requests/s, latency, CPU, batch sizes."""
    shares = [CLIENTS // processes + (1 if index < CLIENTS % processes else 0) for index in range(processes)]
    body_file = scratch / "body.json"
    body_file.write_bytes(body)
    clients: list[subprocess.Popen[str]] = []
    log = scratch / "load_clients.log"

    def failed(what: str, client: subprocess.Popen[str]) -> RuntimeError:
        client.wait(REQUEST_TIMEOUT_S)
        return RuntimeError(f"a {kind} load client {what} (exit {client.returncode}): {log.read_text()[-3000:]}")

    try:
        with log.open("a") as errors_out:
            for share in shares:
                command = [sys.executable, __file__, "--load-client", kind, str(server.port), path, str(body_file)]
                command += [str(share), str(requests)]
                clients.append(
                    subprocess.Popen(
                        command,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=errors_out,
                        text=True,
                        cwd=scratch,
                    )
                )
        for client in clients:
            assert client.stdout is not None
            if client.stdout.readline().strip() != "ready":
                raise failed("did not start", client)
        sizes_before = batch_sizes(server)
        server_cpu = server.cpu_s()
        wall = time.perf_counter()
        for client in clients:
            assert client.stdin is not None
            client.stdin.write("go\n")
            client.stdin.flush()
        results = []
        for client in clients:
            assert client.stdout is not None
            line = client.stdout.readline()
            if not line:
                raise failed("died", client)
            results.append(json.loads(line))
        wall = time.perf_counter() - wall
        server_cpu = server.cpu_s() - server_cpu
        sizes_after = batch_sizes(server)
        for client in clients:
            client.wait(REQUEST_TIMEOUT_S)
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
                client.wait()
    errors = [error for result in results for error in result["errors"]]
    if errors:
        raise RuntimeError(f"{len(errors)} of the requests to {server.label} failed, first: {errors[0]}")
    elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
    latencies = [value for result in results for value in result["latencies_ms"]]
    sizes = None
    if sizes_before is not None and sizes_after is not None:
        sizes = {k: v - sizes_before.get(k, 0) for k, v in sizes_after.items() if v - sizes_before.get(k, 0)}
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "latency": summarise(latencies),
        "server_cpu_share": round(server_cpu / wall, 3),
        "client_cpu_share": round(sum(r["cpu_s"] for r in results) / elapsed, 3),
        "batch_sizes": sizes,
    }


def size_summary(sizes: dict[int, int]) -> dict[str, Any]:
    """Batches and the requests they carried, by size bucket; the mean requests per batch."""
    batches = sum(sizes.values())
    requests = sum(size * count for size, count in sizes.items())
    buckets = {}
    for low, high in SIZE_BUCKETS:
        in_bucket = {size: count for size, count in sizes.items() if low <= size <= high}
        label = str(low) if low == high else f"{low}+" if high >= 4096 else f"{low}-{high}"
        buckets[label] = {
            "batches_share": round(sum(in_bucket.values()) / batches, 4) if batches else 0.0,
            "requests_share": round(sum(s * c for s, c in in_bucket.items()) / requests, 4) if requests else 0.0,
        }
    return {
        "batches": batches,
        "requests": requests,
        "mean_requests_per_batch": round(requests / batches, 2) if batches else 0.0,
        "largest": max(sizes, default=0),
        "buckets": buckets,
        "by_size": {str(size): sizes[size] for size in sorted(sizes)},
    }


# -- measurements -----------------------------------------------------------------------------------------


def measure(call: Callable[[], object], count: int, server: Server | None = None) -> dict[str, Any]:
    """``count`` calls after a few untimed ones: milliseconds per call (p50 / p99 / total), and the CPU this
    process and ``server`` spent per call, in microseconds."""
    for _ in range(min(50, count)):
        call()
    values = []
    server_cpu = server.cpu_s() if server is not None else 0.0
    with collector_paused():
        own_cpu = time.process_time()
        for _ in range(count):
            started = time.perf_counter()
            call()
            values.append((time.perf_counter() - started) * 1000)
        own_cpu = time.process_time() - own_cpu
    figures: dict[str, Any] = {**summarise(values), "total_ms": sum(values), "client_cpu_us": own_cpu / count * 1e6}
    if server is not None:
        figures["server_cpu_us"] = (server.cpu_s() - server_cpu) / count * 1e6
    return figures


def rows_per_s(call: Callable[[], object], rows: int, count: int) -> dict[str, Any]:
    figures = measure(call, count)
    return {"rows_per_s": round(rows * count / (figures["total_ms"] / 1000), 1), "call_p50_ms": figures["p50_ms"]}


def latency_and_throughput(
    model: LoadedModel, server: Server, one: dict[str, np.ndarray], batch: dict[str, np.ndarray], quick: bool
) -> dict[str, Any]:
    """In process and over HTTP, round by round, the two sides alternating which goes first."""
    rounds = 3 if quick else 5
    single, batched, requests, batched_requests = (1000, 200, 400, 40) if quick else (5000, 1000, 2000, 200)
    path = f"/infer/{model.meta.name}"
    bare_payload = http_request(path, server.port, json.dumps(json_body(one)).encode())
    samples: dict[str, list[dict[str, Any]]] = {}
    with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as http:

        def bare_round() -> dict[str, Any]:
            """On a connection of its own: uvicorn closes one left idle for 5 s (httpx would reconnect unseen)."""
            bare = BareClient(server.port)

            def call() -> None:
                status, content = bare.request(bare_payload)
                if status != 200:
                    raise RuntimeError(f"POST {path} answered {status}: {content[:300]!r}")

            try:
                return measure(call, requests, server)
            finally:
                bare.close()

        in_process: dict[str, Callable[[], dict[str, Any]]] = {
            "in_process_1": lambda: measure(lambda: model.run(one), single, None),
            "in_process_64": lambda: rows_per_s(lambda: model.run(batch), BATCH_ROWS, batched),
        }
        over_http: dict[str, Callable[[], dict[str, Any]]] = {
            "http_1": lambda: measure(lambda: expect_ok(http.post(path, json=json_body(one))), requests, server),
            "http_64": lambda: rows_per_s(
                lambda: expect_ok(http.post(path, json=json_body(batch))), BATCH_ROWS, batched_requests
            ),
            "health": lambda: measure(lambda: expect_ok(http.get("/health")), requests, server),
            "bare_1": bare_round,
        }
        for round_index in range(rounds):
            sides = [in_process, over_http] if round_index % 2 == 0 else [over_http, in_process]
            for side in sides:
                for name, take in side.items():
                    samples.setdefault(name, []).append(take())

    def latency(name: str) -> dict[str, Any]:
        runs = samples[name]
        figures = {key: median_of(runs, key) for key in ("p50_ms", "p99_ms")}
        figures["client_cpu_us"] = median_of(runs, "client_cpu_us", 1)
        if "server_cpu_us" in runs[0]:
            figures["server_cpu_us"] = median_of(runs, "server_cpu_us", 1)
        return {
            **figures,
            "requests_per_round": runs[0]["count"],
            "p50_ms_by_round": [r["p50_ms"] for r in runs],
            "p99_ms_by_round": [r["p99_ms"] for r in runs],
        }

    def throughput(name: str, calls: int) -> dict[str, Any]:
        runs = samples[name]
        return {
            "rows_per_s": median_of(runs, "rows_per_s", 1),
            "call_p50_ms": median_of(runs, "call_p50_ms"),
            "calls_per_round": calls,
            "rows_per_s_by_round": [r["rows_per_s"] for r in runs],
        }

    in_process_1, http_1 = latency("in_process_1"), latency("http_1")
    return {
        "rounds": rounds,
        "in_process": {"single": in_process_1, "batch_64": throughput("in_process_64", batched)},
        "http": {
            "single": http_1,
            "batch_64": throughput("http_64", batched_requests),
            "health_get": latency("health"),
            "single_bare_socket": latency("bare_1"),
        },
        "http_overhead_p50_ms": round(http_1["p50_ms"] - in_process_1["p50_ms"], 4),
        "http_overhead_p50_ms_bare_socket": round(latency("bare_1")["p50_ms"] - in_process_1["p50_ms"], 4),
        "batch_64_ratio_in_process_over_http": round(
            median_of(samples["in_process_64"], "rows_per_s") / median_of(samples["http_64"], "rows_per_s"), 2
        ),
    }


def concurrency(
    model: LoadedModel,
    batching: Server,
    batch_1: Server,
    one: dict[str, np.ndarray],
    processes: int,
    quick: bool,
    scratch: Path,
) -> dict[str, Any]:
    """64 clients of one-row requests against micro-batching and batch-1 serving, alternating which goes first."""
    rounds = 3 if quick else 5
    requests, check_requests = (40, 30) if quick else (200, 60)
    path = f"/infer/{model.meta.name}"
    body = json.dumps(json_body(one)).encode()
    servers = {"batching": batching, "batch_1": batch_1}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    for round_index in range(rounds):
        order = list(servers) if round_index % 2 == 0 else list(reversed(servers))
        for name in order:
            runs[name].append(run_load(servers[name], "bare", path, body, processes, requests, scratch))
    check = {
        name: run_load(server, "httpx", path, body, 1, check_requests, scratch) for name, server in servers.items()
    }

    def summary(name: str) -> dict[str, Any]:
        samples = runs[name]
        sizes: dict[int, int] = {}
        for sample in samples:
            for size, count in (sample["batch_sizes"] or {}).items():
                sizes[size] = sizes.get(size, 0) + count
        return {
            "requests_per_s": median_of(samples, "requests_per_s", 1),
            "requests_per_s_by_round": [s["requests_per_s"] for s in samples],
            "latency_p50_ms": round(statistics.median(s["latency"]["p50_ms"] for s in samples), 3),
            "latency_p99_ms": round(statistics.median(s["latency"]["p99_ms"] for s in samples), 3),
            "server_cpu_share": median_of(samples, "server_cpu_share", 3),
            "client_cpu_share": median_of(samples, "client_cpu_share", 3),
            "server_cpu_us_per_request": round(
                statistics.median(s["server_cpu_share"] / s["requests_per_s"] * 1e6 for s in samples), 1
            ),
            "batch_sizes": size_summary(sizes) if all(s["batch_sizes"] is not None for s in samples) else None,
        }

    batching_summary, batch_1_summary = summary("batching"), summary("batch_1")
    return {
        "clients": CLIENTS,
        "client": "bare HTTP/1.1 keep-alive connections (asyncio protocol on uvloop), body pre-encoded",
        "client_processes": processes,
        "requests_per_client": requests,
        "rounds": rounds,
        "batching": {"max_batch": int(batching.settings["ONNX_RUNNER_MAX_BATCH"]), **batching_summary},
        "batch_1": {"max_batch": int(batch_1.settings["ONNX_RUNNER_MAX_BATCH"]), **batch_1_summary},
        "ratio_batching_over_batch_1": round(batching_summary["requests_per_s"] / batch_1_summary["requests_per_s"], 3),
        "client_check_httpx": {
            "client": "httpx.AsyncClient, 64 pooled connections, one process",
            "requests_per_client": check_requests,
            **{
                name: {
                    "requests_per_s": result["requests_per_s"],
                    "client_cpu_share": result["client_cpu_share"],
                    "server_cpu_share": result["server_cpu_share"],
                    "latency_p50_ms": result["latency"]["p50_ms"],
                }
                for name, result in check.items()
            },
        },
    }


# -- driver -----------------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "numpy": np.__version__,
        "fastapi": fastapi.__version__,
        "uvicorn": uvicorn.__version__,
        "uvicorn_http_parser": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "uvicorn_loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "httpx": httpx.__version__,
    }


def run(quick: bool, processes: int, scratch: Path) -> dict[str, Any]:
    models_dir = scratch / "models"
    name = bench_model(models_dir)
    registry = Registry(models_dir, intra_op_threads=INTRA_OP_THREADS)
    registry.refresh()
    if registry.errors:
        raise RuntimeError(f"the bench model did not load: {registry.errors}")
    model = registry.get(name)
    one, batch = make_feeds(model.meta, 1, seed=1), make_feeds(model.meta, BATCH_ROWS, seed=2)
    with_stats = [sys.executable, str(Path(__file__).resolve()), "--serve"]
    with ExitStack() as stack:
        service = start_server(stack, "service", [sys.executable, "-m", "onnx_runner"], models_dir, 64, scratch)
        batching = start_server(stack, "batching", with_stats, models_dir, 64, scratch)
        batch_1 = start_server(stack, "batch_1", with_stats, models_dir, 1, scratch)
        wait_healthy([service, batching, batch_1], name)
        single = latency_and_throughput(model, service, one, batch, quick)
        concurrent = concurrency(model, batching, batch_1, one, processes, quick, scratch)
    overhead = single["http_overhead_p50_ms_bare_socket"]  # what the runner adds; httpx's own cost is reported beside
    ratio = concurrent["ratio_batching_over_batch_1"]
    return {
        "benchmark": "runners",
        "quick": quick,
        "commit": measured_commit(["onnx_runner", "bench/runners.py"]),
        "machine": environment(),
        "model": {
            "key": model.meta.key,
            "file_bytes": model.path.stat().st_size,
            "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in model.meta.inputs],
            "outputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in model.meta.outputs],
        },
        "server_settings": {
            key: value for key, value in service.settings.items() if "PORT" not in key and "DIR" not in key
        },
        "server_commands": {
            "latency_and_throughput": "python -m onnx_runner",
            "concurrent": f"python bench/runners.py --serve (onnx_runner's main, plus GET {STATS_PATH})",
        },
        "latency_and_throughput": single,
        "concurrent": concurrent,
        "targets": {
            f"http_p50_le_in_process_p50_plus_{TARGET_OVERHEAD_MS:g}ms": overhead <= TARGET_OVERHEAD_MS,
            f"batching_ge_{TARGET_BATCHING_RATIO:g}x_batch_1_at_{CLIENTS}_clients": ratio >= TARGET_BATCHING_RATIO,
        },
        "target_figures": {
            "http_overhead_p50_ms": overhead,
            "http_overhead_p50_ms_with_httpx": single["http_overhead_p50_ms"],
            "http_overhead_limit_ms": TARGET_OVERHEAD_MS,
            "ratio_batching_over_batch_1": ratio,
            "ratio_limit": TARGET_BATCHING_RATIO,
        },
    }


def print_report(result: dict[str, Any]) -> None:
    mode = "quick" if result["quick"] else "full"
    machine = result["machine"]
    single = result["latency_and_throughput"]
    print(
        f"runners benchmark ({mode}; {machine['cpus']} CPUs, onnxruntime {machine['onnxruntime']}, uvicorn "
        f"{machine['uvicorn']} with {machine['uvicorn_http_parser']} on {machine['uvicorn_loop']}; model "
        f"{result['model']['key']}, {INTRA_OP_THREADS} intra-op thread), medians of {single['rounds']} rounds"
    )
    print(f"{'one row (ms)':44}{'p50':>9}{'p99':>9}{'client CPU us':>15}{'server CPU us':>15}")
    rows = (
        ("in process (LoadedModel.run)", single["in_process"]["single"]),
        ("HTTP POST /infer, httpx.Client", single["http"]["single"]),
        ("HTTP POST /infer, bare socket (pre-encoded)", single["http"]["single_bare_socket"]),
        ("HTTP GET /health, httpx.Client", single["http"]["health_get"]),
    )
    for label, row in rows:
        server_cpu = f"{row['server_cpu_us']:>15.1f}" if "server_cpu_us" in row else f"{'':>15}"
        print(f"  {label:42}{row['p50_ms']:>9.3f}{row['p99_ms']:>9.3f}{row['client_cpu_us']:>15.1f}{server_cpu}")
    print(
        f"  HTTP overhead p50: {single['http_overhead_p50_ms']:.3f} ms with httpx "
        f"({single['http_overhead_p50_ms_bare_socket']:.3f} ms from the bare socket client)"
    )
    in_64, http_64 = single["in_process"]["batch_64"], single["http"]["batch_64"]
    print(
        f"  batches of {BATCH_ROWS} rows: in process {in_64['rows_per_s']:,.0f} rows/s "
        f"({in_64['call_p50_ms']:.3f} ms a call), over HTTP {http_64['rows_per_s']:,.0f} rows/s "
        f"({http_64['call_p50_ms']:.3f} ms a call); in process / HTTP "
        f"{single['batch_64_ratio_in_process_over_http']:.1f}x"
    )
    concurrent = result["concurrent"]
    print(
        f"{concurrent['clients']} concurrent clients, one-row requests back to back "
        f"({concurrent['requests_per_client']} each, {concurrent['client_processes']} client process(es), "
        f"{concurrent['rounds']} rounds):"
    )
    print(
        f"  {'':26}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'server CPU':>12}{'client CPU':>12}"
        f"{'server us/req':>15}"
    )
    for name, label in (("batching", "micro-batching (max 64)"), ("batch_1", "batch-1 serving")):
        row = concurrent[name]
        print(
            f"  {label:26}{row['requests_per_s']:>12,.0f}{row['latency_p50_ms']:>9.2f}{row['latency_p99_ms']:>9.2f}"
            f"{row['server_cpu_share']:>12.0%}{row['client_cpu_share']:>12.0%}{row['server_cpu_us_per_request']:>15.0f}"
        )
        print(f"  {'':26}by round: {', '.join(f'{x:,.0f}' for x in row['requests_per_s_by_round'])}")
    print(f"  ratio micro-batching / batch-1: {concurrent['ratio_batching_over_batch_1']:.2f}")
    sizes = concurrent["batching"]["batch_sizes"]
    if sizes is None:
        print("  requests per batch: not available (the server did not answer GET /bench/batches)")
    else:
        shares = ", ".join(
            f"{label}: {bucket['batches_share']:.0%} of batches / {bucket['requests_share']:.0%} of requests"
            for label, bucket in sizes["buckets"].items()
            if bucket["batches_share"] or bucket["requests_share"]
        )
        print(
            f"  requests per batch (micro-batching): mean {sizes['mean_requests_per_batch']:.1f}, largest "
            f"{sizes['largest']}; {shares}"
        )
    check = concurrent["client_check_httpx"]
    print(
        "  client-bound check, httpx.AsyncClient (64 connections, one process): "
        + "; ".join(
            f"{name} {check[name]['requests_per_s']:,.0f} requests/s, client CPU "
            f"{check[name]['client_cpu_share']:.0%}, server CPU {check[name]['server_cpu_share']:.0%}"
            for name in ("batching", "batch_1")
        )
    )
    print("targets:", ", ".join(f"{k}={'PASS' if v else 'MISS'}" for k, v in result["targets"].items()))
    figures = result["target_figures"]
    http_1, in_1 = single["http"]["single"], single["in_process"]["single"]
    bare, health = single["http"]["single_bare_socket"], single["http"]["health_get"]
    if figures["http_overhead_p50_ms"] > figures["http_overhead_limit_ms"]:
        print(
            f"  HTTP overhead {figures['http_overhead_p50_ms']:.3f} ms > {figures['http_overhead_limit_ms']:g} ms: the "
            f"server spends {bare['server_cpu_us']:.0f} us of CPU on a one-row POST /infer "
            f"({health['server_cpu_us']:.0f} us on GET /health; the model runs in {in_1['p50_ms'] * 1000:.0f} us "
            f"in process)"
        )
    print(
        f"  the overhead target is judged from the bare keep-alive client (what the runner adds); a caller using "
        f"httpx.Client pays {http_1['p50_ms'] - bare['p50_ms']:.3f} ms more in its own process "
        f"({figures['http_overhead_p50_ms_with_httpx']:.3f} ms in all)"
    )
    if figures["ratio_batching_over_batch_1"] < figures["ratio_limit"]:
        on, off = concurrent["batching"], concurrent["batch_1"]
        mean = on["batch_sizes"]["mean_requests_per_batch"] if on["batch_sizes"] else float("nan")
        print(
            f"  micro-batching {figures['ratio_batching_over_batch_1']:.2f}x < {figures['ratio_limit']:g}x: with "
            f"{mean:.1f} requests a batch the server still spends {on['server_cpu_us_per_request']:.0f} us of CPU a "
            f"request ({off['server_cpu_us_per_request']:.0f} us serving batches of 1) on a core it keeps busy "
            f"({on['server_cpu_share']:.0%}); what batching can save is the per-batch work, and the work per request "
            f"outside the model bounds the gain"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        sys.exit(serve_with_batch_stats())
    if len(sys.argv) > 1 and sys.argv[1] == "--load-client":
        kind, port, path, body_file, connections, requests = sys.argv[2:8]
        body = Path(body_file).read_bytes()
        runtime.run(load_client(kind, int(port), path, body, int(connections), int(requests)))
        return
    configure("bench", "WARNING")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer calls, requests and rounds (under a minute)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument(
        "--client-processes", type=int, default=1, help="processes the 64 concurrent clients are split over"
    )
    args = parser.parse_args()
    if not 1 <= args.client_processes <= CLIENTS:
        parser.error(f"--client-processes must be between 1 and {CLIENTS}, was {args.client_processes}")
    # A SIGTERM unwinds like Ctrl-C does, so the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    scratch = Path(tempfile.mkdtemp(prefix="aitrader-bench-runners-"))
    try:
        result = run(args.quick, args.client_processes, scratch)
    except BaseException:
        print(f"the servers' logs are kept under {scratch}", file=sys.stderr)
        raise
    shutil.rmtree(scratch, ignore_errors=True)
    print_report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
