"""Write the golden vectors: one message of every type, as JSON and as the msgpack bytes on the wire.

The Rust side (serde) must decode every ``.msgpack`` file into a value equal to its ``.json`` file and
encode it back to the same bytes. Rerun this only when a contract changes on purpose:
``python tests/golden/make_golden.py``; the test in tests/unit/contracts fails until the files match.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aitrader.contracts import (
    Bar,
    BookUpdate,
    Depth,
    EndOfData,
    FeedStatusChanged,
    Fill,
    Level,
    OrderEvent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionUpdate,
    SetKillSwitch,
    SetTradingState,
    Signal,
    Tick,
    TimeInForce,
    TradingState,
    TradingStateChanged,
    encode,
    encode_json,
    tag_of,
)

GOLDEN_DIR = Path(__file__).resolve().parent
TS = 1_763_710_200_123_456_789  # 2025-11-21 09:00:00.123456789 IST

SAMPLES = [
    Tick(
        ts_ns=TS,
        symbol="INFY",
        venue="NSE",
        seq=1_048_576,
        ltp=1523.45,
        ltq=25,
        volume=3_456_789,
        bid=1523.4,
        ask=1523.5,
        bid_qty=1200,
        ask_qty=800,
        depth=Depth(
            bids=(Level(1523.4, 1200, 7), Level(1523.35, 640, 4), Level(1523.3, 2100, 11)),
            asks=(Level(1523.5, 800, 5), Level(1523.55, 450, 3)),
        ),
    ),
    BookUpdate(
        ts_ns=TS + 18_000,
        tick_ts_ns=TS,
        symbol="INFY",
        seq=1_048_576,
        bids=(Level(1523.4, 1200, 7),),
        asks=(Level(1523.5, 800, 5),),
        mid=1523.45,
        spread=0.1,
        imbalance=0.2,
        microprice=1523.46,
        vwap=1519.871234,
        last_price=1523.45,
        volume=3_456_789,
    ),
    Bar(
        ts_ns=TS + 60_000_000_000,
        symbol="INFY",
        interval="1m",
        start_ns=1_763_710_200_000_000_000,
        end_ns=1_763_710_260_000_000_000,
        open=1523.45,
        high=1524.1,
        low=1522.8,
        close=1523.9,
        volume=18_250,
        vwap=1523.512345,
        trade_count=212,
        tick_count=240,
    ),
    EndOfData(
        ts_ns=TS + 5,
        replay_id="rp-7f3a9c",
        source="data/sample/ticks.parquet",
        messages=1_048_576,
        last_tick_ts_ns=TS,
    ),
    FeedStatusChanged(
        ts_ns=TS + 30_000_000_000,
        symbol="INFY",
        stale=True,
        last_tick_ts_ns=TS,
        silent_ms=30_000,
    ),
    Signal(
        id="sig-INFY-1048576-momentum_burst",
        ts_ns=TS + 40_000,
        tick_ts_ns=TS,
        symbol="INFY",
        pattern="momentum_burst",
        side=-1,
        score=-0.625,
        price=1523.45,
        features={"return_bps": -31.5, "sigma_multiple": 3.25, "volume_ratio": 4.0},
    ),
    OrderRequest(
        client_order_id="se-20251121-000042",
        ts_ns=TS + 900_000,
        tick_ts_ns=TS,
        strategy="scalper",
        symbol="INFY",
        side=OrderSide.SELL,
        qty=50,
        type=OrderType.LIMIT,
        limit_price=1523.4,
        tif=TimeInForce.IOC,
        signal_id="sig-INFY-1048576-momentum_burst",
        factors={"pattern": -0.625, "forecast": -0.1, "sentiment": 0.05},
        combined_score=-0.41,
    ),
    OrderEvent(
        order_id="oms-000000017",
        client_order_id="se-20251121-000042",
        ts_ns=TS + 1_500_000,
        tick_ts_ns=TS,
        strategy="scalper",
        symbol="INFY",
        side=OrderSide.SELL,
        qty=50,
        status=OrderStatus.REJECTED,
        reason_code="MAX_NOTIONAL_EXCEEDED",
        reason="notional 76170.00 exceeds max_order_notional 50000.00",
    ),
    Fill(
        fill_id="sim-000000017-1",
        order_id="oms-000000017",
        client_order_id="se-20251121-000042",
        ts_ns=TS + 2_250_000,
        tick_ts_ns=TS,
        strategy="scalper",
        symbol="INFY",
        side=OrderSide.BUY,
        qty=20,
        price=1523.5,
        fees=7.31,
    ),
    PositionUpdate(
        ts_ns=TS + 2_300_000,
        strategy="scalper",
        symbol="INFY",
        qty=-20,
        avg_price=1523.5,
        last_price=1524.0,
        realised_pnl=12.5,
        unrealised_pnl=-10.0,
        fees=7.31,
    ),
    SetTradingState(ts_ns=TS, state=TradingState.REDUCING, reason="end of session", actor="ops"),
    SetKillSwitch(ts_ns=TS, engaged=True, reason="manual", actor="ops"),
    TradingStateChanged(
        ts_ns=TS + 1,
        state=TradingState.HALTED,
        previous=TradingState.ACTIVE,
        kill_switch_engaged=True,
        reason="daily loss limit breached",
        actor="risk",
    ),
]


def write(directory: Path = GOLDEN_DIR) -> list[Path]:
    written = []
    for message in SAMPLES:
        tag = tag_of(type(message))
        json_path = directory / f"{tag}.json"
        json_path.write_text(json.dumps(json.loads(encode_json(message)), indent=2) + "\n")
        msgpack_path = directory / f"{tag}.msgpack"
        msgpack_path.write_bytes(encode(message))
        written += [json_path, msgpack_path]
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else GOLDEN_DIR):
        print(path)
