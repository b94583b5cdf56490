"""asyncpg connections for the event store: JSONB travels as raw UTF-8 bytes, never as Python str.

The sink already holds each event's JSON bytes from Kafka and orjson parses bytes, so decoding JSONB
to str and encoding it back would only copy. The binary JSONB format is a version byte (1) then text.
"""

from __future__ import annotations

from typing import Any

import asyncpg

_JSONB_VERSION = b"\x01"


def _encode_jsonb(value: bytes | str) -> bytes:
    return _JSONB_VERSION + (value.encode() if isinstance(value, str) else value)


def _decode_jsonb(value: bytes) -> bytes:
    return value[1:]


async def init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_jsonb, decoder=_decode_jsonb, format="binary"
    )


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    connection = await asyncpg.connect(dsn, **kwargs)
    await init_connection(connection)
    return connection


async def create_pool(dsn: str, **kwargs: Any) -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, init=init_connection, **kwargs)
