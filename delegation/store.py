"""Delegations and votes in Redis: the write side of the engine and the audit path (R2, R6, R7, R9, R11).

Redis keys (owned by this package, `dl:*`):
- `dl:std`            hash truster -> JSON list of ranked trustees (standing delegation, R6)
- `dl:bd:{bill}`      hash truster -> JSON list for this bill only; "[]" = explicit "no delegation" (R6)
- `dl:v:{bill}`       hash voter -> "yes" | "no" | "abstain" (R2, R5)
- `dl:acted`          sorted set voter -> epoch seconds of their last action (participation "active")
- `dl:log`            stream of changes {op, voter, bill, value} carrying each new value, read by
                      `delegation.live.LiveTallies` to stay current incrementally
- `dl:frozen:{bill}`  the bill's snapshot JSON frozen when it closed (R9)
Eligible voters are the registry's set `vr:active`; a voter exists when `vr:v:{regn}` exists.
Every write checks first and changes nothing when it raises.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from delegation import tally as tally_mod
from delegation.bills import Bill, BillStore
from delegation.errors import BillClosed, InvalidChoice, InvalidRank, SelfDelegation, UnknownBill, UnknownVoter

STANDING = "standing"
ACTIVE_SET = "vr:active"
LOG = "dl:log"
LOG_MAXLEN = 1_000_000  # changes kept in the stream; a reader that falls further behind rebuilds


def voter_key(regn: str) -> str:
    """The registry's hash of one voter (owned by voter_registry)."""
    return f"vr:v:{regn}"


def now_iso() -> str:
    """UTC now as ISO-8601 with Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class AuditPath:
    """How a voter's power is used on a bill (R11), for the dialogue to speak and the pages to show.

    chain: regn_nums from the voter to the guru (or to where the power was lost); guru: the direct voter
    casting it or None; choice: "yes" | "no" | "abstain" | None; reason: "voted" | "delegated" |
    "no_delegation" | "dead_end" | "loop" | "capped" | "inactive"; loops_back_to_voter: the voter's
    first-choice chain comes back to them (R4, said even when the power is cast elsewhere).
    """

    voter: str
    bill: str
    chain: list[str]
    guru: str | None
    choice: str | None
    reason: str
    loops_back_to_voter: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _dumps(ts: list[str]) -> str:
    return json.dumps(ts, separators=(",", ":"))


class DelegationStore:
    """Delegations and votes of voters (regn_nums) on bills (keys "119-hr-1234").

    r: asyncio Redis client (decode_responses=True). max_rank: ranked delegates kept per scope (1..3, R7).
    cap: R8 weight cap as a fraction of eligible voters (None = off).
    """

    def __init__(self, r: aioredis.Redis, *, max_rank: int = tally_mod.MAX_RANK, cap: float | None = None) -> None:
        self.r = r
        self.max_rank = max_rank
        self.cap = cap
        self.bills = BillStore(r)

    # --- checks ---------------------------------------------------------------------------------

    async def _require_voter(self, regn: str) -> None:
        if not regn or not await self.r.exists(voter_key(regn)):
            raise UnknownVoter(regn)

    async def _require_open(self, bill_key: str) -> Bill:
        bill = await self.bills.get(bill_key)
        if bill is None:
            raise UnknownBill(bill_key)
        if bill.closed_at:
            raise BillClosed(bill_key, bill.closed_at)
        return bill

    def _field(self, scope: str) -> str:
        return "dl:std" if scope == STANDING else f"dl:bd:{scope}"

    async def _write(self, voter: str, scope: str, change: Any) -> Any:
        """Read-modify-write one delegation list atomically; `change(old_list) -> (new_list | None, ret)`;
        new None deletes. For bill scopes the bill hash is watched so that a close wins (R9)."""
        key = self._field(scope)
        watch = [key] + ([f"bill:{scope}"] if scope != STANDING else [])
        while True:
            async with self.r.pipeline(transaction=True) as p:
                try:
                    await p.watch(*watch)
                    if scope != STANDING:
                        closed = await p.hget(f"bill:{scope}", "closed_at")
                        if closed:
                            raise BillClosed(scope, closed)
                    raw = await p.hget(key, voter)
                    old = json.loads(raw) if raw else None
                    new, ret = change(old)
                    p.multi()
                    if new is None:
                        p.hdel(key, voter)
                    else:
                        p.hset(key, voter, _dumps(new))
                    p.zadd("dl:acted", {voter: time.time()})
                    p.xadd(LOG, {"op": "d", "voter": voter, "scope": scope,
                                 "value": "" if new is None else _dumps(new)}, maxlen=LOG_MAXLEN, approximate=True)
                    await p.execute()
                    return ret
                except WatchError:
                    continue

    # --- delegations ----------------------------------------------------------------------------

    async def delegate(self, voter: str, delegate: str, *, scope: str = STANDING, rank: int = 1) -> str | None:
        """Make `delegate` the voter's trustee at `rank` (1 = first choice, 2..max_rank = backups, R7) in
        `scope` ("standing" or a bill key for "this bill only", R6). Re-delegating replaces the trustee at
        that rank; the same trustee is never listed twice. Returns the trustee replaced at that rank, or None.
        Raises SelfDelegation, UnknownVoter, InvalidRank, UnknownBill, BillClosed."""
        if not tally_mod.cannot_delegate_to_self(voter, delegate):
            raise SelfDelegation(voter)
        if not 1 <= rank <= self.max_rank:
            raise InvalidRank(rank, self.max_rank)
        await self._require_voter(voter)
        await self._require_voter(delegate)
        if scope != STANDING:
            await self._require_open(scope)

        def change(old: list[str] | None) -> tuple[list[str], str | None]:
            cur = [t for t in (old or []) if t != delegate]
            prev = (old or [None] * rank)[rank - 1] if old and len(old) >= rank else None
            if rank - 1 < len(cur) and prev is not None and prev != delegate:
                cur[rank - 1] = delegate
            else:
                cur.insert(min(rank - 1, len(cur)), delegate)
            return cur[: self.max_rank], prev

        return await self._write(voter, scope, change)

    async def recall(self, voter: str, scope: str = STANDING, *, rank: int | None = None) -> str | None:
        """Remove the voter's delegation in `scope` (all ranks, or only `rank`); backups move up. Returns
        the trustee removed (the first choice when all ranks go), None when there was none. A recall of an
        explicit "no delegation on this bill" removes that too. Raises UnknownBill, BillClosed."""
        if scope != STANDING:
            await self._require_open(scope)

        def change(old: list[str] | None) -> tuple[list[str] | None, str | None]:
            if not old:
                return None, None
            if rank is None:
                return None, old[0]
            if not 1 <= rank <= len(old):
                return old, None
            rest = old[: rank - 1] + old[rank:]
            return (rest or None), old[rank - 1]

        return await self._write(voter, scope, change)

    async def no_delegation(self, voter: str, bill_key: str) -> list[str]:
        """Explicit "no delegation on this bill" (R6): the standing delegation is ignored for this bill.
        Returns the per-bill trustees it replaced. Raises UnknownVoter, UnknownBill, BillClosed."""
        await self._require_voter(voter)
        await self._require_open(bill_key)
        return await self._write(voter, bill_key, lambda old: ([], old or []))

    async def delegates_of(self, voter: str, scope: str = STANDING) -> list[str] | None:
        """Ranked trustees stored for `scope` exactly; [] = explicit no delegation; None = nothing set."""
        raw = await self.r.hget(self._field(scope), voter)
        return json.loads(raw) if raw else None

    async def delegate_of(self, voter: str, scope: str = STANDING) -> str | None:
        """The first-choice trustee for `scope` exactly ("standing" or a bill key), or None."""
        ts = await self.delegates_of(voter, scope)
        return ts[0] if ts else None

    async def effective_delegates(self, voter: str, bill_key: str) -> list[str]:
        """Trustees that apply on a bill after scopes (R6: per-bill, else standing; [] when none)."""
        ts = await self.delegates_of(voter, bill_key)
        if ts is None:
            ts = await self.delegates_of(voter, STANDING)
        return ts or []

    async def trusters_of(self, delegate: str) -> list[str]:
        """Voters whose standing delegation names `delegate` at any rank (sorted). Scans `dl:std`."""
        out = []
        async for k, v in self.r.hscan_iter("dl:std", count=5000):
            if delegate in json.loads(v):
                out.append(k)
        return sorted(out)

    # --- votes ------------------------------------------------------------------------------------

    async def vote(self, voter: str, bill_key: str, choice: str) -> str | None:
        """Record a direct vote (R2: overrides the voter's delegation on this bill only; R5: abstain is a
        vote). A new vote replaces the old. Returns the previous choice or None. Raises InvalidChoice,
        UnknownVoter, UnknownBill, BillClosed."""
        if choice not in tally_mod.CHOICES:
            raise InvalidChoice(choice)
        await self._require_voter(voter)
        return await self._set_vote(voter, bill_key, choice)

    async def retract_vote(self, voter: str, bill_key: str) -> str | None:
        """Withdraw a direct vote; the delegation applies again. Returns the choice withdrawn."""
        return await self._set_vote(voter, bill_key, None)

    async def _set_vote(self, voter: str, bill_key: str, choice: str | None) -> str | None:
        await self._require_open(bill_key)
        key = f"dl:v:{bill_key}"
        while True:
            async with self.r.pipeline(transaction=True) as p:
                try:
                    await p.watch(key, f"bill:{bill_key}")
                    closed = await p.hget(f"bill:{bill_key}", "closed_at")
                    if closed:
                        raise BillClosed(bill_key, closed)
                    prev = await p.hget(key, voter)
                    p.multi()
                    if choice is None:
                        p.hdel(key, voter)
                    else:
                        p.hset(key, voter, choice)
                    p.zadd("dl:acted", {voter: time.time()})
                    p.xadd(LOG, {"op": "v", "voter": voter, "scope": bill_key, "value": choice or ""},
                           maxlen=LOG_MAXLEN, approximate=True)
                    await p.execute()
                    return prev
                except WatchError:
                    continue

    async def vote_of(self, voter: str, bill_key: str) -> str | None:
        """The voter's own direct vote on the bill, or None."""
        return await self.r.hget(f"dl:v:{bill_key}", voter)

    async def votes_of(self, voter: str) -> dict[str, str]:
        """{bill_key: choice} of every direct vote of this voter (the golden rule's public record, R10)."""
        keys = await self.r.zrange("bill:keys", 0, -1)
        async with self.r.pipeline(transaction=False) as p:
            for k in keys:
                p.hget(f"dl:v:{k}", voter)
            got = await p.execute()
        return {k: c for k, c in zip(keys, got, strict=True) if c}

    # --- snapshots, tallies, audit path --------------------------------------------------------------

    async def snapshot(self, bill_key: str) -> dict[str, Any]:
        """The bill's published state (R9, issue 4): {"bill", "closed_at", "voters": [regn, ...],
        "delegations": [[truster, trustee1, ...], ...] (effective after scopes), "votes": [[regn, choice],
        ...]}, all sorted. A closed bill returns its frozen snapshot. Raises UnknownBill."""
        bill = await self.bills.require(bill_key)
        if bill.closed_at:
            frozen = await self.r.get(f"dl:frozen:{bill_key}")
            if frozen:
                return json.loads(frozen)
        async with self.r.pipeline(transaction=True) as p:
            p.smembers(ACTIVE_SET)
            p.hgetall("dl:std")
            p.hgetall(f"dl:bd:{bill_key}")
            p.hgetall(f"dl:v:{bill_key}")
            voters, std, per_bill, votes = await p.execute()
        return _snapshot_of(bill_key, bill.closed_at, voters, std, per_bill, votes)

    async def tally(self, bill_key: str) -> tally_mod.TallyResult:
        """Full recompute of the bill's tally from its snapshot (the reference `tally.compute`)."""
        return tally_from_snapshot(await self.snapshot(bill_key), cap=self.cap, max_rank=self.max_rank)

    async def audit_path(self, voter: str, bill_key: str) -> AuditPath:
        """Explain how `voter`'s power is used on the bill (R11): the chain to the guru and the guru's
        choice, or why it is not cast. Raises UnknownVoter, UnknownBill."""
        await self._require_voter(voter)
        bill = await self.bills.require(bill_key)
        if bill.closed_at or self.cap is not None:
            res = (await self.tally(bill_key)).resolution(voter)  # frozen state / the cap needs everyone
        else:
            res = (await self._local_tally(voter, bill_key)).resolution(voter)
        return AuditPath(voter, bill_key, list(res.chain), res.guru, res.choice, res.reason,
                         res.loops_back_to_voter)

    async def _local_tally(self, voter: str, bill_key: str) -> tally_mod.TallyResult:
        """The tally restricted to the voters reachable from `voter` along delegations. A voter's resolution
        depends on nothing else (see delegation.engine), so this explains their path without reading the
        whole district."""
        seen: set[str] = set()
        frontier = [voter]
        eligible: set[str] = set()
        dls: dict[str, list[str]] = {}
        votes: dict[str, str] = {}
        while frontier:
            async with self.r.pipeline(transaction=False) as p:
                for v in frontier:
                    p.sismember(ACTIVE_SET, v)
                    p.hget(f"dl:bd:{bill_key}", v)
                    p.hget("dl:std", v)
                    p.hget(f"dl:v:{bill_key}", v)
                rows = await p.execute()
            seen.update(frontier)
            nxt: list[str] = []
            for i, v in enumerate(frontier):
                active, per_bill, std, choice = rows[4 * i: 4 * i + 4]
                if not active:
                    continue
                eligible.add(v)
                if choice:
                    votes[v] = choice
                ts = json.loads(per_bill) if per_bill is not None else json.loads(std) if std else []
                if ts:
                    dls[v] = ts
                nxt.extend(t for t in ts[: self.max_rank] if t not in seen and t not in nxt)
            frontier = nxt
        return tally_mod.compute(eligible, dls, votes, max_rank=self.max_rank)

    async def close_bill(self, bill_key: str, at: str | None = None) -> dict[str, Any]:
        """Close the bill at `at` (UTC ISO-8601, default now) and freeze its snapshot (R9). Idempotent:
        an already closed bill keeps its first snapshot. Returns the frozen snapshot. Raises UnknownBill."""
        bill = await self.bills.require(bill_key)
        if not bill.closed_at:
            await self.bills.close(bill_key, at or now_iso())
            snap = await self.snapshot(bill_key)
            snap["closed_at"] = (await self.bills.require(bill_key)).closed_at
            await self.r.set(f"dl:frozen:{bill_key}", json.dumps(snap, separators=(",", ":")), nx=True)
            await self.r.xadd(LOG, {"op": "c", "voter": "", "scope": bill_key, "value": snap["closed_at"]},
                              maxlen=LOG_MAXLEN, approximate=True)
        return await self.snapshot(bill_key)


def _snapshot_of(bill_key: str, closed_at: str | None, voters: set[str], std: dict[str, str],
                 per_bill: dict[str, str], votes: dict[str, str]) -> dict[str, Any]:
    eff = tally_mod.apply_scopes({v: json.loads(ts) for v, ts in std.items()},
                                 {v: json.loads(ts) for v, ts in per_bill.items()})
    return {
        "bill": bill_key,
        "closed_at": closed_at,
        "voters": sorted(voters),
        "delegations": [[v, *ts] for v, ts in sorted(eff.items()) if ts and v in voters],
        "votes": [[v, c] for v, c in sorted(votes.items()) if v in voters],
    }


def sync_snapshot(r: Any, bill_key: str) -> dict[str, Any]:
    """`DelegationStore.snapshot` with a blocking client (for CLI commands); frozen snapshot when closed."""
    frozen = r.get(f"dl:frozen:{bill_key}")
    if frozen:
        return json.loads(frozen)
    pipe = r.pipeline(transaction=True)
    pipe.hget(f"bill:{bill_key}", "closed_at")
    pipe.smembers(ACTIVE_SET)
    pipe.hgetall("dl:std")
    pipe.hgetall(f"dl:bd:{bill_key}")
    pipe.hgetall(f"dl:v:{bill_key}")
    closed, voters, std, per_bill, votes = pipe.execute()
    return _snapshot_of(bill_key, closed or None, voters, std, per_bill, votes)


async def sync_snapshot_async(r: aioredis.Redis, bill_key: str) -> dict[str, Any]:
    """`DelegationStore.snapshot` without the bill check (frozen snapshot when closed)."""
    frozen = await r.get(f"dl:frozen:{bill_key}")
    if frozen:
        return json.loads(frozen)
    async with r.pipeline(transaction=True) as p:
        p.hget(f"bill:{bill_key}", "closed_at")
        p.smembers(ACTIVE_SET)
        p.hgetall("dl:std")
        p.hgetall(f"dl:bd:{bill_key}")
        p.hgetall(f"dl:v:{bill_key}")
        closed, voters, std, per_bill, votes = await p.execute()
    return _snapshot_of(bill_key, closed or None, voters, std, per_bill, votes)


def tally_from_snapshot(snap: dict[str, Any], *, cap: float | None = None,
                        max_rank: int = tally_mod.MAX_RANK) -> tally_mod.TallyResult:
    """`tally.compute` on a snapshot dict (the shape of `DelegationStore.snapshot`)."""
    dl = {row[0]: list(row[1:]) for row in snap.get("delegations", []) if row}
    votes = {row[0]: row[1] for row in snap.get("votes", []) if len(row) == 2}
    return tally_mod.compute(snap.get("voters", []), dl, votes, cap=cap, max_rank=max_rank)
