"""Ledger entries: one per movement of money, in the Redis list `money:entries` (oldest first).

Each entry is one string written by a Lua script in the same atomic step as the movement:

    type|debit|credit|cents|ref|unix_ms|extra

type: "payment" | "mint" | "award" | "dm-fee" | "dm-share"; debit/credit: account ids (regn_num, "mint"
for created money, "pool" for the demurrage pool); cents: positive integer; ref: the idempotency ref
(payments, mints), "award:{regn}" (awards) or the period id (demurrage); unix_ms: Redis server time
(ms); extra: the sovereign's regn_num for a mint, k for an award, "" otherwise. '|' cannot occur in any
field (account ids, refs and period ids refuse it). A list rather than a stream: the demurrage job
appends thousands of entries with one RPUSH per chunk.
"""

from __future__ import annotations

from typing import NamedTuple

import redis.asyncio as aioredis

from money.keys import ENTRIES


class Entry(NamedTuple):
    """One parsed ledger entry (see the module docstring for the fields)."""

    type: str
    debit: str
    credit: str
    cents: int
    ref: str
    unix_ms: int
    extra: str


def parse(raw: str) -> Entry:
    """Parse one stored entry string. Raises ValueError if it is malformed."""
    parts = raw.split("|")
    if len(parts) != 7:
        raise ValueError(f"malformed ledger entry {raw[:80]!r}")
    t, dr, cr, c, ref, ms, extra = parts
    return Entry(t, dr, cr, int(c), ref, int(ms), extra)


async def read(r: aioredis.Redis, start: int = 0, stop: int = -1) -> list[Entry]:
    """Entries start..stop (inclusive list indexes, negative from the end), parsed."""
    return [parse(x) for x in await r.lrange(ENTRIES, start, stop)]
