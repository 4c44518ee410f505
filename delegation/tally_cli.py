"""`./run_delegate_network tally --snapshot FILE [--cap FRACTION] [--max-rank N]`

Recomputes a bill's tally from a published snapshot alone (`GET /public/bills/{bill}/snapshot.json`) with
the same pure function as the live tally (`delegation.tally.compute`) and prints one JSON line:
`{"yes": n, "no": n, "abstain": n, "not_cast": n, "weights": {regn_num: weight of each direct voter}}`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from delegation.store import tally_from_snapshot
from delegation.tally import MAX_RANK


class SnapshotError(ValueError):
    """The file is not a snapshot: {"bill", "closed_at", "voters": [...], "delegations": [[...]], "votes": [[...]]}."""


def load_snapshot(path: Path) -> dict:
    """Read and check a snapshot file; raises SnapshotError with the reason."""
    try:
        snap = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnapshotError(f"{path}: {exc}") from exc
    if not isinstance(snap, dict):
        raise SnapshotError(f"{path}: expected a JSON object")
    for field in ("voters", "delegations", "votes"):
        rows = snap.get(field)
        if not isinstance(rows, list):
            raise SnapshotError(f"{path}: {field!r} must be a list")
    if not all(isinstance(v, str) for v in snap["voters"]):
        raise SnapshotError(f"{path}: voters must be registration numbers (strings)")
    for row in snap["delegations"]:
        if not (isinstance(row, list) and len(row) >= 2 and all(isinstance(x, str) for x in row)):
            raise SnapshotError(f"{path}: bad delegation row {row!r}")
    for row in snap["votes"]:
        if not (isinstance(row, list) and len(row) == 2 and row[1] in ("yes", "no", "abstain")):
            raise SnapshotError(f"{path}: bad vote row {row!r}")
    return snap


def main(argv: list[str] | None = None) -> int:
    """Print the recomputed tally; exit 2 on a bad file."""
    p = argparse.ArgumentParser(prog="tally", description="recompute a bill's tally from its snapshot")
    p.add_argument("--snapshot", type=Path, required=True, help="snapshot.json of one bill")
    p.add_argument("--cap", type=float, default=None, help="weight cap as a fraction of eligible voters (R8)")
    p.add_argument("--max-rank", type=int, default=MAX_RANK, help="ranked delegates per voter (R7)")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        snap = load_snapshot(args.snapshot)
    except SnapshotError as exc:
        print(f"tally: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(tally_from_snapshot(snap, cap=args.cap, max_rank=args.max_rank).counts()))
    return 0
