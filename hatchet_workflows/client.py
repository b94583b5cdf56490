"""The Hatchet client shared by every workflow module, configured from the stack's settings."""

from __future__ import annotations

from hatchet_sdk import ClientConfig, Hatchet
from hatchet_sdk.config import ClientTLSConfig

from runtime.settings import Settings, get_settings


class HatchetNotConfiguredError(RuntimeError):
    pass


def client_config(settings: Settings) -> ClientConfig:
    if not settings.hatchet_client_token.get_secret_value():
        raise HatchetNotConfiguredError(
            "no Hatchet client token: run `zvt stack up` (it mints one into .run/zvt.env) "
            "or set HATCHET_CLIENT_TOKEN"
        )
    return ClientConfig(
        token=settings.hatchet_client_token.get_secret_value(),
        host_port=settings.hatchet_client_host_port,
        server_url=settings.hatchet_client_server_url,
        tls_config=ClientTLSConfig(strategy=settings.hatchet_client_tls_strategy),
    )


hatchet = Hatchet(config=client_config(get_settings()))
