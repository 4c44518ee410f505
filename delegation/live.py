"""Live tallies of every open bill, per process, kept current from Redis (design: docs/liquid-democracy.md).

Writers (`DelegationStore`, `bills_import`) append each change to the Redis stream `dl:log` with its new
value (`{op: "d" | "v" | "c", voter, scope, value}`) in the same transaction as the change itself. Each
process keeps one `LiveTallies`: it loads the graph and the open bills from Redis once, then on every read
applies the stream entries it has not seen, each one incrementally (`delegation.engine`). Entries carry
values, not deltas, so replaying one twice is harmless. A change of the eligible set (`vr:active` size, or
the registry's counter `vr:version`) rebuilds everything. Closed bills are counted once from their frozen
snapshot with `tally.compute`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from delegation.engine import BillTally, Graph
from delegation.store import ACTIVE_SET, LOG, STANDING, tally_from_snapshot
from delegation.tally import MAX_RANK, TallyResult

ROLL_VERSION = "vr:version"  # bumped by the voter registry on imports and status changes, if it does


@dataclass(frozen=True, slots=True)
class TallyConfig:
    """Tally settings: cap (R8, fraction of eligible voters or None), quorum (fraction of registered voters
    whose cast weight is needed, or None), active_days (participation window), max_rank (R7, 1..3)."""

    cap: float | None = None
    quorum: float | None = None
    active_days: int = 30
    max_rank: int = MAX_RANK


class LiveTallies:
    """In-memory tallies of the open bills, synchronised from Redis on `refresh`."""

    def __init__(self, config: TallyConfig | None = None) -> None:
        self.config = config or TallyConfig()
        self.graph: Graph | None = None
        self.bills: dict[str, BillTally] = {}
        self.last_id = "0-0"
        self.active_card: object = None
        self.frozen: dict[str, TallyResult] = {}
        self._lock = asyncio.Lock()

    async def refresh(self, r: aioredis.Redis) -> None:
        """Bring the model up to date: catch up on `dl:log`, load newly opened bills, drop closed ones."""
        async with self._lock:
            # the roll changed: its size, or the registry's version counter (`vr:version`, when it keeps one)
            async with r.pipeline(transaction=False) as p:
                p.scard(ACTIVE_SET)
                p.get(ROLL_VERSION)
                size, version = await p.execute()
            card = (size, version)
            if self.graph is None or card != self.active_card:
                await self._rebuild(r, card)
                return
            await self._catch_up(r)
            open_now = set(await r.smembers("bill:open"))
            for key in set(self.bills) - open_now:
                del self.bills[key]
            for key in open_now - set(self.bills):
                await self._load_bill(r, key)

    async def _rebuild(self, r: aioredis.Redis, card: object) -> None:
        last = await r.xrevrange(LOG, count=1)
        self.last_id = last[0][0] if last else "0-0"
        g = Graph(self.config.max_rank)
        async with r.pipeline(transaction=True) as p:
            p.smembers(ACTIVE_SET)
            p.hgetall("dl:std")
            p.smembers("bill:open")
            voters, std, open_bills = await p.execute()
        g.set_eligible(voters)
        for v, raw in std.items():
            u = g.id(v)
            g.set_standing(u, g.clean(u, json.loads(raw)))
        self.graph, self.active_card, self.bills = g, card, {}
        for key in sorted(open_bills):
            await self._load_bill(r, key)
        gc.freeze()  # the model is long-lived: keep the cyclic collector from rescanning it on updates

    async def _load_bill(self, r: aioredis.Redis, key: str) -> None:
        assert self.graph is not None
        async with r.pipeline(transaction=True) as p:
            p.hgetall(f"dl:bd:{key}")
            p.hgetall(f"dl:v:{key}")
            over, votes = await p.execute()
        g = self.graph
        bt = BillTally(g, key, cap=self.config.cap)
        for v, raw in over.items():
            u = g.id(v)
            ts = g.clean(u, json.loads(raw))
            bt.over[u] = ts
            for t in ts:
                bt.rev_over.setdefault(t, []).append(u)
        for v, c in votes.items():
            bt.votes[g.id(v)] = ("yes", "no", "abstain").index(c)
        bt.rebuild()
        self.bills[key] = bt

    async def _catch_up(self, r: aioredis.Redis) -> None:
        oldest = await r.xrange(LOG, count=1)
        if oldest and self.last_id != "0-0" and _sid(oldest[0][0]) > _sid(self.last_id):
            # entries we have not seen were trimmed away: start again from the state itself
            await self._rebuild(r, self.active_card)
            return
        while True:
            entries = await r.xrange(LOG, min=f"({self.last_id}", count=5000)
            if not entries:
                return
            for entry_id, f in entries:
                self.apply(f.get("op", ""), f.get("voter", ""), f.get("scope", ""), f.get("value", ""))
                self.last_id = entry_id

    def apply(self, op: str, voter: str, scope: str, value: str) -> None:
        """Apply one `dl:log` entry incrementally (unknown bills are picked up by `refresh`)."""
        g = self.graph
        if g is None:
            return
        if op == "c":
            self.bills.pop(scope, None)
            return
        u = g.id(voter)
        if op == "v" and scope in self.bills:
            self.bills[scope].set_vote(u, value or None)
        elif op == "d" and scope == STANDING:
            tokens = [(bt, bt.before_standing_change(u)) for bt in self.bills.values()]
            g.set_standing(u, g.clean(u, json.loads(value)) if value else ())
            for bt, tok in tokens:
                bt.after_standing_change(tok)
        elif op == "d" and scope in self.bills:
            self.bills[scope].set_override(u, g.clean(u, json.loads(value)) if value else None)

    # --- reading ---------------------------------------------------------------------------------

    async def result(self, r: aioredis.Redis, key: str, *, refresh: bool = True,
                     detail: bool = True) -> dict[str, Any] | None:
        """Counts of one bill: {"yes", "no", "abstain", "not_cast", "eligible"} and, with `detail`,
        "weights" ({regn_num: weight}) and "top" ([(regn_num, weight, choice)], heaviest first); None for an
        unknown bill. Open bills come from the live model, closed ones from their frozen snapshot.
        `refresh=False` skips the catch-up (for a page that already refreshed once)."""
        if refresh:
            await self.refresh(r)
        bt = self.bills.get(key)
        if bt is not None:
            out: dict[str, Any] = dict(bt.counts())
            out["eligible"] = self.graph.eligible_count if self.graph else 0
            if detail:
                out["weights"] = bt.weights()
                out["top"] = bt.top(10)
            return out
        if not await r.exists(f"bill:{key}"):
            return None
        res = self.frozen.get(key)
        if res is None:
            from delegation.store import sync_snapshot_async

            snap = await sync_snapshot_async(r, key)
            res = tally_from_snapshot(snap, cap=self.config.cap, max_rank=self.config.max_rank)
            if snap.get("closed_at"):
                self.frozen[key] = res
        out = dict(res.counts())
        out["eligible"] = res.eligible
        top = sorted(res.weights.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        out["top"] = [(v, w, res._votes[v]) for v, w in top]
        return out

    async def participation(self, r: aioredis.Redis, cast: int) -> dict[str, Any]:
        """Cast weight over active voters (acted in the last `active_days` days) and over registered voters
        (`vr:active`), and whether the quorum (a fraction of registered voters, or None) is met."""
        since = time.time() - self.config.active_days * 86400
        active = await r.zcount("dl:acted", since, "+inf")
        registered = await r.scard(ACTIVE_SET)
        q = self.config.quorum
        return {
            "cast": cast, "active": active, "registered": registered,
            "of_active": round(cast / active, 4) if active else None,
            "of_registered": round(cast / registered, 4) if registered else None,
            "quorum": q, "quorum_met": q is None or (registered > 0 and cast >= q * registered),
        }


def _sid(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def outcome(yes: int, no: int, quorum_met: bool) -> str:
    """Simple majority of yes over no: "passes", "fails", "tie", or "no quorum"."""
    if not quorum_met:
        return "no quorum"
    if yes > no:
        return "passes"
    return "fails" if no > yes else "tie"
