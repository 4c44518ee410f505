"""Benchmark the audit log (issue 6 targets), with baselines measured in the same run on the same disk.

    .venv/bin/python bench/bench_audit.py [--appends 20000] [--writers 128] [--events 300000] [--dir DIR]

1. baseline: raw `write + fsync` of one line at a time in DIR (the disk's synchronous write rate);
2. durable appends: `--writers` concurrent asyncio tasks calling `AuditLog.append` (group commit),
   target >= 5,000 events/s; plus `append_sync` one at a time for comparison;
3. baseline: `hashlib.sha256` over the same log bytes, one call per line (the floor of any chain check)
   and over the whole buffer at once;
4. verify + replay of a `--events` log (mixed delegate/vote/payment events, signed heads), fast path
   and strict (canonical re-serialisation) path, target >= 500,000 events/s.
DIR defaults to var/bench-audit (the disk the log lives on); it is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audit.checks import _default_workers  # noqa: E402
from audit.log import AuditLog  # noqa: E402
from audit.replay import Replay  # noqa: E402
from audit.treehead import read_heads  # noqa: E402
from audit.verify import check_heads, check_lines  # noqa: E402


def raw_fsync_rate(d: Path, seconds: float) -> float:
    """fsyncs per second writing one ~300-byte line each time (what one-fsync-per-event would reach)."""
    path = d / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    line = b"x" * 299 + b"\n"
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        os.write(fd, line)
        os.fsync(fd)
        n += 1
    el = time.perf_counter() - t0
    os.close(fd)
    path.unlink()
    return n / el


def voter(i: int) -> dict[str, str]:
    """A synthetic public reference (9-digit regn_num, never a phone)."""
    return {"regn_num": str(100_000_000 + i), "name": f"Voter {i} of Ames"}


def random_event(rng: random.Random, voters: int, bills: int) -> tuple:
    """(type, actor, subject, data) of a mixed workload: 35% delegate, 45% vote, 5% recall, 5% mint, 10% pay."""
    k = rng.random()
    a, b = voter(rng.randrange(voters)), voter(rng.randrange(voters))
    bill = f"119-hr-{rng.randrange(bills) + 1}"
    if k < 0.35:
        return ("delegate", a, b, {"scope": "standing", "rank": 1, "tentative": False})
    if k < 0.8:
        return ("vote", a, None, {"bill": bill, "choice": rng.choice(("yes", "no", "abstain")), "tentative": False})
    if k < 0.85:
        return ("recall", a, b, {"scope": "standing"})
    if k < 0.9:
        return ("mint", None, a, {"amount_cents": rng.randrange(1, 10_000)})
    return ("payment", a, b, {"amount_cents": rng.randrange(1, 500)})


async def concurrent_appends(lg: AuditLog, total: int, writers: int) -> float:
    """Seconds for `writers` tasks to append `total` events between them, each awaiting its fsync."""
    rng = random.Random(1)
    evs = [random_event(rng, 10_000, 20) for _ in range(total)]
    per = total // writers

    async def writer(w: int) -> None:
        for e in evs[w * per:(w + 1) * per]:
            await lg.append(*e)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print one line per figure; returns 0."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--appends", type=int, default=20_000, help="events for the durable-append benchmark")
    ap.add_argument("--writers", type=int, default=128, help="concurrent async writers (calls in flight)")
    ap.add_argument("--events", type=int, default=300_000, help="events in the verify/replay log")
    ap.add_argument("--voters", type=int, default=50_000)
    ap.add_argument("--dir", type=Path, default=ROOT / "var" / "bench-audit")
    args = ap.parse_args(argv)
    d: Path = args.dir
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    try:
        fs = raw_fsync_rate(d, 2.0)
        print(f"baseline  raw write+fsync, one line each      {fs:>12,.0f} fsyncs/s   (disk of {d})")

        lg = AuditLog(d / "append.log", heads_every_s=None)
        el = asyncio.run(concurrent_appends(lg, args.appends, args.writers))
        n = args.appends // args.writers * args.writers
        print(f"appends   {args.writers} concurrent writers, group commit {n / el:>12,.0f} events/s   "
              f"({lg.fsyncs} fsyncs, {n / max(lg.fsyncs, 1):.0f} events per fsync; target 5,000)")
        k = min(1000, args.appends)
        t0 = time.perf_counter()
        for i in range(k):
            lg.append_sync("vote", voter(i), None, {"bill": "119-hr-1", "choice": "yes", "tentative": False})
        el = time.perf_counter() - t0
        print(f"appends   append_sync one at a time            {k / el:>12,.0f} events/s")
        lg.close()

        print(f"generating a {args.events:,}-event log ...", flush=True)
        lg = AuditLog(d / "verify.log", heads_every_s=None)
        rng = random.Random(2)
        step = 50_000
        for start in range(0, args.events, step):
            m = min(step, args.events - start)
            lg.append_many_sync([random_event(rng, args.voters, 20) for _ in range(m)])
            lg.publish_head()
        lg.close()
        data = (d / "verify.log").read_bytes()
        heads = read_heads(d / "verify.heads")
        pub = (d / "audit_operator.pub").read_text().strip()
        lines = data.split(b"\n")[:-1]
        mb = len(data) / 1e6

        sha = hashlib.sha256
        t0 = time.perf_counter()
        for ln in lines:
            sha(ln).digest()
        el = time.perf_counter() - t0
        print(f"baseline  hashlib.sha256, one call per line    {len(lines) / el:>12,.0f} lines/s    "
              f"({mb / el:,.0f} MB/s, {mb:,.0f} MB, {len(data) / len(lines):.0f} B/line)")
        t0 = time.perf_counter()
        sha(data).digest()
        el = time.perf_counter() - t0
        print(f"baseline  hashlib.sha256, whole buffer         {mb / el:>12,.0f} MB/s")

        auto = _default_workers(Replay())
        variants = [("fast, one process       ", False, 1), ("strict, one process     ", True, 1)]
        if auto:
            variants.insert(1, (f"fast, +{auto} chain worker(s)", False, None))
        for label, strict, workers in variants:
            replay = Replay()
            t0 = time.perf_counter()
            check = check_lines(data, replay, strict=strict, workers=workers)
            t1 = time.perf_counter()
            nh = check_heads(check, heads, pub)
            t2 = time.perf_counter()
            print(f"verify    {label} chain+replay {check.count / (t1 - t0):>10,.0f} events/s"
                  f"   (+ Merkle roots of {nh} heads {t2 - t1:.2f} s; target 500,000)")
        t0 = time.perf_counter()
        tallies = replay.tallies()
        print(f"replay    {len(tallies)} tallies by delegation.tally.compute over {args.voters:,} voters:"
              f" {time.perf_counter() - t0:.2f} s (once per bill, not per event)")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
