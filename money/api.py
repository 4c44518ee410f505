"""Public money pages (JSON), served by the webhook app: `app.include_router(money.api.router)`.

- `GET /public/money/balances.json`: `{"<regn_num>": cents, ..., "pool": cents}`: every account with a
  non-zero balance, in regn_num (lexical) order, then the pool. Streamed page by page (PAGE accounts per
  Redis round trip), so millions of accounts never sit in memory; each page is read at its own instant,
  so under concurrent payments the sum may differ from supply.json by the money moving meanwhile.
- `GET /public/money/supply.json`: `{"minted", "burned", "pool", "circulating"}` in cents, read
  atomically; circulating = minted - burned - pool = the sum of all balances.
Uses `request.app.state.redis` (asyncio, decode_responses=True). Accounts are regn_nums: no phones.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from money import keys

router = APIRouter()
PAGE = 5000


async def balance_pages(r: aioredis.Redis, page: int = PAGE) -> AsyncIterator[list[tuple[str, int]]]:
    """Non-zero balances, `page` accounts at a time, in lexical account order: [(regn_num, cents)]."""
    lo = "-"
    while accts := await r.zrange(keys.ACCOUNTS, lo, "+", bylex=True, offset=0, num=page):
        vals = await r.hmget(keys.BAL, accts)
        yield [(a, int(v)) for a, v in zip(accts, vals, strict=True) if v and v != "0"]
        lo = "(" + accts[-1]


@router.get("/public/money/balances.json")
async def balances(request: Request) -> StreamingResponse:
    """All non-zero balances plus "pool", in cents, streamed as one JSON object."""
    r: aioredis.Redis = request.app.state.redis

    async def body() -> AsyncIterator[str]:
        yield "{"
        async for rows in balance_pages(r):
            yield "".join(f"{json.dumps(a)}:{c}," for a, c in rows)
        yield f'"{keys.POOL_ACCOUNT}":{int(await r.get(keys.POOL) or 0)}}}'

    return StreamingResponse(body(), media_type="application/json")


async def supply(r: aioredis.Redis) -> dict[str, int]:
    """{"minted", "burned", "pool", "circulating"} in cents, one MGET (one instant)."""
    minted, burned, pool = (int(v or 0) for v in await r.mget(keys.MINTED, keys.BURNED, keys.POOL))
    return {"minted": minted, "burned": burned, "pool": pool, "circulating": minted - burned - pool}


@router.get("/public/money/supply.json")
async def supply_json(request: Request) -> JSONResponse:
    """The money supply in cents."""
    return JSONResponse(await supply(request.app.state.redis))
