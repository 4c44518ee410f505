"""The verifier's checks over bytes (pure: hashlib and json only): line by line, then signed heads.

`check_lines(data)` proves canonical form, seq continuity and the hash chain, naming the first bad line;
`check_heads(check, heads, key)` proves every head's Ed25519 signature and Merkle root (RFC 9162) over
the lines. Errors are the typed values of audit.errors. The CLI around them is audit.verify.
"""

from __future__ import annotations

import hashlib
import json
import json.scanner
import multiprocessing
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from audit.errors import (
    BadSignature,
    CanonicalFormError,
    ChainBroken,
    HashMismatch,
    InconsistentHeads,
    InsertedLine,
    LogTruncated,
    RootMismatch,
    SeqGap,
    TornLine,
    VerificationError,
)
from audit.hashing import EMPTY_ROOT, ZERO_HASH
from audit.replay import REPLAY_TYPES, Replay
from audit.treehead import verify_head_signature

_STR = rb'"(?:[^"\\]|\\.)*"'
_PARTY = rb'(null|\{"name":' + _STR + rb',"regn_num":"((?:[^"\\]|\\.)+)"\})'
# The canonical line, fields in sorted order; `data` is greedy so it ends at the top-level `"hash"`.
LINE_RE = re.compile(
    rb'\{"actor":' + _PARTY + rb',"data":(\{.*\}),"hash":"([0-9a-f]{64})","prev":"([0-9a-f]{64})",'
    rb'"seq":([1-9][0-9]*),"subject":' + _PARTY + rb',"time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)",'
    rb'"type":"([a-z][a-z0-9-]*)"\}',
    re.DOTALL,
)
_FIELDS = frozenset(("actor", "data", "hash", "prev", "seq", "subject", "time", "type"))


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class LogCheck:
    """What the line checks established: `count` events, their leaf hashes, the last hash."""

    count: int
    leaves: list[bytes]
    last_hash: str
    _levels: list[list[bytes]] = field(default_factory=list, repr=False)

    def root(self, tree_size: int) -> bytes:
        """RFC 9162 MTH of the first `tree_size` events (0 <= tree_size <= count)."""
        if tree_size == 0:
            return EMPTY_ROOT
        if not self._levels:
            self._levels = merkle_levels(self.leaves)
        parts, start = [], 0
        for k in reversed(range(tree_size.bit_length())):
            if tree_size >> k & 1:
                parts.append(self._levels[k][start >> k])
                start += 1 << k
        h = parts[-1]
        sha = hashlib.sha256
        for p in reversed(parts[:-1]):
            h = sha(b"\x01" + p + h).digest()
        return h


def merkle_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """All perfect-subtree levels: levels[k][j] = root of leaves [j*2^k, (j+1)*2^k)."""
    sha = hashlib.sha256
    levels = [leaves]
    cur = leaves
    while len(cur) > 1:
        cur = [sha(b"\x01" + a + b).digest() for a, b in zip(cur[0::2], cur[1::2], strict=False)]
        levels.append(cur)
    return levels


def check_lines(data: bytes, replay: Replay | None = None, *, strict: bool = True,
                workers: int | None = None) -> LogCheck:
    """Check the log bytes line by line (canonical form, seq, hash chain) and feed `replay`.

    strict: every line must match the canonical line pattern and re-serialise to itself (proves it
    canonical). Fast (strict=False): fields are located by byte offsets in the canonical layout and only
    `data` of the events the replay reads is parsed; seq, hash and chain are checked all the same, and
    the signed Merkle heads still bind every byte of every line.
    workers (fast path, large logs): processes that check the hash chain of one slice each while this
    process feeds the replay; None = one per spare CPU, 1 = all in this process. Any doubt (a bad line,
    a worker failure) re-runs the whole check in this process, so errors are always the serial ones.
    Raises the first VerificationError, naming its 1-based line.
    """
    torn = bool(data) and not data.endswith(b"\n")
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: b"" or the torn tail
    check = None
    if not strict and len(lines) >= PARALLEL_MIN_LINES:
        k = _default_workers(replay) if workers is None else workers
        if k >= 1 and (replay is not None or k > 1) and threading.active_count() == 1:  # fork needs no threads
            check = _check_parallel(lines, replay, k)
            if check is None and replay is not None:
                replay.reset()  # the serial pass below feeds it again
    if check is None:
        check = (_check_strict if strict else _check_fast)(lines, replay)
    if torn:
        raise TornLine(check.count + 1)
    return check


def _chain_anomaly(n: int, seq: int, h: bytes, p: bytes, prev: bytes, prev2: bytes) -> None:
    """Name what is wrong when line n's seq or prev does not follow on (the first bad line)."""
    if h == prev:  # a copy of the line before
        raise InsertedLine(n)
    if n > 1 and seq == n - 1 and p == prev2:  # the line links past line n-1: that one was inserted
        raise InsertedLine(n - 1)
    if seq != n:
        raise SeqGap(n, n, seq)


def _check_strict(lines: list[bytes], replay: Replay | None) -> LogCheck:
    sha = hashlib.sha256
    match = LINE_RE.fullmatch
    loads = json.loads
    feed = replay.feed if replay is not None else None
    leaves: list[bytes] = []
    prev = prev2 = ZERO_HASH.encode()
    n = 0
    for n, ln in enumerate(lines, 1):
        m = match(ln)
        if m is None:
            raise CanonicalFormError(n, _why_not_canonical(ln))
        h, p, seq = m.group(4), m.group(5), int(m.group(6))
        if seq != n or p != prev:
            _chain_anomaly(n, seq, h, p, prev, prev2)
        hs, he = m.span(4)
        calc = sha(ln[:hs - 8] + ln[he + 2:]).hexdigest()
        if calc.encode() != h:
            raise HashMismatch(n, h.decode(), calc)
        if p != prev:
            raise ChainBroken(n, prev.decode(), p.decode())
        prev2, prev = prev, h
        leaves.append(sha(b"\x00" + ln).digest())
        try:
            ev = loads(ln)
        except ValueError as e:
            raise CanonicalFormError(n, f"not JSON: {e}") from e
        if _dumps(ev) != ln:
            raise CanonicalFormError(n, "not in canonical form (sorted keys, no spaces, UTF-8)")
        if feed is not None:
            a, s = ev["actor"], ev["subject"]
            feed(n, ev["type"], a and a["regn_num"], s and s["regn_num"], ev["data"])
    return LogCheck(n, leaves, prev.decode())


def _check_fast(lines: list[bytes], replay: Replay | None, *, hashing: bool = True, first: int = 1,
                prev0: bytes = ZERO_HASH.encode()) -> LogCheck:
    """The fast path over `lines`, numbered from `first`, the first `prev` expected to be `prev0`.
    hashing=False only locates fields and feeds the replay (the chain is checked elsewhere)."""
    sha = hashlib.sha256
    scan = json.scanner.make_scanner(json.JSONDecoder())  # the C scanner, without loads() overhead
    parsed: dict[bytes, Any] = {}  # data bytes -> parsed value; the replay only reads data
    feed = replay.feed if replay is not None else None
    wanted = REPLAY_TYPES
    leaves: list[bytes] = []
    add_leaf = leaves.append
    prev = prev2 = prev0
    n = first - 1
    for n, ln in enumerate(lines, first):
        # canonical layout: ...,"hash":"<64>","prev":"<64>","seq":N,"subject":S,"time":"T","type":"X"}
        i = ln.rfind(b',"hash":"')
        j = ln.find(b',"subject":', i + 155) if i > 0 else -1
        if j < 0 or ln[i + 73:i + 83] != b'","prev":"' or ln[i + 147:i + 155] != b'","seq":':
            raise CanonicalFormError(n, _why_not_canonical(ln))
        if hashing:
            h, p, seq = ln[i + 9:i + 73], ln[i + 83:i + 147], ln[i + 155:j]
            if seq != b"%d" % n or p != prev:
                if not seq.isdigit():
                    raise CanonicalFormError(n, "seq is not a number")
                _chain_anomaly(n, int(seq), h, p, prev, prev2)
            calc = sha(ln[:i + 1] + ln[i + 75:]).hexdigest()
            if calc.encode() != h:
                raise HashMismatch(n, h.decode(), calc)
            if p != prev:
                raise ChainBroken(n, prev.decode(), p.decode())
            prev2, prev = prev, h
            add_leaf(sha(b"\x00" + ln).digest())
        if feed is None:
            continue
        k = ln.rfind(b',"type":"')
        etype = ln[k + 9:-2].decode()
        if ln[9:13] == b"null":
            actor = None
        else:
            r = ln.find(b'"regn_num":"', 9) + 12
            actor = ln[r:ln.index(b'"', r)].decode()
        if ln[j + 11:j + 15] == b"null":
            subject = None
        else:
            r = ln.find(b'"regn_num":"', j) + 12
            subject = ln[r:ln.index(b'"', r)].decode()
        if etype in wanted:
            raw = ln[ln.find(b',"data":') + 8:i]
            d = parsed.get(raw)
            if d is None:  # most events share a few data values (votes, standing delegations): parse once
                try:
                    d = scan(raw.decode(), 0)[0]
                except (ValueError, StopIteration) as e:
                    raise CanonicalFormError(n, f"data is not JSON: {e}") from e
                if len(parsed) < 100_000:
                    parsed[raw] = d
        else:
            d = {}
        feed(n, etype, actor, subject, d)
    return LogCheck(n - first + 1, leaves, prev.decode())


PARALLEL_MIN_LINES = 50_000
_FORK_LINES: list[bytes] = []  # the lines, inherited by forked chain workers (copy-on-write)


def _default_workers(replay: Replay | None) -> int:
    cpus = os.cpu_count() or 1
    if cpus < 2:
        return 0
    return min(8, cpus - 1 if replay is not None else cpus)


def _chain_worker(start: int, end: int) -> tuple[bytes, bytes, bytes] | None:
    """In a forked worker: the chain of lines [start, end) -> (leaf hashes, first prev, last hash)."""
    lines = _FORK_LINES[start:end]
    try:
        ln = lines[0]
        i = ln.rfind(b',"hash":"')
        p0 = ln[i + 83:i + 147]
        chk = _check_fast(lines, None, first=start + 1, prev0=p0)
    except Exception:  # noqa: BLE001 -- any doubt: the caller re-runs serially and reports exactly
        return None
    return b"".join(chk.leaves), p0, chk.last_hash.encode()


def _check_parallel(lines: list[bytes], replay: Replay | None, workers: int) -> LogCheck | None:
    """Chain slices in `workers` forked processes while this one feeds the replay; None on any doubt."""
    global _FORK_LINES
    bounds = [(len(lines) * w // workers, len(lines) * (w + 1) // workers) for w in range(workers)]
    _FORK_LINES = lines
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pending = pool.starmap_async(_chain_worker, bounds)
            if replay is not None:
                try:
                    _check_fast(lines, replay, hashing=False)
                except VerificationError:
                    return None
            parts = pending.get()
    except (OSError, ValueError):  # no processes here: do it all in this one
        return None
    finally:
        _FORK_LINES = []
    prev = ZERO_HASH.encode()
    leaves: list[bytes] = []
    for part in parts:
        if part is None or part[1] != prev:  # a bad line, or a break between two slices
            return None
        blob, prev = part[0], part[2]
        leaves += [blob[x:x + 32] for x in range(0, len(blob), 32)]
    return LogCheck(len(lines), leaves, prev.decode())


def _why_not_canonical(ln: bytes) -> str:
    try:
        ev = json.loads(ln)
    except ValueError as e:
        return f"not JSON: {e}"
    if not isinstance(ev, dict):
        return "not a JSON object"
    if set(ev) != _FIELDS:
        return f"fields {sorted(ev)} != {sorted(_FIELDS)}"
    if _dumps(ev) != ln:
        return "not in canonical form (sorted keys, no spaces, UTF-8)"
    return "a field has the wrong shape (actor/subject, hash, prev, seq, time or type)"


def check_heads(check: LogCheck, heads: Sequence[dict[str, Any]], public_key: str | None) -> int:
    """Check every head's signature and root against the log; returns how many heads were checked.

    Raises BadSignature, LogTruncated, RootMismatch (line = first line after the last matching head)
    or InconsistentHeads (two heads of one size with different roots, or a later head over fewer
    events than an earlier one: an append-only log never shrinks).
    """
    seen: dict[int, str] = {}
    for i, head in enumerate(heads):
        if public_key is None or not verify_head_signature(public_key, head):
            raise BadSignature(i, int(head.get("tree_size", -1)) if isinstance(head, dict) else -1)
        size, root = int(head["tree_size"]), str(head["root_hash"])
        if size in seen and seen[size] != root:
            raise InconsistentHeads(size, size, "two signed roots for one tree size")
        seen[size] = root
    by_time = sorted(heads, key=lambda h: (str(h["timestamp"]), int(h["tree_size"])))
    for a, b in zip(by_time, by_time[1:], strict=False):
        if int(b["tree_size"]) < int(a["tree_size"]):
            raise InconsistentHeads(int(a["tree_size"]), int(b["tree_size"]),
                                    f"the head of {b['timestamp']} covers fewer events than that of {a['timestamp']}")
    good = 0
    for size in sorted(seen):
        if size > check.count:
            raise LogTruncated(size, check.count)
        calc = check.root(size).hex()
        if calc != seen[size]:
            raise RootMismatch(seen[size], calc, size, good + 1)
        good = size
    return len(heads)


def load_heads(text: bytes) -> list[dict[str, Any]]:
    """Heads from one JSON head document or a JSON Lines heads file (torn/blank lines skipped)."""
    text = text.strip()
    if not text:
        return []
    try:
        doc = json.loads(text)
        if isinstance(doc, dict):
            return [doc.get("head", doc)] if doc.get("head", doc) else []
        if isinstance(doc, list):
            return doc
    except ValueError:
        pass
    heads = []
    for ln in text.split(b"\n"):
        try:
            heads.append(json.loads(ln))
        except ValueError:
            continue
    return heads
