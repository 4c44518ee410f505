"""The verifier's dealings with a running service (HTTP, httpx): fetching, proofs, live comparison.

- `find_first_difference`: bisect with consistency proofs for the first line where a copy differs;
- `check_live_consistency`: a local log must be a prefix of what the service signs now;
- `compare_live`: replayed tallies and balances against `/public/bills.json` and
  `/public/money/balances.json`;
- `sync_copy` / `save_copy`: an auditor's saved copy, extended with HTTP Range requests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from audit.checks import LogCheck, check_lines, load_heads
from audit.errors import InconsistentHeads, ProofError, RootMismatch, VerificationError
from audit.hashing import canonical, verify_consistency
from audit.replay import Replay
from audit.treehead import verify_head_signature


def is_url(s: str) -> bool:
    """True for an http(s) URL (a service), False for a file path."""
    return s.startswith(("http://", "https://"))


UNAVAILABLE_TRIES = 5  # a 503 (the service's storage restarting) is retried after its Retry-After


def get(url: str) -> bytes:
    """GET `url`; the body bytes. A 503 or a response that breaks off is retried (UNAVAILABLE_TRIES,
    waiting the Retry-After, at most 5 s). Raises httpx.HTTPError (status >= 400, network)."""
    import time

    import httpx

    for attempt in range(UNAVAILABLE_TRIES):
        last = attempt == UNAVAILABLE_TRIES - 1
        try:
            resp = httpx.get(url, timeout=60.0, follow_redirects=True)
        except httpx.RemoteProtocolError:  # the response broke off (a streamed body whose storage went away)
            if last:
                raise
            time.sleep(1.0)
            continue
        if resp.status_code != 503 or last:
            break
        wait = resp.headers.get("Retry-After", "1")
        time.sleep(min(float(wait), 5.0) if wait.isdigit() else 1.0)
    resp.raise_for_status()
    return resp.content


def base_url(url: str) -> str:
    """The service's base URL from its base or its /public/audit.log or /public/audit/head URL."""
    for suffix in ("/public/audit.log", "/public/audit/head"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url.rstrip("/")


def find_first_difference(check: LogCheck, live_base: str, head: dict[str, Any], upto: int) -> int:
    """Bisect with the service's consistency proofs towards its signed `head`: the first line (1-based,
    <= upto + 1) where `check`'s log differs from the service's. O(log n) requests."""
    size, root = int(head["tree_size"]), bytes.fromhex(head["root_hash"])

    def same_prefix(m: int) -> bool:
        try:
            proof = json.loads(get(f"{live_base}/public/audit/consistency?first={m}&second={size}"))
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
    live_bills = {b["bill"]: b for b in json.loads(get(f"{base}/public/bills.json"))}
    for bill in sorted(set(tallies) | set(live_bills)):
        mine, theirs = tallies.get(bill), live_bills.get(bill)
        if mine is None or theirs is None:
            if (mine or {}).get("yes", 0) + (mine or {}).get("no", 0) + (mine or {}).get("abstain", 0) or (
                theirs and theirs.get("yes", 0) + theirs.get("no", 0) + theirs.get("abstain", 0)
            ):
                diffs.append(f"bill {bill}: replay {mine} live {theirs}")
            continue
        for k in ("yes", "no", "abstain", "not_cast"):
            if k in theirs and mine[k] != theirs[k]:
                diffs.append(f"bill {bill}: {k} replay {mine[k]} live {theirs[k]}")
    live_bal = json.loads(get(f"{base}/public/money/balances.json"))
    live_bal = dict(live_bal.get("balances", live_bal)) if isinstance(live_bal, dict) else {}
    live_pool = int(live_bal.pop("pool", replay.pool))
    if live_pool != replay.pool:
        diffs.append(f"demurrage pool: replay {replay.pool} live {live_pool}")
    for acct in sorted(set(replay.balances) | set(live_bal)):
        a, b = replay.balances.get(acct, 0), int(live_bal.get(acct, 0))
        if a != b:
            diffs.append(f"balance {acct}: replay {a} live {b}")
    return diffs


def sync_copy(origin: str, path: Path, heads: list[dict[str, Any]]) -> tuple[bytes, list[dict[str, Any]]]:
    """Extend the local copy at `path` with the bytes the service added since (Range request); keep the
    union of every head ever seen next to it. Returns (log bytes, heads). The verification that follows
    proves the old copy is a prefix of the new log (hash chain, and every old head's root); only then
    `save_copy` stores them."""
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
    print(
        f"downloaded {len(data) - len(have) if resp.status_code != 200 else len(data)} bytes "
        f"({'new since the last run' if have else 'whole log'}) into {path}"
    )
    seen_path = path.with_name(path.name + ".heads")
    old = load_heads(seen_path.read_bytes()) if seen_path.exists() else []
    known = {json.dumps(h, sort_keys=True) for h in old}
    merged = old + [h for h in heads if json.dumps(h, sort_keys=True) not in known]
    return data, merged


def copy_still_prefix(path: Path, origin: str, pubkey: str | None) -> int:
    """Before extending a saved copy: is it still a prefix of what the service now signs? (RFC 9162
    consistency proof; a rewrite between two visits is caught here and bisected to its first line.)"""
    try:
        old = check_lines(path.read_bytes())
    except VerificationError as e:
        print(f"verify-audit: the saved copy {path} is itself damaged: {e}", file=sys.stderr)
        return 2
    return check_live_consistency(old, origin, pubkey)


def save_copy(path: Path, data: bytes, heads: list[dict[str, Any]]) -> None:
    """Replace the local copy and its heads atomically (only after they verified)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seen_path = path.with_name(path.name + ".heads")
    for target, body in ((path, data), (seen_path, b"".join(canonical(h) + b"\n" for h in heads))):
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(body)
        tmp.replace(target)


def live_head(base: str) -> dict[str, Any]:
    """`{"head": <signed head>, "public_key": b64}` from `GET /public/audit/head`."""
    doc = json.loads(get(f"{base}/public/audit/head"))
    return doc if "head" in doc else {"head": doc, "public_key": doc.get("public_key")}


def check_live_consistency(check: LogCheck, live: str, pubkey: str | None = None) -> int:
    """The file must be a prefix of the live log: a consistency proof from our size to the live head
    (signed by `pubkey`, default the key the service publishes). Returns 0, or 1 after printing."""
    doc = live_head(live)
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
    proof = json.loads(get(f"{live}/public/audit/consistency?first={check.count}&second={size}"))
    try:
        verify_consistency(
            check.count,
            size,
            check.root(check.count),
            bytes.fromhex(head["root_hash"]),
            [bytes.fromhex(x) for x in proof["proof"]],
        )
    except (VerificationError, ProofError) as e:
        line = find_first_difference(check, live, head, check.count)
        err = InconsistentHeads(check.count, size, str(e))
        print(f"TAMPERED: {type(err).__name__}: {err}\nfirst bad line: {line}", file=sys.stderr)
        return 1
    print(f"consistent with the live head (tree_size {size})")
    return 0
