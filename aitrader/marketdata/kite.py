"""Recorded Zerodha Kite Ticker feeds: binary frames decoded into packets, kept in a recording, replayed as ticks.

Kite Ticker sends binary WebSocket messages ("frames"); every integer is big-endian::

    frame   := uint16 n_packets, then n_packets x (uint16 packet_len, packet[packet_len])
    packet  := one of the layouts below, told apart by packet_len (int32 fields unless noted)

    8    ltp          token, last_price
    28   index quote  token, last_price, high, low, open, close, price change (not decoded)
    32   index full   the index quote, then exchange_timestamp
    44   quote        token, last_price, last_traded_quantity, average_traded_price, volume_traded,
                      total_buy_quantity, total_sell_quantity, open, high, low, close
    184  full         the quote, then last_trade_time, oi, oi_day_high, oi_day_low, exchange_timestamp,
                      then 5 bid and 5 ask depth entries of 12 bytes (int32 qty, int32 price, uint16 orders,
                      2 bytes padding), best first

A frame shorter than 2 bytes is a heartbeat. Prices are integers in the segment's smallest unit: paise
(divide by 100), except currency derivatives CDS (10_000_000) and BCD and NCO (10_000); the segment is the
low byte of the instrument token. Times are Unix seconds; Kite sends 0 for a time it does not have (no trade
yet), which decodes as ``None``. Indices (segment 9) are not tradable.

Recording file (our container for captured frames, extension ``.aitkite``)::

    magic    8 bytes  b"AITKITE1"
    records, each:
             int64    receive_ts_ns: when the frame arrived, nanoseconds since the Unix epoch, >= 0
             uint32   frame_len
             bytes    the binary WebSocket message exactly as received (frame_len bytes; heartbeats too)

Replay turns packets into canonical tick rows (:mod:`aitrader.marketdata.schema`): the instruments list maps a
token to its ``tradingsymbol`` and ``exchange`` (the venue); ``ts_ns`` is the packet's exchange timestamp when
it has one (full mode), else the frame's receive time, because ltp and quote packets carry no time of their
own; the best depth entry gives ``bid``/``ask``; ``seq`` counts 1, 2, ... per symbol in recording order.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import msgspec
import pyarrow as pa

from aitrader.contracts import Tick
from aitrader.errors import DecodeError, ValidationError
from aitrader.marketdata.instruments import Instrument, Segment
from aitrader.marketdata.schema import DEPTH_COLUMNS, DEPTH_LEVELS, TICK_SCHEMA, depth_type, ticks_from_table

PacketMode = Literal["ltp", "quote", "full"]
DepthEntry = tuple[float, int, int]
"""One depth level as ``(price, qty, orders)``."""

MAGIC: Final = b"AITKITE1"
LTP_LENGTH: Final = 8
INDEX_QUOTE_LENGTH: Final = 28
INDEX_FULL_LENGTH: Final = 32
QUOTE_LENGTH: Final = 44
FULL_LENGTH: Final = 184

_U16: Final = struct.Struct(">H")
_LTP: Final = struct.Struct(">II")
_INDEX_QUOTE: Final = struct.Struct(">6I4x")
_INDEX_FULL: Final = struct.Struct(">6I4xI")
_QUOTE: Final = struct.Struct(">11I")
_FULL_TAIL: Final = struct.Struct(">5I")
_DEPTH_ENTRY: Final = struct.Struct(">IIH2x")
_RECORD_HEADER: Final = struct.Struct(">qI")
_EMPTY_LEVEL: Final[DepthEntry] = (0.0, 0, 0)
_NANOS_PER_SECOND: Final = 1_000_000_000


class KitePacket(msgspec.Struct, frozen=True, kw_only=True):
    """One decoded Kite Ticker packet; fields that the packet's mode does not carry are 0 or ``None``.

    ``bids`` and ``asks`` hold the five depth entries of a full packet exactly as sent, empty levels included.
    """

    instrument_token: int
    mode: PacketMode
    tradable: bool
    last_price: float
    last_traded_quantity: int = 0
    average_traded_price: float = 0.0
    volume_traded: int = 0
    total_buy_quantity: int = 0
    total_sell_quantity: int = 0
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    last_trade_time: int | None = None
    oi: int = 0
    oi_day_high: int = 0
    oi_day_low: int = 0
    exchange_timestamp: int | None = None
    bids: tuple[DepthEntry, ...] = ()
    asks: tuple[DepthEntry, ...] = ()

    @property
    def segment(self) -> int:
        return self.instrument_token & 0xFF


def price_divisor(instrument_token: int) -> int:
    """How many wire units make one rupee (or one unit of the quote currency) for this token's segment."""
    segment = instrument_token & 0xFF
    if segment == Segment.CDS:
        return 10_000_000
    if segment in (Segment.BCD, Segment.NCO):
        return 10_000
    return 100


def _time(seconds: int) -> int | None:
    return seconds or None


def _tradable(token: int) -> bool:
    return token & 0xFF != Segment.INDICES


def _decode_ltp(frame: bytes, start: int) -> KitePacket:
    token, price = _LTP.unpack_from(frame, start)
    return KitePacket(
        instrument_token=token,
        mode="ltp",
        tradable=_tradable(token),
        last_price=price / price_divisor(token),
    )


def _decode_index(frame: bytes, start: int, *, full: bool) -> KitePacket:
    if full:
        token, price, high, low, open_, close, timestamp = _INDEX_FULL.unpack_from(frame, start)
    else:
        token, price, high, low, open_, close = _INDEX_QUOTE.unpack_from(frame, start)
        timestamp = 0
    divisor = price_divisor(token)
    return KitePacket(
        instrument_token=token,
        mode="full" if full else "quote",
        tradable=_tradable(token),
        last_price=price / divisor,
        open=open_ / divisor,
        high=high / divisor,
        low=low / divisor,
        close=close / divisor,
        exchange_timestamp=_time(timestamp),
    )


def _decode_quote(frame: bytes, start: int, *, full: bool) -> KitePacket:
    token, price, ltq, average, volume, buy, sell, open_, high, low, close = _QUOTE.unpack_from(frame, start)
    divisor = price_divisor(token)
    last_trade_time = oi = oi_high = oi_low = exchange_timestamp = 0
    bids: tuple[DepthEntry, ...] = ()
    asks: tuple[DepthEntry, ...] = ()
    if full:
        last_trade_time, oi, oi_high, oi_low, exchange_timestamp = _FULL_TAIL.unpack_from(frame, start + QUOTE_LENGTH)
        entries = tuple(
            (entry_price / divisor, qty, orders)
            for qty, entry_price, orders in _DEPTH_ENTRY.iter_unpack(
                frame[start + QUOTE_LENGTH + _FULL_TAIL.size : start + FULL_LENGTH]
            )
        )
        bids, asks = entries[:DEPTH_LEVELS], entries[DEPTH_LEVELS:]
    return KitePacket(
        instrument_token=token,
        mode="full" if full else "quote",
        tradable=_tradable(token),
        last_price=price / divisor,
        last_traded_quantity=ltq,
        average_traded_price=average / divisor,
        volume_traded=volume,
        total_buy_quantity=buy,
        total_sell_quantity=sell,
        open=open_ / divisor,
        high=high / divisor,
        low=low / divisor,
        close=close / divisor,
        last_trade_time=_time(last_trade_time),
        oi=oi,
        oi_day_high=oi_high,
        oi_day_low=oi_low,
        exchange_timestamp=_time(exchange_timestamp),
        bids=bids,
        asks=asks,
    )


_DECODERS: Final[dict[int, Callable[[bytes, int], KitePacket]]] = {
    LTP_LENGTH: _decode_ltp,
    INDEX_QUOTE_LENGTH: lambda frame, start: _decode_index(frame, start, full=False),
    INDEX_FULL_LENGTH: lambda frame, start: _decode_index(frame, start, full=True),
    QUOTE_LENGTH: lambda frame, start: _decode_quote(frame, start, full=False),
    FULL_LENGTH: lambda frame, start: _decode_quote(frame, start, full=True),
}


def parse_frame(frame: bytes) -> list[KitePacket]:
    """The packets of one Kite Ticker binary message, in order; a heartbeat (under 2 bytes) has none.

    Anything that does not add up (an unknown packet length, a packet running past the end, bytes left over)
    is a :class:`DecodeError` naming the packet and its byte offset, so a corrupt recording is never replayed
    as plausible prices.
    """
    if len(frame) < 2:
        return []
    (count,) = _U16.unpack_from(frame, 0)
    packets: list[KitePacket] = []
    offset = 2
    for number in range(1, count + 1):
        if offset + 2 > len(frame):
            raise DecodeError(
                f"packet {number} of {count} at byte {offset}: expected a 2-byte length, "
                f"but the frame ends after {len(frame)} bytes"
            )
        (length,) = _U16.unpack_from(frame, offset)
        start = offset + 2
        remaining = len(frame) - start
        if length > remaining:
            raise DecodeError(f"packet {number} at byte {offset} declares {length} bytes but only {remaining} remain")
        decode = _DECODERS.get(length)
        if decode is None:
            raise DecodeError(
                f"packet {number} at byte {offset} has an unknown length, expected one of "
                f"{', '.join(map(str, sorted(_DECODERS)))} bytes, was {length}"
            )
        packets.append(decode(frame, start))
        offset = start + length
    if offset != len(frame):
        raise DecodeError(f"frame declares {count} packet(s) ending at byte {offset}, but is {len(frame)} bytes long")
    return packets


# -- encoders: build frames for tests and synthetic recordings -----------------------------------------------


def _pack(layout: struct.Struct, *values: int) -> bytes:
    try:
        return layout.pack(*values)
    except struct.error as e:
        raise ValidationError(f"cannot encode a Kite packet: every field must fit its integer type ({e})") from e


def _units(price: float, token: int) -> int:
    return round(price * price_divisor(token))


def encode_ltp_packet(instrument_token: int, last_price: float) -> bytes:
    """An 8-byte ltp packet."""
    return _pack(_LTP, instrument_token, _units(last_price, instrument_token))


def encode_quote_packet(
    instrument_token: int,
    last_price: float,
    *,
    last_traded_quantity: int = 0,
    average_traded_price: float = 0.0,
    volume_traded: int = 0,
    total_buy_quantity: int = 0,
    total_sell_quantity: int = 0,
    open: float = 0.0,
    high: float = 0.0,
    low: float = 0.0,
    close: float = 0.0,
) -> bytes:
    """A 44-byte quote packet."""
    token = instrument_token
    return _pack(
        _QUOTE,
        token,
        _units(last_price, token),
        last_traded_quantity,
        _units(average_traded_price, token),
        volume_traded,
        total_buy_quantity,
        total_sell_quantity,
        _units(open, token),
        _units(high, token),
        _units(low, token),
        _units(close, token),
    )


def encode_full_packet(
    instrument_token: int,
    last_price: float,
    *,
    last_traded_quantity: int = 0,
    average_traded_price: float = 0.0,
    volume_traded: int = 0,
    total_buy_quantity: int = 0,
    total_sell_quantity: int = 0,
    open: float = 0.0,
    high: float = 0.0,
    low: float = 0.0,
    close: float = 0.0,
    last_trade_time: int | None = None,
    oi: int = 0,
    oi_day_high: int = 0,
    oi_day_low: int = 0,
    exchange_timestamp: int | None = None,
    bids: Sequence[DepthEntry] = (),
    asks: Sequence[DepthEntry] = (),
) -> bytes:
    """A 184-byte full packet; up to 5 ``(price, qty, orders)`` levels a side, missing levels sent as zeros."""
    token = instrument_token
    for side, levels in (("bids", bids), ("asks", asks)):
        if len(levels) > DEPTH_LEVELS:
            raise ValidationError(f"{side} must have at most {DEPTH_LEVELS} levels, was {len(levels)}")
    quote = encode_quote_packet(
        token,
        last_price,
        last_traded_quantity=last_traded_quantity,
        average_traded_price=average_traded_price,
        volume_traded=volume_traded,
        total_buy_quantity=total_buy_quantity,
        total_sell_quantity=total_sell_quantity,
        open=open,
        high=high,
        low=low,
        close=close,
    )
    tail = _pack(_FULL_TAIL, last_trade_time or 0, oi, oi_day_high, oi_day_low, exchange_timestamp or 0)
    depth = b"".join(
        _pack(_DEPTH_ENTRY, qty, _units(price, token), orders)
        for levels in (bids, asks)
        for price, qty, orders in (*levels, *[_EMPTY_LEVEL] * (DEPTH_LEVELS - len(levels)))
    )
    return quote + tail + depth


def encode_frame(packets: list[bytes]) -> bytes:
    """One binary message holding ``packets``, each prefixed with its length."""
    return _pack(_U16, len(packets)) + b"".join(_pack(_U16, len(packet)) + packet for packet in packets)


# -- the recording container --------------------------------------------------------------------------------


def write_recording(path: Path | str, frames: Iterable[tuple[int, bytes]]) -> int:
    """Write ``(receive_ts_ns, frame)`` pairs as a recording; returns how many records were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("wb") as handle:
        handle.write(MAGIC)
        for receive_ts_ns, frame in frames:
            if not 0 <= receive_ts_ns < 2**63:
                raise ValidationError(
                    f"record {count + 1}: receive_ts_ns must be >= 0 and fit in int64, was {receive_ts_ns}"
                )
            if len(frame) >= 2**32:
                raise ValidationError(f"record {count + 1}: frame must be under 4 GiB, was {len(frame)} bytes")
            handle.write(_RECORD_HEADER.pack(receive_ts_ns, len(frame)))
            handle.write(frame)
            count += 1
    return count


def read_recording(path: Path | str) -> Iterator[tuple[int, bytes]]:
    """The ``(receive_ts_ns, frame)`` records of a recording, streamed in file order.

    A wrong magic or a record cut short (a capture killed mid-write) is a :class:`DecodeError` naming the file
    and byte offset, raised when the reader reaches it.
    """
    path = Path(path)
    try:
        handle = path.open("rb", buffering=1 << 20)
    except OSError as e:
        raise ValidationError(f"cannot read Kite recording {path}: {e.strerror or e}") from e
    with handle:
        magic = handle.read(len(MAGIC))
        if magic != MAGIC:
            raise DecodeError(f"{path}: not a Kite recording, expected magic {MAGIC!r} at byte 0, was {magic!r}")
        offset = len(MAGIC)
        number = 0
        while header := handle.read(_RECORD_HEADER.size):
            number += 1
            if len(header) < _RECORD_HEADER.size:
                raise DecodeError(
                    f"{path}: record {number} at byte {offset} is truncated: its header needs "
                    f"{_RECORD_HEADER.size} bytes but only {len(header)} remain"
                )
            receive_ts_ns, length = _RECORD_HEADER.unpack(header)
            if receive_ts_ns < 0:
                raise DecodeError(
                    f"{path}: record {number} at byte {offset}: receive_ts_ns must be >= 0, was {receive_ts_ns}"
                )
            frame = handle.read(length)
            if len(frame) < length:
                raise DecodeError(
                    f"{path}: record {number} at byte {offset} is truncated: it declares a {length}-byte frame "
                    f"but only {len(frame)} bytes remain"
                )
            yield receive_ts_ns, frame
            offset += _RECORD_HEADER.size + length


# -- replay as canonical ticks ------------------------------------------------------------------------------


class KiteRecording:
    """A recording replayed as canonical tick tables (:data:`~aitrader.marketdata.schema.TICK_SCHEMA` + depth).

    Index packets are left out and counted in :attr:`skipped_indices`: ticks are for tradable instruments.
    A token missing from ``instruments`` is an error, because a replay with silently missing symbols looks like
    a quiet market; with ``skip_unknown=True`` such packets are left out and counted in :attr:`skipped`.
    ``depth=None`` adds the 30 depth columns to a batch when it holds a full packet; ``True`` or ``False``
    fixes the choice for every batch, for writers that need one schema.
    """

    def __init__(
        self,
        path: Path | str,
        instruments: Iterable[Instrument],
        *,
        skip_unknown: bool = False,
        batch_rows: int = 50_000,
        depth: bool | None = None,
    ) -> None:
        if batch_rows <= 0:
            raise ValidationError(f"batch_rows must be > 0, was {batch_rows}")
        self.path = Path(path)
        self.instruments = {instrument.instrument_token: instrument for instrument in instruments}
        self.skip_unknown = skip_unknown
        self.batch_rows = batch_rows
        self.depth = depth
        self.skipped = 0
        self.skipped_indices = 0
        self.rows_read = 0

    def batches(self) -> Iterator[pa.Table]:
        """Canonical tables of at most ``batch_rows`` rows, in recording order; counters restart each call."""
        self.skipped = self.skipped_indices = self.rows_read = 0
        next_seq: dict[str, int] = {}
        batch = _Batch()
        offset = len(MAGIC)
        for number, (receive_ts_ns, frame) in enumerate(read_recording(self.path), start=1):
            try:
                packets = parse_frame(frame)
            except DecodeError as e:
                raise DecodeError(f"{self.path}: record {number} at byte {offset}: {e.message}") from e
            for packet in packets:
                if not packet.tradable:
                    self.skipped_indices += 1
                    continue
                instrument = self.instruments.get(packet.instrument_token)
                if instrument is None:
                    if not self.skip_unknown:
                        raise DecodeError(
                            f"{self.path}: record {number} at byte {offset}: instrument token "
                            f"{packet.instrument_token} is not in the instruments list "
                            "(pass skip_unknown=True to skip such packets)"
                        )
                    self.skipped += 1
                    continue
                symbol = instrument.tradingsymbol
                seq = next_seq.get(symbol, 1)
                next_seq[symbol] = seq + 1
                batch.append(packet, instrument, seq, receive_ts_ns)
                self.rows_read += 1
                if len(batch) >= self.batch_rows:
                    yield batch.table(self.depth)
                    batch = _Batch()
            offset += _RECORD_HEADER.size + len(frame)
        if len(batch):
            yield batch.table(self.depth)

    def ticks(self) -> Iterator[Tick]:
        """The recording as Tick messages, in recording order."""
        for table in self.batches():
            yield from ticks_from_table(table)


def _level(entry: DepthEntry) -> tuple[float | None, int, int]:
    """A depth level as columns: no price when nobody quotes there (zero quantity or price)."""
    price, qty, orders = entry
    return (price if qty and price else None), qty, orders


class _Batch:
    """Rows collected column by column, so a batch becomes an Arrow table without per-row objects."""

    def __init__(self) -> None:
        self.columns: list[list[Any]] = [[] for _ in TICK_SCHEMA.names]
        self.depth: list[list[Any]] = [[] for _ in DEPTH_COLUMNS]
        self.has_full = False

    def __len__(self) -> int:
        return len(self.columns[0])

    def append(self, packet: KitePacket, instrument: Instrument, seq: int, receive_ts_ns: int) -> None:
        best_bid = _level(packet.bids[0] if packet.bids else _EMPTY_LEVEL)
        best_ask = _level(packet.asks[0] if packet.asks else _EMPTY_LEVEL)
        timestamp = packet.exchange_timestamp
        row = (
            timestamp * _NANOS_PER_SECOND if timestamp is not None else receive_ts_ns,
            instrument.tradingsymbol,
            instrument.exchange,
            seq,
            packet.last_price,
            packet.last_traded_quantity,
            packet.volume_traded,
            best_bid[0],
            best_ask[0],
            best_bid[1] if best_bid[0] is not None else 0,
            best_ask[1] if best_ask[0] is not None else 0,
        )
        for column, value in zip(self.columns, row, strict=True):
            column.append(value)
        if packet.mode == "full":
            self.has_full = True
            values: Iterable[float | int | None] = (
                value
                for levels in (packet.bids, packet.asks)
                for entry in (*levels, *[_EMPTY_LEVEL] * (DEPTH_LEVELS - len(levels)))
                for value in _level(entry)
            )
        else:
            values = [None] * len(DEPTH_COLUMNS)
        for column, value in zip(self.depth, values, strict=True):
            column.append(value)

    def table(self, depth: bool | None) -> pa.Table:
        with_depth = self.has_full if depth is None else depth
        fields = [*TICK_SCHEMA]
        arrays = [pa.array(column, field.type) for column, field in zip(self.columns, TICK_SCHEMA, strict=True)]
        if with_depth:
            for name, column in zip(DEPTH_COLUMNS, self.depth, strict=True):
                fields.append(pa.field(name, depth_type(name)))
                arrays.append(pa.array(column, depth_type(name)))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
