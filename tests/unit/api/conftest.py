"""The API's unit tests share one tokens file: a user per role, named as the role, in `tmp_path`."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.tokens import EMPTY, Role, write_tokens


@pytest.fixture
def tokens(tmp_path: Path) -> dict[Role, str]:
    ring, issued = EMPTY, {}
    for role in Role:
        ring, token = ring.with_user(role.value, role)
        issued[role] = token.get_secret_value()
    write_tokens(tmp_path / "tokens.json", ring)
    return issued
