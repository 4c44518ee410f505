"""Webhook signatures: what the app accepts and refuses (Telnyx Ed25519 scheme)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.signing import SigningKey
from telnyx.lib.webhook_verification import verify_webhook_signature

from ivr.signature import BadSignature, load_or_create_keypair, public_key_b64, sign, verify

BODY = b'{"data": {"event_type": "call.hangup", "id": "x"}}'
NOW = 1_800_000_000


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_signed_body_verifies_with_any_header_case(key: Ed25519PrivateKey) -> None:
    headers = sign(BODY, key, NOW)
    verify(BODY, headers, public_key_b64(key), now=NOW + 10)
    verify(BODY, {k.title(): v for k, v in headers.items()}, public_key_b64(key), now=NOW)


def test_sdk_verifier_accepts_our_signature(key: Ed25519PrivateKey) -> None:
    """Our emulator's signatures are the real scheme: the Telnyx SDK's own verifier agrees."""
    import time

    now = int(time.time())
    verify_webhook_signature(BODY, sign(BODY, key, now), public_key_b64(key))


def test_telnyx_style_signature_from_pynacl_verifies() -> None:
    """A signature made independently (PyNaCl, as Telnyx's docs do) verifies with our code."""
    signing = SigningKey.generate()
    sig = signing.sign(f"{NOW}|".encode() + BODY).signature
    headers = {"Telnyx-Signature-Ed25519": base64.b64encode(sig).decode(), "Telnyx-Timestamp": str(NOW)}
    verify(BODY, headers, base64.b64encode(bytes(signing.verify_key)).decode(), now=NOW)


@pytest.mark.parametrize("missing", ["telnyx-signature-ed25519", "telnyx-timestamp"])
def test_missing_header_is_refused(key: Ed25519PrivateKey, missing: str) -> None:
    headers = sign(BODY, key, NOW)
    del headers[missing]
    with pytest.raises(BadSignature, match="missing"):
        verify(BODY, headers, public_key_b64(key), now=NOW)


def test_tampered_body_is_refused(key: Ed25519PrivateKey) -> None:
    headers = sign(BODY, key, NOW)
    with pytest.raises(BadSignature, match="does not match"):
        verify(BODY.replace(b"hangup", b"answered"), headers, public_key_b64(key), now=NOW)


def test_other_key_is_refused(key: Ed25519PrivateKey) -> None:
    headers = sign(BODY, Ed25519PrivateKey.generate(), NOW)
    with pytest.raises(BadSignature, match="does not match"):
        verify(BODY, headers, public_key_b64(key), now=NOW)


def test_timestamp_is_part_of_the_signed_message(key: Ed25519PrivateKey) -> None:
    headers = sign(BODY, key, NOW)
    headers["telnyx-timestamp"] = str(NOW + 1)
    with pytest.raises(BadSignature, match="does not match"):
        verify(BODY, headers, public_key_b64(key), now=NOW)


@pytest.mark.parametrize("offset", [301, -301, 86_400])
def test_stale_or_future_timestamp_is_refused(key: Ed25519PrivateKey, offset: int) -> None:
    headers = sign(BODY, key, NOW)
    with pytest.raises(BadSignature, match="tolerance"):
        verify(BODY, headers, public_key_b64(key), now=NOW + offset)
    verify(BODY, headers, public_key_b64(key), now=NOW + offset, tolerance_s=abs(offset))


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("telnyx-signature-ed25519", "not base64!!", "not base64"),
        ("telnyx-signature-ed25519", base64.b64encode(b"short").decode(), "64 bytes"),
        ("telnyx-timestamp", "yesterday", "integer"),
    ],
)
def test_garbled_headers_are_refused(key: Ed25519PrivateKey, header: str, value: str, reason: str) -> None:
    headers = sign(BODY, key, NOW)
    headers[header] = value
    with pytest.raises(BadSignature, match=reason):
        verify(BODY, headers, public_key_b64(key), now=NOW)


def test_bad_public_key_is_refused(key: Ed25519PrivateKey) -> None:
    with pytest.raises(BadSignature, match="public key"):
        verify(BODY, sign(BODY, key, NOW), "c2hvcnQ=", now=NOW)


def test_keypair_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "emulator.key"
    key, pub = load_or_create_keypair(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again, pub_again = load_or_create_keypair(path)
    assert pub_again == pub
    verify(BODY, sign(BODY, again, NOW), pub, now=NOW)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_keypair_file_of_another_kind_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_text("not a key")
    with pytest.raises(ValueError):
        load_or_create_keypair(path)
