"""Regenerate the golden tamper vectors in this folder (run once; the JSON files are committed).

    .venv/bin/python tests/vectors/audit/make_vectors.py

A deterministic 12-event log (fixed times, fixed Ed25519 seed) with signed heads at 4, 8 and 12 events;
each vector applies one tampering and records the error and first bad line the verifier must report.
Vector shape: {"desc", "lines": [str], "trailing_newline": bool, "heads": [head], "public_key": b64,
"want_err": class name | null, "want_line": int | null, "want_head": int | null}.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from audit.hashing import ZERO_HASH, canonical, root_from_leaves  # noqa: E402
from audit.log import _Prepared  # noqa: E402
from audit.treehead import OperatorKey, sign_head  # noqa: E402

HERE = Path(__file__).resolve().parent
KEY = OperatorKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
OTHER = OperatorKey(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))


def ref(regn: str, name: str) -> dict[str, str]:
    return {"regn_num": regn, "name": name}


ANN, BOB, CAL, DEE = (ref("100000001", "Ann B Cole of Ames"), ref("100000002", "Bob Lee of Ames"),
                      ref("100000003", "Cal Diaz of Boone"), ref("100000004", "Dee Fox of Nevada"))
BILL = "119-hr-1234"
EVENTS = [
    ("bill-opened", None, None, {"bill": BILL, "title": "Example Act", "closed_at": None}),
    ("delegate", ANN, BOB, {"scope": "standing", "rank": 1, "tentative": False}),
    ("delegate", BOB, CAL, {"scope": "standing", "rank": 1, "tentative": False}),
    ("vote", CAL, None, {"bill": BILL, "choice": "yes", "tentative": False}),
    ("mint", None, ANN, {"amount_cents": 10000}),
    ("vote", DEE, None, {"bill": BILL, "choice": "no", "tentative": False}),
    ("payment", ANN, BOB, {"amount_cents": 2500}),
    ("delegate", DEE, ANN, {"scope": BILL, "rank": 1, "tentative": False}),
    ("recall", BOB, CAL, {"scope": "standing"}),
    ("vote", BOB, None, {"bill": BILL, "choice": "abstain", "tentative": False}),
    ("demurrage-fee", None, ANN, {"period": "2026-W47", "amount_cents": 8}),
    ("bill-closed", None, None, {"bill": BILL, "title": "Example Act", "closed_at": "2026-11-21T12:00:00Z"}),
]


def base_lines() -> list[str]:
    lines, prev = [], ZERO_HASH
    for i, (t, a, s, d) in enumerate(EVENTS, 1):
        line, prev = _Prepared(t, a, s, d).line(i, f"2026-11-21T10:{i:02d}:00.000000Z", prev)
        lines.append(line.decode())
    return lines


def heads_for(lines: list[str], sizes=(4, 8, 12), key: OperatorKey = KEY) -> list[dict]:
    leaves = [hashlib.sha256(b"\x00" + ln.encode()).digest() for ln in lines]
    return [sign_head(key, n, root_from_leaves(leaves[:n]), f"2026-11-21T10:{n:02d}:30.000000Z")
            for n in sizes]


def rehash_from(lines: list[str], start: int) -> list[str]:
    """Recompute hash and prev from line `start` (1-based) on, as a careful forger would."""
    out = list(lines)
    prev = json.loads(out[start - 2])["hash"] if start > 1 else ZERO_HASH
    for i in range(start - 1, len(out)):
        ev = json.loads(out[i])
        ev["prev"] = prev
        ev.pop("hash")
        ev["hash"] = prev = hashlib.sha256(canonical(ev)).hexdigest()
        out[i] = canonical(ev).decode()
    return out


def edit(line: str, **data: object) -> str:
    ev = json.loads(line)
    ev["data"].update(data)
    return canonical(ev).decode()


def vector(desc: str, lines: list[str], heads: list[dict], err: str | None, line: int | None,
           head: int | None = None, trailing_newline: bool = True) -> dict:
    return {"desc": desc, "lines": lines, "trailing_newline": trailing_newline, "heads": heads,
            "public_key": KEY.public_key_b64, "want_err": err, "want_line": line, "want_head": head}


def main() -> None:
    base = base_lines()
    heads = heads_for(base)
    v: dict[str, dict] = {}
    v["clean"] = vector("untouched log and heads", base, heads, None, None)
    edited = list(base)
    edited[5] = edit(base[5], choice="yes")
    v["edited-vote"] = vector("line 6: Dee's vote changed from no to yes, hash left alone", edited, heads,
                              "HashMismatch", 6)
    v["edited-vote-rehashed"] = vector(
        "line 6 edited and every hash from line 6 on recomputed: the chain is intact, only the signed "
        "heads catch it; without the live service the verifier can only bound it to after head 4",
        rehash_from(edited, 6), heads, "RootMismatch", 5)
    v["edited-amount"] = vector("line 7: payment amount changed 2500 -> 25", base[:6] + [edit(base[6], amount_cents=25)]
                                + base[7:], heads, "HashMismatch", 7)
    v["dropped-entry"] = vector("line 7 (a payment) deleted", base[:6] + base[7:], heads, "SeqGap", 7)
    v["dropped-entry-renumbered"] = vector(
        "line 7 deleted, later lines renumbered and rehashed: caught by the head at 8",
        rehash_from(base[:6] + [_renumber(ln, -1) for ln in base[7:]], 7), heads, "RootMismatch", 5)
    forged = json.loads(base[4])
    forged["data"] = {"amount_cents": 999999}
    forged["seq"] = 6
    forged["prev"] = json.loads(base[4])["hash"]
    forged.pop("hash")
    forged["hash"] = hashlib.sha256(canonical(forged)).hexdigest()
    v["inserted-entry"] = vector("a forged mint inserted as line 6, correctly chained to line 5",
                                 base[:5] + [canonical(forged).decode()] + base[5:], heads, "InsertedLine", 6)
    v["duplicated-entry"] = vector("line 5 (a mint) copied: the copy is line 6", base[:5] + [base[4]] + base[5:],
                                   heads, "InsertedLine", 6)
    v["reordered"] = vector("lines 6 and 7 swapped", base[:5] + [base[6], base[5]] + base[7:], heads, "SeqGap", 6)
    bad_prev = json.loads(base[8])
    bad_prev["prev"] = "ab" * 32
    bad_prev.pop("hash")
    bad_prev["hash"] = hashlib.sha256(canonical(bad_prev)).hexdigest()
    v["broken-chain"] = vector("line 9's prev replaced and the line rehashed", base[:8] + [canonical(bad_prev).decode()]
                               + base[9:], heads, "ChainBroken", 9)
    fh = [dict(h) for h in heads]
    fh[1]["root_hash"] = "00" * 32
    v["forged-head"] = vector("head #1 (tree_size 8): root replaced, signature kept", base, fh, "BadSignature",
                              None, 1)
    oh = heads[:2] + heads_for(base, (12,), OTHER)
    v["forged-head-other-key"] = vector("head #2 signed by a key that is not the operator's", base, oh,
                                        "BadSignature", None, 2)
    rh = rehash_from(edited, 6)
    v["forged-log-and-head"] = vector(
        "line 6 edited, chain rehashed and the last head re-signed by another key", rh,
        heads[:2] + heads_for(rh, (12,), OTHER), "BadSignature", None, 2)
    rb = heads + [sign_head(KEY, 8, bytes.fromhex(heads[1]["root_hash"]), "2026-11-21T11:00:00.000000Z")]
    v["rolled-back-head"] = vector("a genuine head signed after the one at 12 events claims only 8: a rollback",
                                   base, rb, "InconsistentHeads", None)
    torn = list(base)
    torn[-1] = torn[-1][:57]
    v["torn-last-line"] = vector("the writer died mid-write: line 12 is cut and has no newline", torn, heads[:2],
                                 "TornLine", 12, trailing_newline=False)
    v["truncated-log"] = vector("the last two lines removed; the head at 12 still covers them", base[:10], heads,
                                "LogTruncated", 11)
    spaced = list(base)
    spaced[2] = json.dumps(json.loads(base[2]), sort_keys=True)
    v["non-canonical"] = vector("line 3 rewritten with spaces (same content)", spaced, heads, "CanonicalFormError", 3)
    for name, vec in v.items():
        (HERE / f"{name}.json").write_text(json.dumps(vec, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(v)} vectors to {HERE}")


def _renumber(line: str, delta: int) -> str:
    ev = json.loads(line)
    ev["seq"] += delta
    return canonical(ev).decode()


if __name__ == "__main__":
    main()
