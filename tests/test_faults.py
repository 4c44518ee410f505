"""Faults during load, each bounded in time: kill -9 of an app worker, a Valkey crash and restart, the
carrier (emulator) answering 5xx or timing out, a full audit-log disk.

After each: every action a caller heard confirmed is in the audit log exactly once and live, nothing is
applied twice, the audit log verifies, the ledger invariant holds, and the tallies and balances replayed
from the log equal the live ones (`bench.load_calls.check_consistency`). Calls caught by the fault may
fail (the caller hears an apology or silence); the check is on what was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI, Request, Response

from audit.checks import check_lines
from bench.load_calls import (
    SAID_TARGET,
    Service,
    Valkey,
    caller_roll,
    check_consistency,
    free_port,
    run_calls,
    seed,
    service,
    settle,
)
from delegation.store import DelegationStore
from ivr.emulator import serving
from ivr.simulator import Phone

CALLERS = 6
Fault = Callable[[Service], Awaitable[None]]


async def calls_under_fault(svc: Service, r: aioredis.Redis, fault: Fault, after_s: float = 2.0,
                            n: int = CALLERS) -> list:
    """Run n full dialogues; `after_s` seconds in, inject the fault (it returns once it is over)."""
    calls = asyncio.create_task(run_calls(svc.emulator_url, caller_roll(n), n, turn_timeout_s=15))
    await asyncio.sleep(after_s)
    await fault(svc)
    return await calls


def summary(results: list) -> str:
    return f"{sum(x.ok for x in results)}/{len(results)} calls completed; " + "; ".join(
        f"{x.caller.regn_num}: {x.error[:120]}" for x in results if not x.ok)


@pytest.fixture
async def own_valkey(tmp_path: Path) -> AsyncIterator[Valkey]:
    vk = Valkey(tmp_path / "valkey")
    await vk.start()
    try:
        yield vk
    finally:
        vk.stop()


async def test_kill_9_of_a_worker_loses_nothing_acknowledged(tmp_path: Path, redis_url: str,
                                                             r: aioredis.Redis) -> None:
    await seed(r, tmp_path / "audit.log", caller_roll(CALLERS))

    async def kill_worker(svc: Service) -> None:
        victim = svc.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        await svc.wait_workers()  # uvicorn's supervisor starts a new one
        assert victim not in svc.worker_pids()

    async with service(tmp_path, redis_url) as svc:
        results = await calls_under_fault(svc, r, kill_worker)
        await settle(r, 70)  # a call whose lock the dead worker held waits for the lock to expire
        problems = await check_consistency(r, svc, results, expect_complete=False)
    print(summary(results))
    assert not problems, problems[:10]
    assert any(x.ok for x in results)


async def test_valkey_crash_and_restart_from_its_append_only_file(tmp_path: Path, own_valkey: Valkey) -> None:
    r = aioredis.Redis.from_url(own_valkey.url, decode_responses=True)
    await seed(r, tmp_path / "audit.log", caller_roll(CALLERS))
    await r.aclose()

    async def crash_valkey(svc: Service) -> None:
        own_valkey.kill()  # SIGKILL: only what was fsynced to the append-only file survives
        await asyncio.sleep(1.0)
        await own_valkey.start()

    async with service(tmp_path, own_valkey.url) as svc:
        r = aioredis.Redis.from_url(own_valkey.url, decode_responses=True)
        try:
            results = await calls_under_fault(svc, r, crash_valkey)
            await settle(r, 70)
            problems = await check_consistency(r, svc, results, expect_complete=False)
        finally:
            await r.aclose()
    print(summary(results))
    assert not problems, problems[:10]
    assert any(x.ok for x in results)


async def test_registered_caller_calling_while_valkey_restarts_is_answered_as_themself(
        tmp_path: Path, own_valkey: Valkey) -> None:
    r = aioredis.Redis.from_url(own_valkey.url, decode_responses=True)
    caller = caller_roll(1)[0]
    await seed(r, tmp_path / "audit.log", [caller])
    await r.aclose()
    async with service(tmp_path, own_valkey.url) as svc:
        own_valkey.kill()
        phone = await Phone.dial(svc.emulator_url, caller.phone or "")
        await asyncio.sleep(1.0)
        await own_valkey.start()
        heard = " ".join(await phone.wait_for_prompt(15))
        await phone.hang_up()
        await phone.aclose()
    assert f"Welcome to the Delegate Network, {caller.first.title()}" in heard, heard


class CarrierFaults:
    """A proxy between the app and the emulator's command API. Mode "503": the first `doomed` commands
    seen get 503 on every attempt (the client's retries run out: the step cannot complete), later ones
    pass; mode "hang": requests hang past the client's timeout."""

    ATTEMPTS = 3  # ivr.telnyx_client.CallCommands default

    def __init__(self, upstream: str, doomed: int = 3, actions: tuple[str, ...] = ("gather_using_speak",)) -> None:
        self.upstream, self.mode, self.hits = upstream, "ok", {"ok": 0, "503": 0, "hang": 0}
        self.doomed, self.failed, self.actions = doomed, dict[str, int](), actions
        self.app = FastAPI()
        self.app.add_api_route("/{path:path}", self.forward, methods=["GET", "POST"])

    def _fails(self, path: str, body: bytes) -> bool:
        if path.rsplit("/", 1)[-1] not in self.actions:
            return False
        try:
            cid = str(json.loads(body).get("command_id"))
        except (ValueError, AttributeError):
            return False
        if cid not in self.failed and len(self.failed) >= self.doomed:
            return False
        self.failed[cid] = self.failed.get(cid, 0) + 1
        return True

    async def forward(self, path: str, request: Request) -> Response:
        mode, body = self.mode, await request.body()
        if mode == "503" and not self._fails(path, body):
            mode = "ok"
        self.hits[mode] += 1
        if mode == "503":
            return Response('{"errors": [{"code": "90001", "title": "Service unavailable"}]}', 503,
                            media_type="application/json")
        if mode == "hang":
            await asyncio.sleep(12)  # longer than the client's 10 s timeout
        async with httpx.AsyncClient(timeout=30) as http:
            up = await http.request(request.method, f"{self.upstream}/{path}", content=body,
                                    headers={"content-type": request.headers.get("content-type", "")})
        return Response(up.content, up.status_code, media_type=up.headers.get("content-type"))


async def test_carrier_answering_5xx_then_timing_out(tmp_path: Path, redis_url: str, r: aioredis.Redis) -> None:
    await seed(r, tmp_path / "audit.log", caller_roll(CALLERS))
    emulator_port = free_port()
    proxy = CarrierFaults(f"http://127.0.0.1:{emulator_port}")
    proxy_port = free_port()

    async def outage(svc: Service) -> None:  # 503s, then hung requests, each until a few commands met it
        for mode, enough in (("503", proxy.doomed * proxy.ATTEMPTS), ("hang", 2)):
            proxy.mode = mode
            for _ in range(100):
                if proxy.hits[mode] >= enough:
                    break
                await asyncio.sleep(0.1)
        proxy.mode = "ok"

    async with (serving(proxy.app, port=proxy_port),
                service(tmp_path, redis_url, emulator_port=emulator_port, telnyx_port=proxy_port) as svc):
        results = await calls_under_fault(svc, r, outage)
        await settle(r, 40)
        problems = await check_consistency(r, svc, results, expect_complete=False)
    print(summary(results), proxy.hits)
    for x in results:
        if not x.ok and os.environ.get("SHOW_TRANSCRIPTS"):
            print("\n".join(x.transcript))
    assert proxy.hits["503"] and proxy.hits["hang"], "the outage window saw no commands"
    assert not problems, problems[:10]
    assert any(x.ok for x in results)
    heard = " ".join(line for x in results for line in x.transcript)
    assert "Sorry" in heard, "nobody heard an apology during the carrier outage"


async def test_full_audit_disk_refuses_actions_with_a_spoken_message(tmp_path: Path, redis_url: str,
                                                                     r: aioredis.Redis) -> None:
    callers = caller_roll(3)
    await seed(r, tmp_path / "audit.log", callers)
    size = (tmp_path / "audit.log").stat().st_size
    async with service(tmp_path, redis_url, fsize_limit=size + 40) as svc:  # not even one more event fits
        for i, caller in enumerate(callers):
            async with await Phone.dial(svc.emulator_url, caller.phone or "") as phone:
                heard = await _said_after(phone, None)
                assert "Welcome" in heard
                await _said_after(phone, "delegate")
                assert "Is that right?" in await _said_after(phone, SAID_TARGET[i % 2])
                refused = await _said_after(phone, "yes")
                assert "nothing was changed" in refused, refused
                await phone.hang_up()
        await settle(r)
        check_lines((tmp_path / "audit.log").read_bytes())  # verifies: no torn or half-written line
        with contextlib.suppress(FileNotFoundError):
            assert (tmp_path / "audit.log").stat().st_size <= size + 40
        store = DelegationStore(r)
        for caller in callers:
            assert await store.delegate_of(caller.regn_num) is None  # refused: nothing applied either
        problems = await check_consistency(r, svc, [], expect_complete=False)
    assert not problems, problems[:10]


async def _said_after(phone: Phone, said: str | None) -> str:
    if said is not None:
        await phone.say(said)
    return " ".join(x.removeprefix("SYSTEM: ") for x in await phone.wait_for_prompt(20) if x.startswith("SYSTEM: "))


async def test_call_whose_answer_fails_is_not_left_ringing(tmp_path: Path, redis_url: str,
                                                           r: aioredis.Redis) -> None:
    await seed(r, tmp_path / "audit.log", caller_roll(1))
    emulator_port, proxy_port = free_port(), free_port()
    proxy = CarrierFaults(f"http://127.0.0.1:{emulator_port}", doomed=1, actions=("answer",))
    proxy.mode = "503"
    async with (serving(proxy.app, port=proxy_port),
                service(tmp_path, redis_url, emulator_port=emulator_port, telnyx_port=proxy_port) as svc):
        phone = await Phone.dial(svc.emulator_url, caller_roll(1)[0].phone or "")
        heard = " ".join(await phone.wait_for_prompt(15))
        ended = phone.ended
        await phone.hang_up()
        await phone.aclose()
    assert proxy.hits["503"] >= CarrierFaults.ATTEMPTS  # every attempt at answering failed ...
    assert ended or "Welcome" in heard, "the caller was left ringing"  # ... then answered later, or rejected
