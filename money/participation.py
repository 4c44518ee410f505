"""Demurrage periods and who took part in them.

Design (money.md): the pool of a period is shared among its *participating verified voters*: registered,
with a phone number on their registration, who acted (delegated, voted, paid...) from that phone in the
period. The dialogue calls `record` on every action; `verified` is True when the call came from the
phone on the caller's registration.

Periods are aligned on the Unix epoch: period i covers [i * period_s, (i + 1) * period_s) seconds UTC
(weekly periods start on Thursdays 00:00 UTC). A period's id is its UTC start, "2026-11-19T00:00:00Z".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from money.errors import PeriodError
from money.keys import check_account, participants_key

DEFAULT_PERIOD_S = 7 * 24 * 3600  # settings.demurrage_period_s default: weekly
_ID_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._-]{0,63}")


def period_start(at: datetime, period_s: int = DEFAULT_PERIOD_S) -> datetime:
    """UTC start of the period containing `at` (aware datetime; naive is taken as UTC)."""
    if period_s <= 0:
        raise PeriodError(f"period length must be positive, got {period_s}")
    ts = int(_utc(at).timestamp())
    return datetime.fromtimestamp(ts - ts % period_s, UTC)


def period_id(at: datetime, period_s: int = DEFAULT_PERIOD_S) -> str:
    """Id of the period containing `at`: its UTC start, "2026-11-19T00:00:00Z"."""
    return period_start(at, period_s).strftime(_ID_FORMAT)


def last_completed_period_id(now: datetime, period_s: int = DEFAULT_PERIOD_S) -> str:
    """Id of the latest period that has ended by `now` (the one the demurrage job applies)."""
    return period_id(period_start(now, period_s) - timedelta(seconds=1), period_s)


def next_period_end(now: datetime, period_s: int = DEFAULT_PERIOD_S) -> datetime:
    """When the period containing `now` ends (and becomes due)."""
    return period_start(now, period_s) + timedelta(seconds=period_s)


def periods_after(last_id: str | None, latest_id: str, period_s: int, limit: int) -> list[str]:
    """Ids of the periods after `last_id` up to and including `latest_id`, oldest first, at most
    `limit` (the newest ones); just [latest_id] when `last_id` is None or not a period start."""
    try:
        last = datetime.strptime(last_id or "", _ID_FORMAT).replace(tzinfo=UTC)
        latest = datetime.strptime(latest_id, _ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return [latest_id]
    ids = []
    at = latest
    while at > last and len(ids) < limit:
        ids.append(period_id(at, period_s))
        at -= timedelta(seconds=period_s)
    return ids[::-1]


def check_period_id(pid: object) -> str:
    """Return `pid` if usable as a period id (1-64 chars of [A-Za-z0-9:._-]); raises PeriodError."""
    if not isinstance(pid, str) or not _ID_RE.fullmatch(pid):
        raise PeriodError(f"invalid period id {pid!r}"[:80])
    return pid


async def record(r: aioredis.Redis, regn_num: str, at: datetime, verified: bool, *,
                 period_s: int = DEFAULT_PERIOD_S) -> bool:
    """Note that voter `regn_num` acted at `at` (UTC); only verified actions count. Returns True when
    the voter was counted in `at`'s period (idempotent: one SADD). Pass settings.demurrage_period_s.
    Raises InvalidAccount for a malformed regn_num."""
    check_account(regn_num)
    if not verified:
        return False
    await r.sadd(participants_key(period_id(at, period_s)), regn_num)
    return True


async def participants(r: aioredis.Redis, pid: str) -> list[str]:
    """The period's recipients, sorted: recorded verified actors who are still registered and active
    (`vr:active`) with a phone on their registration (`vr:v:{regn}` field `phone`)."""
    recorded = sorted(await r.smembers(participants_key(pid)))
    out: list[str] = []
    for i in range(0, len(recorded), 10_000):
        batch = recorded[i: i + 10_000]
        active = await r.smismember("vr:active", batch)
        pipe = r.pipeline(transaction=False)
        for regn in batch:
            pipe.hget(f"vr:v:{regn}", "phone")
        phones = await pipe.execute()
        out.extend(regn for regn, a, p in zip(batch, active, phones, strict=True) if a and p)
    return out


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
