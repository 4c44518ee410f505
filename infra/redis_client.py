"""Redis clients built from settings; every package receives a client, never a URL from the environment."""

from __future__ import annotations

import redis
import redis.asyncio as aioredis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from infra.redis_server import ensure_redis
from infra.settings import Settings


def redis_url(settings: Settings) -> str:
    """`REDIS_URL`, or the URL of the embedded Valkey of `settings.var_dir` (started if needed)."""
    return ensure_redis(settings.var_dir, settings.redis_url)


OUTAGE_RETRIES = 8  # with the backoff below, ~4 s: a Valkey restart that replays its append-only file


def async_client(settings: Settings) -> aioredis.Redis:
    """An asyncio client with `decode_responses=True` (str in, str out); see `async_client_for`."""
    return async_client_for(redis_url(settings))


POOL_CONNECTIONS = 100  # per process; redis-py's own default cap, which it enforces by raising
POOL_WAIT_S = 10.0  # how long a command waits for a free pooled connection before ConnectionError


def async_client_for(url: str, max_connections: int = POOL_CONNECTIONS) -> aioredis.Redis:
    """The service's asyncio client for `url` (`decode_responses=True`). A command that meets a dead pooled
    connection, a refused connection or a server still loading its append-only file (a Valkey restart) is
    retried with backoff (50 ms doubling to 1 s, OUTAGE_RETRIES times) instead of failing the request.

    The pool blocks: with all `max_connections` in use, a command waits up to POOL_WAIT_S seconds for one
    instead of raising `MaxConnectionsError` at once (under a burst of calls that error put events behind
    their successors). Raises `redis.ConnectionError` when the wait runs out."""
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), OUTAGE_RETRIES)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, decode_responses=True, retry=retry, retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        max_connections=max_connections, timeout=POOL_WAIT_S)
    return aioredis.Redis.from_pool(pool)


def sync_client(settings: Settings) -> redis.Redis:
    """A blocking client with `decode_responses=True`, for CLI commands and benchmarks."""
    return redis.Redis.from_url(redis_url(settings), decode_responses=True)
