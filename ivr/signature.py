"""Telnyx webhook signatures: Ed25519 over `f"{timestamp}|{raw body}"`.

Format (Telnyx Call Control v2 docs, and `telnyx.lib.webhook_verification` in the 4.189.0 SDK):
headers `telnyx-signature-ed25519` (base64 of the 64-byte signature) and `telnyx-timestamp` (unix
seconds); the account's public key is 32 raw bytes, base64 (`TELNYX_PUBLIC_KEY`). A webhook whose
timestamp is more than `tolerance_s` away from now is refused, so a captured request cannot be replayed.

`sign` and `load_or_create_keypair` exist for the local emulator, which signs its webhooks with a key
generated on this machine so the app verifies them exactly as it verifies Telnyx's.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
DEFAULT_TOLERANCE_S = 300


class BadSignature(Exception):
    """A webhook failed verification; `reason` says why (missing header, bad base64, stale, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (HTTP header names are case-insensitive, RFC 9110 5.1)."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _public_key(public_key_b64: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise BadSignature("public key is not base64 of 32 bytes") from exc


def verify(
    raw_body: bytes,
    headers: Mapping[str, str],
    public_key_b64: str,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Check a webhook's Ed25519 signature and freshness; return None when it is genuine.

    raw_body: the request body exactly as received (re-serialised JSON would not verify).
    headers: any mapping; names are matched case-insensitively.
    public_key_b64: base64 of the 32-byte Ed25519 public key.
    tolerance_s: maximum |now - telnyx-timestamp|, seconds; now: unix seconds (default: the clock).
    Raises BadSignature(reason) for a missing header, bad base64, a non-integer timestamp, a stale or
    future timestamp, or a signature that does not match the body.
    """
    sig_b64 = _header(headers, SIGNATURE_HEADER)
    ts_text = _header(headers, TIMESTAMP_HEADER)
    if not sig_b64:
        raise BadSignature(f"missing {SIGNATURE_HEADER} header")
    if not ts_text:
        raise BadSignature(f"missing {TIMESTAMP_HEADER} header")
    try:
        timestamp = int(ts_text.strip())
    except ValueError as exc:
        raise BadSignature(f"{TIMESTAMP_HEADER} is not an integer") from exc
    try:
        signature = base64.b64decode(sig_b64.strip(), validate=True)
    except binascii.Error as exc:
        raise BadSignature(f"{SIGNATURE_HEADER} is not base64") from exc
    if len(signature) != 64:
        raise BadSignature(f"{SIGNATURE_HEADER} is not 64 bytes")
    key = _public_key(public_key_b64)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise BadSignature(
            f"timestamp is {int(current - timestamp)} s away from now (tolerance {tolerance_s} s)"
        )
    try:
        key.verify(signature, f"{timestamp}|".encode() + raw_body)
    except InvalidSignature as exc:
        raise BadSignature("signature does not match the body") from exc


def sign(raw_body: bytes, private_key: Ed25519PrivateKey, timestamp: int) -> dict[str, str]:
    """The two Telnyx signature headers for `raw_body` sent at `timestamp` (unix seconds)."""
    signature = private_key.sign(f"{timestamp}|".encode() + raw_body)
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: str(timestamp)}


def public_key_b64(private_key: Ed25519PrivateKey) -> str:
    """Base64 of the raw 32-byte public key, the form Telnyx publishes (`TELNYX_PUBLIC_KEY`)."""
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_or_create_keypair(path: Path) -> tuple[Ed25519PrivateKey, str]:
    """Load the emulator's Ed25519 key from `path` (PKCS#8 PEM), creating it (mode 0600) if absent.

    Returns (private_key, public_key_b64). The app process and the emulator process call this with the
    same path and so agree on the key. Raises ValueError if the file exists but is not an Ed25519 key.
    """
    path = Path(path)
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return key, public_key_b64(key)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a private temp file then rename: a concurrent reader never sees a half-written key,
    # and when two processes race, both end up loading whichever key won the rename.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    try:
        os.link(tmp, path)  # fails if another process created the key first
    except FileExistsError:
        tmp.unlink()
        return load_or_create_keypair(path)
    tmp.unlink()
    return key, public_key_b64(key)
