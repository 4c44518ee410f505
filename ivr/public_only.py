"""PUBLIC_ONLY: the read-only public instance's view of the audit log (docs/operations.md, docs/deploy/).

The public instance reads a copy of `AUDIT_LOG` (the primary's file on a read-only mount, or an
`rsync --append` copy) and never writes to it: no torn-tail cut, no leaves side file, no lock file, no
tree heads signed (it holds no operator key; it serves the heads the primary signed, from `<stem>.heads`).
`ReadOnlyAuditLog` offers what `audit.api` reads from `audit.log.AuditLog`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.errors import ProofError
from audit.hashing import MerkleTree

_READ_CHUNK = 1 << 22


class NoSignedHead(ProofError):
    """The copy holds no signed tree head yet (the primary signs one every minute and at each bill close)."""


@dataclass(frozen=True)
class PublicKey:
    """The operator's Ed25519 public key as `audit.api` shows it: base64 of the raw 32 bytes ("" if unknown)."""

    public_key_b64: str


def operator_public_key(log_dir: Path) -> PublicKey:
    """`audit_operator.pub` next to the log (written by the primary); else derived from a readable
    `audit_operator.key` (read, never created); else unknown ("")."""
    pub = log_dir / "audit_operator.pub"
    try:
        return PublicKey(pub.read_text().strip())
    except OSError:
        pass
    try:
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key((log_dir / "audit_operator.key").read_bytes(), password=None)
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return PublicKey(base64.b64encode(raw).decode())
    except (OSError, ValueError, TypeError):
        return PublicKey("")


class ReadOnlyAuditLog:
    """Complete lines of the audit log at `path`, its Merkle leaves (computed here) and line offsets.

    Opened read-only (`O_RDONLY`); a missing file reads as an empty log. Only complete lines count: a
    line the primary is still writing is picked up by a later `refresh`. Raises nothing on open.
    """

    heads_every_s = None

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.heads_path = self.path.with_suffix(".heads")
        self.seq = 0
        self._offset = 0
        self._starts = array("Q")  # byte offset of each event's line (seq n at index n - 1)
        self._leaves = bytearray()
        self._lock = threading.Lock()
        self._signer: PublicKey | None = None
        self.tree = MerkleTree(self.leaf, lambda: self.seq)

    @property
    def signer(self) -> PublicKey:
        """The operator's public key (no private key on the public instance)."""
        if self._signer is None or not self._signer.public_key_b64:
            self._signer = operator_public_key(self.path.parent)
        return self._signer

    def leaf(self, index: int) -> bytes:
        """Merkle leaf hash of event seq index+1 (0-based index)."""
        return bytes(self._leaves[32 * index : 32 * index + 32])

    def byte_size(self) -> int:
        """Bytes of complete lines read so far."""
        return self._offset

    def refresh(self) -> int:
        """Read the complete lines appended since the last refresh; returns the last seq.

        If the file shrank (a copy replaced by an older one), everything is re-read."""
        with self._lock:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return self.seq
            try:
                end = os.fstat(fd).st_size
                if end < self._offset:
                    self._reset()
                self._read(fd, end)
            finally:
                os.close(fd)
            return self.seq

    def _reset(self) -> None:
        self.seq, self._offset = 0, 0
        self._starts, self._leaves = array("Q"), bytearray()
        self.tree = MerkleTree(self.leaf, lambda: self.seq)

    def _read(self, fd: int, end: int) -> None:
        pos, sha = self._offset, hashlib.sha256
        while pos < end:
            chunk = os.pread(fd, min(_READ_CHUNK, end - pos), pos)
            cut = chunk.rfind(b"\n")
            if cut < 0:
                if len(chunk) < _READ_CHUNK:
                    break  # an incomplete last line: wait for the rest
                raise ProofError(f"audit log line at byte {pos} is longer than {_READ_CHUNK} bytes")
            start = pos
            for ln in chunk[:cut].split(b"\n"):
                self._starts.append(start)
                self._leaves += sha(b"\x00" + ln).digest()
                start += len(ln) + 1
            pos += cut + 1
            # seq moves last: readers never see a size without its leaves
            self.seq, self._offset = len(self._starts), pos

    def read_event(self, seq: int) -> bytes | None:
        """The line (without newline) of event `seq`; None if absent."""
        if not 1 <= seq <= self.seq:
            return None
        start = self._starts[seq - 1]
        end = self._starts[seq] if seq < self.seq else self._offset
        with open(self.path, "rb") as f:
            f.seek(start)
            return f.read(end - start - 1)

    def publish_head(self) -> dict[str, Any]:
        """The newest head the primary signed (a public instance signs nothing); NoSignedHead if none."""
        from audit.treehead import latest_head

        head = latest_head(self.heads_path)
        if head is None:
            raise NoSignedHead("no signed tree head published yet; the operator signs one every minute")
        return head

    def ensure_publisher(self) -> None:
        """Nothing: heads are signed by the primary only."""

    async def aclose(self) -> None:
        """Nothing to flush or close (files are opened per read)."""
