"""sum(balances) + pool == minted - burned after every step of random sequences of operations, and the
ledger agrees with a plain-Python model of the rules (refusals included)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st

from money.demurrage import fee, run_period
from money.errors import InsufficientFunds, SameAccount
from money.ledger import Ledger
from money.participation import period_id, record

ACCOUNTS = ["11", "12", "13", "14"]
X = 5  # activation rewards
account = st.sampled_from(ACCOUNTS)
op = st.one_of(
    st.tuples(st.just("mint"), account, st.integers(1, 10**9)),
    st.tuples(st.just("pay"), account, account, st.integers(1, 5 * 10**8)),
    st.tuples(st.just("award"), account),
    st.tuples(st.just("join"), account),
    st.tuples(st.just("demurrage"), st.integers(0, 50_000)),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(op, max_size=25))
def test_invariant_after_random_operations(redis_url: str, ops: list[tuple]) -> None:
    async def go() -> None:
        r = aioredis.Redis.from_url(redis_url, decode_responses=True)
        await r.flushdb()
        for a in ACCOUNTS:
            await r.hset(f"vr:v:{a}", mapping={"regn_num": a, "first": "A", "phone": "+15155550100"})
            await r.sadd("vr:active", a)
        ledger = Ledger(r)
        model = dict.fromkeys(ACCOUNTS, 0)
        pool, minted, awarded, joined, period = 0, 0, [], set(), 0
        for i, o in enumerate(ops):
            if o[0] == "mint":
                await ledger.mint(o[1], o[2], by="99", ref=f"r{i}")
                model[o[1]] += o[2]
                minted += o[2]
            elif o[0] == "pay":
                _, payer, payee, cents = o
                try:
                    await ledger.pay(payer, payee, cents, ref=f"r{i}")
                    model[payer] -= cents
                    model[payee] += cents
                except SameAccount:
                    assert payer == payee
                except InsufficientFunds:
                    assert model[payer] < cents
            elif o[0] == "award":
                got = await ledger.award_activation(o[1], X)
                if o[1] in awarded or len(awarded) == X:
                    assert got is None
                else:
                    awarded.append(o[1])
                    k = len(awarded)
                    assert got == (k, (X - k + 1) * 100)
                    model[o[1]] += got[1]
                    minted += got[1]
            elif o[0] == "join":
                await record(r, o[1], datetime(2026, 1, 1, tzinfo=UTC) + timedelta(weeks=period), True)
                joined.add(o[1])
            else:
                pid = period_id(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(weeks=period))
                res = await run_period(r, pid, o[1], None, chunk=2)
                fees = {a: fee(b, o[1]) for a, b in model.items()}
                for a in model:
                    model[a] -= fees[a]
                pool += sum(fees.values())
                share = pool // len(joined) if joined else 0
                for a in joined:
                    model[a] += share
                pool -= share * len(joined)
                assert (res.fees_cents, res.share_cents, res.pool_cents) == (sum(fees.values()), share, pool)
                joined, period = set(), period + 1
            await ledger.check_invariant()
            assert {a: await ledger.balance(a) for a in ACCOUNTS} == model
        assert await ledger.totals() == {"balances": sum(model.values()), "pool": pool, "minted": minted,
                                         "burned": 0}
        await r.aclose()

    asyncio.run(go())
