"""The service's Redis client under a burst: more concurrent commands than pooled connections wait for one."""

from __future__ import annotations

import asyncio

from infra.redis_client import async_client_for


async def test_more_concurrent_commands_than_connections_all_complete(redis_url: str) -> None:
    # redis-py's default pool raises MaxConnectionsError at once here; a webhook's event then fell behind
    # the call's next events (security.md). Each BLPOP holds its connection ~50 ms, so most must wait.
    r = async_client_for(redis_url, max_connections=3)
    try:
        await r.delete("test:burst")
        results = await asyncio.gather(*(r.blpop(["test:burst"], timeout=0.05) for _ in range(30)),
                                       return_exceptions=True)
        assert results == [None] * 30
    finally:
        await r.aclose()
