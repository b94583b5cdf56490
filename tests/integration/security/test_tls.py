"""TLS on the real stack: Kafka's SASL_SSL listener and PostgreSQL with the stack's CA-signed certificate.

A client that verifies against the stack's CA (`ZVT_TLS=1`, i.e. `.run/tls.env`) works; one that trusts
another CA is refused at the handshake; the clear-text path the other tests use stays clear text.
"""

from __future__ import annotations

import asyncio
import ssl
import stat
import uuid
from pathlib import Path
from typing import cast

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from runtime.clients import kafka_options, kafka_ssl_context
from runtime.settings import Settings, load_settings, run_dir
from tests.tls import make_ca
from topics import Topics

pytestmark = pytest.mark.integration

SSL_ROW = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def over_tls(settings: Settings, kind: str = "admin", **changes: str) -> Settings:
    """The settings of a process of `kind` started with ZVT_TLS=1, on this run's topics."""
    tls = load_settings(kind=kind, tls=True)
    assert tls.kafka_security_protocol == "SASL_SSL", "no TLS endpoints in .run/tls.env: run stack.sh up"
    return tls.model_copy(update={"topic_prefix": settings.topic_prefix, **changes})


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ca(tmp_path_factory.mktemp("other-ca"), "not the stack's CA")


async def handshake(settings: Settings) -> ssl.SSLObject:
    """A bare TLS handshake with the broker's TLS listener, verified as the Kafka clients verify it."""
    host, _, port = settings.kafka_bootstrap.rpartition(":")
    _, writer = await asyncio.open_connection(host, int(port), ssl=kafka_ssl_context(settings))
    try:
        tls = writer.get_extra_info("ssl_object")
        assert isinstance(tls, ssl.SSLObject)
        return tls
    finally:
        writer.close()
        await writer.wait_closed()


def test_keys_are_readable_by_their_owner_only() -> None:
    tls_dir = run_dir() / "tls"
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    for key in ("ca.key", "server.key"):
        assert stat.S_IMODE((tls_dir / key).stat().st_mode) == 0o600


async def test_a_client_verifying_the_stacks_ca_produces_and_consumes(kafka_topics: Settings) -> None:
    settings = over_tls(kafka_topics, "agents")
    assert settings.kafka_bootstrap != load_settings(tls=False).kafka_bootstrap
    tls = await handshake(settings)
    assert tls.version() in ("TLSv1.2", "TLSv1.3")
    certificate = tls.getpeercert()
    assert certificate is not None
    assert ("IP Address", "127.0.0.1") in cast("tuple[tuple[str, str], ...]", certificate["subjectAltName"])

    topic, value = Topics.ALERTS.full_name(settings.topic_prefix), f"tls-{uuid.uuid4()}".encode()
    producer = AIOKafkaProducer(**kafka_options(settings), acks="all")
    await producer.start()
    try:
        sent = await asyncio.wait_for(producer.send_and_wait(topic, value, key=b"tls", partition=0), 30)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(**kafka_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, sent.offset)
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert record.value == value


async def test_a_client_trusting_another_ca_is_refused(kafka_topics: Settings, other_ca: Path) -> None:
    settings = over_tls(kafka_topics, "agents", kafka_ssl_cafile=str(other_ca))
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(settings)
    producer = AIOKafkaProducer(**kafka_options(settings), request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()


async def test_tls_still_asks_for_the_password_and_speaks_tls_only(kafka_topics: Settings) -> None:
    settings = over_tls(kafka_topics, "publisher")
    wrong = AIOKafkaProducer(
        **kafka_options(settings) | {"sasl_plain_password": "not-the-password"}, request_timeout_ms=5000
    )
    with pytest.raises(KafkaError):
        await wrong.start()
    await wrong.stop()
    clear = settings.model_copy(update={"kafka_security_protocol": "SASL_PLAINTEXT"})
    clear_text = AIOKafkaProducer(**kafka_options(clear), request_timeout_ms=5000)
    with pytest.raises(KafkaError):
        await clear_text.start()
    await clear_text.stop()


@pytest.mark.parametrize(("kind", "role"), [("admin", "zvt"), ("sink", "zvt_sink")])
async def test_postgres_verify_full_runs_over_tls(settings: Settings, kind: str, role: str) -> None:
    tls = over_tls(settings, kind)
    assert tls.postgres_sslmode == "verify-full"
    connection = await asyncpg.connect(tls.postgres_url())
    try:
        row = await connection.fetchrow(SSL_ROW)
        assert await connection.fetchval("SELECT current_user") == role
    finally:
        await connection.close()
    assert row["ssl"] is True
    assert row["version"] in ("TLSv1.2", "TLSv1.3")


async def test_postgres_clear_text_path_is_unchanged() -> None:
    plain = load_settings(tls=False)
    assert plain.postgres_sslmode == "disable"
    connection = await asyncpg.connect(plain.postgres_url())
    try:
        assert (await connection.fetchrow(SSL_ROW))["ssl"] is False
    finally:
        await connection.close()


async def test_postgres_refuses_a_client_trusting_another_ca(settings: Settings, other_ca: Path) -> None:
    tls = over_tls(settings, postgres_sslrootcert=str(other_ca))
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncpg.connect(tls.postgres_url(), timeout=10)
