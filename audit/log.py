"""The public audit log: append-only JSON Lines, hash-chained, durable with group commit.

Format (docs/audit-log.md): one canonical JSON event per line,
`{"actor","data","hash","prev","seq","subject","time","type"}`; seq starts at 1; `prev` of the first
event is 64 zeros; `hash` = hex SHA-256 of the canonical event without `hash`.

Durability and writers (issue 6):
- `append` returns only after the event's line is written and fsynced. Appends that arrive while a
  write+fsync is in flight are queued and written together by the next batch: one fsync per batch
  (group commit).
- Exactly one writer at a time across processes: each batch holds an exclusive `fcntl.flock` on
  `<log>.lock`, re-reads whatever other processes appended since (seq, last hash, leaf hashes), writes,
  fsyncs, releases. Within a process a thread lock serialises batches.
- A torn last line (a writer killed mid-write) is detected, reported (log warning + `torn_cuts`) and
  cut whenever the lock is taken, before anything is appended after it.
- A write or fsync error cuts the file back to its last good line and raises `AuditWriteError`.

Side files next to the log: `<stem>.leaves` (32-byte Merkle leaf hashes, one per event; rebuilt from
the log when short), `<stem>.heads` (signed tree heads, JSON Lines), `<log>.lock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audit.errors import AuditError, AuditWriteError, InvalidEvent
from audit.hashing import ZERO_HASH, MerkleTree, canonical
from audit.phones import refuse_phone_numbers

log = logging.getLogger(__name__)

_TYPE = re.compile(r"[a-z][a-z0-9-]{0,63}")
_READ_CHUNK = 1 << 22
RECHECK_LEAVES = 1 << 16  # leaf hashes recomputed from the log at open (the side file is not fsynced)


def utc_now() -> str:
    """Current UTC time, ISO-8601 with microseconds and `Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _party(value: dict | None, what: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"regn_num", "name"}:
        raise InvalidEvent(f"{what} must be None or {{'regn_num', 'name'}}, got {value!r}")
    if not (isinstance(value["regn_num"], str) and value["regn_num"] and isinstance(value["name"], str)):
        raise InvalidEvent(f"{what}: regn_num must be a non-empty string and name a string")
    return value


class _Prepared:
    """An event validated and partly serialised outside the lock: head and tail of its canonical line."""

    __slots__ = ("head", "subject", "type")

    def __init__(self, event_type: str, actor: dict | None, subject: dict | None, data: dict) -> None:
        if not isinstance(event_type, str) or not _TYPE.fullmatch(event_type):
            raise InvalidEvent(f"event type must match [a-z][a-z0-9-]*, got {event_type!r}")
        if not isinstance(data, dict):
            raise InvalidEvent("data must be a dict")
        actor, subject = _party(actor, "actor"), _party(subject, "subject")
        refuse_phone_numbers(actor, "actor")
        refuse_phone_numbers(subject, "subject")
        refuse_phone_numbers(data, "data")
        # Keys sorted: actor, data, hash, prev, seq, subject, time, type -- spliced, not re-dumped.
        self.head = b'{"actor":' + canonical(actor) + b',"data":' + canonical(data) + b","
        self.subject = canonical(subject)
        self.type = canonical(event_type)

    def line(self, seq: int, time: str, prev: str) -> tuple[bytes, str]:
        """(canonical line without newline, its hash) for this event at `seq`."""
        tail = (b'"prev":"' + prev.encode() + b'","seq":' + str(seq).encode() + b',"subject":' + self.subject
                + b',"time":"' + time.encode() + b'","type":' + self.type + b"}")
        h = hashlib.sha256(self.head + tail).hexdigest()
        return self.head + b'"hash":"' + h.encode() + b'",' + tail, h


class AuditLog:
    """The single writer of the public audit log at `path` (default `var/audit.log`).

    `signer` is an `audit.treehead.OperatorKey` used by `publish_head`; None loads or creates the key
    file `<log dir>/audit_operator.key` on first use. `heads_every_s`: in a process with an event loop,
    the first async `append` (or `ensure_publisher()`) starts `tree_head_publisher` with this interval
    (None: never; heads then only on `publish_head()`). Raises OSError if the log cannot be opened,
    AuditError if its last complete line is not an event (a damaged log is never appended to).
    """

    def __init__(self, path: Path | str, *, signer: Any = None, heads_every_s: float | None = 60.0) -> None:
        self.path = Path(path)
        self.heads_every_s = heads_every_s
        self._publisher: asyncio.Task[None] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.leaves_path = self.path.with_suffix(".leaves")
        self.heads_path = self.path.with_suffix(".heads")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._signer = signer
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        self._leaves_fd = os.open(self.leaves_path, os.O_RDWR | os.O_CREAT, 0o644)
        if created:
            _fsync_dir(self.path.parent)
        self._tlock = threading.Lock()
        self._offset = 0  # end of the last complete line we know of
        self.seq = 0  # seq of the last event
        self.last_hash = ZERO_HASH
        self._leaves = bytearray()
        self.torn_cuts: list[bytes] = []  # torn tails cut since open (reported)
        self.fsyncs = 0  # batches made durable by this instance (group commit: <= appends)
        self.tree = MerkleTree(self.leaf, lambda: self.seq)
        self._pending: list[tuple[_Prepared, asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self._known_leaves = -1  # leaf hashes trusted from the side file; -1: not read yet
        self._recheck = b""  # side-file leaves to compare with the ones recomputed at open
        with self._locked():  # reads the leaves file and the log, cuts a torn tail
            pass

    # -- reading -------------------------------------------------------------------------------
    def leaf(self, index: int) -> bytes:
        """Merkle leaf hash of event seq index+1 (0-based index)."""
        return bytes(self._leaves[32 * index: 32 * index + 32])

    def refresh(self) -> int:
        """Catch up with events other processes appended; returns the current size (last seq)."""
        with self._locked():
            return self.seq

    def byte_size(self) -> int:
        """Bytes of complete lines known to this writer (the public file may be longer mid-write)."""
        return self._offset

    # -- appending -----------------------------------------------------------------------------
    async def append(self, event_type: str, actor: dict | None, subject: dict | None, data: dict) -> int:
        """Append one event; return its seq once it is fsynced (shared fsync with concurrent appends).

        actor/subject: `{"regn_num": str, "name": str}` or None. Raises PhoneNumberInEvent (ValueError)
        if any text looks like a phone number, InvalidEvent on a bad shape, AuditWriteError if the
        write failed (then nothing of this batch is in the file). A cancelled caller's event may still
        be written: it was already part of a batch.
        """
        prepared = _Prepared(event_type, actor, subject, data)
        if self._closed:
            raise AuditError("audit log is closed")
        self.ensure_publisher()
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((prepared, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())
        return await fut

    async def _flush_loop(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            write = asyncio.ensure_future(asyncio.to_thread(self._write_batch, [p for p, _ in batch]))
            try:
                try:
                    seqs = await asyncio.shield(write)
                except asyncio.CancelledError:
                    # shutting down: the thread still finishes this batch; its callers hear the truth
                    try:
                        seqs = await write
                    except Exception as e:
                        self._settle(batch, None, e)
                    else:
                        self._settle(batch, seqs, None)
                    raise
            except asyncio.CancelledError:
                raise
            except Exception as e:  # every waiter hears the failure; nothing was left half-written
                self._settle(batch, None, e)
            else:
                self._settle(batch, seqs, None)

    @staticmethod
    def _settle(batch: list[tuple[_Prepared, asyncio.Future[int]]], seqs: list[int] | None,
                error: Exception | None) -> None:
        for i, (_, fut) in enumerate(batch):
            if fut.done():
                continue
            if seqs is not None:
                fut.set_result(seqs[i])
            else:
                fut.set_exception(error or AuditWriteError("audit write failed"))

    def append_sync(self, event_type: str, actor: dict | None, subject: dict | None, data: dict) -> int:
        """Blocking `append` for CLI processes: returns the event's seq after fsync. Same errors."""
        return self._write_batch([_Prepared(event_type, actor, subject, data)])[0]

    def append_many_sync(self, events: Iterable[tuple[str, dict | None, dict | None, dict]]) -> list[int]:
        """Append (type, actor, subject, data) tuples as one batch with one fsync; all or none.

        Everything is validated first: one bad event refuses the whole batch (nothing written).
        """
        prepared = [_Prepared(*e) for e in events]
        return self._write_batch(prepared) if prepared else []

    def _write_batch(self, batch: list[_Prepared]) -> list[int]:
        with self._locked():
            if self._closed:
                raise AuditError("audit log is closed")
            now = utc_now()
            seq, prev = self.seq, self.last_hash
            lines: list[bytes] = []
            for p in batch:
                seq += 1
                line, prev = p.line(seq, now, prev)
                lines.append(line)
            blob = b"\n".join(lines) + b"\n"
            start = self._offset
            try:
                view = memoryview(blob)
                while view:
                    n = os.write(self._fd, view)
                    view = view[n:]
                os.fsync(self._fd)
                self.fsyncs += 1
            except OSError as e:
                try:  # leave nothing half-written: back to the last good line
                    os.ftruncate(self._fd, start)
                    os.fsync(self._fd)
                except OSError:
                    log.exception("audit log: could not cut back a failed write")
                raise AuditWriteError(e.errno, f"audit log write failed: {e.strerror or e}") from e
            first = self.seq + 1
            self._add_leaves(lines)  # before seq moves: readers never see a size without its leaves
            self._offset = start + len(blob)
            self.seq, self.last_hash = seq, prev
            if any(p.type == b'"bill-closed"' for p in batch):
                self._publish_head_locked()  # issue 6: a signed head at every bill close
            return list(range(first, seq + 1))

    def _add_leaves(self, lines: list[bytes]) -> None:
        sha = hashlib.sha256
        new = b"".join(sha(b"\x00" + ln).digest() for ln in lines)
        at = len(self._leaves)
        self._leaves += new
        try:  # a cache of the log: if this fails it is rebuilt from the log on the next open
            os.pwrite(self._leaves_fd, new, at)
        except OSError:
            log.warning("audit log: could not write leaf hashes; they will be rebuilt")

    # -- the lock and catching up ----------------------------------------------------------------
    def _locked(self) -> _Locked:
        return _Locked(self)

    def _load_leaves_file(self) -> None:
        """At open: trust the leaves side file except its last RECHECK_LEAVES records (the side file is
        not fsynced, so after a power cut its tail may be stale); those are recomputed from the log and
        compared, and any difference discards the whole side file."""
        size = os.fstat(self._leaves_fd).st_size // 32
        trust = max(0, size - RECHECK_LEAVES)
        self._leaves = bytearray(os.pread(self._leaves_fd, trust * 32, 0)) if trust else bytearray()
        self._recheck = os.pread(self._leaves_fd, (size - trust) * 32, trust * 32) if size > trust else b""
        self._known_leaves = trust

    def _catch_up(self) -> None:
        """Under the lock: read lines appended by others since `_offset`; cut a torn tail."""
        if self._known_leaves < 0:
            self._load_leaves_file()
        end = os.fstat(self._fd).st_size
        if end == self._offset:
            return
        if end < self._offset:  # the file shrank under us (restored / cut elsewhere): start over
            log.warning("audit log shrank from %d to %d bytes; re-reading", self._offset, end)
            self._offset, self.seq, self.last_hash = 0, 0, ZERO_HASH
            self._known_leaves = 0
            self._leaves = bytearray()
            self.tree = MerkleTree(self.leaf, lambda: self.seq)  # cached subtrees may be stale
        pos = self._offset
        sha = hashlib.sha256
        carry = b""
        last_line = b""
        seq = self.seq
        new_leaves = bytearray()
        while pos < end:
            chunk = os.pread(self._fd, min(_READ_CHUNK, end - pos), pos)
            if not chunk:
                break
            pos += len(chunk)
            buf = carry + chunk
            cut = buf.rfind(b"\n")
            if cut < 0:
                carry = buf
                continue
            carry = buf[cut + 1:]
            body = buf[:cut]
            count = body.count(b"\n") + 1
            if seq + count <= self._known_leaves:  # leaf hashes already in the side file
                seq += count
                last_line = body[body.rfind(b"\n") + 1:]
                continue
            lines = body.split(b"\n")
            for ln in lines:
                seq += 1
                if seq > self._known_leaves:
                    new_leaves += sha(b"\x00" + ln).digest()
            last_line = lines[-1]
        good_end = end - len(carry)
        if carry:
            self.torn_cuts.append(carry)
            log.warning("audit log: torn last line (%d bytes, no newline) after seq %d; cutting it",
                        len(carry), seq)
            os.ftruncate(self._fd, good_end)
            os.fsync(self._fd)
        if last_line:
            try:
                ev = json.loads(last_line)
                if ev["seq"] != seq:
                    log.error("audit log: last line has seq %s but is line %d", ev["seq"], seq)
                self.last_hash = ev["hash"]
            except (ValueError, KeyError, TypeError) as e:
                raise AuditError(f"audit log line {seq} is not a valid event: {e}") from e
        if self._recheck:
            recheck, self._recheck = self._recheck, b""
            if not (recheck.startswith(bytes(new_leaves)) or bytes(new_leaves).startswith(recheck)):
                log.warning("audit log: %s disagrees with the log; rebuilding it", self.leaves_path)
                self._offset, self.seq, self.last_hash, self._known_leaves = 0, 0, ZERO_HASH, 0
                self._leaves = bytearray()
                self.tree = MerkleTree(self.leaf, lambda: self.seq)
                self._catch_up()
                return
        keep = min(self._known_leaves, seq)
        if self._known_leaves > seq:  # side file longer than the log (log cut): drop extra leaves
            del self._leaves[keep * 32:]
        self._leaves += new_leaves
        if new_leaves or self._known_leaves > seq:
            try:
                os.ftruncate(self._leaves_fd, keep * 32)
                os.pwrite(self._leaves_fd, bytes(new_leaves), keep * 32)
            except OSError:
                log.warning("audit log: could not update %s", self.leaves_path)
        self._known_leaves = seq
        self._offset, self.seq = good_end, seq

    # -- tree heads ------------------------------------------------------------------------------
    @property
    def signer(self) -> Any:
        """The operator key (`audit.treehead.OperatorKey`), loaded or created on first use."""
        if self._signer is None:
            from audit.treehead import OperatorKey

            self._signer = OperatorKey.load_or_create(self.path.parent / "audit_operator.key")
        return self._signer

    def publish_head(self) -> dict:
        """Sign and record a tree head over the whole log now; returns it. Appending a `bill-closed`
        event does this by itself (a head at every bill close).

        Shape: `{"tree_size", "root_hash", "timestamp", "signature"}` (see audit.treehead).
        """
        with contextlib.suppress(AuditError):
            self.tree.root(self.seq)  # warm the subtree cache outside the lock (cold: O(n) hashes)
        with self._locked():
            return self._publish_head_locked()

    def _publish_head_locked(self) -> dict:
        from audit.treehead import append_head, sign_head

        head = sign_head(self.signer, self.seq, self.tree.root(self.seq), utc_now())
        try:
            append_head(self.heads_path, head)
        except OSError:  # the events are durable; a missing head is re-signed next minute
            log.exception("audit: could not record a tree head")
        return head

    def ensure_publisher(self) -> None:
        """Start the background tree-head publisher on the running loop if configured and not running."""
        if self.heads_every_s is None or self._closed:
            return
        if self._publisher is None or self._publisher.done():
            from audit.treehead import tree_head_publisher

            self._publisher = asyncio.get_running_loop().create_task(
                tree_head_publisher(self, self.heads_every_s))

    async def aclose(self) -> None:
        """Stop the publisher, wait for queued appends, publish a last head, close the files."""
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._publisher
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        if not self._closed and self.seq:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.publish_head)
        self.close()

    def read_event(self, seq: int) -> bytes | None:
        """The line (without newline) of event `seq`, by binary search over byte offsets; None if absent."""
        with self._locked():
            if not 1 <= seq <= self.seq:
                return None
            lo, hi = 0, self._offset  # invariant: the line of `seq` starts at an offset in [lo, hi)
            while lo < hi:
                mid = (lo + hi) // 2
                start = 0 if mid == 0 else self._line_start_after(mid - 1)  # first line start >= mid
                if start >= hi:
                    hi = mid
                    continue
                line = self._line_at(start)
                found = int(json.loads(line)["seq"])
                if found == seq:
                    return line
                if found < seq:
                    lo = start + len(line) + 1
                else:
                    hi = start
            return None

    def _line_start_after(self, pos: int) -> int:
        """Offset just after the first newline at or after `pos`."""
        while True:
            chunk = os.pread(self._fd, 4096, pos)
            i = chunk.find(b"\n")
            if i >= 0 or not chunk:
                return pos + i + 1 if i >= 0 else self._offset
            pos += len(chunk)

    def _line_at(self, start: int) -> bytes:
        end = self._line_start_after(start) - 1
        return os.pread(self._fd, end - start, start)

    def close(self) -> None:
        """Close the files. Pending async appends must be awaited first; later appends raise."""
        with self._tlock:
            if self._closed:
                return
            self._closed = True
            for fd in (self._fd, self._leaves_fd, self._lock_fd):
                os.close(fd)


class _Locked:
    """Context: thread lock + exclusive flock on the lock file, then catch up with other writers."""

    __slots__ = ("log",)

    def __init__(self, audit_log: AuditLog) -> None:
        self.log = audit_log

    def __enter__(self) -> None:
        self.log._tlock.acquire()
        try:
            if self.log._closed:
                return
            fcntl.flock(self.log._lock_fd, fcntl.LOCK_EX)
            self.log._catch_up()
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if not self.log._closed:
                fcntl.flock(self.log._lock_fd, fcntl.LOCK_UN)
        finally:
            self.log._tlock.release()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
