"""The verifier's checks over bytes (pure: hashlib and json only): line by line, then signed heads.

`check_lines(data)` proves canonical form, seq continuity and the hash chain, naming the first bad line;
`check_heads(check, heads, key)` proves every head's Ed25519 signature and Merkle root (RFC 9162) over
the lines. Errors are the typed values of audit.errors. The CLI around them is audit.verify.
"""

from __future__ import annotations

import binascii
import gc
import hashlib
import json
import json.scanner
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from audit import forks
from audit.errors import (
    BadSignature,
    CanonicalFormError,
    ChainBroken,
    HashMismatch,
    InconsistentHeads,
    InsertedLine,
    InvalidEvent,
    LogTruncated,
    RootMismatch,
    SeqGap,
    TornLine,
)
from audit.hashing import EMPTY_ROOT, ZERO_HASH, canonical
from audit.replay import Replay
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


def _dumps(obj: Any) -> bytes | None:
    """The canonical JSON of a parsed event (audit.hashing.canonical: the writer's definition, which
    refuses floats and NaN), or None when it has none."""
    try:
        return canonical(obj)
    except InvalidEvent:
        return None


@dataclass
class LogCheck:
    """What the line checks established: `count` events, the last hash, the Merkle levels, and which
    implementation proved them (`proven_by`).

    levels[k] holds the roots of the perfect subtrees of 2^k leaves, 32 bytes each, concatenated:
    levels[k][32*j:32*j+32] = MTH of leaves [j*2^k, (j+1)*2^k); levels[0] is the leaf hashes.
    """

    count: int
    levels: list[bytes]
    last_hash: str
    proven_by: str = "scan"  # "scan" (this process), "forked" (with workers) or "reference" (LINE_RE + json)

    @property
    def leaves(self) -> list[bytes]:
        """The leaf hashes, 32 bytes each, in log order."""
        blob = self.levels[0] if self.levels else b""
        return [blob[x : x + 32] for x in range(0, len(blob), 32)]

    def root(self, tree_size: int) -> bytes:
        """RFC 9162 MTH of the first `tree_size` events (0 <= tree_size <= count)."""
        if tree_size == 0:
            return EMPTY_ROOT
        parts, start = [], 0
        for k in reversed(range(tree_size.bit_length())):
            if tree_size >> k & 1:
                j = (start >> k) * 32
                parts.append(self.levels[k][j : j + 32])
                start += 1 << k
        h = parts[-1]
        sha = hashlib.sha256
        for p in reversed(parts[:-1]):
            h = sha(b"\x01" + p + h).digest()
        return h


def merkle_levels(leaves: bytes, top: int | None = None, start: Sequence[bytes] = ()) -> list[bytes]:
    """Perfect-subtree levels over concatenated 32-byte leaf hashes, level by level (see LogCheck).

    top: stop after level `top` (None: up to the single root of the largest perfect subtree).
    start: levels already computed (level 0 first), continued from the last one.
    """
    sha = hashlib.sha256
    levels = list(start) or [leaves]
    cur = levels[-1]
    while len(cur) >= 64 and (top is None or len(levels) <= top):
        # the two children of a node are adjacent: hash 0x01 || 64 bytes straight from the level
        cur = b"".join([sha(b"\x01" + cur[x : x + 64]).digest() for x in range(0, len(cur) - 63, 64)])
        levels.append(cur)
    return levels


class _Doubt(Exception):
    """Something in a line is not as the writer writes it: the reference check decides and names it."""


_TIME_RE = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")
_TYPE_RE = re.compile(rb"[a-z][a-z0-9-]*")
_CACHE_MAX = 1 << 20  # distinct parties / data values remembered (each was proven canonical once)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _encoder() -> Any:
    """`_ENCODER.encode` without building json's C encoder on every call (what JSONEncoder.iterencode
    does); the pure-Python encode where the C one is missing. No circular check: parsed JSON has no cycles."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _ENCODER.encode
    enc = make(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", True, False, False)
    return lambda value: "".join(enc(value, 0))


_ENCODE = _encoder()
_SCAN_ONE = json.scanner.make_scanner(json.JSONDecoder())  # the C scanner json.loads runs


def _has_float(value: Any) -> bool:
    """Does a parsed JSON value hold a float anywhere? (Canonical audit JSON has none: integer cents.)"""
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return isinstance(value, float)


class _Known:
    """Values already proven canonical, by their exact bytes, with what the replay reads from them.

    The proof is the reference definition: parse (json's own scanner), re-serialise canonically, get
    the same text back. Identical bytes get the identical verdict, so each distinct value is proven once.
    Actors are kept with the literal '{"actor":' that starts their line, apart from subjects, so that
    a cached value is only ever accepted in the place where it was proven.
    """

    __slots__ = ("actors", "data", "parties", "types")

    def __init__(self) -> None:
        self.actors: dict[bytes, str | None] = {b'{"actor":null': None}  # '{"actor":' + party -> regn_num
        self.parties: dict[bytes, str | None] = {b"null": None}  # party bytes -> regn_num
        self.data: dict[bytes, Any] = {}  # data bytes -> parsed object
        self.types: dict[bytes, str] = {}  # 'X"}' -> X

    def _value(self, raw: bytes) -> Any:
        try:
            text = raw.decode()
            value, end = _SCAN_ONE(text, 0)
            if end == len(text) and _ENCODE(value) == text and not _has_float(value):
                return value
        except (ValueError, StopIteration, RecursionError) as e:  # UnicodeDecodeError is a ValueError
            raise _Doubt from e
        raise _Doubt

    def party(self, raw: bytes) -> str | None:
        """regn_num of a canonical party `{"name","regn_num"}` (None for null); _Doubt otherwise."""
        value = None if raw == b"null" else self._value(raw)
        if value is None:
            regn = None
        elif not (
            isinstance(value, dict)
            and len(value) == 2
            and isinstance(value.get("name"), str)
            and isinstance(regn := value.get("regn_num"), str)
            and regn
        ):
            raise _Doubt
        if len(self.parties) < _CACHE_MAX:
            self.parties[raw] = regn
        return regn

    def actor(self, raw: bytes) -> str | None:
        """regn_num of '{"actor":' + a canonical party (the start of a line); _Doubt otherwise."""
        if not raw.startswith(b'{"actor":'):
            raise _Doubt
        body = raw[9:]
        regn = self.parties[body] if body in self.parties else self.party(body)
        if len(self.actors) < _CACHE_MAX:
            self.actors[raw] = regn
        return regn

    def datum(self, raw: bytes) -> Any:
        """The parsed `data` object of canonical bytes; _Doubt otherwise."""
        value = self._value(raw)
        if not isinstance(value, dict):
            raise _Doubt
        if len(self.data) < _CACHE_MAX:
            self.data[raw] = value
        return value

    def etype(self, raw: bytes) -> str:
        """The event type of `X"}` (the end of a line) as str, when X matches [a-z][a-z0-9-]*; _Doubt
        otherwise."""
        if not (raw.endswith(b'"}') and _TYPE_RE.fullmatch(raw, 0, len(raw) - 2)):
            raise _Doubt
        self.types[raw] = t = raw[:-2].decode()
        return t


_MISS = object()


def _scan(
    lines: list[bytes], lo: int, hi: int, first: int, prev: bytes, out: list[Any] | None, known: _Known
) -> tuple[bytes, bytes]:
    """Check lines[lo:hi] (numbered from `first`, the first `prev` expected to be `prev`) and append
    their events for the replay to `out` (or None) as (seq, type, actor, subject, data); returns (their
    leaf hashes concatenated, the last hash).

    Every line is taken apart at the fixed places of the canonical layout
    `{"actor":A,"data":D,"hash":"H","prev":"P","seq":N,"subject":S,"time":"T","type":"X"}` and every
    piece is proven: A and S canonical parties, D a canonical object (each distinct value once, see
    _Known), T and X by their patterns, N the line number, P the previous H, H the SHA-256 of the line
    without `"hash":"H",` (hex spelling included). The pieces and the literal separators between them
    are the whole line, so the line is the canonical JSON of its event: what re-serialising proves.
    (`,"data":` cannot occur inside a canonical A, nor `,"hash":"` after D, nor `,"time":"` inside S
    or T: each would need an unescaped quote inside a string.) Raises _Doubt at the first line that
    is not so.
    """
    sha = hashlib.sha256
    hexlify = binascii.hexlify
    actor_of, party, datum, etype_of = known.actor, known.party, known.datum, known.etype
    aget, pget, dget, tget = known.actors.get, known.parties.get, known.data.get, known.types.get
    miss = _MISS
    record = out.append if out is not None else None
    leaves: list[bytes] = []
    add_leaf = leaves.append
    time_ok = b""
    tlen = 0
    n = first - 1
    for x in range(lo, hi):
        ln = lines[x]
        n += 1
        i = ln.rfind(b',"hash":"')
        h = ln[i + 9 : i + 73]
        mid = b'","prev":"%s","seq":%d,"subject":' % (prev, n)
        j = i + 73 + len(mid)
        if i < 0 or ln[i + 73 : j] != mid:
            raise _Doubt
        if hexlify(sha(ln[: i + 1] + ln[i + 75 :]).digest()) != h:
            raise _Doubt
        add_leaf(sha(b"\x00" + ln).digest())
        prev = h
        r = ln.rfind(b'","type":"')
        t = r - tlen - 9
        if ln[t : t + 9] != b',"time":"':  # not the length of the last time seen
            t = ln.rfind(b',"time":"', j, r)
            if t < 0 or r < 0:
                raise _Doubt
            tlen = r - t - 9
        raw = ln[t + 9 : r]
        if raw != time_ok:
            if not _TIME_RE.fullmatch(raw):
                raise _Doubt
            time_ok = raw
        k = ln.find(b',"data":')
        raw = ln[:k]  # with the literal '{"actor":' before the party
        if (actor := aget(raw, miss)) is miss:
            actor = actor_of(raw)
        raw = ln[j:t]
        if (subject := pget(raw, miss)) is miss:
            subject = party(raw)
        raw = ln[k + 8 : i]
        if (d := dget(raw)) is None:
            d = datum(raw)
        raw = ln[r + 10 :]  # with the closing '"}'
        etype = tget(raw) or etype_of(raw)
        if record is not None:
            record((n, etype, actor, subject, d))
    return b"".join(leaves), prev


PARALLEL_MIN_LINES = 50_000
ALIGN_LEVELS = 12  # a worker's first line index is a multiple of 2^12: its Merkle levels 0..12 join up
# Of the lines to check, what this process takes: it also feeds the replay every worker's events (and
# counts each bill closed, numpy's import included); CPU time about even on two cores with 2 closes.
MAIN_SHARE = 0.33
CHUNK = 16_384  # lines a worker checks before it sends their events to the replay


def check_lines(
    data: bytes,
    replay: Replay | None = None,
    *,
    strict: bool = False,
    workers: int | None = None,
    native: bool = True,
) -> LogCheck:
    """Check the log bytes line by line (canonical form, seq, hash chain, leaf hashes) and feed `replay`.

    Default: the compiled checker (audit/_scan.c via audit.native_check: every line parsed by the
    canonical grammar, in a thread beside the replay). Without it (`native=False`, or no C compiler):
    every line is proven canonical by taking it apart at the fixed places of the canonical layout (see
    _scan; each distinct party and `data` value is re-serialised once), its hash, seq and prev checked,
    its leaf hashed; for large logs, `workers` forked processes (None: one per spare CPU; 0: none)
    check byte ranges of the file while this process checks the first range and feeds the replay; the
    ranges' chain links are joined afterwards.
    strict: the reference check instead (one process, every line matched by LINE_RE and re-serialised).
    The errors are the same either way: on any doubt the default path runs the reference check, which
    names the first bad line. Raises the first VerificationError, naming its 1-based line.
    """
    if strict:
        return _reference(data, replay)
    if replay is not None:
        replay.reset()
    lib = _native_lib() if native else None
    nworkers = forks.spare_cpus() if workers is None else workers
    gc_was_on = gc.isenabled()
    gc.disable()  # the replay only adds objects, never cycles: no collector passes over them meanwhile
    try:
        if lib is not None:
            from audit.native_check import check_native

            check = check_native(lib, data, replay)
        elif nworkers and len(data) > PARALLEL_MIN_LINES * 200 and forks.can_fork():
            check = _check_forked(data, replay, nworkers)
        else:
            lines = data.split(b"\n")
            torn = lines.pop()
            out: list[Any] | None = [] if replay is not None else None
            leaves, last = _scan(lines, 0, len(lines), 1, ZERO_HASH.encode(), out, _Known())
            if replay is not None and out:
                replay.feed_all(out)
            check = LogCheck(len(lines), merkle_levels(leaves), last.decode())
            if torn:
                raise TornLine(check.count + 1)
    except _Doubt:
        return _reference(data, replay)
    finally:
        if gc_was_on:
            gc.enable()
    return check


def _native_lib() -> Any:
    """The compiled checker's library, or None (no compiler: the Python path)."""
    from audit import native

    return native.load()


def _reference(data: bytes, replay: Replay | None) -> LogCheck:
    if replay is not None:
        replay.reset()
    torn = bool(data) and not data.endswith(b"\n")
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: b"" or the torn tail
    check = _check_strict(lines, replay)
    if torn:
        raise TornLine(check.count + 1)
    return check


def _split_points(data: bytes, parts: int) -> list[tuple[int, int]]:
    """(byte offset, index of its first line) of each worker's range; each index a multiple of 2^ALIGN."""
    align = 1 << ALIGN_LEVELS
    out: list[tuple[int, int]] = []
    share = (1 - MAIN_SHARE) / parts
    for w in range(parts):
        off = int(len(data) * (MAIN_SHARE + w * share))
        p = data.find(b"\n", off) + 1
        if p == 0:
            break
        m = data.count(b"\n", 0, p)
        while m % align:
            p = data.find(b"\n", p) + 1
            if p == 0:
                break
            m += 1
        if p == 0 or p >= len(data) or (out and m <= out[-1][1]):  # no lines left for this worker
            break
        out.append((p, m))
    return out


def _chain_worker(data: bytes, lo: int, hi: int, first: int) -> Iterator[Any]:
    """In a forked worker: check the lines in data[lo:hi], numbered from `first` (lo after a newline,
    hi after one or the end). Yields, every CHUNK lines, the list of their events for the replay as
    (seq, type, actor, subject, data); then (Merkle levels 0..ALIGN_LEVELS, its first prev, last hash, lines)."""
    lines = data[lo:hi].split(b"\n")
    lines.pop()
    ln = lines[0]
    i = ln.rfind(b',"hash":"')
    prev = p0 = ln[i + 83 : i + 147]
    known = _Known()
    leaves: list[bytes] = []
    for a in range(0, len(lines), CHUNK):
        events: list[Any] = []
        blob, prev = _scan(lines, a, min(a + CHUNK, len(lines)), first + a, prev, events, known)
        leaves.append(blob)
        yield events
    yield merkle_levels(b"".join(leaves), top=ALIGN_LEVELS), p0, prev, len(lines)


def _check_forked(data: bytes, replay: Replay | None, nworkers: int) -> LogCheck:
    """Workers check byte ranges of `data` while this process checks the first and feeds the replay its
    events, then each worker's events as they come; the chain links between ranges are checked and the
    Merkle levels joined."""
    points = _split_points(data, nworkers)
    bounds = [(p, points[w + 1][0] if w + 1 < len(points) else len(data), m) for w, (p, m) in enumerate(points)]
    streams = [forks.stream(_chain_worker, data, lo, hi, m + 1) for lo, hi, m in bounds]
    for s in streams:  # after every fork: the draining threads
        s.begin()
    try:
        lines = data[: bounds[0][0] if bounds else len(data)].split(b"\n")
        lines.pop()  # b"" after the last newline of this range, or the torn tail of the whole log
        out: list[Any] | None = [] if replay is not None else None
        leaves, prev = _scan(lines, 0, len(lines), 1, ZERO_HASH.encode(), out, _Known())
        if replay is not None and out:
            replay.feed_all(out)
        levels = merkle_levels(leaves, top=ALIGN_LEVELS)
        count = len(lines)
        del lines, leaves, out
        for s in streams:
            n, done = count, False
            for got in s:
                if isinstance(got, list):  # a chunk's events
                    if replay is not None:
                        replay.feed_all(got)
                        n += len(got)
                    continue
                part, first_prev, last, k = got
                if first_prev != prev:  # the chain link between two ranges
                    raise _Doubt
                # every range but the last is a multiple of 2^ALIGN_LEVELS lines: its levels are complete
                levels = [a + (part[j] if j < len(part) else b"") for j, a in enumerate(levels)]
                prev, count, done = last, count + k, True
            if not done or (replay is not None and n != count):  # every line of the range fed once
                raise _Doubt
    except forks.ChildFailed as e:
        raise _Doubt from e
    finally:
        for s in streams:
            s.close()
    check = LogCheck(count, merkle_levels(levels[0], start=levels), prev.decode(), "forked")
    if data and not data.endswith(b"\n"):
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
    """The reference check: each line matched by LINE_RE, hashed, and re-serialised (json) to itself."""
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
        calc = sha(ln[: hs - 8] + ln[he + 2 :]).hexdigest()
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
            raise CanonicalFormError(n, "not in canonical form (sorted keys, no spaces, UTF-8, no floats)")
        if feed is not None:
            a, s = ev["actor"], ev["subject"]
            feed(n, ev["type"], a and a["regn_num"], s and s["regn_num"], ev["data"])
    return LogCheck(n, merkle_levels(b"".join(leaves)), prev.decode(), "reference")


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
        return "not in canonical form (sorted keys, no spaces, UTF-8, no floats)"
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
            raise InconsistentHeads(
                int(a["tree_size"]),
                int(b["tree_size"]),
                f"the head of {b['timestamp']} covers fewer events than that of {a['timestamp']}",
            )
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
