"""The one place that turns settings into client connections, so every Kafka and Redis client of the
repository authenticates as its process's principal (see docs/security.md)."""

from __future__ import annotations

import ssl
from typing import Any

import redis.asyncio as redis
from aiokafka.helpers import create_ssl_context

from runtime.settings import Settings

TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The context that verifies the broker's certificate (chain to `kafka_ssl_cafile`, or the system's CAs,
    and the address dialled) when the protocol is SSL or SASL_SSL; None otherwise. A new one per client:
    loading a CA file is cheap next to a handshake, and a renewed CA is picked up by the next client."""
    if settings.kafka_security_protocol.upper() not in TLS_PROTOCOLS:
        return None
    context: ssl.SSLContext = create_ssl_context(cafile=settings.kafka_ssl_cafile or None)
    return context


def kafka_security(settings: Settings) -> dict[str, Any]:
    """aiokafka's security keyword arguments for this process's principal (none on a PLAINTEXT broker)."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if (context := kafka_ssl_context(settings)) is not None:
        options["ssl_context"] = context
    if settings.kafka_username:
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_username,
            "sasl_plain_password": settings.kafka_password.get_secret_value(),
        }
    return options


def kafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments every AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient starts from."""
    return {"bootstrap_servers": settings.kafka_bootstrap, **kafka_security(settings)}


def faust_credentials(settings: Settings) -> Any:
    """The `broker_credentials` of a faust.App (None on a PLAINTEXT broker); faust is imported only here.
    Faust derives the protocol from them: SASL_SSL when SASL credentials carry an ssl_context, SSL for
    SSLCredentials."""
    context = kafka_ssl_context(settings)
    if not settings.kafka_username and context is None:
        return None
    import faust

    if not settings.kafka_username:
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.kafka_username,
        password=settings.kafka_password.get_secret_value(),
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=context,
    )


def redis_client(settings: Settings) -> redis.Redis:
    """A client of the stack's Redis, signed in as this process's ACL user (none: the default user)."""
    password = settings.redis_password.get_secret_value()
    return redis.from_url(
        settings.redis_url, username=settings.redis_username or None, password=password or None
    )
