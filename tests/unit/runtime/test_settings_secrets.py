"""Passwords in the settings never show: not in repr, str or a dump, not in the DSNs."""

from __future__ import annotations

from pydantic import SecretStr

from runtime.clients import kafka_options
from runtime.settings import Settings

SECRETS = {"kafka": "kafka-pw-1", "redis": "redis-pw-2", "postgres": "pg-pw-3", "token": "ey.token.4"}


def settings() -> Settings:
    return Settings(
        kafka_username="sink",
        kafka_password=SecretStr(SECRETS["kafka"]),
        redis_username="bridge",
        redis_password=SecretStr(SECRETS["redis"]),
        postgres_dsn="postgresql://127.0.0.1:5432/zvt",
        postgres_user="zvt_sink",
        postgres_password=SecretStr(SECRETS["postgres"]),
        HATCHET_CLIENT_TOKEN=SecretStr(SECRETS["token"]),
    )


def test_no_secret_in_repr_str_or_dump() -> None:
    shown = [repr(settings()), str(settings()), str(settings().model_dump()), settings().model_dump_json()]
    for text in shown:
        for secret in SECRETS.values():
            assert secret not in text


def test_the_connection_values_carry_them() -> None:
    assert settings().postgres_url() == f"postgresql://zvt_sink:{SECRETS['postgres']}@127.0.0.1:5432/zvt"
    assert SECRETS["postgres"] not in settings().postgres_dsn
    assert kafka_options(settings())["sasl_plain_password"] == SECRETS["kafka"]
