"""Redis clients built from settings; every package receives a client, never a URL from the environment."""

from __future__ import annotations

import redis
import redis.asyncio as aioredis

from infra.redis_server import ensure_redis
from infra.settings import Settings


def redis_url(settings: Settings) -> str:
    """`REDIS_URL`, or the URL of the embedded Valkey of `settings.var_dir` (started if needed)."""
    return ensure_redis(settings.var_dir, settings.redis_url)


def async_client(settings: Settings) -> aioredis.Redis:
    """An asyncio client with `decode_responses=True` (str in, str out)."""
    return aioredis.Redis.from_url(redis_url(settings), decode_responses=True)


def sync_client(settings: Settings) -> redis.Redis:
    """A blocking client with `decode_responses=True`, for CLI commands and benchmarks."""
    return redis.Redis.from_url(redis_url(settings), decode_responses=True)
