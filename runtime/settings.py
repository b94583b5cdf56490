"""Connection settings for every process, loaded once from the environment and the stack's env files.

`deploy/local/stack.sh up` writes `.run/zvt.env` (addresses, DSNs, the Hatchet client token) and one
credentials file per process kind, `.run/credentials/<kind>.env` (that kind's Redis user, PostgreSQL role,
Kafka principal). A process reads the shared file, then its kind's (`ZVT_PROCESS_KIND`, set by the `zvt`
command that starts it; `admin` otherwise); real environment variables override both, so the same code runs
against the local stack, compose or Kubernetes. With `ZVT_TLS=1` it also reads `.run/tls.env`, the stack's
TLS endpoints (Kafka's SASL_SSL listener, PostgreSQL with verify-full). Every password is a `SecretStr`: a
logged or printed Settings shows `**********`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# The principal of a process that names none: the operator's (stack scripts, migrations, tests, benchmarks).
ADMIN_KIND = "admin"
PROCESS_KIND_VARIABLE = "ZVT_PROCESS_KIND"
# Set (to anything but 0/false/no/off): this process and those it starts use the stack's TLS endpoints.
TLS_VARIABLE = "ZVT_TLS"


def run_dir() -> Path:
    """The local stack's run directory (`ZVT_RUN_DIR` in deploy/local/config.sh)."""
    return Path(os.environ.get("ZVT_RUN_DIR", REPO_ROOT / ".run"))


def default_env_file() -> Path:
    return Path(os.environ.get("ZVT_ENV_FILE", run_dir() / "zvt.env"))


def credentials_dir() -> Path:
    """Where the stack keeps its generated passwords, one 0600 file per principal."""
    return run_dir() / "credentials"


def tls_env_file() -> Path:
    """The settings that move a process onto the stack's TLS endpoints (written by deploy/local/*.sh)."""
    return run_dir() / "tls.env"


class Settings(BaseSettings):
    """Where the four services live and how this process names its topics."""

    model_config = SettingsConfigDict(env_prefix="ZVT_", extra="ignore", frozen=True)

    kafka_bootstrap: str = "127.0.0.1:9092"
    # SASL_PLAINTEXT with a SCRAM principal on the local stack (SASL_SSL on its TLS listener); PLAINTEXT (and
    # no principal) talks to a broker without authentication. Every client gets these through
    # runtime.clients.kafka_options.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    # With SSL or SASL_SSL: the CA bundle (PEM) the broker's certificate must chain to; empty: the system's.
    kafka_ssl_cafile: str = ""
    kafka_username: str = ""
    kafka_password: SecretStr = SecretStr("")
    redis_url: str = "redis://127.0.0.1:6379/0"  # no credentials: those are the two below
    redis_username: str = ""
    redis_password: SecretStr = SecretStr("")
    postgres_dsn: str = "postgresql://127.0.0.1:55432/zvt"  # no credentials: see postgres_url()
    postgres_user: str = ""
    postgres_password: SecretStr = SecretStr("")
    # libpq's sslmode and sslrootcert, put into postgres_url() when set (else the DSN's own, or asyncpg's
    # default `prefer`); verify-full checks the server's certificate against sslrootcert and its address.
    postgres_sslmode: str = ""
    postgres_sslrootcert: str = ""
    # The keyring every event is signed and verified with (schemas/signing.py); empty: the stack's,
    # `.run/credentials/signing-keys.json`.
    signing_keyring: str = ""
    # Prepended to every Kafka topic and Redis stream name: lets tests and parallel desks share one broker.
    topic_prefix: str = ""
    hatchet_dashboard_url: str = "http://localhost:8888"
    # When the risk monitor workflow runs on its own (cron syntax); empty: only when triggered.
    monitor_cron: str = "*/5 * * * *"
    # Prometheus /metrics of each process besides the agent worker (which serves it on its web monitor);
    # 0 turns one off.
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 in a container, so the cluster's Prometheus can scrape
    bridge_metrics_port: int = 9101
    sink_metrics_port: int = 9102
    workflows_metrics_port: int = 9103
    # `zvt api`: loopback unless told otherwise (it places orders); its users' hashed bearer tokens (empty:
    # `.run/credentials/api-tokens.json`, 0600, made by `zvt api tokens add`).
    api_host: str = "127.0.0.1"
    api_port: int = 8077
    api_tokens_file: str = ""

    hatchet_client_token: SecretStr = Field(default=SecretStr(""), validation_alias="HATCHET_CLIENT_TOKEN")
    hatchet_client_host_port: str = Field(
        default="localhost:7077", validation_alias="HATCHET_CLIENT_HOST_PORT"
    )
    hatchet_client_server_url: str = Field(
        default="http://localhost:8888", validation_alias="HATCHET_CLIENT_SERVER_URL"
    )
    hatchet_client_tls_strategy: str = Field(default="none", validation_alias="HATCHET_CLIENT_TLS_STRATEGY")

    def postgres_url(self) -> str:
        """The DSN with this process's role, password and TLS mode in it: for connecting, never for printing.
        asyncpg reads sslmode and sslrootcert from the DSN, so every connection made from it honours them."""
        parts = urlsplit(self.postgres_dsn)
        if self.postgres_user:
            host = parts.netloc.rpartition("@")[2]
            password = quote(self.postgres_password.get_secret_value(), safe="")
            auth = quote(self.postgres_user, safe="") + (f":{password}" if password else "")
            parts = parts._replace(netloc=f"{auth}@{host}")
        tls = {"sslmode": self.postgres_sslmode, "sslrootcert": self.postgres_sslrootcert}
        if any(tls.values()):
            query = dict(parse_qsl(parts.query)) | {key: value for key, value in tls.items() if value}
            parts = parts._replace(query=urlencode(query))
        return urlunsplit(parts)


def process_kind() -> str:
    """Which principal this process uses: the one its `zvt` command selected, or admin."""
    return os.environ.get(PROCESS_KIND_VARIABLE) or ADMIN_KIND


def tls_selected() -> bool:
    """Whether this process was asked (`ZVT_TLS`) to use the stack's TLS endpoints."""
    return os.environ.get(TLS_VARIABLE, "").strip().lower() not in ("", "0", "false", "no", "off")


def load_settings(env_file: Path | None = None, kind: str | None = None, tls: bool | None = None) -> Settings:
    """Read settings from the environment, falling back to the stack's env file, its TLS endpoints when `tls`
    (`ZVT_TLS` by default) and the credentials file of `kind` (this process's kind by default)."""
    files = [env_file or default_env_file()]
    if tls if tls is not None else tls_selected():
        files.append(tls_env_file())
    files.append(credentials_dir() / f"{kind or process_kind()}.env")
    existing = tuple(path for path in files if path.exists())
    return Settings(_env_file=existing or None)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def select_process_kind(kind: str) -> None:
    """Make this process (and the settings it loads from now on) one of `kind`: called by the `zvt` command
    that starts a bridge, a sink, an agent worker... before anything reads the settings."""
    os.environ[PROCESS_KIND_VARIABLE] = kind
    get_settings.cache_clear()
