"""Public money pages: balances (streamed) and supply, consistent with the ledger, without phones."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from money import api
from money.demurrage import run_period
from money.ledger import Ledger


async def get_json(r: aioredis.Redis, path: str) -> object:
    app = FastAPI()
    app.state.redis = r
    app.include_router(api.router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        resp = await client.get(path)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    return resp.json()


async def test_empty_ledger(r: aioredis.Redis) -> None:
    assert await get_json(r, "/public/money/balances.json") == {"pool": 0}
    assert await get_json(r, "/public/money/supply.json") == {
        "minted": 0, "burned": 0, "pool": 0, "circulating": 0}


async def test_balances_and_supply_match_the_ledger(r: aioredis.Redis, monkeypatch) -> None:
    monkeypatch.setattr(api, "PAGE", 7)  # several pages
    ledger = Ledger(r)
    for i in range(30):
        await ledger.mint(f"8{i:03d}", 10_000 + i, by="9", ref=f"m{i}")
    await ledger.pay("8000", "8001", 10_000, ref="p")  # 8000 now holds 0: not listed
    await run_period(r, "2026-11-19T00:00:00Z", 1000, None)
    bal = await get_json(r, "/public/money/balances.json")
    assert "8000" not in bal and len(bal) == 30
    assert bal["8001"] == 20_001 - 20 and bal["pool"] == await ledger.balance("pool")
    sup = await get_json(r, "/public/money/supply.json")
    assert sup["minted"] == sum(10_000 + i for i in range(30))
    assert sup["circulating"] == sum(v for k, v in bal.items() if k != "pool")
    assert sup["pool"] + sup["circulating"] == sup["minted"] - sup["burned"]
