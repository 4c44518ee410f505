"""The ledger: payments, refusals, idempotent retries, mints, activation awards, audit events."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from audit.log import AuditLog
from money import entries, keys
from money.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAccount,
    InvalidAmount,
    SameAccount,
)
from money.ledger import Ledger
from tests.conftest import audit_text_without_hashes
from voter_registry.model import Voter

ALICE = Voter("1001", "ALICE", "Q", "DOE", city="ADEL", phone="+15155550101")
BOB = Voter("1002", "BOB", "", "ROE", city="AMES", phone="+15155550102")


async def register(r: aioredis.Redis, *voters: Voter) -> None:
    for v in voters:
        await r.hset(f"vr:v:{v.regn_num}", mapping=v.to_dict())
        await r.sadd("vr:active", v.regn_num)


def audit_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_pay_moves_money_and_returns_new_balance(r: aioredis.Redis) -> None:
    ledger = Ledger(r)
    assert await ledger.mint("1001", 10_000, by="9", ref="m1") == 10_000
    assert await ledger.pay("1001", "1002", 2_525, ref="p1") == 7_475
    assert await ledger.balance("1001") == 7_475
    assert await ledger.balance("1002") == 2_525
    assert await ledger.balance("1003") == 0
    mint, pay = await entries.read(r)
    assert (mint.type, mint.debit, mint.credit, mint.cents, mint.ref, mint.extra) == (
        "mint", "mint", "1001", 10_000, "m1", "9")
    assert (pay.type, pay.debit, pay.credit, pay.cents, pay.ref) == ("payment", "1001", "1002", 2_525, "p1")
    assert 0 <= time.time() * 1000 - pay.unix_ms < 60_000
    await ledger.check_invariant()


@pytest.mark.parametrize(
    ("payer", "payee", "cents", "error"),
    [
        ("1001", "1002", 1_001, InsufficientFunds),
        ("1002", "1001", 1, InsufficientFunds),
        ("1001", "1002", 0, InvalidAmount),
        ("1001", "1002", -5, InvalidAmount),
        ("1001", "1002", 10.5, InvalidAmount),
        ("1001", "1002", True, InvalidAmount),
        ("1001", "1001", 5, SameAccount),
        ("1001", "pool", 5, InvalidAccount),
        ("1001", "+15155550102", 5, InvalidAccount),
        ("1001", "", 5, InvalidAccount),
    ],
)
async def test_refused_payments_leave_state_unchanged(
    r: aioredis.Redis, payer: str, payee: str, cents: int, error: type[Exception]
) -> None:
    ledger = Ledger(r)
    await ledger.mint("1001", 1_000, by="9", ref="m1")
    before = await r.hgetall(keys.BAL), await r.llen(keys.ENTRIES)
    with pytest.raises(error) as info:
        await ledger.pay(payer, payee, cents, ref="p1")
    assert info.value.reason  # a sentence the IVR can speak
    assert (await r.hgetall(keys.BAL), await r.llen(keys.ENTRIES)) == before
    await ledger.check_invariant()


async def test_insufficient_funds_reports_balance(r: aioredis.Redis) -> None:
    ledger = Ledger(r)
    await ledger.mint("1001", 500, by="9", ref="m1")
    with pytest.raises(InsufficientFunds) as info:
        await ledger.pay("1001", "1002", 501, ref="p1")
    assert (info.value.balance, info.value.cents) == (500, 501)


async def test_retried_ref_pays_once(r: aioredis.Redis) -> None:
    ledger = Ledger(r)
    await ledger.mint("1001", 1_000, by="9", ref="m1")
    await ledger.mint("1001", 1_000, by="9", ref="m1")  # a retried mint webhook
    assert await ledger.balance("1001") == 1_000
    results = await asyncio.gather(*(ledger.pay("1001", "1002", 300, ref="call-7:pay") for _ in range(5)))
    assert results == [700] * 5
    assert await ledger.balance("1002") == 300
    assert await r.llen(keys.ENTRIES) == 2
    with pytest.raises(IdempotencyConflict):
        await ledger.pay("1001", "1002", 301, ref="call-7:pay")
    with pytest.raises(ValueError):
        await ledger.pay("1001", "1002", 1, ref="")


async def test_concurrent_payments_never_overdraw(r: aioredis.Redis, redis_url: str) -> None:
    await Ledger(r).mint("1001", 10_000, by="9", ref="m1")
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in range(8)]
    ledgers = [Ledger(c) for c in clients]

    async def attempt(i: int) -> bool:
        try:
            await ledgers[i % 8].pay("1001", f"2{i % 17}", 70, ref=f"p{i}")
            return True
        except InsufficientFunds:
            return False

    ok = await asyncio.gather(*(attempt(i) for i in range(400)))
    for c in clients:
        await c.aclose()
    assert sum(ok) == 10_000 // 70  # exactly as many as the balance allows, no more
    ledger = Ledger(r)
    assert await ledger.balance("1001") == 10_000 % 70
    await ledger.check_invariant()


async def test_activation_award_order_under_concurrency(r: aioredis.Redis, redis_url: str) -> None:
    x = 50
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in range(6)]
    ledgers = [Ledger(c) for c in clients]
    # 70 voters, each delegating on 3 concurrent calls: only the first 50 voters get rewards, once each.
    calls = [ledgers[(v * 3 + j) % 6].award_activation(f"30{v:02d}", x) for v in range(70) for j in range(3)]
    results = await asyncio.gather(*calls)
    for c in clients:
        await c.aclose()
    awards = [a for a in results if a is not None]
    assert sorted(k for k, _ in awards) == list(range(1, x + 1))  # unique and dense
    assert all(cents == (x - k + 1) * 100 for k, cents in awards)
    rewarded = await r.hgetall(keys.AWARDED)
    assert len(rewarded) == x
    ledger = Ledger(r)
    for regn, k in rewarded.items():
        assert await ledger.balance(regn) == (x - int(k) + 1) * 100
    assert await ledger.award_activation("3001", x) is None  # never twice
    assert (await ledger.totals())["minted"] == x * (x + 1) // 2 * 100
    await ledger.check_invariant()


async def test_awards_off_when_x_is_zero(r: aioredis.Redis) -> None:
    assert await Ledger(r).award_activation("1001", 0) is None
    assert await Ledger(r).balance("1001") == 0


async def test_audit_events_use_public_names_never_phones(r: aioredis.Redis, tmp_path: Path) -> None:
    await register(r, ALICE, BOB)
    log = AuditLog(tmp_path / "audit.log")
    ledger = Ledger(r, audit=log)
    await ledger.award_activation("1001", 3)
    await ledger.mint("1002", 500, by="1001", ref="m1")
    await ledger.pay("1001", "1002", 125, ref="p1")
    await ledger.pay("1001", "1002", 125, ref="p1")  # retry: no second event
    events = audit_lines(tmp_path / "audit.log")
    assert [(e["type"], e["actor"], e["subject"], e["data"]) for e in events] == [
        ("award", None, ALICE.ref, {"amount_cents": 300, "k": 1}),
        ("mint", ALICE.ref, BOB.ref, {"amount_cents": 500}),
        ("payment", ALICE.ref, BOB.ref, {"amount_cents": 125}),
    ]
    text = audit_text_without_hashes(tmp_path / "audit.log")
    assert "555" not in text and "Alice Q Doe of Adel" in text
    assert await r.llen(keys.OUTBOX) == 0


async def test_outbox_appends_events_lost_in_a_crash(r: aioredis.Redis, tmp_path: Path) -> None:
    await register(r, ALICE, BOB)
    log = AuditLog(tmp_path / "audit.log")
    ledger = Ledger(r, audit=log)
    await ledger.mint("1001", 900, by="1002", ref="m1")
    # the process dies after the commit and before the append: the script left the entry in the outbox
    await ledger._pay(keys=[keys.BAL, keys.ACCOUNTS, keys.ENTRIES, keys.REFS, keys.OUTBOX],
                      args=["pay|1001|1002|100", "p1", 1, "1001", "1002", 100])
    assert len(audit_lines(tmp_path / "audit.log")) == 1
    assert await Ledger(r, audit=log).flush_outbox() == 1
    assert [e["type"] for e in audit_lines(tmp_path / "audit.log")] == ["mint", "payment"]
    assert await Ledger(r, audit=log).flush_outbox() == 0
