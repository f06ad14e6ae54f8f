"""Encoding of messages into stream entries and back.

An entry carries one message, as msgpack in field ``d`` (what services write) or as JSON in field ``j``
(what a person types: ``redis-cli XADD ticks '*' j '{"msg":"tick",...}'``). Decoding validates the
message against its contract; anything that fails raises :class:`aitrader.errors.DecodeError` with a
message naming the field that was wrong, so the consumer can dead-letter it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, get_args

import msgspec

from aitrader.contracts.messages import Message
from aitrader.errors import DecodeError

MSGPACK_FIELD = b"d"
JSON_FIELD = b"j"

_msgpack_encoder = msgspec.msgpack.Encoder()
_json_encoder = msgspec.json.Encoder()


@cache
def _msgpack_decoder(message_type: Any) -> msgspec.msgpack.Decoder[Any]:
    return msgspec.msgpack.Decoder(message_type)


@cache
def _json_decoder(message_type: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(message_type)


def encode(message: msgspec.Struct) -> bytes:
    """The msgpack bytes of ``message`` (the value of field ``d``)."""
    return _msgpack_encoder.encode(message)


def encode_json(message: msgspec.Struct) -> bytes:
    return _json_encoder.encode(message)


def to_fields(message: msgspec.Struct) -> dict[bytes, bytes]:
    """The stream entry for ``message``."""
    return {MSGPACK_FIELD: _msgpack_encoder.encode(message)}


def decode(data: bytes, message_type: Any = Message) -> Any:
    """Decode msgpack ``data`` as ``message_type`` (a Struct, or a union such as ``Message``)."""
    try:
        return _msgpack_decoder(message_type).decode(data)
    except msgspec.DecodeError as e:
        raise DecodeError(f"invalid msgpack message: {e}") from e


def decode_json(data: bytes | str, message_type: Any = Message) -> Any:
    """Decode JSON ``data`` as ``message_type``.

    A stream that carries a union (``ticks`` carries Tick or EndOfData) takes a document without ``msg`` as
    the union's first type, so a person can type a tick without naming it.
    """
    try:
        return _json_decoder(message_type).decode(data)
    except msgspec.DecodeError as e:
        members = get_args(message_type)
        if members and "missing required field `msg`" in str(e):
            document = _untagged_document(data)
            if document is not None:
                document["msg"] = members[0].__struct_config__.tag
                try:
                    return msgspec.convert(document, message_type)
                except msgspec.ValidationError as retry:
                    raise DecodeError(f"invalid JSON message: {retry}") from retry
        raise DecodeError(f"invalid JSON message: {e}") from e


def _untagged_document(data: bytes | str) -> dict[str, Any] | None:
    try:
        document = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    return document if isinstance(document, dict) and "msg" not in document else None


def from_fields(fields: Mapping[bytes, bytes], message_type: Any = Message) -> Any:
    """Decode a stream entry: field ``d`` (msgpack) wins over field ``j`` (JSON)."""
    data = fields.get(MSGPACK_FIELD)
    if data is not None:
        return decode(data, message_type)
    text = fields.get(JSON_FIELD)
    if text is not None:
        return decode_json(text, message_type)
    names = sorted(key.decode(errors="replace") for key in fields)
    raise DecodeError(f"entry has neither field 'd' (msgpack) nor 'j' (JSON); its fields were {names}")
