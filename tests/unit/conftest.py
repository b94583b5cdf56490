"""Unit tests sign and verify with a keyring of their own, never the local stack's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.signing import KEYRING, new_keyring, write_keyring


@pytest.fixture(scope="package", autouse=True)
def unit_keyring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A keyring file of the unit tests (package-scoped, so hypothesis tests may use it too); the
    process's own ring again once the last unit test has run."""
    path = tmp_path_factory.mktemp("keyring") / "signing-keys.json"
    write_keyring(path, new_keyring())
    KEYRING.reset(path)
    yield path
    KEYRING.reset()
