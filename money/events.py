"""Audit events of the money package, built in the shapes of docs/architecture.md ("Audit event types").

Voters appear by public reference only: `{"regn_num": ..., "name": "John Q Doe of Centerville"}`, read
from the registry hash `vr:v:{regn_num}` *without* its phone field, so no event can carry a phone number.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import redis.asyncio as aioredis

from money.entries import Entry
from voter_registry.model import Voter

Ref = dict[str, str]
UNREGISTERED = "unregistered voter"


class AuditEvent(NamedTuple):
    """The arguments of `AuditLog.append(type, actor, subject, data)`."""

    type: str
    actor: Ref | None
    subject: Ref | None
    data: dict[str, Any]


# One round trip for a whole chunk: reading keys not passed in KEYS is fine on a single (non-cluster)
# server, and much cheaper than one pipelined command per voter for the demurrage job's millions.
_NAMES = """
local out = {}
for i, regn in ipairs(ARGV) do
  local row = redis.call('HMGET', 'vr:v:' .. regn, 'first', 'middle', 'last', 'suffix', 'city')
  for j = 1, 5 do out[#out + 1] = row[j] or '' end
end
return out
"""


async def public_refs(r: aioredis.Redis, regn_nums: Iterable[str]) -> dict[str, Ref]:
    """Public references of voters: regn_num -> {"regn_num", "name": Voter.public_name}, one round
    trip per 5,000. A regn_num not in the registry gets the name "unregistered voter". Reads only the
    name fields of `vr:v:{regn}`, never the phone."""
    regns = list(dict.fromkeys(regn_nums))
    out: dict[str, Ref] = {}
    for i in range(0, len(regns), 5000):
        batch = regns[i: i + 5000]
        flat = await r.eval(_NAMES, 0, *batch)
        for j, regn in enumerate(batch):
            first, middle, last, suffix, city = flat[5 * j: 5 * j + 5]
            name = Voter(regn, first, middle, last, suffix, city=city).public_name if first else UNREGISTERED
            out[regn] = {"regn_num": regn, "name": name}
    return out


def payment(payer: Ref, payee: Ref, cents: int) -> AuditEvent:
    """`payment`: actor pays subject `{"amount_cents": n}`."""
    return AuditEvent("payment", payer, payee, {"amount_cents": cents})


def mint(by: Ref | None, to: Ref, cents: int) -> AuditEvent:
    """`mint`: actor (a sovereign, or None when not a registered voter) mints to subject."""
    return AuditEvent("mint", by, to, {"amount_cents": cents})


def award(to: Ref, cents: int, k: int) -> AuditEvent:
    """`award`: subject receives the activation reward as the k-th voter to activate."""
    return AuditEvent("award", None, to, {"amount_cents": cents, "k": k})


def demurrage(period: str, rate_ppm: int, fees_cents: int, accounts: int) -> AuditEvent:
    """`demurrage` summary: the period's total fees and the number of accounts charged."""
    return AuditEvent("demurrage", None, None,
                      {"period": period, "rate_ppm": rate_ppm, "fees_cents": fees_cents, "accounts": accounts})


def demurrage_fee(who: Ref, period: str, cents: int) -> AuditEvent:
    """`demurrage-fee`: subject's balance was charged `cents` in the period."""
    return AuditEvent("demurrage-fee", None, who, {"period": period, "amount_cents": cents})


def demurrage_share(who: Ref, period: str, cents: int) -> AuditEvent:
    """`demurrage-share`: subject received `cents` from the pool as a participating verified voter."""
    return AuditEvent("demurrage-share", None, who, {"period": period, "amount_cents": cents})


def demurrage_closed(period: str, pool_cents: int) -> AuditEvent:
    """`demurrage-closed`: the period is done; `pool_cents` remain in the pool for the next one."""
    return AuditEvent("demurrage-closed", None, None, {"period": period, "pool_cents": pool_cents})


async def from_entry(r: aioredis.Redis, e: Entry) -> AuditEvent | None:
    """The audit event of one ledger entry (payment, mint, award); None for demurrage entries, which
    the period job logs in order with its summary."""
    if e.type == "payment":
        refs = await public_refs(r, [e.debit, e.credit])
        return payment(refs[e.debit], refs[e.credit], e.cents)
    if e.type == "mint":
        refs = await public_refs(r, [e.credit, *([e.extra] if e.extra else [])])
        by_ref = refs[e.extra] if e.extra and refs[e.extra]["name"] != UNREGISTERED else None
        return mint(by_ref, refs[e.credit], e.cents)
    if e.type == "award":
        refs = await public_refs(r, [e.credit])
        return award(refs[e.credit], e.cents, int(e.extra))
    return None
