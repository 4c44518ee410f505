"""LiveTallies: the per-process model follows Redis (new bills, closes, a trimmed change log)."""

from __future__ import annotations

from delegation.bills import Bill, BillStore
from delegation.live import LiveTallies, TallyConfig, outcome
from delegation.store import LOG, DelegationStore


async def _setup(r, n: int = 6) -> DelegationStore:
    for i in range(n):
        await r.hset(f"vr:v:v{i}", mapping={"regn_num": f"v{i}", "first": f"V{i}"})
        await r.sadd("vr:active", f"v{i}")
    await BillStore(r).add(Bill(119, "hr", 29, "To require the Secretary...", "Laken Riley Act"))
    return DelegationStore(r)


async def test_follows_new_bills_closes_and_trimmed_log(r):
    store = await _setup(r)
    live = LiveTallies(TallyConfig())
    await store.delegate("v1", "v0")
    await store.vote("v0", "119-hr-29", "yes")
    assert (await live.result(r, "119-hr-29"))["yes"] == 2
    # a bill opened after the model was built is picked up
    await BillStore(r).add(Bill(119, "hr", 22, "To amend the National Voter Registration Act...", "SAVE Act"))
    await store.vote("v1", "119-hr-22", "no")
    got = await live.result(r, "119-hr-22")
    assert (got["no"], got["not_cast"], got["weights"]) == (1, 5, {"v1": 1})
    # changes the model has not read, then trimmed from the log: it rebuilds from the state
    await store.delegate("v2", "v1")
    await store.vote("v3", "119-hr-29", "abstain")
    await r.xtrim(LOG, maxlen=0)
    await store.vote("v4", "119-hr-29", "no")
    got = await live.result(r, "119-hr-29")
    full = (await store.tally("119-hr-29")).counts()
    assert {k: got[k] for k in full} == full and full["no"] == 1 and full["yes"] == 3
    # closing freezes: later standing changes do not move a closed bill
    await store.close_bill("119-hr-29", "2025-01-07T20:00:00Z")
    await store.recall("v2")
    assert (await live.result(r, "119-hr-29"))["yes"] == 3


def test_outcome_by_simple_majority_and_quorum():
    assert outcome(3, 2, True) == "passes"
    assert outcome(2, 3, True) == "fails"
    assert outcome(2, 2, True) == "tie"
    assert outcome(9, 0, False) == "no quorum"
