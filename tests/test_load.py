"""Load (CI size): 50 simulated callers, each a full dialogue, against one server with 2 uvicorn workers.

The app, the emulator and a bare FastAPI baseline run as subprocesses (`bench/load_calls.py` is the
harness and the 500-caller benchmark). Figures are printed (`pytest -s`), never asserted.
"""

from __future__ import annotations

import os
from pathlib import Path

import redis.asyncio as aioredis

from bench.load_calls import caller_roll, load, seed, service

CALLERS = int(os.environ.get("LOAD_CALLERS", "50"))


async def test_fifty_callers_full_dialogues_nothing_lost_or_doubled(tmp_path: Path, redis_url: str,
                                                                   r: aioredis.Redis) -> None:
    callers = caller_roll(CALLERS)
    await seed(r, tmp_path / "audit.log", callers)
    async with service(tmp_path, redis_url) as svc:
        report = await load(svc, r, callers, concurrency=CALLERS)
    print("\n" + "\n".join(report.lines()))
    assert not report.failed, [(f.caller.regn_num, f.error) for f in report.failed[:5]]
    assert all(set(x.seqs) == {"delegate", "vote", "recall"} for x in report.results), "a confirmation lacked its seq"
    assert not report.problems, report.problems[:10]
    assert report.probe_app[0] is not None and report.probe_bare[0] is not None  # both routes answered
