"""The demurrage scheduler applies each completed period once; the CLI refuses bad arguments."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from infra.settings import Settings
from money.demurrage import demurrage_scheduler
from money.demurrage_cli import main
from money.ledger import Ledger


async def closed_periods(r: aioredis.Redis) -> list[str]:
    states = [k for k in await r.keys("money:dm:*") if k.endswith("Z")]  # not the :log/:recipients lists
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


def test_cli_refuses_bad_arguments(capsys) -> None:
    assert main(["--period", "not a period"]) == 2
    assert main(["--period", "2026-11-19T00:00:00Z", "--rate", "-1"]) == 2
    assert "demurrage:" in capsys.readouterr().err
