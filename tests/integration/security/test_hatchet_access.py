"""The Hatchet engine listens on loopback only, and its REST login takes the generated admin password only."""

from __future__ import annotations

import json
import socket
import stat
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from runtime.settings import Settings, credentials_dir, run_dir

pytestmark = pytest.mark.integration

ADMIN_EMAIL = "admin@example.com"
QUICKSTART_PASSWORD = "Admin123!!"
LOOPBACK = {"127.0.0.1", "::1"}


def non_loopback_address() -> str | None:
    """The address this machine uses towards the outside (no packet is sent: UDP connect only routes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1, never routed anywhere real
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """Every (address, port) a process listens on, from its socket inodes and /proc/net/tcp{,6}."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = fd.readlink().name if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            hex_address, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_address)
            # /proc prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add((socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found


def login(settings: Settings, email: str, password: str) -> int:
    request = urllib.request.Request(
        f"{api_url(settings)}/api/v1/users/login",
        data=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def api_url(settings: Settings) -> str:
    return settings.hatchet_client_server_url.replace("localhost", "127.0.0.1")


def test_every_engine_port_is_on_loopback() -> None:
    pid = int((run_dir() / "hatchet" / "hatchet.pid").read_text())
    listening = listening_addresses(pid)
    assert len(listening) >= 5, listening  # gRPC, health, API, the lite proxy, the static files
    assert {address for address, _ in listening} <= LOOPBACK, listening


def test_api_is_unreachable_on_the_machines_other_address(settings: Settings) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    port = urlsplit(settings.hatchet_client_server_url).port
    assert port is not None
    with socket.socket() as sock:
        sock.settimeout(2)
        assert sock.connect_ex(("127.0.0.1", port)) == 0  # the API is up...
    with socket.socket() as sock:
        sock.settimeout(2)
        assert sock.connect_ex((address, port)) != 0  # ...but not on this address


def test_login_refuses_the_quickstart_password_and_takes_the_generated_one(settings: Settings) -> None:
    secret = credentials_dir() / "hatchet-admin"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    generated = secret.read_text().strip()
    assert generated != QUICKSTART_PASSWORD
    assert login(settings, ADMIN_EMAIL, QUICKSTART_PASSWORD) in {400, 401, 403}
    assert login(settings, ADMIN_EMAIL, generated) == 200
