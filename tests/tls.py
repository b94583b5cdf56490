"""Throwaway certificate authorities for tests, made with openssl like deploy/local/tls.sh makes the stack's:
a client that trusts one of these instead of the stack's CA must be refused."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_ca(directory: Path, name: str = "test CA") -> Path:
    """A self-signed EC CA certificate (PEM) in `directory`; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / "ca.key", directory / "ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert
