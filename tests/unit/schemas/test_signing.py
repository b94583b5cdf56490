"""Event signatures: what verifies, what is refused and why, and a key rotated under a running reader."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.signing import (
    KeyRing,
    KeyringError,
    KeyringFile,
    SignatureError,
    new_keyring,
    read_keyring,
    signature_in,
    write_keyring,
)

RING = KeyRing("k1", {"k1": b"1" * 32, "k2": b"2" * 32})


def test_a_signature_names_its_key_and_verifies_only_the_exact_bytes() -> None:
    signature = RING.sign(b'{"a":1}')
    assert signature.startswith(b"k1:")
    assert RING.verify(b'{"a":1}', signature) == "k1"
    assert RING.verify(b'{"a":1}', signature.decode()) == "k1"  # as a Redis client may hand it over
    for other in (b'{"a":1} ', b'{"a":2}', b'{"a": 1}'):
        with pytest.raises(SignatureError, match="does not match"):
            RING.verify(other, signature)


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "no signature"),
        (b"", "no signature"),
        (b"k1", "malformed"),
        (b"k1:", "malformed"),
        ("\u00e9:abc".encode(), "not ASCII"),
        (b"k3:abc", "unknown signing key 'k3'"),
        (b"k2:" + RING.sign(b"x").partition(b":")[2], "by key 'k2' does not match"),  # k1's MAC, k2's name
    ],
)
def test_refusals_say_why(signature: bytes | None, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        RING.verify(b"x", signature)


@given(st.binary(max_size=2000), st.binary(min_size=1, max_size=2000))
def test_no_other_bytes_verify_with_a_signature(data: bytes, other: bytes) -> None:
    signature = RING.sign(data)
    assert RING.verify(data, signature) == "k1"
    if other != data:
        with pytest.raises(SignatureError):
            RING.verify(other, signature)


def test_another_keyring_with_the_same_key_ids_refuses_the_signature() -> None:
    stranger = KeyRing("k1", {"k1": b"3" * 32})
    with pytest.raises(SignatureError, match="does not match"):
        stranger.verify(b"x", RING.sign(b"x"))


def test_the_signature_header_is_found_among_others() -> None:
    assert signature_in([("a", b"1"), ("zvt-signature", b"k1:x")]) == b"k1:x"
    assert signature_in(None) is None
    assert signature_in([("zvt-signature-not", b"k1:x")]) is None


def test_rotation_add_activate_retire() -> None:
    added, new_id = RING.with_new_key()
    assert added.active == "k1"
    assert new_id in added.keys
    old = added.sign(b"x")
    activated = added.activated(new_id)
    fresh = activated.sign(b"x")
    assert fresh.startswith(new_id.encode() + b":")
    # both keys are valid at once: an event signed before the switch and one after
    assert activated.verify(b"x", old) == "k1"
    assert activated.verify(b"x", fresh) == new_id
    retired = activated.retired("k1").retired("k2")
    with pytest.raises(SignatureError, match="unknown signing key 'k1'"):
        retired.verify(b"x", old)
    with pytest.raises(KeyringError, match="active key"):
        retired.retired(new_id)
    with pytest.raises(KeyringError, match="exists"):
        retired.with_new_key(new_id)


def test_a_keyring_file_is_the_owners_only_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "credentials" / "signing-keys.json"
    ring = new_keyring()
    write_keyring(path, ring)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_keyring(path) == ring
    path.write_bytes(b"{")
    with pytest.raises(KeyringError, match="not a keyring"):
        read_keyring(path)
    with pytest.raises(KeyringError, match="no signing keyring at"):
        read_keyring(tmp_path / "missing.json")
    with pytest.raises(KeyringError, match="shorter than 16 bytes"):
        KeyRing("a", {"a": b"short"})
    with pytest.raises(KeyringError, match="not among the keys"):
        KeyRing("b", {"a": b"1" * 32})


def test_a_running_process_picks_up_a_rotated_keyring_without_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "signing-keys.json"
    write_keyring(path, RING)
    keyring_file = KeyringFile(path)
    before = keyring_file.current().sign(b"e")
    rotated, new_id = RING.with_new_key()
    write_keyring(path, rotated.activated(new_id))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))  # a new stamp even on a coarse clock
    assert keyring_file.current().active == "k1"  # checked at most every RELOAD_SECONDS
    monkeypatch.setattr("schemas.signing.RELOAD_SECONDS", 0.0)
    ring = keyring_file.current()
    assert ring.active == new_id
    assert keyring_file.reloads == 2
    assert ring.verify(b"e", before) == "k1"  # what was signed before the rotation still verifies
    path.write_bytes(b'{"active": "k1"')  # a bad edit does not stop it either: the keys it had stay
    assert keyring_file.current() is ring
    path.unlink()  # nor a deleted keyring
    assert keyring_file.current() is ring


def test_signatures_are_counted_and_exported_as_a_metric() -> None:
    from prometheus_client import REGISTRY

    import runtime.metrics  # noqa: F401  (registers the collector)

    def exported(operation: str) -> float:
        value = REGISTRY.get_sample_value("zvt_event_signatures_total", {"operation": operation})
        assert value is not None
        return value

    before = {op: exported(op) for op in ("signed", "verified", "refused")}
    signature = RING.sign(b"x")
    RING.verify(b"x", signature)
    for bad in (None, signature + b"x"):
        with pytest.raises(SignatureError):
            RING.verify(b"x", bad)
    assert {op: exported(op) - before[op] for op in before} == {"signed": 1, "verified": 1, "refused": 2}
