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
import json
import sys
from pathlib import Path
from typing import Any

from audit.checks import LINE_RE, LogCheck, check_heads, check_lines, load_heads, merkle_levels
from audit.errors import RootMismatch, VerificationError
from audit.remote import (
    base_url,
    check_live_consistency,
    compare_live,
    copy_still_prefix,
    find_first_difference,
    get,
    is_url,
    live_head,
    save_copy,
    sync_copy,
)
from audit.replay import Replay

__all__ = ["LINE_RE", "LogCheck", "check_heads", "check_lines", "load_heads", "main", "merkle_levels"]


def main(argv: list[str] | None = None) -> int:
    """`verify-audit FILE|URL [--head HEAD.json] [--pubkey B64] [--against-live [BASE_URL]] [--quiet]`."""
    ap = argparse.ArgumentParser(prog="verify-audit", description="Verify and replay the public audit log.")
    ap.add_argument("source", nargs="?", default="var/audit.log", help="log file or service URL")
    ap.add_argument("--head", help="a signed tree head JSON (or a JSON Lines heads file)")
    ap.add_argument("--pubkey", help="the operator's Ed25519 public key (base64, 32 bytes)")
    ap.add_argument(
        "--against-live",
        nargs="?",
        const="http://127.0.0.1:8000",
        default=None,
        metavar="BASE_URL",
        help="compare with the running service (default %(const)s)",
    )
    ap.add_argument(
        "--fast", action="store_true", help="accepted for old scripts; every run is fast and makes every check"
    )
    ap.add_argument(
        "--reference",
        action="store_true",
        help="check and count with the slow reference implementations (every line matched and "
        "re-serialised; every bill counted by delegation.tally.compute)",
    )
    ap.add_argument("--quiet", action="store_true", help="print the summary only, not every balance")
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes checking byte ranges of the log beside the replay (default: one per spare CPU; 0: none)",
    )
    ap.add_argument(
        "--save",
        metavar="FILE",
        type=Path,
        help="with a URL: keep a copy in FILE (and every head seen in FILE.heads); later runs "
        "download only the new bytes (HTTP Range) and check the old heads too",
    )
    args = ap.parse_args(argv)
    live = args.against_live.rstrip("/") if args.against_live else None
    try:
        origin = base_url(args.source) if is_url(args.source) else None
        heads, pubkey = _gather_heads(args, origin, live)  # heads first: the log fetched next covers them
        if origin and args.save:
            if args.save.exists() and (status := copy_still_prefix(args.save, origin, pubkey)):
                return status
            data, heads = sync_copy(origin, args.save, heads)
        else:
            data = get(f"{origin}/public/audit.log") if origin else Path(args.source).read_bytes()
    except (OSError, ValueError) as e:
        print(f"verify-audit: cannot read: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # httpx.HTTPError and friends
        print(f"verify-audit: cannot fetch: {e}", file=sys.stderr)
        return 2
    replay = Replay(tally=_reference_tally() if args.reference else None)
    try:
        check = check_lines(data, replay, strict=args.reference, workers=args.workers)
        nheads = check_heads(check, heads, pubkey)
    except VerificationError as e:
        service = live or (base_url(args.source) if is_url(args.source) else None)
        if isinstance(e, RootMismatch) and service:
            try:  # the service still holds the original: find the exact line
                line = find_first_difference(check, service, live_head(service)["head"], e.tree_size)
                e = RootMismatch(e.expected, e.calculated, e.tree_size, line)
            except Exception as exc:  # noqa: BLE001 -- the bound from the heads stands
                print(f"verify-audit: could not ask {service} for the exact line: {exc}", file=sys.stderr)
        print(f"TAMPERED: {type(e).__name__}: {e}", file=sys.stderr)
        if e.line is not None:
            print(f"first bad line: {e.line}", file=sys.stderr)
        return 1
    print(
        f"verified {check.count} events; hash chain intact; {nheads} signed tree heads match"
        + (f" (operator key {pubkey})" if pubkey else " (no signed heads given: chain only)")
    )
    print(f"lines proven by {_proven_by(check.proven_by)}")
    if origin and args.save:
        save_copy(args.save, data, heads)
    try:
        if live and (status := check_live_consistency(check, live, pubkey)):
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


def _gather_heads(
    args: argparse.Namespace, origin: str | None, live: str | None
) -> tuple[list[dict[str, Any]], str | None]:
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
        heads = load_heads(get(f"{origin}/public/audit/heads"))
    if pubkey is None and origin is None:
        pub = Path(args.source).parent / "audit_operator.pub"
        if pub.exists():
            pubkey = pub.read_text().strip()
    service = origin or live
    if pubkey is None and service:
        pubkey = get(f"{service}/public/audit/pubkey").decode().strip()
    return heads, pubkey


def _proven_by(how: str) -> str:
    """Which implementation proved the lines (LogCheck.proven_by), in words."""
    if how.startswith("native"):
        return "the compiled checker (audit/_scan.c)" + (", then Python from its first doubt" if "+" in how else "")
    from audit import native

    why = f" (compiled checker not used: {native.why()})" if native.why() else ""
    return {"reference": "the reference check (--reference)", "forked": "Python, in forked processes"}.get(
        how, "Python"
    ) + why


def _reference_tally() -> Any:
    from delegation.tally import compute  # the reference count the default engine is held equal to

    return compute


def _print_results(replay: Replay, quiet: bool) -> None:
    tallies = replay.tallies()
    print(f"\nreplayed {replay.events} events: {len(tallies)} bills, {len(replay.balances)} accounts")
    print(f"{'bill':24} {'yes':>8} {'no':>8} {'abstain':>8} {'not_cast':>9}")
    for bill, t in tallies.items():
        print(
            f"{bill:24} {t['yes']:>8} {t['no']:>8} {t['abstain']:>8} {t['not_cast']:>9}"
            + ("  (closed)" if bill in replay.closed else "")
        )
    total = sum(replay.balances.values())
    print(f"\nbalances: {len(replay.balances)} accounts, total {total} cents, demurrage pool {replay.pool} cents")
    if not quiet:
        for acct, cents in sorted(replay.balances.items()):
            print(f"{acct:16} {cents:>12}")


if __name__ == "__main__":
    sys.exit(main())
