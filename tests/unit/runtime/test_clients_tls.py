"""Settings -> TLS options: which settings turn TLS on for Kafka (aiokafka, faust) and PostgreSQL (asyncpg's
DSN), what the contexts verify, and how ZVT_TLS layers the stack's tls.env."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, cast

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr

from runtime.clients import faust_credentials, kafka_options
from runtime.settings import Settings, load_settings
from tests.tls import make_ca

SECRET = "kafka-pw-1"


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ca(tmp_path_factory.mktemp("ca"), "unit test CA")


def trusted_names(context: ssl.SSLContext) -> list[str]:
    """The common names of the CAs a context trusts."""
    names = []
    for ca in context.get_ca_certs():
        for rdn in cast("tuple[tuple[tuple[str, str], ...], ...]", ca["subject"]):
            names += [value for key, value in rdn if key == "commonName"]
    return names


def kafka(protocol: str, cafile: str = "", username: str = "sink") -> Settings:
    return Settings(
        kafka_bootstrap="127.0.0.1:9094",
        kafka_security_protocol=protocol,
        kafka_ssl_cafile=cafile,
        kafka_username=username,
        kafka_password=SecretStr(SECRET if username else ""),
    )


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_clear_text_protocols_have_no_ssl_context(protocol: str) -> None:
    options = kafka_options(kafka(protocol))
    assert options["security_protocol"] == protocol
    assert "ssl_context" not in options
    credentials = faust_credentials(kafka(protocol))
    assert isinstance(credentials, SASLCredentials)
    assert credentials.ssl_context is None
    assert credentials_to_aiokafka_auth(credentials)["security_protocol"] == "SASL_PLAINTEXT"


def test_sasl_ssl_verifies_the_broker_against_the_configured_ca(ca_file: Path) -> None:
    options = kafka_options(kafka("SASL_SSL", str(ca_file)))
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_plain_password"] == SECRET
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert trusted_names(context) == ["unit test CA"]


def test_sasl_ssl_without_a_ca_file_trusts_the_system_store() -> None:
    context = kafka_options(kafka("SASL_SSL"))["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert "unit test CA" not in trusted_names(context)


def test_faust_gets_the_same_protocol_and_context(ca_file: Path) -> None:
    credentials = faust_credentials(kafka("SASL_SSL", str(ca_file)))
    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_plain_username"] == "sink"
    assert isinstance(auth["ssl_context"], ssl.SSLContext)
    anonymous = faust_credentials(kafka("SSL", str(ca_file), username=""))
    assert isinstance(anonymous, SSLCredentials)
    assert credentials_to_aiokafka_auth(anonymous)["security_protocol"] == "SSL"
    assert faust_credentials(kafka("PLAINTEXT", username="")) is None


def test_postgres_url_carries_the_ssl_mode_and_root_certificate() -> None:
    base: dict[str, Any] = {"postgres_dsn": "postgresql://127.0.0.1:5432/zvt", "postgres_user": "zvt_sink"}
    plain = Settings(**base, postgres_password=SecretStr("pw"))
    assert plain.postgres_url() == "postgresql://zvt_sink:pw@127.0.0.1:5432/zvt"
    disabled = Settings(**base, postgres_sslmode="disable", postgres_sslrootcert="/ca.crt")
    assert (
        disabled.postgres_url()
        == "postgresql://zvt_sink@127.0.0.1:5432/zvt?sslmode=disable&sslrootcert=%2Fca.crt"
    )
    verified = Settings(
        postgres_dsn="postgresql://127.0.0.1:5432/zvt?sslmode=require&application_name=x",
        postgres_sslmode="verify-full",
        postgres_sslrootcert="/run/tls/ca.crt",
    )
    assert verified.postgres_url() == (
        "postgresql://127.0.0.1:5432/zvt?sslmode=verify-full&application_name=x&sslrootcert=%2Frun%2Ftls%2Fca.crt"
    )
    kept = Settings(postgres_dsn="postgresql://127.0.0.1:5432/zvt?sslmode=require")
    assert kept.postgres_url() == "postgresql://127.0.0.1:5432/zvt?sslmode=require"


FLAGS = [(None, False), ("0", False), ("off", False), ("1", True), ("yes", True)]


@pytest.mark.parametrize(("flag", "tls"), FLAGS)
def test_zvt_tls_layers_the_stacks_tls_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str | None, tls: bool
) -> None:
    for variable in ("ZVT_KAFKA_BOOTSTRAP", "ZVT_KAFKA_SECURITY_PROTOCOL", "ZVT_POSTGRES_SSLMODE", "ZVT_TLS"):
        monkeypatch.delenv(variable, raising=False)
    if flag is not None:
        monkeypatch.setenv("ZVT_TLS", flag)
    monkeypatch.setenv("ZVT_RUN_DIR", str(tmp_path))
    monkeypatch.delenv("ZVT_ENV_FILE", raising=False)
    (tmp_path / "zvt.env").write_text(
        "ZVT_KAFKA_BOOTSTRAP=127.0.0.1:9092\nZVT_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT\n"
        "ZVT_KAFKA_SSL_CAFILE=/run/tls/ca.crt\nZVT_POSTGRES_SSLMODE=disable\n"
    )
    (tmp_path / "tls.env").write_text(
        "ZVT_KAFKA_BOOTSTRAP=127.0.0.1:9094\nZVT_KAFKA_SECURITY_PROTOCOL=SASL_SSL\nZVT_POSTGRES_SSLMODE=verify-full\n"
    )
    settings = load_settings(kind="sink")
    assert settings.kafka_ssl_cafile == "/run/tls/ca.crt"
    expected = ("127.0.0.1:9094", "SASL_SSL", "verify-full")
    if not tls:
        expected = ("127.0.0.1:9092", "SASL_PLAINTEXT", "disable")
    assert (settings.kafka_bootstrap, settings.kafka_security_protocol, settings.postgres_sslmode) == expected
    assert load_settings(kind="sink", tls=not tls).kafka_bootstrap != settings.kafka_bootstrap
