"""Benchmarks of delegate money (issue 5). Prints its figures; asserts nothing about time.

    .venv/bin/python bench/bench_money.py [--accounts 2200000] [--participants 100000]
        [--payments 50000] [--procs 2] [--clients 16] [--audit-accounts 0] [--redis-url URL]

1. Demurrage: one period over `--accounts` funded accounts (target <= 30 s for 2.2 M) with
   `--participants` verified voters sharing the pool; ledger phases only (audit=None). With
   `--audit-accounts N`, a second period over the first N accounts including the audit phase (names
   looked up, events hashed and fsynced in chunk batches) is timed too.
2. Payments through `Ledger.pay` (one atomic Lua script each, unique refs) from `--procs` processes x
   `--clients` concurrent connections (target >= 5,000/s), then `check_invariant()`.
   Baseline in the same run: the same number of plain INCRBY pairs (payer -c, payee +c, one
   round trip per pair), same processes and connections.
Uses a private embedded Valkey in a temporary directory unless `--redis-url` is given (then FLUSHDB!).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.redis_server import ensure_redis, stop_embedded  # noqa: E402
from money import keys  # noqa: E402
from money.demurrage import run_period  # noqa: E402
from money.errors import InsufficientFunds  # noqa: E402
from money.ledger import Ledger  # noqa: E402

PAY_ACCOUNTS = 2000


def populate(url: str, n: int, participants: int, pid: str) -> float:
    """Fund n accounts (balances 1..$1,000) and register `participants` verified voters; returns the
    seconds spent writing the accounts (pipelined HSET + ZADD: the demurrage baseline)."""
    t0 = time.perf_counter()
    r = redis.Redis.from_url(url, decode_responses=True)
    rnd = random.Random(1)
    total = 0
    for start in range(0, n, 20_000):
        batch = {f"{i:09d}": rnd.randint(1, 100_000) for i in range(start, min(n, start + 20_000))}
        total += sum(batch.values())
        pipe = r.pipeline(transaction=False)
        pipe.hset(keys.BAL, mapping=batch)
        pipe.zadd(keys.ACCOUNTS, dict.fromkeys(batch, 0))
        pipe.execute()
    r.incrby(keys.MINTED, total)
    accounts_s = time.perf_counter() - t0
    step = max(1, n // max(participants, 1))
    who = [f"{i:09d}" for i in range(0, n, step)][:participants]
    for start in range(0, len(who), 10_000):
        pipe = r.pipeline(transaction=False)
        for regn in who[start: start + 10_000]:
            pipe.hset(f"vr:v:{regn}", mapping={"regn_num": regn, "first": "VOTER", "last": "SMITH",
                                               "city": "ADEL", "phone": "+15155550100"})
        pipe.sadd("vr:active", *who[start: start + 10_000])
        pipe.sadd(keys.participants_key(pid), *who[start: start + 10_000])
        pipe.execute()
    r.close()
    return accounts_s


def server_cpu(url: str) -> float:
    """CPU seconds the Redis server has used (user + sys): a figure the machine's load barely moves."""
    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def demurrage(url: str, pid: str, audit: object = None) -> tuple[float, object]:
    r = aioredis.Redis.from_url(url, decode_responses=True)
    t0, c0 = time.perf_counter(), server_cpu(url)
    res = await run_period(r, pid, 1000, audit)
    dt = time.perf_counter() - t0
    print(f"  (Valkey CPU during the period: {server_cpu(url) - c0:.1f} s)")
    await Ledger(r).check_invariant()
    await r.aclose()
    return dt, res


def _worker(url: str, mode: str, n: int, clients: int, seed: int, out: mp.Queue) -> None:
    """One process: `clients` connections, n operations in all; puts (ok, refused) on `out`."""

    async def go() -> tuple[int, int]:
        conns = [aioredis.Redis.from_url(url, decode_responses=True) for _ in range(clients)]
        ledgers = [Ledger(c) for c in conns]
        rnd = random.Random(seed)
        ops = [(f"p{rnd.randrange(PAY_ACCOUNTS):05d}", f"p{rnd.randrange(PAY_ACCOUNTS):05d}",
                rnd.randint(1, 5000)) for _ in range(n)]
        ok = refused = 0

        async def client(c: int) -> None:
            nonlocal ok, refused
            for i in range(c, n, clients):
                payer, payee, cents = ops[i]
                if payer == payee:
                    payee = "p99999"
                if mode == "ledger":
                    try:
                        await ledgers[c].pay(payer, payee, cents, ref=f"b{seed}-{i}")
                        ok += 1
                    except InsufficientFunds:
                        refused += 1
                else:
                    pipe = conns[c].pipeline(transaction=False)
                    pipe.incrby(f"bench:{payer}", -cents)
                    pipe.incrby(f"bench:{payee}", cents)
                    await pipe.execute()
                    ok += 1

        await asyncio.gather(*(client(c) for c in range(clients)))
        for c in conns:
            await c.aclose()
        return ok, refused

    out.put(asyncio.run(go()))


def run_clients(url: str, mode: str, n: int, procs: int, clients: int) -> tuple[float, int, int]:
    """Run n operations over `procs` processes; returns (seconds, done, refused)."""
    ctx = mp.get_context("fork")
    q: mp.Queue = ctx.Queue()
    ps = [ctx.Process(target=_worker, args=(url, mode, n // procs, clients, p, q)) for p in range(procs)]
    t0, c0 = time.perf_counter(), server_cpu(url)
    for p in ps:
        p.start()
    results = [q.get() for _ in ps]
    dt = time.perf_counter() - t0
    print(f"  ({mode}: Valkey CPU {server_cpu(url) - c0:.2f} s for {n:,} operations)")
    for p in ps:
        p.join()
    return dt, sum(a for a, _ in results), sum(b for _, b in results)


async def fund_payers(url: str) -> None:
    r = aioredis.Redis.from_url(url, decode_responses=True)
    ledger = Ledger(r)
    for i in range(PAY_ACCOUNTS):
        await ledger.mint(f"p{i:05d}", 20_000, by="bench", ref=f"fund-{i}")
    await r.aclose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=2_200_000)
    ap.add_argument("--participants", type=int, default=100_000)
    ap.add_argument("--payments", type=int, default=50_000)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--clients", type=int, default=16, help="connections per process")
    ap.add_argument("--audit-accounts", type=int, default=0)
    ap.add_argument("--redis-url", default="")
    a = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench_money_"))
    url = a.redis_url or ensure_redis(tmp)
    r = redis.Redis.from_url(url, decode_responses=True)
    r.flushdb()
    try:
        pid = "2026-11-19T00:00:00Z"
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; Valkey appendfsync "
              f"{r.config_get('appendfsync').get('appendfsync')}")
        setup = populate(url, a.accounts, a.participants, pid)
        mem = r.info("memory")["used_memory_human"]
        print(f"baseline: writing the {a.accounts:,} accounts (pipelined HSET+ZADD) took {setup:.1f} s ({mem})")
        dt, res = asyncio.run(demurrage(url, pid))
        print(f"demurrage period over {a.accounts:,} accounts: {dt:.1f} s = {dt / setup:.2f}x the baseline "
              f"({a.accounts / dt:,.0f} accounts/s; target <= 30 s for 2.2 M); fees {res.fees_cents:,} c "
              f"from {res.accounts:,} accounts, share {res.share_cents:,} c x {res.participants:,}, "
              f"carried {res.pool_cents} c; invariant OK")
        if a.audit_accounts:
            from audit.log import AuditLog

            r.flushdb()
            pid2 = "2026-11-26T00:00:00Z"
            populate(url, a.audit_accounts, min(a.participants, a.audit_accounts // 10), pid2)
            log = AuditLog(tmp / "audit.log")
            dt2, _ = asyncio.run(demurrage(url, pid2, log))
            print(f"demurrage with audit over {a.audit_accounts:,} accounts: {dt2:.1f} s "
                  f"({log.seq:,} audit events, {a.audit_accounts / dt2:,.0f} accounts/s)")
            log.close()
        r.flushdb()
        asyncio.run(fund_payers(url))
        n = a.payments
        dtb, done_b, _ = run_clients(url, "incrby", n, a.procs, a.clients)
        dtl, done, refused = run_clients(url, "ledger", n, a.procs, a.clients)
        asyncio.run(_check(url))
        print(f"baseline: {done_b:,} INCRBY pairs in {dtb:.2f} s = {done_b / dtb:,.0f} pairs/s "
              f"({a.procs} procs x {a.clients} clients)")
        print(f"ledger:   {done + refused:,} payments ({done:,} paid, {refused:,} refused: over balance) "
              f"in {dtl:.2f} s = {(done + refused) / dtl:,.0f} payments/s (target >= 5,000/s); "
              f"{dtl / dtb:.2f}x the baseline time; invariant OK")
    finally:
        r.close()
        if not a.redis_url:
            stop_embedded(tmp)
    return 0


async def _check(url: str) -> None:
    r = aioredis.Redis.from_url(url, decode_responses=True)
    await Ledger(r).check_invariant()
    await r.aclose()


if __name__ == "__main__":
    sys.exit(main())
