"""Demurrage: a holding fee on positive balances each period, shared among the period's participants.

Math (design: money.md): fee = floor(balance * rate_ppm / 1_000_000) cents per positive balance; the
fees go to the pool; then share = floor(pool / n) cents to each of the n participating verified voters
(money/participation.py); the remainder pool - n * share stays in the pool for the next period.

Exactly once: the period's state lives in the hash `money:dm:{period}` (phase, cursor, totals) and
every step is ONE Lua script that moves money AND advances the state together:
  assess      chunks of accounts in lexical order (zset `money:accounts`); the cursor is the last
              account charged, so a re-run continues after it and nobody is charged twice;
  split       the recipients list is built under a private key and installed atomically with the share;
  distribute  chunks of recipients by index;
  audit       the summary, per-account `demurrage-fee` / `demurrage-share` events and `demurrage-closed`
              go to the audit log, with a cursor; the scripts log each chunk's index range in
              `money:entries` ("start:count") in `money:dm:{period}:log` (entries are never trimmed);
  closed      nothing more to do: re-runs return the recorded result.
A job killed at any instant (kill -9) leaves a consistent ledger; re-running it finishes the period.
The rate is fixed when a period starts: a re-run with another rate uses the recorded one.
Audit events of one log chunk may be appended twice if the job dies between the append and the cursor
update (at-least-once); they are never lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from money import entries, events, keys
from money.participation import (
    check_period_id,
    last_completed_period_id,
    next_period_end,
    participants,
    periods_after,
)

log = logging.getLogger(__name__)

SCHEDULED = "money:dm:scheduled"  # id of the last period the scheduler applied
MAX_CATCH_UP = 52  # periods missed while the server was down that the scheduler still applies

# Accounts per script (~10-20 ms of Redis time, short enough for other clients) and audit events per
# append; each script and each append costs one fsync (the embedded Valkey runs appendfsync always).
ASSESS_CHUNK = 5000
AUDIT_LOCK_S = 30  # the audit phase has one writer at a time; a killed writer's lock expires after this
# (sooner on the same host: a lock whose holder process is gone is taken over at once)


def fee(balance_cents: int, rate_ppm: int) -> int:
    """Demurrage fee in whole cents: floor(balance * rate_ppm / 10**6), 0 for balances <= 0.
    `rate_ppm`: parts per million per period (1000 = 0.1 %). Raises ValueError for a rate outside
    0..10**6."""
    if not 0 <= rate_ppm <= 1_000_000:
        raise ValueError(f"rate_ppm must be in 0..1000000, got {rate_ppm}")
    return balance_cents * rate_ppm // 1_000_000 if balance_cents > 0 else 0


@dataclass(frozen=True)
class PeriodResult:
    """Outcome of one period (all money in cents). `rerun`: the period was already closed."""

    period: str
    rate_ppm: int
    accounts: int  # accounts charged a fee > 0
    fees_cents: int
    participants: int
    share_cents: int  # each participant's share
    pool_cents: int  # left in the pool after the distribution (carried to the next period)
    rerun: bool = False


# KEYS: state   ARGV: rate, started_at   -- creates the period state once
_START = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'phase', 'assess', 'cursor', '', 'rate', ARGV[1], 'fees', 0, 'accounts', 0,
             'started', ARGV[2])
end
return redis.call('HGET', KEYS[1], 'phase')
"""

# Lua helpers: commands over long argument lists in slices (Lua's unpack stops near 8000 values), and
# the chunk's ledger entries appended with one RPUSH, whose index range is logged for the audit phase.
_HELPERS = """
local function sliced(cmd, key, args, step)
  for i = 1, #args, step do redis.call(cmd, key, unpack(args, i, math.min(i + step - 1, #args))) end
end
local function append_entries(entries_key, log_key, list)
  local len = 0
  for i = 1, #list, 4000 do len = redis.call('RPUSH', entries_key, unpack(list, i, math.min(i + 3999, #list))) end
  redis.call('RPUSH', log_key, string.format('%.0f:%d', len - #list, #list))
end
local function now_ms()
  local t = redis.call('TIME')
  return string.format('%d%03d', t[1], math.floor(t[2] / 1000))
end
"""

# Exact integer math in Lua doubles for balances up to MAX_CENTS (1e15): never multiply balance * rate.
# KEYS: state, accounts, bal, pool, entries, log   ARGV: count, period
_ASSESS = _HELPERS + """
local st = redis.call('HMGET', KEYS[1], 'phase', 'cursor', 'rate')
if st[1] ~= 'assess' then return {st[1] or 'missing', 0} end
local rate = tonumber(st[3])
local lo = (st[2] == '') and '-' or ('(' .. st[2])
local accts = redis.call('ZRANGE', KEYS[2], lo, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[1]))
if #accts == 0 then
  redis.call('HSET', KEYS[1], 'phase', 'split')
  return {'split', 0}
end
local vals = redis.call('HMGET', KEYS[3], unpack(accts))
local tail = '|' .. ARGV[2] .. '|' .. now_ms() .. '|'
local total, n, kv, ents = 0, 0, {}, {}
for i, a in ipairs(accts) do
  local b = tonumber(vals[i] or '0')
  if b > 0 then
    local f
    if b < 9000000000 then  -- b * rate < 2^53: exact
      f = math.floor(b * rate / 1000000)
    else
      local q = math.floor(b / 1000000)
      local rem = b - q * 1000000
      if rem < 0 then q = q - 1; rem = rem + 1000000 end
      f = q * rate + math.floor(rem * rate / 1000000)
    end
    if f > 0 then
      n = n + 1
      kv[2 * n - 1] = a
      kv[2 * n] = b - f  -- Valkey/Redis 7 turn integral Lua numbers into exact integer arguments
      -- tostring gives 14 significant digits: exact below 1e14, formatted beyond
      ents[n] = 'dm-fee|' .. a .. '|pool|' .. (f < 1e14 and f or string.format('%.0f', f)) .. tail
      total = total + f
    end
  end
end
if n > 0 then
  sliced('HSET', KEYS[3], kv, 4000)
  append_entries(KEYS[5], KEYS[6], ents)
  local ts = string.format('%.0f', total)
  redis.call('INCRBY', KEYS[4], ts)
  redis.call('HINCRBY', KEYS[1], 'fees', ts)
  redis.call('HINCRBY', KEYS[1], 'accounts', n)
end
redis.call('HSET', KEYS[1], 'cursor', accts[#accts])
return {'assess', n}
"""

# KEYS: state, recipients, candidate, pool   -- installs the recipients list and the share once
_SPLIT = """
if redis.call('HGET', KEYS[1], 'phase') ~= 'split' then
  redis.call('DEL', KEYS[3])
  return redis.call('HGET', KEYS[1], 'phase')
end
local n = 0
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RENAME', KEYS[3], KEYS[2])
  redis.call('PERSIST', KEYS[2])
  n = redis.call('LLEN', KEYS[2])
end
local pool = tonumber(redis.call('GET', KEYS[4]) or '0')
local share = 0
if n > 0 then share = math.floor(pool / n) end
local phase = 'distribute'
if share == 0 then phase = 'audit' end
redis.call('HSET', KEYS[1], 'phase', phase, 'participants', n, 'share', string.format('%.0f', share), 'di', 0,
           'pool_before', string.format('%.0f', pool),
           'remainder', string.format('%.0f', pool - share * n))
return phase
"""

# KEYS: state, recipients, bal, accounts, pool, entries, log   ARGV: count, period
_DISTRIBUTE = _HELPERS + """
local st = redis.call('HMGET', KEYS[1], 'phase', 'di', 'share', 'participants')
if st[1] ~= 'distribute' then return {st[1], 0} end
local di, share, n = tonumber(st[2]), tonumber(st[3]), tonumber(st[4])
local who = redis.call('LRANGE', KEYS[2], di, di + tonumber(ARGV[1]) - 1)
if #who > 0 then
  local vals = redis.call('HMGET', KEYS[3], unpack(who))
  local tail = '|' .. ARGV[2] .. '|' .. now_ms() .. '|'
  local kv, ents, new = {}, {}, {}
  for i, a in ipairs(who) do
    kv[2 * i - 1] = a
    kv[2 * i] = string.format('%.0f', tonumber(vals[i] or '0') + share)
    ents[i] = 'dm-share|pool|' .. a .. '|' .. st[3] .. tail
    if not vals[i] then new[#new + 1] = 0; new[#new + 1] = a end
  end
  sliced('HSET', KEYS[3], kv, 4000)
  if #new > 0 then sliced('ZADD', KEYS[4], new, 4000) end
  append_entries(KEYS[6], KEYS[7], ents)
  redis.call('DECRBY', KEYS[5], string.format('%.0f', share * #who))
end
di = di + #who
local phase = 'distribute'
if di >= n then phase = 'audit' end
redis.call('HSET', KEYS[1], 'di', di, 'phase', phase)
return {phase, #who}
"""

# KEYS: lock  ARGV: token, ttl, stale  -- take or refresh the audit-phase lock (or take over `stale`)
_LOCK = """
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] and cur ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
return 1
"""


class _Keys:
    """Redis keys of one period."""

    def __init__(self, pid: str) -> None:
        self.state = keys.period_key(pid)
        self.log = f"{self.state}:log"
        self.recipients = f"{self.state}:recipients"
        self.lock = f"{self.state}:auditlock"


async def run_period(
    r: aioredis.Redis,
    period_id: str,
    rate_ppm: int,
    audit: Any,
    *,
    chunk: int = ASSESS_CHUNK,
    progress: Callable[[str, int], None] | None = None,
) -> PeriodResult:
    """Apply demurrage period `period_id` exactly once and return its result.

    `rate_ppm`: fee per period in parts per million (used only if the period has not started yet).
    `audit`: an `audit.log.AuditLog` (its `append_many_sync` is used per chunk), or None to skip the
    audit phase (benchmarks only). `chunk`: accounts per script and audit events per append.
    `progress(phase, n)`: called after each chunk with the number of
    accounts or recipients handled. Safe to re-run and to run concurrently with payments and with
    another runner. Raises PeriodError for a malformed id, ValueError for a rate outside 0..10**6."""
    pid = check_period_id(period_id)
    fee(0, rate_ppm)  # validates the rate
    k = _Keys(pid)
    rerun = await r.hget(k.state, "phase") == "closed"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    phase = await r.eval(_START, 1, k.state, rate_ppm, now)
    assess, distribute = r.register_script(_ASSESS), r.register_script(_DISTRIBUTE)
    while phase == "assess":
        phase, n = await assess(keys=[k.state, keys.ACCOUNTS, keys.BAL, keys.POOL, keys.ENTRIES, k.log],
                                args=[chunk, pid])
        if progress:
            progress("assess", chunk if phase == "assess" else 0)
    if phase == "split":
        phase = await _split(r, pid, k)
    while phase == "distribute":
        phase, n = await distribute(
            keys=[k.state, k.recipients, keys.BAL, keys.ACCOUNTS, keys.POOL, keys.ENTRIES, k.log],
            args=[chunk, pid])
        if progress:
            progress("distribute", int(n))
    while phase == "audit":
        phase = await _audit_phase(r, pid, k, audit, chunk, progress)
    st = await r.hgetall(k.state)
    return PeriodResult(period=pid, rate_ppm=int(st["rate"]), accounts=int(st["accounts"]),
                        fees_cents=int(st["fees"]), participants=int(st.get("participants", 0)),
                        share_cents=int(st.get("share", 0)), pool_cents=int(st.get("remainder", 0)),
                        rerun=rerun)


async def _split(r: aioredis.Redis, pid: str, k: _Keys) -> str:
    """Build the recipients under a private key, then install it atomically (a concurrent runner's
    copy is discarded by the script)."""
    who = await participants(r, pid)
    cand = f"{k.recipients}:{secrets.token_hex(8)}"
    for i in range(0, len(who), 10_000):
        await r.rpush(cand, *who[i: i + 10_000])
        await r.expire(cand, 3600)  # a runner killed here leaves no lasting garbage
    return await r.eval(_SPLIT, 4, k.state, k.recipients, cand, keys.POOL)


async def _audit_phase(r: aioredis.Redis, pid: str, k: _Keys, audit: Any, chunk: int,
                       progress: Callable[[str, int], None] | None) -> str:
    """Append the period's audit events from `money:dm:{pid}:log` (cursor `ai`), then close the period.
    One writer at a time (lock `...:auditlock`); returns the phase after this pass."""
    token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    if not await r.eval(_LOCK, 1, k.lock, token, AUDIT_LOCK_S, _dead_holder(await r.get(k.lock))):
        await asyncio.sleep(0.5)  # another runner is writing; wait for it to finish or die
        return await r.hget(k.state, "phase")
    try:
        if await r.hget(k.state, "phase") != "audit":
            return await r.hget(k.state, "phase")
        st = await r.hgetall(k.state)
        if audit is not None:
            if st.get("summary") != "1":
                ev = events.demurrage(pid, int(st["rate"]), int(st["fees"]), int(st["accounts"]))
                await asyncio.to_thread(audit.append_many_sync, [ev])
                await r.hset(k.state, "summary", 1)
            ai = int(st.get("ai", 0))
            evs, used = await _log_events(r, pid, k.log, ai, chunk)
            while used:
                # write one batch (thread) while reading the names of the next one
                writing = asyncio.create_task(asyncio.to_thread(audit.append_many_sync, evs))
                try:
                    following = await _log_events(r, pid, k.log, ai + used, chunk)
                finally:
                    await writing
                ai += used
                await r.hset(k.state, "ai", ai)
                await r.eval(_LOCK, 1, k.lock, token, AUDIT_LOCK_S, "")
                if progress:
                    progress("audit", len(evs))
                evs, used = following
            await asyncio.to_thread(audit.append_many_sync,
                                    [events.demurrage_closed(pid, int(st.get("remainder", 0)))])
        await r.hset(k.state, mapping={"phase": "closed", "closed": datetime.now(UTC).isoformat()})
        await r.delete(k.log, k.recipients)
        return "closed"
    finally:
        if await r.get(k.lock) == token:
            await r.delete(k.lock)


def _dead_holder(holder: str | None) -> str:
    """`holder` if it names a process of this host that no longer exists (killed), else ""."""
    host, _, rest = (holder or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return ""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return holder or ""
    except PermissionError:
        return ""
    return ""


async def _log_events(r: aioredis.Redis, pid: str, log_key: str, ai: int,
                      batch: int) -> tuple[list[events.AuditEvent], int]:
    """Audit events of the logged chunks from index `ai` on, about `batch` events (one fsync);
    returns (events, chunks used). Each log item is "start:count", a range in `money:entries`."""
    out: list[events.AuditEvent] = []
    used = 0
    for blob in await r.lrange(log_key, ai, ai + batch - 1):
        start, count = (int(x) for x in blob.split(":"))
        if out and len(out) + count > batch:
            break
        chunk = await entries.read(r, start, start + count - 1)
        refs = await events.public_refs(r, [e.debit if e.type == "dm-fee" else e.credit for e in chunk])
        out.extend(events.demurrage_fee(refs[e.debit], pid, e.cents) if e.type == "dm-fee"
                   else events.demurrage_share(refs[e.credit], pid, e.cents) for e in chunk)
        used += 1
    return out, used


async def demurrage_scheduler(r: aioredis.Redis, settings: Any, audit: Any) -> None:
    """Background task of the server: forever, apply every completed period not yet applied (periods
    missed while the server was down too, at most MAX_CATCH_UP, oldest first), then sleep until the next
    period ends. `settings`: infra.settings.Settings (demurrage_rate_ppm, demurrage_period_s). The last
    period applied is kept in `money:dm:scheduled`. Errors are logged and retried a minute later;
    cancel the task to stop."""
    period_s, rate = settings.demurrage_period_s, settings.demurrage_rate_ppm
    while True:
        latest = last_completed_period_id(datetime.now(UTC), period_s)
        due = periods_after(await r.get(SCHEDULED), latest, period_s, MAX_CATCH_UP)
        try:
            for pid in due:
                if await r.hget(keys.period_key(pid), "phase") != "closed":
                    res = await run_period(r, pid, rate, audit)
                    log.info("demurrage period %s: %s accounts, fees %s c, %s participants, share %s c",
                             pid, res.accounts, res.fees_cents, res.participants, res.share_cents)
                await r.set(SCHEDULED, pid)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("demurrage period failed; retrying in a minute")
            await asyncio.sleep(60)
            continue
        wait = (next_period_end(datetime.now(UTC), period_s) - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(min(max(wait, 0) + 1, 3600))  # re-check hourly: clock jumps, settings
