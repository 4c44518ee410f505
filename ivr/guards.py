"""Admission guards of the phone line: who may call, how often, and how many calls at once.

- allow/deny lists of E.164 prefixes (area codes "+1515", countries "+44"): deny wins; a non-empty
  allow list admits only numbers under one of its prefixes (and no anonymous caller);
- per-number rate limits over sliding windows: calls per hour, state-changing actions per day;
- a global cap of concurrent calls across all worker processes (a polite "busy" message).

Every check-and-count is one Lua script, so it is atomic across workers. Keys (all `ivr:guard:*`,
all expiring): `ivr:guard:active` (ZSET call_id -> slot expiry, epoch s), `ivr:guard:calls:{number}`
(ZSET call_id -> admission time), `ivr:guard:actions:{number}` (ZSET action id -> time).
A slot of a call whose worker died without `release_call` frees itself after `call_ttl_s`.
A limit of 0 disables that limit. Callers without a usable E.164 number share one bucket ("anonymous"),
so withholding the caller ID cannot dodge the per-number limits.

Settings (proposed names, `.env`): CALLS_PER_HOUR, ACTIONS_PER_DAY, MAX_CONCURRENT_CALLS,
ALLOW_PREFIXES, DENY_PREFIXES (comma-separated E.164 prefixes, e.g. "+1515,+1319" or "+44").
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

import redis.asyncio as aioredis

Refusal = Literal["busy", "rate_limited", "denied"]
ANONYMOUS = "anonymous"
HOUR_S = 3600
DAY_S = 24 * 3600
CALL_TTL_S = 2 * 3600  # as long as a call's state lives (ivr.runner.STATE_TTL_S)
_PREFIX = re.compile(r"\+[1-9]\d{0,14}")
_E164 = re.compile(r"\+[1-9]\d{6,14}")

# KEYS: active, calls:{number}. ARGV: call_id, now, slot_ttl, max_concurrent, calls_per_hour.
# Returns "" (admitted) or the refusal code. A call already admitted is admitted again (redelivered
# call.initiated, a second worker), without counting twice.
_ADMIT = """
local active, calls = KEYS[1], KEYS[2]
local call_id, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local max_conc, per_hour = tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', active, '-inf', now)
if redis.call('ZSCORE', active, call_id) then return '' end
redis.call('ZREMRANGEBYSCORE', calls, '-inf', now - 3600)
if per_hour > 0 and not redis.call('ZSCORE', calls, call_id)
   and redis.call('ZCARD', calls) >= per_hour then
  return 'rate_limited'
end
if max_conc > 0 and redis.call('ZCARD', active) >= max_conc then return 'busy' end
redis.call('ZADD', active, now + ttl, call_id)
redis.call('EXPIRE', active, ttl)
redis.call('ZADD', calls, 'NX', now, call_id)
redis.call('EXPIRE', calls, 3600)
return ''
"""

# KEYS: actions:{number}. ARGV: action id, now, window_s, limit. Returns 1 (allowed) or 0.
_ACTION = """
local key, id, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local window, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZSCORE', key, id) then return 1 end
if redis.call('ZCARD', key) >= limit then return 0 end
redis.call('ZADD', key, now, id)
redis.call('EXPIRE', key, window)
return 1
"""


def parse_prefixes(text: str) -> frozenset[str]:
    """Comma-separated E.164 prefixes ("+1515, +1319,+44") -> frozenset; "" -> empty.

    Raises ValueError naming the first entry that is not "+" and 1-15 digits (no leading 0).
    """
    out = set()
    for part in text.split(","):
        p = part.strip().replace(" ", "")
        if not p:
            continue
        if not _PREFIX.fullmatch(p):
            raise ValueError(f"not an E.164 prefix: {part.strip()!r} (expected e.g. +1515 or +44)")
        out.add(p)
    return frozenset(out)


def number_key(caller_id: str | None) -> str:
    """The per-number bucket: the E.164 number itself, or "anonymous" for a missing or unusable one."""
    return caller_id if caller_id and _E164.fullmatch(caller_id) else ANONYMOUS


class Guards:
    """Admission control shared by all worker processes through Redis.

    r: asyncio client (`decode_responses=True`); calls_per_hour / actions_per_day: per caller number,
    sliding windows of 3600 s / 86400 s (0 = unlimited); max_concurrent_calls: across the service
    (0 = unlimited); allow / deny: E.164 prefixes (see `parse_prefixes`); call_ttl_s: how long an
    unreleased call slot is held (s); clock: epoch seconds (tests inject one).
    """

    def __init__(
        self,
        r: aioredis.Redis,
        *,
        calls_per_hour: int,
        actions_per_day: int,
        max_concurrent_calls: int,
        allow: frozenset[str] = frozenset(),
        deny: frozenset[str] = frozenset(),
        call_ttl_s: int = CALL_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (("calls_per_hour", calls_per_hour), ("actions_per_day", actions_per_day),
                            ("max_concurrent_calls", max_concurrent_calls), ("call_ttl_s", call_ttl_s)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        self.r = r
        self.calls_per_hour, self.actions_per_day = calls_per_hour, actions_per_day
        self.max_concurrent_calls = max_concurrent_calls
        self.allow, self.deny = frozenset(allow), frozenset(deny)
        self.call_ttl_s, self.clock = call_ttl_s or CALL_TTL_S, clock
        self._admit = r.register_script(_ADMIT)
        self._action = r.register_script(_ACTION)

    @classmethod
    def from_settings(cls, r: aioredis.Redis, settings: Any) -> Guards:
        """Build from `infra.settings.Settings` fields calls_per_hour, actions_per_day, max_concurrent_calls,
        allow_prefixes, deny_prefixes (absent fields: no limit, no list). Raises ValueError on a bad prefix."""
        return cls(r, calls_per_hour=int(getattr(settings, "calls_per_hour", 0) or 0),
                   actions_per_day=int(getattr(settings, "actions_per_day", 0) or 0),
                   max_concurrent_calls=int(getattr(settings, "max_concurrent_calls", 0) or 0),
                   allow=parse_prefixes(str(getattr(settings, "allow_prefixes", "") or "")),
                   deny=parse_prefixes(str(getattr(settings, "deny_prefixes", "") or "")))

    def permitted(self, caller_id: str | None) -> bool:
        """The allow/deny lists alone (pure): deny wins; a non-empty allow list needs a matching prefix."""
        number = number_key(caller_id)
        if number == ANONYMOUS:
            return not self.allow
        if any(number.startswith(p) for p in self.deny):
            return False
        return not self.allow or any(number.startswith(p) for p in self.allow)

    async def admit_call(self, call_id: str, caller_id: str | None) -> Refusal | None:
        """Admit a new call (None) or refuse it: "denied" (lists), "rate_limited" (calls per hour of this
        number), "busy" (concurrent cap). Admission takes a slot until `release_call`; admitting the same
        call_id again is a no-op that answers None. A refused call takes no slot and counts nothing."""
        if not self.permitted(caller_id):
            return "denied"
        number = number_key(caller_id)
        got = await self._admit(keys=["ivr:guard:active", f"ivr:guard:calls:{number}"],
                                args=[call_id, self.clock(), self.call_ttl_s, self.max_concurrent_calls,
                                      self.calls_per_hour])
        return got or None  # type: ignore[return-value]

    async def release_call(self, call_id: str) -> None:
        """Free the call's concurrency slot (at hang-up); harmless when it holds none."""
        await self.r.zrem("ivr:guard:active", call_id)

    async def active_calls(self) -> int:
        """Calls holding a slot now (expired slots not counted)."""
        return int(await self.r.zcount("ivr:guard:active", f"({self.clock()}", "+inf"))

    async def allow_action(self, caller_id: str | None, action_id: str | None = None) -> bool:
        """Count one state-changing action of this number against its daily limit: True when allowed.

        action_id: makes the count idempotent (the same id counts once, e.g. a re-run effect);
        by default every call counts. Refused attempts are not counted.
        """
        if self.actions_per_day <= 0:
            return True
        got = await self._action(keys=[f"ivr:guard:actions:{number_key(caller_id)}"],
                                 args=[action_id or uuid.uuid4().hex, self.clock(), DAY_S, self.actions_per_day])
        return bool(int(got))
