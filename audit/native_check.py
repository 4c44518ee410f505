"""The verifier's default line check: the compiled checker (audit/_scan.c) beside the replay.

A thread runs the compiled checker over chunks of CHUNK lines (ctypes releases the GIL for each call,
so it runs on the other core) while this thread feeds the replay the events of the chunks already
proven. The checker's SHA-256 work (each line's own hash and its Merkle leaf, independent per line) is
done ahead of it by a third thread (dn_hash), so that the two cores share it with the sequential parts
(the checker's parse, chain, seq and id tables; the Python replay). Per line the checker gives ids of
its type, actor, subject and data, and each distinct value is parsed here once (json; the checker
proved its bytes canonical). At the first line the checker cannot prove, the Python check
(audit.checks._scan) takes over from that line, and its doubt in turn runs the reference check, so the
errors named are always the reference's. See docs/audit-log.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import mmap
import os
import sys
import threading
from queue import SimpleQueue
from typing import Any

from audit.checks import _SCAN_ONE, LogCheck, _Doubt, _Known, _scan, merkle_levels
from audit.errors import TornLine
from audit.hashing import ZERO_HASH
from audit.native import new_state
from audit.replay import Replay

CHUNK = 1 << 14  # lines per call: the replay of one chunk overlaps the check of the next
# No canonical line is shorter (null parties, empty data, 1-digit seq, a one-letter type: 236 bytes)
MIN_LINE = 200
SWITCH_S = 0.001  # the GIL switch interval meanwhile: the checker threads get it back soon after each call
PRE = 48  # bytes per line hashed ahead (dn_hash's prehash: start, cut, digest)


def check_native(lib: Any, data: bytes, replay: Replay | None) -> LogCheck:
    """Check `data` (the whole log) with the compiled library `lib` (audit.native.load()) and feed `replay`.

    Returns the LogCheck (proven_by "native", or "native+scan" when Python proved the lines after the
    first one the checker could not). Raises TornLine for an incomplete last line, and
    audit.checks._Doubt where the Python check doubts (the caller then runs the reference).
    """
    end = data.rfind(b"\n") + 1  # complete lines only; a torn tail is named at the end
    lines = end // MIN_LINE + 1  # room for every line the checker can prove (counting would take 0.05 s)
    state = new_state(lib)
    # per line 4 ids (type, actor, subject, data) and the leaf hash; written by the checker thread
    ids, leaves = bytearray(16 * lines + 16), bytearray(32 * lines + 32)
    ahead = Ahead(lib, data, end, leaves, lines + 1)
    chunks: SimpleQueue[tuple[Any, ...] | None] = SimpleQueue()
    levels: list[list[bytes]] = []
    worker = threading.Thread(
        target=_prove, args=(lib, state, data, end, ids, leaves, chunks, levels, ahead), daemon=True
    )
    switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_S)
    ahead.start()
    worker.start()
    types: list[str] = []
    parties: list[str | None] = [None]  # id 0 is null
    datas: list[Any] = []
    count, pos, prev = 0, 0, ZERO_HASH.encode()
    try:
        while (got := chunks.get()) is not None:
            n, news, pos, prev = got
            try:
                _learn(data, news, types, parties, datas)
            except (ValueError, StopIteration, RecursionError) as e:  # never for proven bytes: then trust nothing
                raise _Doubt from e
            if replay is not None and n:
                v = memoryview(ids)[16 * count : 16 * (count + n)].cast("I")
                replay.feed_all(
                    zip(
                        range(count + 1, count + n + 1),
                        map(types.__getitem__, v[0::4].tolist()),
                        map(parties.__getitem__, v[1::4].tolist()),
                        map(parties.__getitem__, v[2::4].tolist()),
                        map(datas.__getitem__, v[3::4].tolist()),
                        strict=True,
                    )
                )
            count += n
    finally:
        worker.join()
        ahead.close()
        sys.setswitchinterval(switch)
        lib.dn_free(state)
    proven_by = "native"
    check_levels = levels[0] if levels else [bytes(leaves[: 32 * count])]
    if pos < end:  # a line the checker could not prove: Python from there on
        rest = data[pos:end].split(b"\n")
        rest.pop()
        out: list[Any] | None = [] if replay is not None else None
        blob, prev = _scan(rest, 0, len(rest), count + 1, prev, out, _Known())
        if replay is not None and out:
            replay.feed_all(out)
        check_levels = merkle_levels(check_levels[0] + blob)
        count += len(rest)
        proven_by = "native+scan"
    check = LogCheck(count, check_levels, prev.decode(), proven_by)
    if end < len(data):
        raise TornLine(count + 1)
    return check


class Ahead:
    """The hashing thread: dn_hash over chunks of CHUNK lines of `data[:end]` (line i's leaf hash into
    `leaves[32*i:]`, its own hash into a buffer of PRE bytes a line, room for `lines` lines), ahead of the
    checker, which passes `at(i)` to dn_scan and never waits: a line not hashed yet (its slot's ready
    mark not set) it hashes itself. The checker tells `checked(count, pos)` after each chunk; when the
    hashing has fallen behind it (its core taken by another job), it jumps there instead of hashing
    lines already checked."""

    def __init__(self, lib: Any, data: bytes, end: int, leaves: bytearray, lines: int) -> None:
        self.lib, self.data, self.end, self.room = lib, data, end, lines
        self.leaves = leaves  # held while the thread may still write into it (see close)
        self.buf = mmap.mmap(-1, PRE * lines)  # anonymous: zero pages only where written
        self._at = ctypes.addressof(ctypes.c_char.from_buffer(self.buf))
        self._leaves = ctypes.addressof(ctypes.c_char.from_buffer(leaves))
        self.done = 0  # lines hashed so far (or skipped: checked before the hashing reached them)
        self._checked = (0, 0)  # (lines, byte offset) the checker has done
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start hashing."""
        self._thread.start()

    def at(self, i: int) -> int:
        """The address of line i's prehash (for dn_scan)."""
        return self._at + PRE * i

    def checked(self, count: int, pos: int) -> None:
        """The checker has done `count` lines, up to byte `pos` (the start of the next line)."""
        self._checked = (count, pos)

    def _run(self) -> None:
        # idle priority (Linux: this thread only): it runs on a core that neither the checker nor the
        # replay needs, and never slows them; what it has not hashed the checker hashes itself
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        stop = ctypes.c_long()
        pos = 0
        while pos < self.end and not self._stop:
            count, at = self._checked
            if count > self.done:  # behind the checker: go on from where it is
                self.done, pos = count, at
            want = min(CHUNK, self.room - self.done)
            n = self.lib.dn_hash(self.data, pos, self.end, want, self.at(self.done),
                                 self._leaves + 32 * self.done, ctypes.byref(stop))
            pos = stop.value
            self.done += n
            if n < want or want == 0:
                break

    def close(self) -> None:
        """Stop hashing (the checker ended, perhaps early). Not waited for: at idle priority on a busy box
        its current chunk could take long; it ends after it, holding the buffers it writes (it rewrites
        only leaf hashes the checker has already written, with the same bytes)."""
        self._stop = True


def _prove(lib: Any, state: int, data: bytes, end: int, ids: bytearray, leaves: bytearray, chunks: SimpleQueue,
           levels: list[list[bytes]], ahead: Ahead | None = None) -> None:
    """In the checker thread: dn_scan chunk after chunk until the end or the first line not proven,
    writing line i's ids at ids[16*i:] and its leaf hash at leaves[32*i:] (hashed by `ahead` where it
    has); each chunk's (lines, new values, next byte offset, last hash) goes to `chunks`, then None.
    When every line was proven, `levels` gets the Merkle levels of their leaves (LogCheck.levels)."""
    prev = ctypes.create_string_buffer(ZERO_HASH.encode(), 64)
    nnew, stop = ctypes.c_long(), ctypes.c_long()
    news = (ctypes.c_int64 * (12 * CHUNK))()
    at_ids = ctypes.addressof((ctypes.c_char * len(ids)).from_buffer(ids))
    at_leaves = ctypes.addressof((ctypes.c_char * len(leaves)).from_buffer(leaves))
    pos, count = 0, 0
    try:
        room = len(leaves) // 32
        while pos < end:
            want = min(CHUNK, room - count)
            pre, npre = (ahead.at(count), want) if ahead else (None, 0)
            n = lib.dn_scan(state, data, pos, end, want, count + 1, prev, at_ids + 16 * count,
                            at_leaves + 32 * count, pre, npre, news, ctypes.byref(nnew), ctypes.byref(stop))
            pos, count = stop.value, count + n
            if ahead:
                ahead.checked(count, pos)
            chunks.put((n, memoryview(news).cast("B").cast("q")[: 3 * nnew.value].tolist(), pos, prev.raw))
            if n < want or want < CHUNK:
                break
        if pos == end:
            levels.append(_merkle(lib, bytes(leaves[: 32 * count])))
    finally:
        chunks.put(None)


def _merkle(lib: Any, leaves: bytes) -> list[bytes]:
    """merkle_levels(leaves) with the compiled node hash (one call per level)."""
    levels, cur = [leaves], leaves
    while len(cur) >= 64:
        pairs = len(cur) // 64
        out = ctypes.create_string_buffer(32 * pairs)
        lib.dn_nodes(cur, pairs, out)
        cur = out.raw
        levels.append(cur)
    return levels


def _learn(data: bytes, news: list[int], types: list[str], parties: list[str | None], datas: list[Any]) -> None:
    """Parse the values met for the first time (table, start, end triples; ids in order per table):
    a type's text, a party's regn_num (the body of a JSON string), a data object (json's scanner)."""
    scan, loads, intern = _SCAN_ONE, json.loads, sys.intern
    for k in range(0, len(news), 3):
        raw = data[news[k + 1] : news[k + 2]]
        table = news[k]
        if table == 1:
            parties.append(raw.decode() if b"\\" not in raw else loads(b'"' + raw + b'"'))
        elif table == 2:
            datas.append(scan(raw.decode(), 0)[0])
        else:
            types.append(intern(raw.decode()))


def proven_lines(lib: Any, data: bytes, ahead: bool = True) -> int:
    """How many leading complete lines of `data` the compiled checker proves on its own (no fallback):
    what the tests hold against the reference check. `ahead`: the lines hashed first by dn_hash, as
    check_native does (False: dn_scan hashes them itself)."""
    n = data.count(b"\n")
    state = new_state(lib)
    prev = ctypes.create_string_buffer(ZERO_HASH.encode(), 64)
    nnew, stop = ctypes.c_long(), ctypes.c_long()
    leaves = ctypes.create_string_buffer(32 * n + 32)
    pre = ctypes.create_string_buffer(PRE * n + PRE)
    npre = lib.dn_hash(data, 0, len(data), n, pre, leaves, ctypes.byref(stop)) if ahead else 0
    try:
        return int(
            lib.dn_scan(state, data, 0, len(data), n, 1, prev, (ctypes.c_uint32 * (4 * n + 4))(), leaves,
                        pre if ahead else None, npre, (ctypes.c_int64 * (12 * n + 12))(),
                        ctypes.byref(nnew), ctypes.byref(stop))
        )
    finally:
        lib.dn_free(state)
