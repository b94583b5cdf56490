"""Connection settings for every process, loaded once from the environment and the stack's env file.

`deploy/local/stack.sh up` writes `.run/zvt.env` (addresses, DSNs, the Hatchet client token); real
environment variables override it, so the same code runs against the local stack, compose or Kubernetes.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_dir() -> Path:
    """The local stack's run directory (`ZVT_RUN_DIR` in deploy/local/config.sh)."""
    return Path(os.environ.get("ZVT_RUN_DIR", REPO_ROOT / ".run"))


def default_env_file() -> Path:
    return Path(os.environ.get("ZVT_ENV_FILE", run_dir() / "zvt.env"))


def credentials_dir() -> Path:
    """Where the stack keeps its generated passwords, one 0600 file per principal."""
    return Path(os.environ.get("ZVT_CREDENTIALS_DIR", run_dir() / "credentials"))


class Settings(BaseSettings):
    """Where the four services live and how this process names its topics."""

    model_config = SettingsConfigDict(env_prefix="ZVT_", extra="ignore", frozen=True)

    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    postgres_dsn: str = "postgresql://zvt:zvt@127.0.0.1:55432/zvt"
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

    hatchet_client_token: str = Field(default="", validation_alias="HATCHET_CLIENT_TOKEN")
    hatchet_client_host_port: str = Field(
        default="localhost:7077", validation_alias="HATCHET_CLIENT_HOST_PORT"
    )
    hatchet_client_server_url: str = Field(
        default="http://localhost:8888", validation_alias="HATCHET_CLIENT_SERVER_URL"
    )
    hatchet_client_tls_strategy: str = Field(default="none", validation_alias="HATCHET_CLIENT_TLS_STRATEGY")


def load_settings(env_file: Path | None = None) -> Settings:
    """Read settings from the environment, falling back to the stack's env file."""
    path = env_file or default_env_file()
    return Settings(_env_file=path if path.exists() else None)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
