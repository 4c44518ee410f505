"""Admission guards against a real Valkey: lists, per-number rate limits, the concurrent-call cap."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from ivr.guards import Guards, number_key, parse_prefixes

A, B = "+15155550101", "+15155550102"


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def guards(r: aioredis.Redis, clock: Clock | None = None, **kw: object) -> Guards:
    opts: dict = {"calls_per_hour": 0, "actions_per_day": 0, "max_concurrent_calls": 0} | kw
    return Guards(r, clock=clock or Clock(), **opts)


def test_prefix_lists_parse_and_reject_junk() -> None:
    assert parse_prefixes(" +1515, +1319,,+44 ") == {"+1515", "+1319", "+44"}
    assert parse_prefixes("") == frozenset()
    for bad in ("1515", "+", "+0", "+15a", "+1234567890123456"):
        with pytest.raises(ValueError, match="E.164 prefix"):
            parse_prefixes(f"+1515,{bad}")
    assert number_key("+15155550101") == "+15155550101"
    assert number_key(None) == number_key("anonymous") == number_key("+1") == number_key("555-0101") == "anonymous"


async def test_deny_wins_and_allow_list_admits_only_its_prefixes(r: aioredis.Redis) -> None:
    g = guards(r, allow=frozenset({"+1515", "+44"}), deny=frozenset({"+1515555"}))
    assert await g.admit_call("c1", "+15152220000") is None
    assert await g.admit_call("c2", "+447700900123") is None
    assert await g.admit_call("c3", A) == "denied"  # under an allowed area code, but denied exchange
    assert await g.admit_call("c4", "+13195550000") == "denied"  # not on the allow list
    assert await g.admit_call("c5", None) == "denied"  # anonymous callers cannot satisfy an allow list
    assert await g.active_calls() == 2  # refused calls hold no slot
    open_line = guards(r, deny=frozenset({"+44"}))
    assert await open_line.admit_call("c6", None) is None and await open_line.admit_call("c7", A) is None
    assert await open_line.admit_call("c8", "+447700900123") == "denied"


async def test_calls_per_hour_is_a_sliding_window_per_number(r: aioredis.Redis) -> None:
    clock = Clock()
    g = guards(r, clock, calls_per_hour=3)
    for i in range(3):
        assert await g.admit_call(f"a{i}", A) is None
        await g.release_call(f"a{i}")
        clock.t += 600
    assert await g.admit_call("a3", A) == "rate_limited"
    assert await g.admit_call("b0", B) is None  # another number has its own budget
    clock.t += 1800 + 1  # now t0 + 3601: the first call is more than an hour old
    assert await g.admit_call("a4", A) is None
    assert await g.admit_call("a5", A) == "rate_limited"


async def test_readmitting_the_same_call_counts_once(r: aioredis.Redis) -> None:
    g = guards(r, calls_per_hour=2, max_concurrent_calls=1)
    for _ in range(5):  # a redelivered call.initiated, or a second worker, asks again
        assert await g.admit_call("c1", A) is None
    assert await g.active_calls() == 1
    await g.release_call("c1")
    assert await g.admit_call("c2", A) is None  # the repeats did not use up the hourly budget


async def test_concurrent_cap_is_exact_under_a_race_of_workers(redis_url: str, r: aioredis.Redis) -> None:
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in range(4)]
    try:
        workers = [guards(c, max_concurrent_calls=10) for c in clients]  # four worker processes' views
        got = await asyncio.gather(*(workers[i % 4].admit_call(f"c{i}", f"+1515555{i:04d}") for i in range(60)))
        assert got.count(None) == 10 and got.count("busy") == 50
        admitted = [f"c{i}" for i, g in enumerate(got) if g is None]
        assert await workers[0].active_calls() == 10
        await workers[1].release_call(admitted[0])
        assert await workers[2].admit_call("late", "+15155559999") is None
        assert await workers[3].admit_call("later", "+15155559998") == "busy"
    finally:
        for c in clients:
            await c.aclose()


async def test_slot_of_a_call_never_released_frees_itself(r: aioredis.Redis) -> None:
    clock = Clock()
    g = guards(r, clock, max_concurrent_calls=1, call_ttl_s=7200)
    assert await g.admit_call("crashed", A) is None  # its worker died: no release_call
    assert await g.admit_call("next", B) == "busy"
    clock.t += 7201
    assert await g.admit_call("next", B) is None


async def test_actions_per_day_counted_once_per_id_and_refusals_not_counted(r: aioredis.Redis) -> None:
    clock = Clock()
    g = guards(r, clock, actions_per_day=2)
    assert await g.allow_action(A, "vote-1") and await g.allow_action(A, "vote-1")  # same action, counted once
    assert await g.allow_action(A)
    assert not await g.allow_action(A) and not await g.allow_action(A)
    assert await g.allow_action(B)
    clock.t += 24 * 3600 + 1
    assert await g.allow_action(A) and await g.allow_action(A) and not await g.allow_action(A)
    assert await guards(r, clock, actions_per_day=0).allow_action(A)  # 0 = unlimited


async def test_every_guard_key_is_namespaced_and_expires(r: aioredis.Redis) -> None:
    g = guards(r, calls_per_hour=5, actions_per_day=5, max_concurrent_calls=5)
    await g.admit_call("c1", A)
    await g.allow_action(A)
    keys = [k async for k in r.scan_iter("*")]
    assert keys and all(k.startswith("ivr:guard:") for k in keys)
    for k in keys:
        assert 0 < await r.ttl(k) <= 24 * 3600


def test_bad_limits_and_settings() -> None:
    with pytest.raises(ValueError, match="calls_per_hour"):
        Guards(aioredis.Redis(), calls_per_hour=-1, actions_per_day=0, max_concurrent_calls=0)

    class S:
        calls_per_hour, actions_per_day, max_concurrent_calls = 3, 4, 5
        allow_prefixes, deny_prefixes = "+1515", "+1515555"

    g = Guards.from_settings(aioredis.Redis(), S())
    assert (g.calls_per_hour, g.actions_per_day, g.max_concurrent_calls) == (3, 4, 5)
    assert g.allow == {"+1515"} and g.deny == {"+1515555"}
    assert not g.permitted(A) and g.permitted("+15152220000")


async def test_callers_hear_busy_rate_limited_and_refused_through_the_whole_service(
        tmp_path: Path, redis_url: str, r: aioredis.Redis) -> None:
    from bench.load_calls import caller_roll, seed, service
    from ivr.simulator import Phone

    a, b = caller_roll(2)
    await seed(r, tmp_path / "audit.log", [a, b])
    limits = {"CALLS_PER_HOUR": "2", "MAX_CONCURRENT_CALLS": "1", "DENY_PREFIXES": "+1999"}

    async def call(svc: object, number: str) -> tuple[Phone, str]:
        phone = await Phone.dial(svc.emulator_url, number)  # type: ignore[attr-defined]
        return phone, " ".join(await phone.wait_for_prompt(20))

    async with service(tmp_path, redis_url, workers=1, env_extra=limits) as svc:
        first, heard = await call(svc, a.phone or "")
        assert "Welcome to the Delegate Network" in heard
        second, heard = await call(svc, b.phone or "")  # the only line is taken
        assert "All our lines are busy" in heard and second.ended
        await first.hang_up()
        await asyncio.sleep(0.5)  # the hang-up frees the line
        for _ in range(2):  # the busy refusal did not use up b's hourly calls
            phone, heard = await call(svc, b.phone or "")
            assert "Welcome to the Delegate Network" in heard
            await phone.hang_up()
            await asyncio.sleep(0.5)
        third, heard = await call(svc, b.phone or "")
        assert "called too often in the last hour" in heard and third.ended
        denied, heard = await call(svc, "+19995550100")
        assert "cannot be accepted" in heard and denied.ended
        for p in (first, second, third, denied):
            await p.aclose()
