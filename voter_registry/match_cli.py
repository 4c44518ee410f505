"""`./run_delegate_network match TEXT [--caller E164] [--json]` and `match --batch FILE.jsonl`.

Batch input lines: `{"id": ..., "text": ..., "caller": E164 | null}`; output lines (stdout):
`{"id", "decision", "candidates": [{"regn_num", "name", "score"}], "question", "elapsed_ms"}`.
Phone numbers are never printed: the caller's number is only used to find the caller's county.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from voter_registry.matcher import MatchResult, SyncMatcher
from voter_registry.model import Voter
from voter_registry.phones import to_e164


def _caller(r: Any, phone: str | None) -> Voter | None:
    """The active voter registered with `phone` (the first of a household), or None."""
    e164 = to_e164(phone) if phone else None
    if not e164:
        return None
    for regn in sorted(r.smembers(f"vr:phone:{e164}")):
        h = r.hgetall(f"vr:v:{regn}")
        if h and h.get("status") == "active":
            return Voter.from_dict(h)
    return None


def _public(res: MatchResult) -> dict[str, Any]:
    d = res.to_dict()
    return {"decision": d["decision"], "candidates": d["candidates"], "question": d["question"]}


def main(argv: list[str]) -> int:
    """Match one spoken name or a JSON Lines batch; exit 0, or 2 on bad arguments or a bad batch file."""
    ap = argparse.ArgumentParser(prog="run_delegate_network match", description="match a spoken name")
    ap.add_argument("text", nargs="?", help='what the caller said, e.g. "bill smith of ames on maple street"')
    ap.add_argument("--caller", help="caller ID (E.164): their county is the prior")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--batch", help="JSON Lines file of {id, text, caller}")
    args = ap.parse_args(argv)
    if not args.text and not args.batch:
        ap.print_usage(sys.stderr)
        return 2
    from infra.redis_client import sync_client
    from infra.settings import get_settings

    r = sync_client(get_settings())
    m = SyncMatcher(r)
    if args.batch:
        return _batch(r, m, args.batch)
    t0 = time.perf_counter()
    res = m.match(args.text, _caller(r, args.caller))
    ms = (time.perf_counter() - t0) * 1000
    if args.json:
        print(json.dumps({**_public(res), "elapsed_ms": round(ms, 3)}))
        return 0
    print(f"{res.decision} ({ms:.1f} ms)")
    for c in res.candidates:
        print(f"  {c.score:.3f}  {c.regn_num}  {c.name}")
    if res.question:
        print(f"  question: {res.question}")
    return 0


def _batch(r: Any, m: SyncMatcher, path: str) -> int:
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2
    callers: dict[str, Voter | None] = {}
    bad = 0
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                text = str(item.get("text") or "")
            except (ValueError, AttributeError) as exc:
                print(f"{path}:{lineno}: skipped, not a JSON object: {exc}", file=sys.stderr)
                bad += 1
                continue
            phone = item.get("caller")
            if phone and phone not in callers:
                callers[phone] = _caller(r, phone)
            t0 = time.perf_counter()
            res = m.match(text, callers.get(phone) if phone else None)
            ms = (time.perf_counter() - t0) * 1000
            print(json.dumps({"id": item.get("id"), **_public(res), "elapsed_ms": round(ms, 3)}))
    return 2 if bad else 0
