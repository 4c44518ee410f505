"""Tentative voters: callers whose phone is on no registration may record what they would do.

Their delegation and votes are kept by phone (`tv:{e164}`) and count for nothing until a later voter-roll
import shows that phone on exactly one active registration; then `promote` re-issues them as that
voter's own actions (audit events `tentative-promoted`, then `delegate` / `vote` with
`"promoted_from"`). A phone shared by a household stays tentative, because the import cannot tell whose
actions they were: the member who next calls from it and confirms they were theirs claims them
(`apply_pending` with `keep_own`, offered by the call dialogue).

In public outputs a tentative caller is a pseudonym, "T-" + 10 hex digits of HMAC-SHA256(secret, phone)
(secret: random, kept in Redis `tv:secret`): stable, but the phone cannot be recovered by trying all
10-digit numbers without the secret. Rule source: issue 3 ("Tentative voters"), after the original
prototype's tentative voters (`shared/design/original_system.md`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

PHONES = "tv:phones"  # set of phones with pending tentative actions
SECRET = "tv:secret"


def _key(phone: str) -> str:
    return f"tv:{phone}"


def pseudonym_for(secret: str, phone: str) -> str:
    """ "T-3f9a2c71d0": the public name of a tentative caller (never the phone)."""
    return "T-" + hmac.new(secret.encode(), phone.encode(), hashlib.sha256).hexdigest()[:10]


class TentativeStore:
    """Pending actions of unregistered callers (asyncio client, decode_responses=True)."""

    def __init__(self, r: aioredis.Redis) -> None:
        self.r = r

    async def pseudonym(self, phone: str) -> dict[str, str]:
        """The public reference {"regn_num": "T-...", "name": "tentative caller T-..."} of a phone."""
        await self.r.set(SECRET, secrets.token_hex(32), nx=True)
        t = pseudonym_for(await self.r.get(SECRET), phone)
        return {"regn_num": t, "name": f"tentative caller {t}"}

    async def delegate(self, phone: str, delegate: str | None) -> None:
        """Record (or with None, remove) the phone's tentative standing delegate."""
        if delegate is None:
            await self.r.hdel(_key(phone), "delegate")
        else:
            await self.r.hset(_key(phone), mapping={"delegate": delegate, "since": _now()})
            await self.r.sadd(PHONES, phone)

    async def vote(self, phone: str, bill: str, choice: str) -> None:
        """Record the phone's tentative vote on a bill: "yes" | "no" | "abstain"."""
        await self.r.hset(_key(phone), mapping={f"vote:{bill}": choice, "since": _now()})
        await self.r.sadd(PHONES, phone)

    async def pending(self, phone: str) -> tuple[str | None, dict[str, str]]:
        """(tentative delegate regn_num or None, {bill: choice})."""
        h = await self.r.hgetall(_key(phone))
        return h.get("delegate"), {k[5:]: v for k, v in h.items() if k.startswith("vote:")}


async def tentative_counts(r: aioredis.Redis) -> dict[str, Any]:
    """Public summary of what tentative callers would do: {"callers", "delegations", "votes": {bill: {choice:
    n}}}. These count in no tally until promoted."""
    out: dict[str, Any] = {"callers": 0, "delegations": 0, "votes": {}}
    async for phone in r.sscan_iter(PHONES, count=1000):
        h = await r.hgetall(_key(phone))
        out["callers"] += 1
        out["delegations"] += "delegate" in h
        for k, v in h.items():
            if k.startswith("vote:"):
                per = out["votes"].setdefault(k[5:], {"yes": 0, "no": 0, "abstain": 0})
                per[v] = per.get(v, 0) + 1
    return out


def promote(redis_url: str, audit: Any) -> int:
    """After an import: apply the pending actions of every tentative phone now on exactly one active
    registration, as that voter's own (audit first, then the store); returns how many callers were promoted.

    redis_url: the registry's server; audit: `audit.log.AuditLog` (its `append_sync`). Delegations to voters no longer
    active, and votes on closed bills, are dropped (and said so in the `tentative-promoted` event).
    """
    import asyncio

    return asyncio.run(_promote(redis_url, audit))


async def _promote(redis_url: str, audit: Any) -> int:
    from voter_registry.store import VoterStore

    async def append(event_type: str, actor: dict | None, subject: dict | None, data: dict) -> int:
        return audit.append_sync(event_type, actor, subject, data)

    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    voters = VoterStore(r)
    promoted = 0
    try:
        async for phone in r.sscan_iter(PHONES, count=1000):
            registered = await voters.by_phone(phone)
            if len(registered) == 1 and await apply_pending(r, append, phone, registered[0]):
                promoted += 1
    finally:
        await r.aclose()
    return promoted


async def apply_pending(r: aioredis.Redis, append: Any, phone: str, voter: Any, *, keep_own: bool = False,
                        extra: dict | None = None) -> tuple[int, int, int] | None:
    """Make the pending tentative actions of `phone` the actions of `voter` (an active
    `voter_registry.model.Voter` registered with that phone) and clear them; returns (seq of the
    `tentative-promoted` event, actions applied, actions dropped), or None when another process is
    applying the same phone's actions right now (nothing done).

    append: async `(type, actor, subject, data) -> seq` that returns once the event is on disk (audit
    first, then the store). Writes `tentative-promoted` {actions, dropped}, then a `delegate` / `vote`
    event per action with `"promoted_from"`. Dropped: a delegate no longer active (or the voter
    themself), votes on closed bills and, with `keep_own` (a household member claiming them on a later
    call), actions the voter has since taken for themself, which are newer and win. extra: fields added to
    every event's data (the call's SHAKEN/STIR facts).
    """
    lock = f"tv:lock:{phone}"
    if not await r.set(lock, 1, nx=True, ex=60):  # two household members claiming at once: one wins
        return None
    try:
        return await _apply(r, append, phone, voter, keep_own, extra or {})
    finally:
        await r.delete(lock)


async def _apply(r: aioredis.Redis, append: Any, phone: str, voter: Any, keep_own: bool,
                 extra: dict) -> tuple[int, int, int]:
    from delegation.bills import BillStore
    from delegation.store import DelegationStore
    from voter_registry.store import VoterStore

    voters, store, bills, tv = VoterStore(r), DelegationStore(r), BillStore(r), TentativeStore(r)
    delegate, votes = await tv.pending(phone)
    t = await tv.pseudonym(phone)
    target = await voters.get(delegate) if delegate else None
    if target is not None and (target.status != "active" or target.regn_num == voter.regn_num
                               or (keep_own and await store.delegates_of(voter.regn_num))):
        target = None
    open_votes = {}
    for b, c in votes.items():
        bill = await bills.get(b)
        if bill and bill.closed_at is None and not (keep_own and await store.vote_of(voter.regn_num, b)):
            open_votes[b] = c
    applied = (target is not None) + len(open_votes)
    dropped = (delegate is not None) + len(votes) - applied
    seq = await append("tentative-promoted", t, voter.ref, {"actions": applied, "dropped": dropped, **extra})
    if target is not None:
        await append("delegate", voter.ref, target.ref, {"scope": "standing", "rank": 1, "tentative": False,
                                                         "promoted_from": t["regn_num"], **extra})
        await store.delegate(voter.regn_num, target.regn_num)
    for bill_key, choice in open_votes.items():
        await append("vote", voter.ref, None, {"bill": bill_key, "choice": choice, "tentative": False,
                                               "promoted_from": t["regn_num"], **extra})
        await store.vote(voter.regn_num, bill_key, choice)
    await r.delete(_key(phone))
    await r.srem(PHONES, phone)
    return seq, applied, dropped


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
