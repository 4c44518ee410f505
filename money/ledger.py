"""The ledger of delegate money: balances, payments, mints and activation awards, all in integer cents.

Storage (asyncio Redis, `money:*`, see money/keys.py): balances in the hash `money:bal`; every movement
is one entry of the list `money:entries` with a debit and a credit account (money/entries.py). Each
operation is ONE Lua script, so it is atomic: two simultaneous payments can never overdraw an account,
and `sum(balances) + pool == minted - burned` holds between any two commands (design: money.md).

Idempotency: every operation carries a `ref` (e.g. the Telnyx call id and dialogue step). The script
records `ref -> signature|result` in the same atomic step; a retry with the same ref returns the first
result without moving money again. Reusing a ref for a different operation raises IdempotencyConflict.

Audit: a Ledger built with `audit=AuditLog(...)` appends the event (money/events.py: `payment`, `mint`,
`award`, voters by public name, never phone) after the script commits and before the method returns,
so the caller confirms to the voter only once the event is on disk. The script also pushes the entry
to `money:outbox` and it is removed after the append: `flush_outbox()` (run at server start)
appends the events of any movement whose process died between the commit and the append. Without an
audit log, the caller appends `money.events` itself.
"""

from __future__ import annotations

from typing import Any, Protocol

import redis.asyncio as aioredis

from money import entries, events, keys
from money.errors import IdempotencyConflict, InsufficientFunds, InvariantViolation, SameAccount
from money.keys import check_account, check_cents


class AuditSink(Protocol):
    """What the ledger needs of `audit.log.AuditLog`."""

    async def append(self, event_type: str, actor: Any, subject: Any, data: dict[str, Any]) -> int: ...


# Shared: one ledger entry string (money/entries.py); every argument a string.
_ENTRY = """
local function entry(kind, dr, cr, cents, ref, extra)
  local t = redis.call('TIME')
  return table.concat({kind, dr, cr, cents, ref, string.format('%d%03d', t[1], math.floor(t[2] / 1000)), extra},
                      '|')
end
"""

# Shared prologue: idempotency by ref. Returns early with {'replay', result} or {'conflict'}.
_REF_CHECK = _ENTRY + """
local sig = ARGV[1]
local ref = ARGV[2]
local prev = redis.call('HGET', KEYS[4], ref)
if prev then
  local psig, pres = string.match(prev, '^(.*)|([^|]*)$')
  if psig ~= sig then return {'conflict'} end
  return {'replay', tonumber(pres)}
end
"""

# KEYS: bal, accounts, entries, refs, outbox   ARGV: sig, ref, audit(0/1), payer, payee, cents
_PAY = _REF_CHECK + """
local payer, payee, cents = ARGV[4], ARGV[5], tonumber(ARGV[6])
local bal = tonumber(redis.call('HGET', KEYS[1], payer) or '0')
if bal < cents then return {'insufficient', bal} end
local nb = redis.call('HINCRBY', KEYS[1], payer, -cents)
if redis.call('HINCRBY', KEYS[1], payee, cents) == cents then redis.call('ZADD', KEYS[2], 0, payee) end
local id = entry('payment', payer, payee, ARGV[6], ref, '')
redis.call('RPUSH', KEYS[3], id)
redis.call('HSET', KEYS[4], ref, sig .. '|' .. string.format('%.0f', nb))
if ARGV[3] == '1' then redis.call('RPUSH', KEYS[5], id) end
return {'ok', nb, id}
"""

# KEYS: bal, accounts, entries, refs, outbox, minted   ARGV: sig, ref, audit, to, cents, by
_MINT = _REF_CHECK + """
local to, cents = ARGV[4], tonumber(ARGV[5])
local nb = redis.call('HINCRBY', KEYS[1], to, cents)
if nb == cents then redis.call('ZADD', KEYS[2], 0, to) end
redis.call('INCRBY', KEYS[6], cents)
local id = entry('mint', 'mint', to, ARGV[5], ref, ARGV[6])
redis.call('RPUSH', KEYS[3], id)
redis.call('HSET', KEYS[4], ref, sig .. '|' .. string.format('%.0f', nb))
if ARGV[3] == '1' then redis.call('RPUSH', KEYS[5], id) end
return {'ok', nb, id}
"""

# KEYS: bal, accounts, entries, awarded, activations, minted, outbox   ARGV: regn, x, audit
_AWARD = _ENTRY + """
local regn, x = ARGV[1], tonumber(ARGV[2])
if x <= 0 or redis.call('HEXISTS', KEYS[4], regn) == 1 then return false end
local k = tonumber(redis.call('GET', KEYS[5]) or '0') + 1
if k > x then return false end
redis.call('SET', KEYS[5], k)
redis.call('HSET', KEYS[4], regn, k)
local cents = (x - k + 1) * 100
if redis.call('HINCRBY', KEYS[1], regn, cents) == cents then redis.call('ZADD', KEYS[2], 0, regn) end
redis.call('INCRBY', KEYS[6], cents)
local id = entry('award', 'mint', regn, string.format('%.0f', cents), 'award:' .. regn, tostring(k))
redis.call('RPUSH', KEYS[3], id)
if ARGV[3] == '1' then redis.call('RPUSH', KEYS[7], id) end
return {k, cents, id}
"""

# KEYS: bal, pool, minted, burned   -> {sum of balances, pool, minted, burned}, one consistent instant
_TOTALS = """
local sum = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do sum = sum + tonumber(v) end
return {string.format('%.0f', sum), redis.call('GET', KEYS[2]) or '0', redis.call('GET', KEYS[3]) or '0',
        redis.call('GET', KEYS[4]) or '0'}
"""


class Ledger:
    """Balances and movements of delegate money in Redis (`r`: asyncio, decode_responses=True).

    Accounts are voters' regn_nums. `audit`: optional `audit.log.AuditLog`; when given, every
    successful operation appends its event before returning (see the module docstring)."""

    def __init__(self, r: aioredis.Redis, audit: AuditSink | None = None) -> None:
        self.r = r
        self.audit = audit
        self._pay = r.register_script(_PAY)
        self._mint = r.register_script(_MINT)
        self._award = r.register_script(_AWARD)
        self._totals = r.register_script(_TOTALS)

    async def balance(self, account: str) -> int:
        """Balance of `account` in cents (0 for an account that never held money); "pool" gives the
        demurrage pool. Raises InvalidAccount for a malformed id."""
        if account == keys.POOL_ACCOUNT:
            return int(await self.r.get(keys.POOL) or 0)
        return int(await self.r.hget(keys.BAL, check_account(account)) or 0)

    async def pay(self, payer: str, payee: str, cents: int, *, ref: str) -> int:
        """Move `cents` from `payer` to `payee`; return the payer's new balance in cents.

        `ref`: idempotency key (non-empty str); a retry returns the first result and moves nothing.
        Raises InvalidAmount (not 1..MAX_CENTS whole cents), InvalidAccount, SameAccount,
        InsufficientFunds (more than the balance), IdempotencyConflict. State unchanged on any error."""
        check_account(payer)
        check_account(payee)
        check_cents(cents)
        if payer == payee:
            raise SameAccount(f"payer is payee {payer}")
        sig = f"pay|{payer}|{payee}|{cents}"
        res = await self._pay(keys=[keys.BAL, keys.ACCOUNTS, keys.ENTRIES, keys.REFS, keys.OUTBOX],
                              args=[sig, _ref(ref), int(self.audit is not None), payer, payee, cents])
        return await self._finish(res, cents)

    async def mint(self, to: str, cents: int, *, by: str, ref: str) -> int:
        """Create `cents` in `to`'s account (sovereign mint); return `to`'s new balance in cents.

        `by`: the sovereign's regn_num (a public id, never a phone number: ids starting with '+' are
        refused). Raises InvalidAmount, InvalidAccount, IdempotencyConflict."""
        check_account(to)
        check_account(by)
        check_cents(cents)
        sig = f"mint|{by}|{to}|{cents}"
        res = await self._mint(
            keys=[keys.BAL, keys.ACCOUNTS, keys.ENTRIES, keys.REFS, keys.OUTBOX, keys.MINTED],
            args=[sig, _ref(ref), int(self.audit is not None), to, cents, by])
        return await self._finish(res, cents)

    async def award_activation(self, regn_num: str, x: int) -> tuple[int, int] | None:
        """Activation reward (design: money.md): the k-th voter ever to make a first delegation gets
        `x - k + 1` dollars. Returns (k, cents), or None when rewards are off (x <= 0), all x rewards
        are given, or this voter was already rewarded. Atomic: k is unique and dense under concurrency.
        `x`: NUMBER_OF_ACTIVATIONS_TO_REWARD. Raises InvalidAccount."""
        check_account(regn_num)
        res = await self._award(
            keys=[keys.BAL, keys.ACCOUNTS, keys.ENTRIES, keys.AWARDED, keys.ACTIVATIONS, keys.MINTED,
                  keys.OUTBOX],
            args=[regn_num, int(x), int(self.audit is not None)])
        if not res:
            return None
        k, cents, entry_id = int(res[0]), int(res[1]), res[2]
        if self.audit is not None:
            await self._publish(entry_id)
        return k, cents

    async def totals(self) -> dict[str, int]:
        """{"balances", "pool", "minted", "burned"} in cents, read atomically (sums every balance:
        O(accounts), blocks Redis ~1 s per million accounts; for checks, not for the hot path)."""
        s, pool, minted, burned = await self._totals(keys=[keys.BAL, keys.POOL, keys.MINTED, keys.BURNED])
        return {"balances": int(s), "pool": int(pool), "minted": int(minted), "burned": int(burned)}

    async def check_invariant(self) -> None:
        """Raise InvariantViolation unless sum(balances) + pool == minted - burned and no balance is
        negative, at one instant."""
        t = await self.totals()
        if t["balances"] + t["pool"] != t["minted"] - t["burned"]:
            raise InvariantViolation(f"balances {t['balances']} + pool {t['pool']} != minted {t['minted']}"
                                     f" - burned {t['burned']}")
        neg = await self.r.eval(
            "for _, v in ipairs(redis.call('HVALS', KEYS[1])) do if tonumber(v) < 0 then return 1 end end "
            "return 0", 1, keys.BAL)
        if int(neg):
            raise InvariantViolation("a balance is negative")

    async def flush_outbox(self) -> int:
        """Append the audit events of movements committed but not yet logged (after a crash between
        commit and append); return how many. Needs `audit`. Run once at server start."""
        if self.audit is None:
            return 0
        n = 0
        for raw in await self.r.lrange(keys.OUTBOX, 0, -1):
            await self._publish(raw)
            n += 1
        return n

    async def _finish(self, res: list[Any], cents: int) -> int:
        """Turn a pay/mint script reply into the new balance or the matching error."""
        status = res[0]
        if status == "conflict":
            raise IdempotencyConflict("ref already used for another operation")
        if status == "insufficient":
            raise InsufficientFunds(int(res[1]), cents)
        if status == "ok" and self.audit is not None:
            await self._publish(res[2])
        return int(res[1])

    async def _publish(self, raw_entry: str) -> None:
        """Append the audit event of one entry, then drop it from the outbox."""
        assert self.audit is not None
        ev = await events.from_entry(self.r, entries.parse(raw_entry))
        if ev is not None:
            await self.audit.append(ev.type, ev.actor, ev.subject, ev.data)
        await self.r.lrem(keys.OUTBOX, 1, raw_entry)


def _ref(ref: object) -> str:
    """An idempotency ref: a non-empty str without '|' (the signature separator). Raises ValueError."""
    if not isinstance(ref, str) or not ref or "|" in ref or len(ref) > 200:
        raise ValueError("ref must be a non-empty str without '|', at most 200 characters")
    return ref
