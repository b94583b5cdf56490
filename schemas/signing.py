"""Signed events: an HMAC-SHA256 over the exact bytes of every event the platform produces.

The signature travels beside the bytes, never inside them: in the Kafka header `zvt-signature` and the
Redis stream field `signature`, as `<key id>:<base64url MAC>`. Consumers verify before they decode, so a
forged or tampered event is set aside as `bad_signature` before anything reads it.

Keys live in one keyring file (`ZVT_SIGNING_KEYRING`, by default `.run/credentials/signing-keys.json`,
0600): the id new events are signed with, and every key accepted. A process rereads the file when it
changes (checked at most every `RELOAD_SECONDS`), so a key is rotated without a restart: add the new key
(accepted everywhere), make it the active one, and retire the old key once nothing signed with it is left
to read (`zvt keys`, docs/security.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from schemas import CODEC, Event, EventDecodeError

SIGNATURE_HEADER = "zvt-signature"
STREAM_FIELD_SIGNATURE = b"signature"
log = logging.getLogger(__name__)

KEYRING_VARIABLE = "ZVT_SIGNING_KEYRING"
RELOAD_SECONDS = 1.0
KEY_BYTES = 32
# Signatures made, checked and refused by this process, whatever its keyring (runtime.metrics exports them as
# zvt_event_signatures_total): a dict increment, not a metric call, on a path taken several times per event.
SIGNATURE_COUNTS = {"signed": 0, "verified": 0, "refused": 0}
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class SignatureError(ValueError):
    """An event whose signature is missing, malformed, by an unknown key or wrong; `reason` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeyringError(RuntimeError):
    """The keyring file is missing or not a valid keyring."""


@dataclass(frozen=True)
class KeyRing:
    """The key new events are signed with and every key a signature may be made with."""

    active: str
    keys: Mapping[str, bytes]
    _macs: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _prefix: bytes = field(default=b"", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyringError(f"the active key {self.active!r} is not among the keys")
        for key_id, secret in self.keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise KeyringError(f"key id {key_id!r}: letters, digits, '_', '.', '-' only")
            if len(secret) < 16:
                raise KeyringError(f"key {key_id!r} is shorter than 16 bytes")
            # HMAC state after the key: copying it skips the key schedule on every event.
            self._macs[key_id] = hmac.new(secret, digestmod=hashlib.sha256)
        object.__setattr__(self, "_prefix", self.active.encode() + b":")

    def _mac(self, key_id: str, data: bytes | bytearray | memoryview) -> bytes:
        mac = self._macs[key_id].copy()
        mac.update(data)
        return base64.urlsafe_b64encode(mac.digest())

    def sign(self, data: bytes | bytearray | memoryview) -> bytes:
        """The signature of `data` with the active key: `<key id>:<base64url HMAC-SHA256>`."""
        SIGNATURE_COUNTS["signed"] += 1
        return self._prefix + self._mac(self.active, data)

    def headers(self, data: bytes) -> list[tuple[str, bytes]]:
        """Kafka record headers carrying the signature of `data`."""
        return [(SIGNATURE_HEADER, self.sign(data))]

    def verify(self, data: bytes | bytearray | memoryview, signature: bytes | str | None) -> str:
        """The key id `data` was signed with; raises `SignatureError` unless the signature is right."""
        try:
            key_id = self._verify(data, signature)
        except SignatureError:
            SIGNATURE_COUNTS["refused"] += 1
            raise
        SIGNATURE_COUNTS["verified"] += 1
        return key_id

    def _verify(self, data: bytes | bytearray | memoryview, signature: bytes | str | None) -> str:
        if not signature:
            raise SignatureError("no signature")
        if isinstance(signature, str):
            signature = signature.encode()
        key_id_bytes, colon, mac = bytes(signature).partition(b":")
        if not colon or not mac:
            raise SignatureError("malformed signature: expected '<key id>:<mac>'")
        try:
            key_id = key_id_bytes.decode("ascii")
        except UnicodeDecodeError:
            raise SignatureError("malformed signature: key id is not ASCII") from None
        if key_id not in self.keys:
            raise SignatureError(f"unknown signing key {key_id[:64]!r}")
        if not hmac.compare_digest(self._mac(key_id, data), mac):
            raise SignatureError(f"signature by key {key_id!r} does not match the bytes")
        return key_id

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "active": self.active,
                "keys": {kid: base64.b64encode(secret).decode() for kid, secret in self.keys.items()},
            },
            option=orjson.OPT_INDENT_2,
        )

    @classmethod
    def from_json(cls, data: bytes, where: str = "keyring") -> KeyRing:
        try:
            raw = orjson.loads(data)
            keys = {str(kid): base64.b64decode(secret, validate=True) for kid, secret in raw["keys"].items()}
            return cls(str(raw["active"]), keys)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise KeyringError(f"{where}: not a keyring ({type(exc).__name__}: {exc})") from None

    # --- rotation --------------------------------------------------------------------------------

    def with_new_key(self, key_id: str | None = None) -> tuple[KeyRing, str]:
        """This ring plus a fresh random key (accepted, not yet active) and its id."""
        key_id = key_id or new_key_id()
        if key_id in self.keys:
            raise KeyringError(f"key {key_id!r} exists")
        return KeyRing(self.active, {**self.keys, key_id: secrets.token_bytes(KEY_BYTES)}), key_id

    def activated(self, key_id: str) -> KeyRing:
        if key_id not in self.keys:
            raise KeyringError(f"no key {key_id!r}")
        return KeyRing(key_id, self.keys)

    def retired(self, key_id: str) -> KeyRing:
        if key_id == self.active:
            raise KeyringError(f"{key_id!r} is the active key: activate another first")
        if key_id not in self.keys:
            raise KeyringError(f"no key {key_id!r}")
        return KeyRing(self.active, {kid: s for kid, s in self.keys.items() if kid != key_id})


def new_key_id() -> str:
    return datetime.now(UTC).strftime("k%Y%m%dT%H%M%S") + secrets.token_hex(2)


def new_keyring() -> KeyRing:
    key_id = new_key_id()
    return KeyRing(key_id, {key_id: secrets.token_bytes(KEY_BYTES)})


def signature_in(headers: Iterable[tuple[str, bytes]] | None) -> bytes | None:
    """The signature among a Kafka record's headers, if any (the last one, should there be several)."""
    found = None
    for name, value in headers or ():
        if name == SIGNATURE_HEADER:
            found = value
    return found


def write_secret_file(path: Path, data: bytes) -> None:
    """Replace a file of secrets atomically (a reader sees the old or the new one), readable by its owner
    only, in a directory only its owner may list: the keyring, the API's tokens."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def write_keyring(path: Path, ring: KeyRing) -> None:
    """Replace the keyring file atomically, readable by its owner only."""
    write_secret_file(path, ring.to_json())


def read_keyring(path: Path) -> KeyRing:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyringError(
            f"no signing keyring at {path}: `bash deploy/local/stack.sh up` (or `zvt keys init`) makes one; "
            f"elsewhere set {KEYRING_VARIABLE}"
        ) from None
    return KeyRing.from_json(data, str(path))


def default_keyring_path() -> Path:
    """`ZVT_SIGNING_KEYRING` (the environment, then the stack's env file), else the stack's keyring."""
    from runtime.settings import credentials_dir, get_settings

    configured = os.environ.get(KEYRING_VARIABLE) or get_settings().signing_keyring
    return Path(configured) if configured else credentials_dir() / "signing-keys.json"


class KeyringFile:
    """The process's keyring, reread when its file changes: what `keyring()` returns."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._ring: KeyRing | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self.reloads = 0

    @property
    def path(self) -> Path:
        return self._path or default_keyring_path()

    def current(self) -> KeyRing:
        ring = self._ring
        if ring is not None and time.monotonic() - self._checked < RELOAD_SECONDS:
            return ring
        with self._lock:
            return self._refresh()

    def _refresh(self) -> KeyRing:
        path = self.path
        self._checked = time.monotonic()
        try:
            stat = path.stat()
        except FileNotFoundError:
            if self._ring is not None:  # deleted under a running process: keep signing with what it had
                return self._ring
            return read_keyring(path)  # raises, saying where the keyring was expected
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._ring is None:
            self._ring, self._stamp = read_keyring(path), stamp
            self.reloads += 1
        elif stamp != self._stamp:
            try:
                self._ring = read_keyring(path)
                self.reloads += 1
            except KeyringError as exc:  # a bad edit must not stop the pipeline: the old keys stay in use
                log.error("keyring not reloaded, still using key %s: %s", self._ring.active, exc)
            self._stamp = stamp  # one error per change of the file, not one a second
        return self._ring

    def reset(self, path: Path | None = None) -> None:
        """Forget the loaded ring (and read `path` from now on, or the default path): for tests."""
        with self._lock:
            self._path, self._ring, self._stamp, self._checked = path, None, None, float("-inf")


KEYRING = KeyringFile()


def keyring() -> KeyRing:
    """The keyring this process signs and verifies with."""
    return KEYRING.current()


def verified_event(value: bytes | None, headers: Iterable[tuple[str, bytes]] | None) -> Event:
    """The event of a Kafka record, once its signature is verified: for readers outside the stages
    (reports, the tick log). Raises `SignatureError` or `EventDecodeError`."""
    if not value:
        raise EventDecodeError("empty message value")
    keyring().verify(value, signature_in(headers))
    return CODEC.decode(value)
