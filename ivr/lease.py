"""The per-call lease (`ivr:lock:{call}`): events of one call never interleave across worker processes, and
a worker killed mid-event holds its call for at most `LEASE_S`.

A lease is a Redis key holding a random token, set with NX and a `LEASE_S` expiry, renewed every
`RENEW_S` while its holder works, and deleted (only by its holder) at the end. The release can delete
the call's "prompt sending" mark (`ivr:sending:{call}`) in the same round trip: the mark is written with
the call state before the state's commands go to Telnyx and survives only when they did not all get
there (a send failure, or the worker killed), see `ivr.runner`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator

import redis
import redis.asyncio as aioredis

log = logging.getLogger(__name__)
LEASE_S = 2.0
RENEW_S = 0.5  # a loop stalled longer than LEASE_S - RENEW_S could let a second worker in
POLL_S = 0.005  # events of one call often land on both workers back to back: poll a held lease often
BLOCK_S = 30.0  # how long an event waits for its call's lease (a long event of the same call)

_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = """if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('del', KEYS[1])
if ARGV[2] == '1' then redis.call('del', KEYS[2]) end
return 1"""


_RENEWING: set[asyncio.Task[None]] = set()  # renewal tasks, referenced until they end


class LeaseTimeout(redis.exceptions.LockError):
    """The call's lease stayed taken for `BLOCK_S` (its holder is working on a long event)."""


class Lease:
    """One holding of the lease of call `call_id`. `clear_mark`: delete `ivr:sending:{call}` at release
    (set it when this event wrote the mark and all its commands reached the carrier)."""

    def __init__(self, r: aioredis.Redis, call_id: str) -> None:
        self.r, self.key, self.mark = r, f"ivr:lock:{call_id}", f"ivr:sending:{call_id}"
        self.token = secrets.token_hex(8)
        self.clear_mark = False

    async def _renew(self, done: asyncio.Event) -> None:
        # Stopped by `done`, not by cancelling: a redis-py command cancelled mid-flight may be retried
        # rather than give up, and a renewal that outlived its event would hold the call for ever.
        try:
            while not done.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), RENEW_S)
                    return
                if not await self.r.eval(_RENEW, 1, self.key, self.token, int(LEASE_S * 1000)) and not done.is_set():
                    log.warning("lease %s lost while its event was processed", self.key)
                    return
        except Exception:  # storage down: the event's own commands fail too
            log.warning("lease %s could not be renewed", self.key, exc_info=True)


@contextlib.asynccontextmanager
async def hold(r: aioredis.Redis, call_id: str) -> AsyncIterator[Lease]:
    """`async with hold(r, call_id) as lease:` the call's lease for the block, renewed while it runs.
    Raises LeaseTimeout (a redis LockError) after waiting BLOCK_S; Redis errors as raised."""
    lease = Lease(r, call_id)
    deadline = time.monotonic() + BLOCK_S
    while not await r.set(lease.key, lease.token, nx=True, px=int(LEASE_S * 1000)):
        if time.monotonic() > deadline:
            raise LeaseTimeout(f"{lease.key} stayed taken for {BLOCK_S:g} s")
        await asyncio.sleep(POLL_S)
    done = asyncio.Event()
    renew = asyncio.create_task(lease._renew(done))
    _RENEWING.add(renew)
    renew.add_done_callback(_RENEWING.discard)
    try:
        yield lease
    finally:
        done.set()  # a renewal still in flight finds the key deleted (or another token) and does nothing
        released = await r.eval(_RELEASE, 2, lease.key, lease.mark, lease.token, "1" if lease.clear_mark else "0")
        if not released:  # a loop stalled past the lease: another worker may have run an event meanwhile
            log.warning("lease %s had expired before its release", lease.key)
