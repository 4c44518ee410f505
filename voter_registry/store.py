"""Read access to the imported voter roll (Redis keys owned by voter_registry.importer).

Keys:
- `vr:v:{regn_num}` hash: `Voter.to_dict()` without its empty fields (read back as empty), plus the
  importer's bookkeeping field `_i` = generation * 100,000 + LAST_UPDATED_DATE in days since 1900, of
  the import that last saw the row.
- `vr:phone:{e164}` set of regn_nums registered with that number (a household may be several).
- `vr:active` set of regn_nums of the roll in service (eligible voters).
- `vr:meta` hash: generation, last import time and counts.

Eligibility is `vr:active`: it is replaced atomically when an import commits, so while an import runs (or
after one was killed) the previous roll stays in service. The `status` of a returned Voter is therefore
taken from `vr:active` ("active" when a member), not from the hash, whose contents an unfinished import
may already have refreshed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis
import redis.asyncio as aioredis

from voter_registry.index import index_voter
from voter_registry.model import Voter
from voter_registry.phones import to_e164

VOTER = "vr:v:"
PHONE = "vr:phone:"
ACTIVE = "vr:active"
META = "vr:meta"


def voter_key(regn_num: str) -> str:
    """`vr:v:{regn_num}`."""
    return VOTER + regn_num


def phone_key(e164: str) -> str:
    """`vr:phone:{e164}`."""
    return PHONE + e164


def file_voter(pipe: Any, voter: Voter) -> None:
    """Queue on `pipe` (a sync or asyncio pipeline) the plain commands that put `voter` on the roll in
    service: its hash, its household set, `vr:active` when its status is "active", and its spoken-name
    index entries. `import-voters` writes the same keys in bulk (serialized hashes, aggregated index
    commands, a generation commit); this one-voter form is for fixtures, tests and naive baselines."""
    pipe.hset(voter_key(voter.regn_num), mapping=voter.to_dict())
    if voter.phone:
        pipe.sadd(phone_key(voter.phone), voter.regn_num)
    if voter.status == "active":
        pipe.sadd(ACTIVE, voter.regn_num)
    index_voter(pipe, voter)


def _voter(d: dict[str, str], active: bool) -> Voter | None:
    if not d:
        return None
    if active:
        d = {**d, "status": "active"}
    elif d.get("status", "active") == "active":
        d = {**d, "status": "inactive"}  # on file but not on the roll in service (removed, or not yet committed)
    return Voter.from_dict(d)


def _phone(e164: str) -> str | None:
    return e164 if e164.startswith("+") and e164[1:].isdigit() else to_e164(e164)


def _by_first(voters: Iterable[Voter]) -> list[Voter]:
    return sorted(voters, key=lambda v: (v.first, v.middle, v.suffix, v.regn_num))


class VoterStore:
    """Voters over an asyncio Redis client (`decode_responses=True`).

    All methods are read-only, take one or two round trips, and raise only redis.RedisError.
    """

    def __init__(self, r: aioredis.Redis) -> None:
        self.r = r

    async def get(self, regn_num: str) -> Voter | None:
        """The voter with that registration number, or None. `status` reflects the roll in service."""
        async with self.r.pipeline(transaction=False) as p:
            p.hgetall(voter_key(regn_num))
            p.sismember(ACTIVE, regn_num)
            d, active = await p.execute()
        return _voter(d, bool(active))

    async def get_many(self, regn_nums: Iterable[str]) -> dict[str, Voter]:
        """regn_num -> Voter for those that exist (unknown numbers are left out)."""
        regns = list(dict.fromkeys(regn_nums))
        if not regns:
            return {}
        async with self.r.pipeline(transaction=False) as p:
            for x in regns:
                p.hgetall(voter_key(x))
            p.smismember(ACTIVE, regns)
            *rows, flags = await p.execute()
        out = {x: _voter(d, bool(f)) for x, d, f in zip(regns, rows, flags, strict=True)}
        return {x: v for x, v in out.items() if v is not None}

    async def by_phone(self, e164: str) -> list[Voter]:
        """Active voters registered with that number (E.164; other spellings are normalised), sorted by
        first name; [] for an unknown or invalid number. Several voters = a household."""
        phone = _phone(e164)
        if phone is None:
            return []
        regns = sorted(await self.r.smembers(phone_key(phone)))
        if not regns:
            return []
        flags = await self.r.smismember(ACTIVE, regns)
        voters = await self.get_many([x for x, f in zip(regns, flags, strict=True) if f])
        return _by_first(v for v in voters.values() if v.phone == phone)

    async def is_active(self, regn_num: str) -> bool:
        """True when the voter is on the roll in service (may act, carries weight)."""
        return bool(await self.r.sismember(ACTIVE, regn_num))

    async def count_active(self) -> int:
        """Number of voters on the roll in service."""
        return int(await self.r.scard(ACTIVE))


class SyncVoterStore:
    """The same as `VoterStore` over a blocking client (CLI commands, benchmarks, the tally)."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def get(self, regn_num: str) -> Voter | None:
        """See `VoterStore.get`."""
        with self.r.pipeline(transaction=False) as p:
            p.hgetall(voter_key(regn_num))
            p.sismember(ACTIVE, regn_num)
            d, active = p.execute()
        return _voter(d, bool(active))

    def get_many(self, regn_nums: Iterable[str]) -> dict[str, Voter]:
        """See `VoterStore.get_many`."""
        regns = list(dict.fromkeys(regn_nums))
        if not regns:
            return {}
        with self.r.pipeline(transaction=False) as p:
            for x in regns:
                p.hgetall(voter_key(x))
            p.smismember(ACTIVE, regns)
            *rows, flags = p.execute()
        out = {x: _voter(d, bool(f)) for x, d, f in zip(regns, rows, flags, strict=True)}
        return {x: v for x, v in out.items() if v is not None}

    def by_phone(self, e164: str) -> list[Voter]:
        """See `VoterStore.by_phone`."""
        phone = _phone(e164)
        if phone is None:
            return []
        regns = sorted(self.r.smembers(phone_key(phone)))
        if not regns:
            return []
        flags = self.r.smismember(ACTIVE, regns)
        voters = self.get_many([x for x, f in zip(regns, flags, strict=True) if f])
        return _by_first(v for v in voters.values() if v.phone == phone)

    def is_active(self, regn_num: str) -> bool:
        """See `VoterStore.is_active`."""
        return bool(self.r.sismember(ACTIVE, regn_num))

    def count_active(self) -> int:
        """See `VoterStore.count_active`."""
        return int(self.r.scard(ACTIVE))
