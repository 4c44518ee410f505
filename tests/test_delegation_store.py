"""DelegationStore on a real Valkey: scopes (R6), backups (R7), overrides (R2), lifecycle (R9), audit path."""

from __future__ import annotations

import pytest

from delegation.bills import Bill, BillStore
from delegation.errors import BillClosed, InvalidChoice, InvalidRank, SelfDelegation, UnknownBill, UnknownVoter
from delegation.store import DelegationStore

BILL = "119-hr-22"


async def _roll(r, *regns: str) -> None:
    for v in regns:
        await r.hset(f"vr:v:{v}", mapping={"regn_num": v, "first": v.upper(), "last": "DOE", "city": "AMES"})
        await r.sadd("vr:active", v)


@pytest.fixture
async def store(r):
    await _roll(r, "a", "b", "c", "d", "e")
    await BillStore(r).add(Bill(119, "hr", 22, "To amend the National Voter Registration Act.", "SAVE Act",
                                "2025-01-03", "2025-04-10"))
    return DelegationStore(r)


async def test_delegate_replaces_and_returns_previous(store):
    assert await store.delegate("a", "b") is None
    assert await store.delegate("a", "c") == "b"
    assert await store.delegate_of("a") == "c"


async def test_refusals_change_nothing(store):
    await store.delegate("a", "b")
    with pytest.raises(SelfDelegation):
        await store.delegate("a", "a")
    with pytest.raises(UnknownVoter):
        await store.delegate("a", "zz")
    with pytest.raises(InvalidRank):
        await store.delegate("a", "c", rank=4)
    with pytest.raises(UnknownBill):
        await store.vote("a", "119-hr-999999", "yes")
    with pytest.raises(InvalidChoice):
        await store.vote("a", BILL, "maybe")
    assert await store.delegates_of("a") == ["b"]
    assert await store.vote_of("a", BILL) is None


async def test_vote_overrides_delegation_on_that_bill_only(store):
    await store.delegate("a", "b")
    await store.vote("b", BILL, "no")
    await store.vote("a", BILL, "yes")
    path = await store.audit_path("a", BILL)
    assert (path.reason, path.choice, path.chain) == ("voted", "yes", ["a"])
    assert await store.delegate_of("a") == "b"  # direct_vote_overrides_delegation keeps the delegation


async def test_audit_path_speaks_the_chain(store):
    await store.delegate("a", "b")
    await store.delegate("b", "c")
    await store.vote("c", BILL, "yes")
    path = await store.audit_path("a", BILL)
    assert path.chain == ["a", "b", "c"] and path.guru == "c" and path.choice == "yes"
    assert path.reason == "delegated"


async def test_audit_path_reasons_for_lost_votes(store):
    assert (await store.audit_path("a", BILL)).reason == "no_delegation"
    await store.delegate("a", "b")
    p = await store.audit_path("a", BILL)
    assert (p.reason, p.chain) == ("dead_end", ["a", "b"])
    await store.delegate("b", "a")
    p = await store.audit_path("a", BILL)
    assert p.reason == "loop" and p.loops_back_to_voter


async def test_per_bill_scope_and_explicit_no_delegation(store):
    await store.delegate("a", "b")
    await store.vote("b", BILL, "no")
    await store.vote("c", BILL, "yes")
    await store.delegate("a", "c", scope=BILL)
    assert (await store.audit_path("a", BILL)).choice == "yes"
    await store.no_delegation("a", BILL)
    assert (await store.audit_path("a", BILL)).reason == "no_delegation"
    assert await store.delegate_of("a") == "b"
    await store.recall("a", BILL)
    assert (await store.audit_path("a", BILL)).choice == "no"


async def test_backup_delegate_used_when_first_choice_is_lost(store):
    await store.delegate("a", "b")
    await store.delegate("a", "c", rank=2)
    await store.vote("c", BILL, "abstain")
    p = await store.audit_path("a", BILL)
    assert p.chain == ["a", "c"] and p.choice == "abstain"
    await store.vote("b", BILL, "yes")
    assert (await store.audit_path("a", BILL)).chain == ["a", "b"]
    assert await store.recall("a", rank=1) == "b"
    assert await store.delegates_of("a") == ["c"]


async def test_closed_bill_is_frozen(store):
    await store.delegate("a", "b")
    await store.vote("b", BILL, "yes")
    snap = await store.close_bill(BILL, "2025-05-01T12:00:00Z")
    assert snap["closed_at"] == "2025-05-01T12:00:00Z"
    with pytest.raises(BillClosed):
        await store.vote("c", BILL, "no")
    with pytest.raises(BillClosed):
        await store.delegate("c", "b", scope=BILL)
    await store.recall("a")  # standing changes after the close do not touch the frozen bill
    assert (await store.tally(BILL)).yes == 2
    assert await store.snapshot(BILL) == snap
