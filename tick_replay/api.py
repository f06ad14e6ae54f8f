"""Routes of tick_replay: start a replay, pause / resume / stop it, read its progress; health and metrics."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from aitrader.errors import ConflictError, ValidationError
from aitrader.marketdata.synthetic import MarketConfig
from tick_replay.replayer import Replayer, ReplayPlan, ReplayProgress, ReplayState
from tick_replay.settings import TickReplaySettings
from tick_replay.sources import SyntheticSource, TickSource, open_file_source

router = APIRouter()


@dataclass
class ReplayService:
    """What the routes share: settings, the replayer and the task running the current replay."""

    settings: TickReplaySettings
    replayer: Replayer
    task: asyncio.Task[None] | None = field(default=None)


def get_service(request: Request) -> ReplayService:
    service: ReplayService = request.app.state.service
    return service


ServiceDep = Annotated[ReplayService, Depends(get_service)]


class SyntheticCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(default=7, ge=0)
    ticks_target: int = Field(default=200_000, gt=0, le=20_000_000)


class ReplayCreate(BaseModel):
    """Exactly one of ``path`` (a tick file under TICK_REPLAY_DATA_ROOT) and ``synthetic``."""

    model_config = ConfigDict(extra="forbid")

    path: Path | None = Field(default=None, description="CSV, Parquet or .kite file, relative to the data root.")
    instruments: Path | None = Field(default=None, description="Kite instruments CSV, for .kite recordings.")
    synthetic: SyntheticCreate | None = None
    speed: float | Literal["max"] = Field(
        default="max", description="1 is realtime, 10 is ten times faster; 'max' is as fast as Redis takes it."
    )
    shards: int | None = Field(default=None, ge=0, le=64, description="0: `ticks`; N: `ticks:0..N-1` by symbol.")
    symbols: list[str] | None = Field(default=None, min_length=1, description="Replay only these symbols.")
    start: datetime | int | None = Field(default=None, description="Skip ticks before this time (ISO or ns).")
    end: datetime | int | None = Field(default=None, description="Stop before this time (ISO or ns).")
    limit: int | None = Field(default=None, gt=0, description="Publish at most this many ticks.")
    skip_bad: bool = Field(default=False, description="Skip and count bad rows instead of failing.")
    wait_for_consumers: bool = Field(default=True, description="Never run further ahead of consumers than MAXLEN/2.")

    @model_validator(mode="after")
    def _one_source(self) -> ReplayCreate:
        if (self.path is None) == (self.synthetic is None):
            raise ValueError("give exactly one of `path` and `synthetic`")
        if isinstance(self.speed, float) and not 0 < self.speed <= 100_000:
            raise ValueError(f"speed must be > 0 and <= 100000 (or 'max'), was {self.speed}")
        return self


class ReplayPublic(BaseModel):
    replay_id: str
    state: ReplayState
    source: str
    speed: float | None
    streams: list[str]
    published: int
    total: int | None
    skipped: int
    percent: float | None
    rate_per_s: float
    first_tick_ts_ns: int | None
    last_tick_ts_ns: int | None
    started_at_ns: int | None
    finished_at_ns: int | None
    waiting_on: str | None
    error: str | None

    @classmethod
    def of(cls, progress: ReplayProgress) -> ReplayPublic:
        percent = None
        if progress.total:
            percent = round(100.0 * (progress.published + progress.skipped) / progress.total, 2)
        return cls(
            replay_id=progress.replay_id,
            state=progress.state,
            source=progress.source,
            speed=progress.speed,
            streams=progress.streams,
            published=progress.published,
            total=progress.total,
            skipped=progress.skipped,
            percent=percent,
            rate_per_s=round(progress.rate, 1),
            first_tick_ts_ns=progress.first_tick_ts_ns,
            last_tick_ts_ns=progress.last_tick_ts_ns,
            started_at_ns=progress.started_at_ns,
            finished_at_ns=progress.finished_at_ns,
            waiting_on=progress.waiting_on,
            error=progress.error,
        )


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"
    replay: ReplayState


def _ns(value: datetime | int | None, name: str) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if value.tzinfo is None:
        raise ValidationError(f"{name} must carry a UTC offset (e.g. +05:30), was {value.isoformat()}")
    return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000


@router.get("/health", response_model=HealthPublic, tags=["ops"])
async def health(service: ServiceDep) -> HealthPublic:
    return HealthPublic(replay=service.replayer.progress.state)


@router.get("/metrics", response_class=Response, tags=["ops"])
async def metrics() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/replay", response_model=ReplayPublic, tags=["replay"])
async def read_replay(service: ServiceDep) -> ReplayPublic:
    """The current (or last) replay's progress."""
    return ReplayPublic.of(service.replayer.progress)


@router.post("/replay", response_model=ReplayPublic, status_code=status.HTTP_202_ACCEPTED, tags=["replay"])
async def start_replay(body: ReplayCreate, service: ServiceDep) -> ReplayPublic:
    """Start a replay; 409 while another one is active."""
    replayer = service.replayer
    if replayer.active:
        raise ConflictError(f"replay {replayer.progress.replay_id} is {replayer.progress.state.value}: stop it first")
    source: TickSource
    if body.path is not None:
        source = await asyncio.to_thread(
            open_file_source,
            body.path,
            service.settings.data_root,
            skip_bad=body.skip_bad,
            instruments=body.instruments,
        )
    else:
        assert body.synthetic is not None
        try:
            config = MarketConfig(seed=body.synthetic.seed, ticks_target=body.synthetic.ticks_target)
        except (TypeError, ValueError) as e:
            raise ValidationError(f"synthetic: {e}") from e
        source = SyntheticSource(config)
    plan = ReplayPlan(
        source=source,
        speed=None if body.speed == "max" else float(body.speed),
        shards=service.settings.shards if body.shards is None else body.shards,
        symbols=frozenset(body.symbols) if body.symbols else None,
        start_ns=_ns(body.start, "start"),
        end_ns=_ns(body.end, "end"),
        limit=body.limit,
        wait_for_consumers=body.wait_for_consumers,
    )
    replayer.begin(f"rp-{uuid.uuid4().hex[:12]}", plan)
    service.task = asyncio.create_task(replayer.run(plan), name=f"replay-{replayer.progress.replay_id}")
    return ReplayPublic.of(replayer.progress)


def _require(service: ReplayService, allowed: set[ReplayState], action: str) -> Replayer:
    replayer = service.replayer
    if replayer.progress.state not in allowed:
        state = replayer.progress.state.value
        raise ConflictError(f"cannot {action} a replay that is {state}")
    return replayer


@router.post("/replay/pause", response_model=ReplayPublic, tags=["replay"])
async def pause_replay(service: ServiceDep) -> ReplayPublic:
    _require(service, {ReplayState.RUNNING, ReplayState.WAITING, ReplayState.STARTING}, "pause").pause()
    return ReplayPublic.of(service.replayer.progress)


@router.post("/replay/resume", response_model=ReplayPublic, tags=["replay"])
async def resume_replay(service: ServiceDep) -> ReplayPublic:
    _require(service, {ReplayState.PAUSED}, "resume").resume()
    return ReplayPublic.of(service.replayer.progress)


@router.post("/replay/stop", response_model=ReplayPublic, tags=["replay"])
async def stop_replay(service: ServiceDep) -> ReplayPublic:
    """Stop the replay: streams get an EndOfData marker with ``complete`` false. Waits until it has stopped."""
    replayer = _require(
        service, {ReplayState.RUNNING, ReplayState.WAITING, ReplayState.PAUSED, ReplayState.STARTING}, "stop"
    )
    replayer.stop()
    if service.task is not None:
        await asyncio.shield(service.task)
    return ReplayPublic.of(replayer.progress)
