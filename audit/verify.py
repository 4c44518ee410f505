"""Verify and replay the public audit log, as an outside auditor would. Pure: no Redis, no service code.

    python -m audit.verify FILE|URL [--head HEAD.json] [--pubkey B64] [--against-live [BASE_URL]]
    ./run_delegate_network verify-audit FILE|URL ...

Checks, in order, stopping at the FIRST bad line (1-based) with a typed error (audit.errors):
1. every line is canonical JSON with the eight fields (CanonicalFormError), the last line is complete
   (TornLine); seq runs 1, 2, 3... (SeqGap: a line deleted, inserted or moved);
2. each line's `hash` is SHA-256 of the line without `hash` (HashMismatch: edited) and its `prev` is
   the previous line's hash (ChainBroken);
3. every signed tree head verifies under the operator's public key (BadSignature: forged head), covers
   no more events than the file (LogTruncated), and its root equals the RFC 9162 Merkle root of the
   first tree_size lines (RootMismatch; with --against-live the first differing line is found by
   bisection with consistency proofs); heads must agree with each other (InconsistentHeads);
4. replay (audit.replay) recomputes every bill's tally and every balance and prints them; with
   --against-live they are compared with `GET /public/bills.json` and `GET /public/money/balances.json`.

Heads come from --head (one head JSON as served by /public/audit/head, or a JSON Lines heads file), else
`<log stem>.heads` next to a local log, else the live service. The public key comes from --pubkey, else
`audit_operator.pub` next to the log, else the head document's `public_key` (trust on first use: it is
printed so that you can compare it with the published key).

Exit status: 0 verified (and matches live), 1 tampering found, 2 usage or I/O error, 3 live differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import json.scanner
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.errors import (
    BadSignature,
    CanonicalFormError,
    ChainBroken,
    HashMismatch,
    InconsistentHeads,
    InsertedLine,
    LogTruncated,
    ProofError,
    RootMismatch,
    SeqGap,
    TornLine,
    VerificationError,
)
from audit.hashing import EMPTY_ROOT, ZERO_HASH, verify_consistency
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


def check_lines(data: bytes, replay: Replay | None = None, *, strict: bool = True) -> LogCheck:
    """Check the log bytes line by line (canonical form, seq, hash chain) and feed `replay`.

    strict: every line must match the canonical line pattern and re-serialise to itself (proves it
    canonical). Fast (strict=False): fields are located by byte offsets in the canonical layout and only
    `data` of the events the replay reads is parsed; seq, hash and chain are checked all the same, and
    the signed Merkle heads still bind every byte of every line.
    Raises the first VerificationError, naming its 1-based line.
    """
    torn = bool(data) and not data.endswith(b"\n")
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: b"" or the torn tail
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


def _check_fast(lines: list[bytes], replay: Replay | None) -> LogCheck:
    sha = hashlib.sha256
    scan = json.scanner.make_scanner(json.JSONDecoder())  # the C scanner, without loads() overhead
    parsed: dict[bytes, Any] = {}  # data bytes -> parsed value; the replay only reads data
    feed = replay.feed if replay is not None else None
    wanted = REPLAY_TYPES
    leaves: list[bytes] = []
    add_leaf = leaves.append
    prev = prev2 = ZERO_HASH.encode()
    n = 0
    for n, ln in enumerate(lines, 1):
        # canonical layout: ...,"hash":"<64>","prev":"<64>","seq":N,"subject":S,"time":"T","type":"X"}
        i = ln.rfind(b',"hash":"')
        j = ln.find(b',"subject":', i + 155) if i > 0 else -1
        if j < 0 or ln[i + 73:i + 83] != b'","prev":"' or ln[i + 147:i + 155] != b'","seq":':
            raise CanonicalFormError(n, _why_not_canonical(ln))
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
    return LogCheck(n, leaves, prev.decode())


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


# -- sources -------------------------------------------------------------------------------------

def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://"))


def _get(url: str) -> bytes:
    import httpx

    resp = httpx.get(url, timeout=60.0, follow_redirects=True)
    resp.raise_for_status()
    return resp.content


def _base(url: str) -> str:
    for suffix in ("/public/audit.log", "/public/audit/head"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url.rstrip("/")


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


def find_first_difference(check: LogCheck, live_base: str, live_head: dict[str, Any], upto: int) -> int:
    """Bisect with live consistency proofs: the first line (1-based, <= upto) where the file differs."""
    size, root = int(live_head["tree_size"]), bytes.fromhex(live_head["root_hash"])

    def same_prefix(m: int) -> bool:
        try:
            proof = json.loads(_get(f"{live_base}/public/audit/consistency?first={m}&second={size}"))
            verify_consistency(m, size, check.root(m), root, [bytes.fromhex(x) for x in proof["proof"]])
            return True
        except (VerificationError, ProofError, ValueError, KeyError):
            return False

    lo, hi = 0, min(upto, check.count, size)  # prefix lo is known equal; find the first bad line
    if same_prefix(hi):
        return hi + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if same_prefix(mid):
            lo = mid
        else:
            hi = mid
    return hi


def compare_live(replay: Replay, base: str) -> list[str]:
    """Differences between the replay and the live public tallies and balances (empty when equal)."""
    diffs: list[str] = []
    tallies = replay.tallies()
    live_bills = {b["bill"]: b for b in json.loads(_get(f"{base}/public/bills.json"))}
    for bill in sorted(set(tallies) | set(live_bills)):
        mine, theirs = tallies.get(bill), live_bills.get(bill)
        if mine is None or theirs is None:
            if (mine or {}).get("yes", 0) + (mine or {}).get("no", 0) + (mine or {}).get("abstain", 0) or (
                    theirs and theirs.get("yes", 0) + theirs.get("no", 0) + theirs.get("abstain", 0)):
                diffs.append(f"bill {bill}: replay {mine} live {theirs}")
            continue
        for k in ("yes", "no", "abstain", "not_cast"):
            if k in theirs and mine[k] != theirs[k]:
                diffs.append(f"bill {bill}: {k} replay {mine[k]} live {theirs[k]}")
    live_bal = json.loads(_get(f"{base}/public/money/balances.json"))
    live_bal = dict(live_bal.get("balances", live_bal)) if isinstance(live_bal, dict) else {}
    live_pool = int(live_bal.pop("pool", replay.pool))
    if live_pool != replay.pool:
        diffs.append(f"demurrage pool: replay {replay.pool} live {live_pool}")
    for acct in sorted(set(replay.balances) | set(live_bal)):
        a, b = replay.balances.get(acct, 0), int(live_bal.get(acct, 0))
        if a != b:
            diffs.append(f"balance {acct}: replay {a} live {b}")
    return diffs


# -- CLI -----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """`verify-audit FILE|URL [--head HEAD.json] [--pubkey B64] [--against-live [BASE_URL]] [--quiet]`."""
    ap = argparse.ArgumentParser(prog="verify-audit", description="Verify and replay the public audit log.")
    ap.add_argument("source", nargs="?", default="var/audit.log", help="log file or service URL")
    ap.add_argument("--head", help="a signed tree head JSON (or a JSON Lines heads file)")
    ap.add_argument("--pubkey", help="the operator's Ed25519 public key (base64, 32 bytes)")
    ap.add_argument("--against-live", nargs="?", const="http://127.0.0.1:8000", default=None,
                    metavar="BASE_URL", help="compare with the running service (default %(const)s)")
    ap.add_argument("--fast", action="store_true", help="skip re-serialising every line (hashes still checked)")
    ap.add_argument("--quiet", action="store_true", help="print the summary only, not every balance")
    ap.add_argument("--save", metavar="FILE", type=Path,
                    help="with a URL: keep a copy in FILE (and every head seen in FILE.heads); later runs "
                         "download only the new bytes (HTTP Range) and check the old heads too")
    args = ap.parse_args(argv)
    live = args.against_live.rstrip("/") if args.against_live else None
    try:
        origin = _base(args.source) if _is_url(args.source) else None
        heads, pubkey = _gather_heads(args, origin, live)  # heads first: the log fetched next covers them
        if origin and args.save:
            if args.save.exists() and (status := _copy_still_prefix(args.save, origin, pubkey)):
                return status
            data, heads = _sync_copy(origin, args.save, heads)
        else:
            data = _get(f"{origin}/public/audit.log") if origin else Path(args.source).read_bytes()
    except (OSError, ValueError) as e:
        print(f"verify-audit: cannot read: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # httpx.HTTPError and friends
        print(f"verify-audit: cannot fetch: {e}", file=sys.stderr)
        return 2
    replay = Replay()
    try:
        check = check_lines(data, replay, strict=not args.fast)
        nheads = check_heads(check, heads, pubkey)
    except VerificationError as e:
        service = live or (_base(args.source) if _is_url(args.source) else None)
        if isinstance(e, RootMismatch) and service:
            try:  # the service still holds the original: find the exact line
                line = find_first_difference(check, service, _live_head(service)["head"], e.tree_size)
                e = RootMismatch(e.expected, e.calculated, e.tree_size, line)
            except Exception as exc:  # noqa: BLE001 -- the bound from the heads stands
                print(f"verify-audit: could not ask {service} for the exact line: {exc}", file=sys.stderr)
        print(f"TAMPERED: {type(e).__name__}: {e}", file=sys.stderr)
        if e.line is not None:
            print(f"first bad line: {e.line}", file=sys.stderr)
        return 1
    print(f"verified {check.count} events; hash chain intact; {nheads} signed tree heads match"
          + (f" (operator key {pubkey})" if pubkey else " (no signed heads given: chain only)"))
    if origin and args.save:
        _save_copy(args.save, data, heads)
    try:
        if live and (status := _check_live_consistency(check, live, pubkey)):
            return status
        _print_results(replay, args.quiet)
        if not live:
            return 0
        diffs = compare_live(replay, live)
    except Exception as e:  # the live service is unreachable or answers nonsense
        print(f"verify-audit: cannot compare with {live}: {e}", file=sys.stderr)
        return 2
    for d in diffs:
        print(f"DIFFERS: {d}")
    if diffs:
        return 3
    print(f"live service {live}: tallies and balances equal the replay")
    return 0


def _sync_copy(origin: str, path: Path, heads: list[dict[str, Any]]) -> tuple[bytes, list[dict[str, Any]]]:
    """Extend the local copy at `path` with the bytes the service added since (Range request); keep the
    union of every head ever seen next to it. Returns (log bytes, heads). The verification that follows
    proves the old copy is a prefix of the new log (hash chain, and every old head's root); only then
    `_save_copy` stores them."""
    import httpx

    have = path.read_bytes() if path.exists() else b""
    headers = {"Range": f"bytes={len(have)}-"} if have else {}
    resp = httpx.get(f"{origin}/public/audit.log", headers=headers, timeout=60.0)
    if resp.status_code == 206:
        data = have + resp.content
    elif resp.status_code == 416:
        data = have
    else:
        resp.raise_for_status()
        data = resp.content
    print(f"downloaded {len(data) - len(have) if resp.status_code != 200 else len(data)} bytes "
          f"({'new since the last run' if have else 'whole log'}) into {path}")
    seen_path = path.with_name(path.name + ".heads")
    old = load_heads(seen_path.read_bytes()) if seen_path.exists() else []
    known = {json.dumps(h, sort_keys=True) for h in old}
    merged = old + [h for h in heads if json.dumps(h, sort_keys=True) not in known]
    return data, merged


def _copy_still_prefix(path: Path, origin: str, pubkey: str | None) -> int:
    """Before extending a saved copy: is it still a prefix of what the service now signs? (RFC 9162
    consistency proof; a rewrite between two visits is caught here and bisected to its first line.)"""
    try:
        old = check_lines(path.read_bytes(), strict=False)
    except VerificationError as e:
        print(f"verify-audit: the saved copy {path} is itself damaged: {e}", file=sys.stderr)
        return 2
    return _check_live_consistency(old, origin, pubkey)


def _save_copy(path: Path, data: bytes, heads: list[dict[str, Any]]) -> None:
    """Replace the local copy and its heads atomically (only after they verified)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seen_path = path.with_name(path.name + ".heads")
    for target, body in ((path, data), (seen_path, b"".join(_dumps(h) + b"\n" for h in heads))):
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(body)
        tmp.replace(target)


def _live_head(base: str) -> dict[str, Any]:
    doc = json.loads(_get(f"{base}/public/audit/head"))
    return doc if "head" in doc else {"head": doc, "public_key": doc.get("public_key")}


def _gather_heads(args: argparse.Namespace, origin: str | None,
                  live: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """(heads to check against the log, operator public key) from the options, files and services.

    Heads: --head; else `<stem>.heads` next to a local log; else all heads of the origin service.
    Key: --pubkey; else `audit_operator.pub` next to a local log; else the service's published key.
    """
    pubkey = args.pubkey
    heads: list[dict[str, Any]] = []
    if args.head:
        heads = load_heads(Path(args.head).read_bytes())
        if pubkey is None and Path(args.head).suffix == ".json":
            doc = json.loads(Path(args.head).read_bytes() or b"{}")
            pubkey = doc.get("public_key") if isinstance(doc, dict) else None
    elif origin is None:
        side = Path(args.source).with_suffix(".heads")
        if side.exists():
            heads = load_heads(side.read_bytes())
    else:
        heads = load_heads(_get(f"{origin}/public/audit/heads"))
    if pubkey is None and origin is None:
        pub = Path(args.source).parent / "audit_operator.pub"
        if pub.exists():
            pubkey = pub.read_text().strip()
    service = origin or live
    if pubkey is None and service:
        pubkey = _get(f"{service}/public/audit/pubkey").decode().strip()
    return heads, pubkey


def _check_live_consistency(check: LogCheck, live: str, pubkey: str | None = None) -> int:
    """The file must be a prefix of the live log: a consistency proof from our size to the live head
    (signed by `pubkey`, default the key the service publishes). Returns 0, or 1 after printing."""
    doc = _live_head(live)
    head = doc["head"]
    if not head or not verify_head_signature(pubkey or doc.get("public_key") or "", head):
        print("TAMPERED: live head signature does not verify", file=sys.stderr)
        return 1
    size = int(head["tree_size"])
    if check.count == 0:
        return 0
    if size <= check.count:  # the live head is older than our copy: its root must match our prefix
        if check.root(size).hex() != head["root_hash"]:
            line = find_first_difference(check, live, head, size)
            err: VerificationError = RootMismatch(head["root_hash"], check.root(size).hex(), size, line)
            print(f"TAMPERED: {type(err).__name__}: {err}\nfirst bad line: {line}", file=sys.stderr)
            return 1
        print(f"consistent with the live head (tree_size {size})")
        return 0
    proof = json.loads(_get(f"{live}/public/audit/consistency?first={check.count}&second={size}"))
    try:
        verify_consistency(check.count, size, check.root(check.count), bytes.fromhex(head["root_hash"]),
                           [bytes.fromhex(x) for x in proof["proof"]])
    except (VerificationError, ProofError) as e:
        line = find_first_difference(check, live, head, check.count)
        err = InconsistentHeads(check.count, size, str(e))
        print(f"TAMPERED: {type(err).__name__}: {err}\nfirst bad line: {line}", file=sys.stderr)
        return 1
    print(f"consistent with the live head (tree_size {size})")
    return 0


def _print_results(replay: Replay, quiet: bool) -> None:
    tallies = replay.tallies()
    print(f"\nreplayed {replay.events} events: {len(tallies)} bills, {len(replay.balances)} accounts")
    print(f"{'bill':24} {'yes':>8} {'no':>8} {'abstain':>8} {'not_cast':>9}")
    for bill, t in tallies.items():
        print(f"{bill:24} {t['yes']:>8} {t['no']:>8} {t['abstain']:>8} {t['not_cast']:>9}"
              + ("  (closed)" if bill in replay.closed else ""))
    total = sum(replay.balances.values())
    print(f"\nbalances: {len(replay.balances)} accounts, total {total} cents, demurrage pool {replay.pool} cents")
    if not quiet:
        for acct, cents in sorted(replay.balances.items()):
            print(f"{acct:16} {cents:>12}")


if __name__ == "__main__":
    sys.exit(main())
