"""Replay equals the live service: a random mixed workload runs through the real effects (real Valkey,
real stores, real ledger), then `verify-audit --against-live` recomputes every tally and balance from the
audit log alone and compares them with the running service's public JSON over HTTP."""

from __future__ import annotations

import asyncio
import csv
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI

from audit.log import AuditLog
from audit.verify import main as verify_main

ROOT = Path(__file__).resolve().parent.parent
SOVEREIGN_PHONE = "+15155550100"


def serve(app: FastAPI) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    t.join(10)


FIRST = ("ANN", "BOB", "CAL", "DEE", "ED", "FAY", "GUS", "HAL")
LAST = ("COLE", "LEE", "DIAZ", "FOX", "KING", "MOORE", "PARK", "REED", "STONE", "WEST")


def write_roll(path: Path, columns: tuple[str, ...]) -> None:
    """A small roll in the Iowa SoS layout: 80 active voters in Ames (no phones needed here)."""
    rows = []
    for i in range(80):
        row = dict.fromkeys(columns, "")
        row.update(
            REGN_NUM=str(200_000_000 + i),
            FIRST_NAME=FIRST[i % 8],
            LAST_NAME=LAST[i // 8],
            EFF_REGN_DATE="01/02/2020",
            LAST_UPDATED_DATE="06/01/2025",
            HOUSE_NUM=str(100 + i),
            STREET_NAME="MAPLE",
            STREET_TYPE="ST",
            CITY="AMES",
            STATE="IA",
            ZIP_CODE="50010",
            VOTERSTATUS="Active",
            BIRTHDATE="03/04/1970",
            COUNTY="STORY",
            CONGRESSIONAL="4",
        )
        rows.append(row)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def live(redis_url: str, rsync, tmp_path: Path) -> Iterator[tuple[str, AuditLog]]:
    from audit import api as audit_api
    from data.generate_sample import IOWA_COLUMNS
    from delegation import pages
    from delegation.bills_import import import_bills_file
    from infra.settings import Settings
    from money import api as money_api
    from voter_registry.importer import import_voters

    lg = AuditLog(tmp_path / "var" / "audit.log", heads_every_s=None)
    write_roll(tmp_path / "roll.csv", IOWA_COLUMNS)
    import_voters(
        rsync, [tmp_path / "roll.csv"], "iowa", out_dir=tmp_path / "imports", audit=lg, progress=False, workers=1
    )
    import_bills_file(rsync, ROOT / "data" / "bills.json", audit=lg)
    settings = Settings(number_of_activations_to_reward=5, sovereign_phones=SOVEREIGN_PHONE)
    app = FastAPI()
    for router in (pages.router, money_api.router, audit_api.router):
        app.include_router(router)
    app.state.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    app.state.audit, app.state.settings = lg, settings
    for base in serve(app):
        yield base, lg
    lg.close()


async def test_replay_of_a_random_workload_equals_live_tallies_and_balances(
    r: aioredis.Redis, live: tuple[str, AuditLog], rsync, capsys: pytest.CaptureFixture[str]
) -> None:
    from delegation.bills import BillStore
    from delegation.bills_import import close_bill_sync
    from delegation.store import DelegationStore
    from infra.settings import Settings
    from ivr.app import build_effects
    from ivr.messages import RecordDelegation, RecordMint, RecordPayment, RecordRecall, RecordVote

    base, lg = live
    effects = build_effects(r, Settings(number_of_activations_to_reward=5, sovereign_phones=SOVEREIGN_PHONE), lg)
    voters = sorted(rsync.smembers("vr:active"))[:60]  # a small electorate: long chains, loops, shared gurus
    bills = [b.key for b in await BillStore(r).open_bills()][:4]
    assert len(voters) == 60 and len(bills) == 4
    rng = random.Random(7)
    done = 0
    for i in range(260):
        a, b, k = rng.choice(voters), rng.choice(voters), rng.random()
        if k < 0.35:
            req = RecordDelegation(a, b)
        elif k < 0.7:
            req = RecordVote(a, rng.choice(bills), rng.choice(("yes", "no", "abstain")))
        elif k < 0.78:
            req = RecordRecall(a)
        elif k < 0.88:
            req = RecordMint(voters[0], a, rng.randrange(100, 5000), f"mint-{i}", SOVEREIGN_PHONE, "A", True)
        else:
            req = RecordPayment(a, b, rng.randrange(1, 400), f"pay-{i}")
        res = await effects.run(req)  # no call context: a trusted caller within limits
        done += bool(getattr(res, "ok", False))
        if i == 130:
            await asyncio.to_thread(close_bill_sync, rsync, bills[0], None, lg)  # frozen at this point
    assert done > 150

    rc = await asyncio.to_thread(verify_main, [str(lg.path), "--against-live", base, "--quiet"])
    out = capsys.readouterr()
    assert rc == 0, out.out + out.err
    assert "tallies and balances equal the replay" in out.out
    assert f"{bills[0]}" in out.out and "(closed)" in out.out

    # A vote that reached the live state without going through the log is caught.
    store = DelegationStore(r)
    voter = next(v for v in voters if v not in {v2 for v2 in voters if rsync.hget(f"dl:v:{bills[1]}", v2)})
    await store.vote(voter, bills[1], "yes")
    rc = await asyncio.to_thread(verify_main, [str(lg.path), "--against-live", base, "--quiet"])
    out = capsys.readouterr()
    assert rc == 3 and f"DIFFERS: bill {bills[1]}" in out.out


def ref(x: str) -> dict[str, str]:
    return {"regn_num": f"30000000{ord(x) - 64}", "name": f"{x} Voter of Ames"}


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "fast"])
def test_replay_rules_scopes_ranks_tentative_and_money(tmp_path: Path, strict: bool) -> None:
    """Hand-computed: per-bill scope beats standing, no-delegate, ranked backup past a dead end,
    tentative delegations count only once promoted, a per-bill recall falls back to standing."""
    from audit.replay import Replay
    from audit.verify import check_lines

    A, B, C, E, F, G = (ref(x) for x in "ABCEFG")
    D = {"regn_num": "T-00a1b2c3d4", "name": "tentative caller T-00a1b2c3d4"}  # an unregistered caller
    b1, b2 = "119-hr-1", "119-hr-2"
    lg = AuditLog(tmp_path / "audit.log", heads_every_s=None)
    lg.append_many_sync(
        [
            ("delegate", A, B, {"scope": "standing", "rank": 1, "tentative": False}),
            ("delegate", A, C, {"scope": b1, "rank": 1, "tentative": False}),
            ("no-delegate", A, None, {"bill": b2}),
            ("delegate", D, B, {"scope": "standing", "rank": 1, "tentative": True}),
            ("delegate", E, C, {"scope": "standing", "rank": 1, "tentative": True}),
            ("tentative-promoted", None, E, {"actions": 1}),
            ("delegate", F, G, {"scope": "standing", "rank": 1, "tentative": False}),
            ("delegate", F, B, {"scope": "standing", "rank": 2, "tentative": False}),
            ("vote", B, None, {"bill": b1, "choice": "yes", "tentative": False}),
            ("vote", B, None, {"bill": b2, "choice": "yes", "tentative": False}),
            ("vote", C, None, {"bill": b1, "choice": "abstain", "tentative": False}),
            ("vote", C, None, {"bill": b1, "choice": "no", "tentative": False}),  # the last vote counts
            ("mint", None, A, {"amount_cents": 1000}),
            ("payment", A, B, {"amount_cents": 300}),
            ("demurrage-fee", None, A, {"period": "w1", "amount_cents": 7}),
            ("demurrage-share", None, C, {"period": "w1", "amount_cents": 5}),
        ]
    )

    def replay() -> Replay:
        rp = Replay()
        check_lines(lg.path.read_bytes(), rp, strict=strict)
        return rp

    rp = replay()
    t = rp.tallies()
    assert replay().tallies(workers=1) == t == replay().tallies(workers=0)  # b2 counted in a forked process
    assert t[b1] == {"yes": 2, "no": 3, "abstain": 0, "not_cast": 1}  # B, F(backup) / C, A, E / G; D is no voter
    assert t[b2] == {"yes": 2, "no": 0, "abstain": 0, "not_cast": 4}  # B, F / A (none), E dead end, C, G
    assert rp.balances == {A["regn_num"]: 693, B["regn_num"]: 300, C["regn_num"]: 5} and rp.pool == 2

    lg.append_sync("recall", A, C, {"scope": b1})
    lg.append_sync("bill-closed", None, None, {"bill": b1, "title": "One", "closed_at": "2026-11-21T12:00:00Z"})
    lg.append_sync("vote", G, None, {"bill": b1, "choice": "no", "tentative": False})  # after the close
    rp = replay()
    assert rp.tallies()[b1] == {"yes": 3, "no": 2, "abstain": 0, "not_cast": 1}  # frozen at the close
    lg.close()


@pytest.mark.parametrize("seed", range(6))
def test_replay_counts_like_the_reference_tally(seed: int) -> None:
    """The default count (delegation.engine over one shared graph) equals delegation.tally.compute, bill
    by bill, for random ranked, per-bill, tentative and recalled delegations, votes, closes and promotions
    over a small electorate (long chains, loops, backups past dead ends)."""
    from audit.replay import Replay
    from delegation.tally import compute

    rng = random.Random(seed)
    voters = [f"1000000{i:02d}" for i in range(30)]
    bills = ["119-hr-1", "119-hr-2", "119-hr-3"]
    events: list[tuple] = [("voter-roll-imported", None, None, {"active": 40 if seed % 2 else None})]
    events += [("bill-opened", None, None, {"bill": b}) for b in bills]
    for _ in range(400):
        a, b, k = rng.choice(voters), rng.choice(voters), rng.random()
        tentative = rng.random() < 0.1
        if k < 0.35:
            scope = "standing" if rng.random() < 0.7 else rng.choice(bills)
            data = {"scope": scope, "rank": rng.choice((1, 1, 2, 3)), "tentative": tentative}
            events.append(("delegate", a, b, data))
        elif k < 0.7:
            data = {"bill": rng.choice(bills), "choice": rng.choice(("yes", "no", "abstain")), "tentative": tentative}
            events.append(("vote", a, None, data))
        elif k < 0.8:
            events.append(("recall", a, b if rng.random() < 0.5 else None, {"scope": "standing"}))
        elif k < 0.85:
            events.append(("no-delegate", a, None, {"bill": rng.choice(bills)}))
        elif k < 0.9:
            events.append(("tentative-promoted", None, a, {"actions": 1}))
        elif k < 0.92:
            events.append(("voter-status", None, a, {"status": rng.choice(("active", "inactive"))}))
        elif k < 0.93 and len(bills) > 1:
            events.append(("bill-closed", None, None, {"bill": bills.pop(0)}))
        else:
            events.append(("payment", a, b, {"amount_cents": rng.randrange(1, 50)}))
    fast, ref = Replay(), Replay(tally=compute)
    for n, ev in enumerate(events, 1):
        fast.feed(n, *ev)
        ref.feed(n, *ev)
    assert fast.closed == ref.closed
    assert fast.tallies() == ref.tallies(workers=0)
    assert any(t["yes"] + t["no"] + t["abstain"] > 1 for t in fast.tallies().values())
