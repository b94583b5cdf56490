"""The one place that turns settings into client connections, so every Kafka and Redis client of the
repository authenticates as its process's principal (see docs/security.md)."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis

from zvt.settings import Settings


def kafka_security(settings: Settings) -> dict[str, Any]:
    """aiokafka's security keyword arguments for this process's principal (none on a PLAINTEXT broker)."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
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
    """The `broker_credentials` of a faust.App (None on a PLAINTEXT broker); faust is imported only here."""
    if not settings.kafka_username:
        return None
    import faust

    return faust.SASLCredentials(
        username=settings.kafka_username,
        password=settings.kafka_password.get_secret_value(),
        mechanism=settings.kafka_sasl_mechanism,
    )


def redis_client(settings: Settings) -> redis.Redis:
    """A client of the stack's Redis, signed in as this process's ACL user (none: the default user)."""
    password = settings.redis_password.get_secret_value()
    return redis.from_url(
        settings.redis_url, username=settings.redis_username or None, password=password or None
    )
