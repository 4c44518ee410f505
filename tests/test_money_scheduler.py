"""The demurrage scheduler applies each completed period once; the CLI refuses bad arguments."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from infra.settings import Settings
from money import keys
from money.demurrage import SCHEDULED, demurrage_scheduler
from money.demurrage_cli import main
from money.ledger import Ledger
from money.participation import last_completed_period_id, period_id, periods_after


async def closed_periods(r: aioredis.Redis) -> list[str]:
    states = await r.keys("money:dm:*Z")  # not the :log / :recipients lists
    return [k for k in states if await r.hget(k, "phase") == "closed"]


async def test_scheduler_applies_each_period_once(r: aioredis.Redis) -> None:
    ledger = Ledger(r)
    await ledger.mint("9001", 10_000_000, by="9", ref="m")
    settings = Settings(demurrage_period_s=1, demurrage_rate_ppm=1000)
    task = asyncio.create_task(demurrage_scheduler(r, settings, None))
    deadline = time.monotonic() + 15
    closed: list[str] = []
    while time.monotonic() < deadline and len(closed) < 2:
        await asyncio.sleep(0.1)
        closed = await closed_periods(r)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(closed) >= 2  # one period per second, each applied once
    n = len(await closed_periods(r))
    balance = 10_000_000
    for _ in range(n):
        balance -= balance * 1000 // 1_000_000
    assert await ledger.balance("9001") == balance
    assert await ledger.balance("pool") == 10_000_000 - balance
    await ledger.check_invariant()


async def test_scheduler_catches_up_missed_periods(r: aioredis.Redis) -> None:
    ledger = Ledger(r)
    await ledger.mint("9002", 1_000_000, by="9", ref="m")
    latest = last_completed_period_id(datetime.now(UTC), 3600)
    start = datetime.strptime(latest, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    await r.set(SCHEDULED, period_id(start - timedelta(hours=3), 3600))  # down for three hours
    task = asyncio.create_task(demurrage_scheduler(r, Settings(demurrage_period_s=3600), None))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and await r.get(SCHEDULED) != latest:
        await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert sorted(await closed_periods(r)) == [
        keys.period_key(period_id(start - timedelta(hours=h), 3600)) for h in (2, 1, 0)]
    assert await ledger.balance("9002") == 1_000_000 - 1000 - 999 - 998  # 0.1 % three times, rounded down


def test_periods_after() -> None:
    assert periods_after(None, "2026-11-19T00:00:00Z", 604800, 52) == ["2026-11-19T00:00:00Z"]
    assert periods_after("2026-11-05T00:00:00Z", "2026-11-19T00:00:00Z", 604800, 52) == [
        "2026-11-12T00:00:00Z", "2026-11-19T00:00:00Z"]
    assert periods_after("2026-11-19T00:00:00Z", "2026-11-19T00:00:00Z", 604800, 52) == []
    assert periods_after("2020-01-02T00:00:00Z", "2026-11-19T00:00:00Z", 604800, 2) == [
        "2026-11-12T00:00:00Z", "2026-11-19T00:00:00Z"]


def test_cli_refuses_bad_arguments(capsys) -> None:
    assert main(["--period", "not a period"]) == 2
    assert main(["--period", "2026-11-19T00:00:00Z", "--rate", "-1"]) == 2
    assert "demurrage:" in capsys.readouterr().err
