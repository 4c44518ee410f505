"""PUBLIC_ONLY: the public instance on a real read-only Valkey replica of the test primary.

Calls go through the primary (emulator, signed webhooks, real SDK); a second app with PUBLIC_ONLY=true
reads a replica (REPLICAOF the primary) and a copy of the audit log. A replica refuses writes (READONLY),
so any write the public app attempted would surface as a 5xx, an error log line or a READONLY error
counted by the replica; the audit-log copy must be byte-for-byte untouched.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from audit.treehead import latest_head
from bench.load_calls import Valkey, free_port
from infra.settings import Settings
from ivr.app import create_app
from ivr.emulator import serving
from ivr.server import wiring_for
from ivr.signature import load_or_create_keypair, sign
from ivr.simulator import Phone
from tests.e2e import JANE, JOHN, running_stack

BILL = "119-hr-1234"
SAME = [
    "/public/bills.json",
    f"/public/bills/{BILL}/tally.json",
    f"/public/bills/{BILL}/snapshot.json",
    "/",
    f"/bills/{BILL}",
    f"/voters/{JANE.regn_num}",
    "/public/money/supply.json",
    "/public/money/balances.json",
    "/public/tentative.json",
    "/public/audit/pubkey",
    "/public/audit/proof?seq=1&tree_size=2",
    "/public/audit/consistency?first=1&second=2",
]


async def said(phone: Phone, text: str | None = None) -> str:
    if text is not None:
        await phone.say(text)
    return " ".join(x.removeprefix("SYSTEM: ") for x in await phone.wait_for_prompt(15) if x.startswith("SYSTEM: "))


async def call(emulator_url: str, caller: str, turns: list[tuple[str, str]]) -> None:
    """One whole call; each (utterance, expected substring of the answer)."""
    async with await Phone.dial(emulator_url, caller) as phone:
        assert "Welcome" in await said(phone)
        for text, expect in turns:
            assert expect in await said(phone, text)
        await phone.hang_up()


async def replica_of(primary_url: str, home: Path) -> Valkey:
    """A second embedded Valkey following the primary (read-only), synced."""
    port = int(primary_url.rsplit(":", 1)[1].split("/")[0])
    vk = Valkey(home, replica_of=port)
    await vk.start()
    c = aioredis.Redis.from_url(vk.url, decode_responses=True)
    try:
        deadline = time.monotonic() + 20
        while (await c.info("replication")).get("master_link_status") != "up":
            assert time.monotonic() < deadline, "replica did not sync"
            await asyncio.sleep(0.05)
    finally:
        await c.aclose()
    return vk


def files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


async def test_public_instance_on_a_replica_serves_the_same_pages_and_writes_nothing(
    tmp_path: Path, redis_url: str, r: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    vk = await replica_of(redis_url, tmp_path / "replica")
    replica = aioredis.Redis.from_url(vk.url, decode_responses=True)
    try:
        async with running_stack(tmp_path / "primary", redis_url, r) as stack:
            await call(
                stack.emulator_url,
                JOHN.phone or "",
                [("delegate", "To whom"), ("jane roe of ames", "Is that right"), ("yes", "Your vote now goes to Jane")],
            )
            await call(
                stack.emulator_url,
                JANE.phone or "",
                [
                    ("vote", "Which bill?"),
                    ("h r 1234", "How do you vote"),
                    ("yes", "Is that right?"),
                    ("yes", "is recorded"),
                ],
            )
            async with httpx.AsyncClient(base_url=stack.app_url, timeout=30) as primary:
                events = len(stack.audit_path.read_bytes().splitlines())
                covered = await primary.get("/public/audit/proof", params={"seq": events})
                assert covered.status_code == 200  # the primary signed a head over every event
                await r.execute_command("WAIT", 1, 5000)  # the replica has every write so far
                public_dir = tmp_path / "public"  # the public instance's copy of the log (rsync in production)
                public_dir.mkdir()
                for name in ("audit.log", "audit.heads", "audit_operator.pub"):
                    shutil.copy(stack.audit_path.with_name(name), public_dir / name)
                before = files(public_dir)
                settings = Settings(
                    _env_file=None,
                    public_only=True,
                    var_dir=public_dir,
                    audit_log=public_dir / "audit.log",
                    redis_url=vk.url,
                )
                app = create_app(wiring_for(settings, vk.url))  # as `serve` and `app_factory` build it
                async with (
                    serving(app, port=free_port()) as public_url,
                    httpx.AsyncClient(base_url=public_url, timeout=30) as public,
                ):
                    for path in SAME:
                        mine, theirs = await public.get(path), await primary.get(path)
                        assert mine.status_code == theirs.status_code == 200, (path, mine.status_code, mine.text[:300])
                        assert mine.content == theirs.content, path
                    tally = (await public.get(f"/public/bills/{BILL}/tally.json")).json()
                    assert tally["yes"] == 2, tally  # Jane's vote carries John's
                    assert (await public.get("/public/audit.log")).content == before["audit.log"]
                    assert (await public.get("/public/audit/heads")).content == before["audit.heads"]
                    head = (await public.get("/public/audit/head")).json()["head"]
                    assert head == latest_head(public_dir / "audit.heads")  # the primary's, not re-signed
                    assert head["tree_size"] == len(before["audit.log"].splitlines())
                    proof = await public.get("/public/audit/proof", params={"seq": 2})
                    assert proof.status_code == 200 and proof.json()["event"]["seq"] == 2
                    for path in ("/healthz", "/readyz", "/metrics"):
                        assert (await public.get(path)).status_code == 200, path
                    raw = b'{"data": {"event_type": "call.hangup", "id": "x", "payload": {"call_control_id": "c"}}}'
                    private, _ = load_or_create_keypair(tmp_path / "someone.key")
                    hook = await public.post(
                        "/webhooks/telnyx", content=raw, headers=sign(raw, private, int(time.time()))
                    )
                    assert hook.status_code in (404, 405)
                    assert "/webhooks/telnyx" not in (await public.get("/openapi.json")).text
                    await asyncio.sleep(0.2)  # anything started in the background would have run by now
        assert files(public_dir) == before, "the public instance wrote next to its audit-log copy"
        errors = await replica.info("errorstats")
        assert not any("READONLY" in k for k in errors), errors
        bad = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
        assert not bad, bad[:5]
    finally:
        await replica.aclose()
        vk.stop()
