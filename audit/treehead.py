"""Signed tree heads: the operator's Ed25519 signature over the Merkle root of the first n events.

A head is `{"tree_size": n, "root_hash": <hex MTH of events 1..n>, "timestamp": <UTC ISO-8601 Z>,
"signature": <base64 Ed25519 signature>}`. The signed message is the canonical JSON (audit.hashing) of
the head without `signature`: `{"root_hash":...,"timestamp":...,"tree_size":n}` (RFC 9162 signs a
similar tuple). The public key is published raw (32 bytes, base64) at `GET /public/audit/pubkey` and
with every head. Heads are kept, oldest first, in `<log stem>.heads` (JSON Lines).

The key file (PKCS#8 PEM, mode 0600) is created on first use under var/.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.hashing import canonical

if TYPE_CHECKING:
    from audit.log import AuditLog

log = logging.getLogger(__name__)


class OperatorKey:
    """The log operator's Ed25519 signing key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_key_b64 = base64.b64encode(raw).decode()

    @classmethod
    def generate(cls) -> OperatorKey:
        """A fresh key (tests, first start)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> OperatorKey:
        """Load the PEM key at `path`, or create it with mode 0600 (atomically: no half-written key)."""
        if path.exists():
            key = cls(serialization.load_pem_private_key(path.read_bytes(), password=None))  # type: ignore[arg-type]
            pub = path.with_suffix(".pub")
            if not pub.exists():  # published next to the log for auditors of a local copy
                pub.write_text(key.public_key_b64 + "\n")
            return key
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # first creator wins when two processes race
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return cls.load_or_create(path)

    def sign(self, message: bytes) -> str:
        """Base64 Ed25519 signature of `message`."""
        return base64.b64encode(self._key.sign(message)).decode()


def head_message(head: dict[str, Any]) -> bytes:
    """The bytes a head's signature covers: canonical JSON of tree_size, root_hash, timestamp."""
    return canonical({"tree_size": head["tree_size"], "root_hash": head["root_hash"],
                      "timestamp": head["timestamp"]})


def sign_head(key: OperatorKey, tree_size: int, root: bytes, timestamp: str) -> dict[str, Any]:
    """A signed tree head for the first `tree_size` events whose Merkle root is `root` (32 bytes)."""
    head = {"tree_size": tree_size, "root_hash": root.hex(), "timestamp": timestamp}
    head["signature"] = key.sign(head_message(head))
    return head


def verify_head_signature(public_key_b64: str, head: dict[str, Any]) -> bool:
    """True when `head` carries a valid signature by the key (raw 32 bytes, base64); False otherwise."""
    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        pub.verify(base64.b64decode(head["signature"], validate=True), head_message(head))
        return True
    except (InvalidSignature, ValueError, KeyError, TypeError, binascii.Error):
        return False


def append_head(path: Path, head: dict[str, Any]) -> None:
    """Append one head to the heads file and fsync (caller holds the log's writer lock)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        end = os.fstat(fd).st_size
        torn = end > 0 and os.pread(fd, 1, end - 1) != b"\n"  # a writer died mid-head: end that line
        os.write(fd, (b"\n" if torn else b"") + canonical(head) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_heads(path: Path) -> list[dict[str, Any]]:
    """All complete heads in the heads file, oldest first; [] if none. Torn or bad lines are skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    heads = []
    for ln in data.split(b"\n"):
        if ln.strip():
            try:
                heads.append(json.loads(ln))
            except ValueError:
                log.warning("audit heads: skipping unreadable line in %s", path)
    return heads


def latest_head(path: Path) -> dict[str, Any] | None:
    """The newest complete head in the heads file, or None. Reads only the file's tail."""
    try:
        with open(path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            f.seek(max(0, end - 8192))
            tail = f.read()
    except FileNotFoundError:
        return None
    for ln in reversed(tail.split(b"\n")):
        if ln.strip():
            try:
                head = json.loads(ln)
            except ValueError:
                continue  # torn (a writer died mid-line) or cut by the 8 KiB window
            if isinstance(head, dict) and "tree_size" in head:
                return head
    return None


async def tree_head_publisher(audit_log: AuditLog, interval_s: float = 60) -> None:
    """Background task: publish a signed head every `interval_s` seconds (issue 6: at least every minute).

    A head is signed even when the log did not grow, so that its timestamp shows the log is live.
    Errors are logged and retried next round; cancel the task to stop it.
    """
    import asyncio  # here: the verifier imports this module and never needs asyncio (0.03 s to import)

    while True:
        try:
            await asyncio.to_thread(audit_log.publish_head)
        except Exception:
            log.exception("audit: publishing a tree head failed")
        await asyncio.sleep(interval_s)
