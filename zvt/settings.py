"""Connection settings for every process, loaded once from the environment and the stack's env files.

`deploy/local/stack.sh up` writes `.run/zvt.env` (addresses, DSNs, the Hatchet client token) and one
credentials file per process kind, `.run/credentials/<kind>.env` (that kind's Redis user, PostgreSQL role,
Kafka principal). A process reads the shared file, then its kind's (`ZVT_PROCESS_KIND`, set by the `zvt`
command that starts it; `admin` otherwise); real environment variables override both, so the same code runs
against the local stack, compose or Kubernetes. Every password is a `SecretStr`: a logged or printed
Settings shows `**********`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# The principal of a process that names none: the operator's (stack scripts, migrations, tests, benchmarks).
ADMIN_KIND = "admin"
PROCESS_KIND_VARIABLE = "ZVT_PROCESS_KIND"


def run_dir() -> Path:
    """The local stack's run directory (`ZVT_RUN_DIR` in deploy/local/config.sh)."""
    return Path(os.environ.get("ZVT_RUN_DIR", REPO_ROOT / ".run"))


def default_env_file() -> Path:
    return Path(os.environ.get("ZVT_ENV_FILE", run_dir() / "zvt.env"))


def credentials_dir() -> Path:
    """Where the stack keeps its generated passwords, one 0600 file per principal."""
    return run_dir() / "credentials"


class Settings(BaseSettings):
    """Where the four services live and how this process names its topics."""

    model_config = SettingsConfigDict(env_prefix="ZVT_", extra="ignore", frozen=True)

    kafka_bootstrap: str = "127.0.0.1:9092"
    # SASL_PLAINTEXT with a SCRAM principal on the local stack; PLAINTEXT (and no principal) talks to a
    # broker without authentication. Every client gets these through zvt.clients.kafka_options.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_username: str = ""
    kafka_password: SecretStr = SecretStr("")
    redis_url: str = "redis://127.0.0.1:6379/0"  # no credentials: those are the two below
    redis_username: str = ""
    redis_password: SecretStr = SecretStr("")
    postgres_dsn: str = "postgresql://127.0.0.1:55432/zvt"  # no credentials: see postgres_url()
    postgres_user: str = ""
    postgres_password: SecretStr = SecretStr("")
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

    hatchet_client_token: SecretStr = Field(default=SecretStr(""), validation_alias="HATCHET_CLIENT_TOKEN")
    hatchet_client_host_port: str = Field(
        default="localhost:7077", validation_alias="HATCHET_CLIENT_HOST_PORT"
    )
    hatchet_client_server_url: str = Field(
        default="http://localhost:8888", validation_alias="HATCHET_CLIENT_SERVER_URL"
    )
    hatchet_client_tls_strategy: str = Field(default="none", validation_alias="HATCHET_CLIENT_TLS_STRATEGY")

    def postgres_url(self) -> str:
        """The DSN with this process's role and password in it: for connecting, never for printing."""
        if not self.postgres_user:
            return self.postgres_dsn
        parts = urlsplit(self.postgres_dsn)
        host = parts.netloc.rpartition("@")[2]
        password = quote(self.postgres_password.get_secret_value(), safe="")
        auth = quote(self.postgres_user, safe="") + (f":{password}" if password else "")
        return urlunsplit(parts._replace(netloc=f"{auth}@{host}"))


def process_kind() -> str:
    """Which principal this process uses: the one its `zvt` command selected, or admin."""
    return os.environ.get(PROCESS_KIND_VARIABLE) or ADMIN_KIND


def load_settings(env_file: Path | None = None, kind: str | None = None) -> Settings:
    """Read settings from the environment, falling back to the stack's env file and the credentials file of
    `kind` (this process's kind by default)."""
    files = [env_file or default_env_file(), credentials_dir() / f"{kind or process_kind()}.env"]
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
