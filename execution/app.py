"""execution's FastAPI application: the OMS API, and in its lifespan the bus consumers and the upkeep loops.

Consumers: ``orders`` and ``control`` through the ``execution`` consumer group (at least once; the OMS is
idempotent), ``book`` with a plain XREAD from the newest entry (marks and simulator matching need only the
latest book). Loops: the database probe (trading stops while it fails), the outbox flush and
reconciliation with the broker every ``EXECUTION_RECONCILE_INTERVAL_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from aitrader.bus import Consumer, Delivery
from aitrader.bus.config import consumer_name
from aitrader.contracts import BOOK, CONTROL, ORDERS, stream_key
from aitrader.contracts.codec import MSGPACK_FIELD
from aitrader.contracts.messages import (
    BookUpdate,
    ControlMessage,
    EndOfData,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    SetKillSwitch,
    SetTradingState,
    TimeInForce,
    TradingState,
)
from aitrader.contracts.registry import BookStreamMessage
from aitrader.db.models import RiskScope
from aitrader.db.session import make_engine
from aitrader.errors import ConflictError, UnavailableError, ValidationError
from aitrader.http import install_error_handlers
from aitrader.log import get_logger
from execution.brokers.base import Broker
from execution.brokers.simulated import SimulatedBroker
from execution.oms import OMS, OmsConfig, OmsOrder, Outcome, position_view
from execution.risk import Limit
from execution.settings import BrokerKind, ExecutionSettings
from execution.store import OutboxPublisher, Store

log = get_logger(__name__)
SERVICE = "execution"
_UPKEEP_S = 1.0


def make_broker(settings: ExecutionSettings) -> Broker:
    if settings.broker == BrokerKind.KITE:
        from execution.brokers.kite import KiteBroker

        assert settings.kite_access_token is not None  # the settings refuse kite without one
        return KiteBroker(
            root=settings.kite_root,
            api_key=settings.kite_api_key,
            access_token=settings.kite_access_token,
            poll_interval_s=settings.kite_poll_interval_s,
        )
    return SimulatedBroker(latency_ms=settings.sim_latency_ms)


def create_app(settings: ExecutionSettings, broker: Broker | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = aioredis.Redis.from_url(settings.require_redis_url())
        database_url = settings.require_database_url()
        connect_args = {"connect_timeout": 3} if database_url.startswith("postgres") else {}
        # no pre-ping: a dead connection fails the unit of work, which stops trading until the database answers
        engine = make_engine(database_url, connect_args=connect_args, pool_size=4, max_overflow=4, pool_pre_ping=False)
        store = Store(engine)
        oms = OMS(
            store=store,
            broker=broker or make_broker(settings),
            publisher_factory=lambda epoch: OutboxPublisher(
                client, prefix=settings.stream_prefix, epoch=epoch, maxlen=settings.bus_maxlen
            ),
            config=OmsConfig(
                allowed_symbols=frozenset(settings.allowed_symbols) or None,
                enforce_market_hours=settings.enforce_market_hours,
                default_limits=settings.limits_to_seed(),
            ),
        )
        app.state.oms = oms
        app.state.settings = settings
        orders: Consumer[OrderRequest] = Consumer(
            client,
            stream=stream_key(ORDERS, settings.stream_prefix),
            group=SERVICE,
            consumer=consumer_name(SERVICE, settings.slot),
            batch_handler=_order_handler(oms),
            message_type=OrderRequest,
            config=settings.consumer_config(batch_size=settings.batch_size, block_ms=100),
        )
        control: Consumer[Any] = Consumer(
            client,
            stream=stream_key(CONTROL, settings.stream_prefix),
            group=SERVICE,
            consumer=consumer_name(SERVICE, settings.slot),
            handler=_control_handler(oms),
            message_type=ControlMessage,
            config=settings.consumer_config(batch_size=100, start_id="$"),
        )
        app.state.consumers = [orders, control]
        with contextlib.suppress(UnavailableError):  # the database may come later: the upkeep loop retries
            await oms.start()
        gc.collect()
        gc.freeze()  # the start-up heap lives as long as the process: full collections need not walk it
        tasks = [
            asyncio.create_task(orders.run(), name="execution-orders"),
            asyncio.create_task(control.run(), name="execution-control"),
            asyncio.create_task(_follow_books(client, settings, oms), name="execution-books"),
            asyncio.create_task(_upkeep(oms, settings), name="execution-upkeep"),
        ]
        log.info("execution_ready", broker=oms.broker.name, ready=oms.ready, orders=orders.stream)
        try:
            yield
        finally:
            orders.stop()
            control.stop()
            for task in tasks[:2]:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(task), timeout=5)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await oms.broker.close()
            store.release_writer_lock()
            await client.aclose()
            engine.dispose()

    app = FastAPI(
        title="AITrader execution",
        version="0.1.0",
        description="The OMS: order lifecycle, pre-trade risk, brokers, positions and P&L.",
        lifespan=lifespan,
    )
    app.include_router(router)

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> JSONResponse:
        """200 while the OMS can trade (``degraded`` says what needs attention); 503 when it cannot, and why."""
        oms: OMS = request.app.state.oms
        document = oms.health()
        return JSONResponse(document, status_code=503 if document["status"] == "unavailable" else 200)

    @app.get("/metrics", response_class=Response, tags=["ops"])
    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        for consumer in request.app.state.consumers:
            with contextlib.suppress(Exception):  # lag is best effort: Redis may be briefly away
                await consumer.publish_stats()
        return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    install_error_handlers(app)
    return app


# -- bus -------------------------------------------------------------------------------------------------


def _order_handler(oms: OMS) -> Callable[[list[Delivery[OrderRequest]]], Awaitable[None]]:
    async def handle(batch: list[Delivery[OrderRequest]]) -> None:
        while not oms.ready:  # fail closed: hold the requests (unacknowledged) until the database is back
            await asyncio.sleep(0.25)
        await oms.submit([delivery.message for delivery in batch], actor="bus:orders")

    return handle


def _control_handler(oms: OMS) -> Callable[[Delivery[Any]], Awaitable[None]]:
    async def handle(delivery: Delivery[Any]) -> None:
        message = delivery.message
        actor = f"control:{message.actor}" if getattr(message, "actor", "") else "control"
        if isinstance(message, SetKillSwitch):
            await oms.set_kill_switch(message.engaged, message.reason, actor)
        elif isinstance(message, SetTradingState):
            try:
                await oms.set_trading_state(message.state, message.reason, actor)
            except ConflictError as e:  # e.g. ACTIVE while the kill switch is engaged: refused, not retried
                log.warning("control_refused", state=message.state.value, error=str(e))

    return handle


async def _follow_books(client: aioredis.Redis, settings: ExecutionSettings, oms: OMS) -> None:
    key = stream_key(BOOK, settings.stream_prefix)
    decode = msgspec.msgpack.Decoder(BookStreamMessage).decode
    position: Any = "$"
    while True:
        try:
            answer: Any = await client.xread({key: position}, block=1_000, count=1_000)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # Redis away: try again shortly
            log.warning("book_follow_failed", error=f"{type(e).__name__}: {e}")
            await asyncio.sleep(1.0)
            continue
        for _, entries in answer or []:
            latest: dict[str, BookUpdate] = {}
            for entry_id, fields in entries:
                position = entry_id
                try:
                    message = decode(fields[MSGPACK_FIELD])
                except (KeyError, msgspec.DecodeError):
                    continue
                if not isinstance(message, EndOfData):
                    await _on_book(oms, message, latest)
            for update in latest.values():
                with contextlib.suppress(UnavailableError):
                    await oms.on_book(update)


async def _on_book(oms: OMS, update: BookUpdate, latest: dict[str, BookUpdate]) -> None:
    """Books of a symbol within one read: working orders see each (they may fill on any); marks need the last."""
    if oms.has_working(update.symbol):
        with contextlib.suppress(UnavailableError):
            await oms.on_book(update)
        latest.pop(update.symbol, None)
    else:
        latest[update.symbol] = update


async def _upkeep(oms: OMS, settings: ExecutionSettings) -> None:
    next_reconcile = time.monotonic() + settings.reconcile_interval_s
    while True:
        await asyncio.sleep(_UPKEEP_S)
        try:
            if not oms.started:  # the database was away at start: keep trying
                with contextlib.suppress(UnavailableError):
                    await oms.start()
            else:
                await oms.check_database()
            if oms.ready:
                await oms.flush_outbox()
                if time.monotonic() >= next_reconcile:
                    next_reconcile = time.monotonic() + settings.reconcile_interval_s
                    await oms.reconcile()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # never let upkeep die: log and go on
            log.warning("upkeep_failed", error=f"{type(e).__name__}: {e}")


# -- API -------------------------------------------------------------------------------------------------

router = APIRouter()


def _oms(request: Request) -> OMS:
    oms: OMS = request.app.state.oms
    return oms


def require_api_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> str:
    """The caller of a state-changing route, once its X-API-Key matched; 401 otherwise."""
    settings: ExecutionSettings = request.app.state.settings
    if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), settings.api_key.encode()):
        raise HTTPException(status_code=401, detail="a valid X-API-Key header is required for this route")
    host = request.client.host if request.client else "unknown"
    return f"api:{host}"


OmsDep = Annotated[OMS, Depends(_oms)]
Actor = Annotated[str, Depends(require_api_key)]


class OrderIn(BaseModel):
    """An order request; ``client_order_id`` makes it idempotent (one is made up when absent)."""

    model_config = ConfigDict(extra="forbid")

    client_order_id: str | None = Field(default=None, min_length=1, max_length=64)
    strategy: str = Field(default="manual", min_length=1, max_length=64)
    symbol: str = Field(min_length=1, max_length=64)
    venue: str = Field(default="NSE", min_length=1, max_length=16)
    side: OrderSide
    qty: int = Field(gt=0, le=10_000_000)
    type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = Field(default=None, gt=0, max_digits=14, decimal_places=4)
    tif: TimeInForce = TimeInForce.DAY
    product: Product = Product.MIS
    signal_id: str | None = Field(default=None, min_length=1, max_length=64)

    def request(self) -> OrderRequest:
        if self.type == OrderType.LIMIT and self.limit_price is None:
            raise ValidationError("limit_price: a LIMIT order needs a limit price")
        if self.type == OrderType.MARKET and self.limit_price is not None:
            raise ValidationError("limit_price: a MARKET order takes no limit price")
        return OrderRequest(
            client_order_id=self.client_order_id or f"api-{uuid.uuid4().hex}",
            ts_ns=time.time_ns(),
            strategy=self.strategy,
            symbol=self.symbol,
            venue=self.venue,
            side=self.side,
            qty=self.qty,
            type=self.type,
            limit_price=float(self.limit_price) if self.limit_price is not None else None,
            tif=self.tif,
            product=self.product,
            signal_id=self.signal_id,
        )


class LimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: RiskScope = RiskScope.GLOBAL
    scope_key: str = Field(default="", max_length=64, description="The strategy or symbol; empty for global.")
    name: Limit
    value: Decimal = Field(ge=0, max_digits=20, decimal_places=4)
    enabled: bool = True


class LimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limits: list[LimitIn] = Field(min_length=1, max_length=500)


class KillSwitchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engaged: bool = True
    reason: str = Field(default="", max_length=500)


class TradingStateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: TradingState
    reason: str = Field(default="", max_length=500)


def _order_answer(outcome: Outcome) -> JSONResponse:
    if outcome.order is None:
        assert outcome.denial is not None
        raise ConflictError(outcome.denial.message, code=outcome.denial.code.value)
    body = {**outcome.order.view(), "duplicate": outcome.duplicate}
    return JSONResponse(body, status_code=200 if outcome.duplicate else 201)


@router.post("/orders", status_code=201, tags=["orders"])
async def place_order(body: OrderIn, oms: OmsDep, actor: Actor) -> JSONResponse:
    """Risk-check and place an order. 201 with the order (REJECTED with its reason code when a check denies
    it); 200 with the existing order when the client_order_id was seen with the same request; 409 when it was
    used for a different one."""
    [outcome] = await oms.submit([body.request()], actor=actor)
    return _order_answer(outcome)


@router.get("/orders", tags=["orders"])
async def list_orders(
    oms: OmsDep,
    status: OrderStatus | None = None,
    symbol: str | None = None,
    strategy: str | None = None,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
) -> dict[str, Any]:
    """Today's orders (and older ones still working), newest first."""
    selected = [
        order
        for order in reversed(oms.orders.values())
        if (status is None or order.status == status)
        and (symbol is None or order.symbol == symbol)
        and (strategy is None or order.strategy == strategy)
        and (not open_only or not order.final)
    ]
    return {"count": len(selected), "orders": [order.view() for order in selected[:limit]]}


@router.get("/orders/{order_id}", tags=["orders"])
async def get_order(order_id: int, oms: OmsDep) -> dict[str, Any]:
    return oms.find(order_id).view()


@router.delete("/orders/{order_id}", status_code=202, tags=["orders"])
async def cancel_order(order_id: int, oms: OmsDep, actor: Actor) -> dict[str, Any]:
    """Cancel a working order: 202 with the order (PENDING_CANCEL until the broker confirms, or CANCELED);
    404 for an unknown order, 409 for one that is already final."""
    order: OmsOrder = await oms.cancel(order_id, actor=actor)
    return order.view()


@router.get("/positions", tags=["positions"])
async def positions(oms: OmsDep, strategy: str | None = None, symbol: str | None = None) -> dict[str, Any]:
    """Positions per strategy and symbol with realised and unrealised P&L and fees (rupees, as strings)."""
    selected = [
        position
        for position in oms.positions
        if (strategy is None or position.strategy == strategy) and (symbol is None or position.symbol == symbol)
    ]
    return {
        "positions": [position_view(position) for position in selected],
        "totals": {
            "realised_pnl": str(sum((p.realised for p in selected), Decimal(0))),
            "unrealised_pnl": str(sum((p.unrealised for p in selected), Decimal(0))),
            "fees": str(sum((p.fees for p in selected), Decimal(0))),
            "net_pnl": str(sum((p.net for p in selected), Decimal(0))),
        },
    }


@router.get("/risk/limits", tags=["risk"])
async def get_limits(oms: OmsDep) -> dict[str, Any]:
    return {"limits": [_limit_view(row) for row in oms.limit_rows]}


@router.put("/risk/limits", tags=["risk"])
async def put_limits(body: LimitsIn, oms: OmsDep, actor: Actor) -> dict[str, Any]:
    """Create or change limits (each change is written to audit_log); they apply to the next order."""
    changes = []
    for item in body.limits:
        if (item.scope == RiskScope.GLOBAL) != (item.scope_key == ""):
            raise ValidationError(
                f"scope_key: a {item.scope.value} limit needs "
                + ("no scope_key" if item.scope == RiskScope.GLOBAL else "the strategy or symbol it applies to")
            )
        changes.append(
            {
                "scope": item.scope,
                "scope_key": item.scope_key,
                "name": item.name.value,
                "value": item.value,
                "enabled": item.enabled,
            }
        )
    rows = await oms.set_limits(changes, actor)
    return {"limits": [_limit_view(row) for row in rows]}


@router.post("/risk/kill-switch", tags=["risk"])
async def kill_switch(body: KillSwitchIn, oms: OmsDep, actor: Actor) -> dict[str, Any]:
    """Engage (HALTED, every open order cancelled) or release the kill switch (trading stays HALTED until
    PUT /risk/state sets it ACTIVE)."""
    cancelled = await oms.set_kill_switch(body.engaged, body.reason or "kill switch from the API", actor)
    return {**oms.risk_view(), "cancelled": cancelled}


@router.get("/risk/state", tags=["risk"])
async def risk_state(oms: OmsDep) -> dict[str, Any]:
    return oms.risk_view()


@router.put("/risk/state", tags=["risk"])
async def set_risk_state(body: TradingStateIn, oms: OmsDep, actor: Actor) -> dict[str, Any]:
    """Move trading to ACTIVE, REDUCING (orders may only shrink positions) or HALTED."""
    await oms.set_trading_state(body.state, body.reason, actor)
    return oms.risk_view()


def _limit_view(row: dict[str, Any]) -> dict[str, Any]:
    scope = row["scope"]
    return {
        "scope": scope.value if isinstance(scope, RiskScope) else str(scope),
        "scope_key": row["scope_key"],
        "name": row["name"],
        "value": str(row["value"]),
        "enabled": bool(row["enabled"]),
        "updated_by": row.get("updated_by"),
    }
