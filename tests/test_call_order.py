"""A call's events across two app workers: hostile order, a worker killed mid-event, an action whose worker
died between its audit append and its store write (issue 7; docs/security.md, findings).

Real processes throughout: the app under uvicorn with 2 workers, the emulator, Valkey, signed webhooks
posted on separate connections (so they spread over both workers), and SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI, Request, Response

from audit.log import AuditLog
from bench.load_calls import ROOT, Service, caller_roll, free_port, seed, service
from delegation.bills import BillStore
from delegation.store import DelegationStore
from infra.settings import Settings
from ivr.app import build_effects
from ivr.dialogue import CallState
from ivr.emulator import serving
from ivr.lease import LEASE_S
from ivr.messages import Person, Recorded, RecordRecall, RecordVote
from ivr.signature import load_or_create_keypair, sign
from ivr.simulator import Phone
from ivr.telnyx_adapter import encode_client_state
from tests.e2e import HR1234, JANE, JOHN, ROLL, load_roll


async def said(phone: Phone, text: str | None = None) -> str:
    """Say `text` (None: nothing), then what the service spoke until it waits again or hangs up."""
    if text is not None:
        await phone.say(text)
    return " ".join(x.removeprefix("SYSTEM: ") for x in await phone.wait_for_prompt(20) if x.startswith("SYSTEM: "))


def webhook(svc: Service, call_id: str, event_type: str, client_state: str | None,
            **payload: object) -> tuple[str, bytes]:
    """(event id, signed body) of one Telnyx webhook for `call_id`, as the carrier would send it."""
    event_id = str(uuid.uuid4())
    body = {"data": {"record_type": "event", "event_type": event_type, "id": event_id,
                     "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
                     "payload": {"call_control_id": call_id, "client_state": client_state and
                                 encode_client_state(client_state), **payload}},
            "meta": {"attempt": 1}}
    return event_id, json.dumps(body).encode()


async def deliver_apart(svc: Service, bodies: list[bytes]) -> None:
    """POST the webhooks at once, each on a connection of its own (the kernel spreads them over the workers)."""
    private, _ = load_or_create_keypair(svc.key_path)

    async def one(body: bytes) -> None:
        async with httpx.AsyncClient(base_url=svc.app_url, timeout=10) as http:
            resp = await http.post("/webhooks/telnyx", content=body, headers=sign(body, private, int(time.time())))
            assert resp.status_code == 200

    await asyncio.gather(*(one(b) for b in bodies))


async def processed(r: aioredis.Redis, call_id: str, event_ids: list[str], timeout_s: float = 30.0) -> None:
    """Until every event was taken (its dedupe key is set) and the call's lease has stayed free a while."""
    deadline, free = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline and free < 5:
        taken = all([await r.exists(f"ivr:evt:{e}") for e in event_ids])
        free = free + 1 if taken and not await r.exists(f"ivr:lock:{call_id}") else 0
        await asyncio.sleep(0.05)


async def commands_of(svc: Service, call_id: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=svc.emulator_url, timeout=10) as http:
        return (await http.get(f"/sim/calls/{call_id}/commands")).json()


@pytest.fixture
async def svc(tmp_path: Path, redis_url: str, r: aioredis.Redis) -> AsyncIterator[Service]:
    await seed(r, tmp_path / "audit.log", caller_roll(1))
    async with service(tmp_path, redis_url) as s:
        yield s


async def test_input_to_a_superseded_prompt_is_not_acted_on_by_either_worker(svc: Service, r: aioredis.Redis) -> None:
    caller = caller_roll(1)[0]
    async with await Phone.dial(svc.emulator_url, caller.phone or "") as phone:
        assert "Welcome" in await said(phone)
        menu = json.loads(await r.get(f"call:{phone.call_id}"))["version"]
        assert "Which bill?" in await said(phone, "vote")
        # Late webhooks of the main menu (Telnyx does not order them) race the answer to "Which bill?",
        # each on a connection of its own: "goodbye" said and "1" pressed at the menu must not count now.
        before = len(await commands_of(svc, phone.call_id))
        events = [webhook(svc, phone.call_id, "call.transcription", f"p{menu}",
                          transcription_data={"transcript": "goodbye", "is_final": True, "confidence": 0.9}),
                  webhook(svc, phone.call_id, "call.gather.ended", f"p{menu}", digits="1", status="valid")]
        await deliver_apart(svc, [b for _, b in events])
        await processed(r, phone.call_id, [e for e, _ in events])
        assert len(await commands_of(svc, phone.call_id)) == before, "a stale input was acted on"
        assert not phone.ended
        assert "How do you vote" in await said(phone, "h r 1234")
        assert "Is that right?" in await said(phone, "yes")
        await phone.hang_up()


async def test_hang_up_overtaking_the_call_start_leaves_no_call_behind(svc: Service, r: aioredis.Redis) -> None:
    call_id = f"v3:{uuid.uuid4().hex}"
    caller = caller_roll(1)[0]
    hangup = webhook(svc, call_id, "call.hangup", None, hangup_cause="normal_clearing", hangup_source="caller")
    start = webhook(svc, call_id, "call.initiated", None, **{"from": caller.phone, "to": "+15155550100"},
                    direction="incoming", state="parked", shaken_stir_attestation="A", shaken_stir_validated=True)
    await deliver_apart(svc, [hangup[1]])
    await processed(r, call_id, [hangup[0]])
    await deliver_apart(svc, [start[1]])
    await processed(r, call_id, [start[0]])
    assert not await r.exists(f"call:{call_id}"), "a hung-up call was started (and left ringing)"
    assert await r.zscore("ivr:guard:active", call_id) is None, "a hung-up call holds a concurrent-call slot"


class HoldingCarrier:
    """A proxy in front of the emulator's command API; `hold()` makes commands wait (never forwarded,
    then 503) until `release()`: the worker sending them keeps its call's lease meanwhile."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.held, self.gate = upstream, 0, asyncio.Event()
        self.gate.set()
        self.app = FastAPI()
        self.app.add_api_route("/{path:path}", self.forward, methods=["GET", "POST"])

    async def forward(self, path: str, request: Request) -> Response:
        body = await request.body()
        if not self.gate.is_set():
            self.held += 1
            await self.gate.wait()
            return Response('{"errors": [{"code": "90001"}]}', 503, media_type="application/json")
        async with httpx.AsyncClient(timeout=30) as http:
            up = await http.request(request.method, f"{self.upstream}/{path}", content=body,
                                    headers={"content-type": request.headers.get("content-type", "")})
        return Response(up.content, up.status_code, media_type=up.headers.get("content-type"))


async def test_call_of_a_worker_killed_mid_event_is_free_within_the_lease(tmp_path: Path, redis_url: str,
                                                                          r: aioredis.Redis) -> None:
    caller = caller_roll(1)[0]
    await seed(r, tmp_path / "audit.log", [caller])
    emulator_port, proxy_port = free_port(), free_port()
    carrier = HoldingCarrier(f"http://127.0.0.1:{emulator_port}")
    async with (serving(carrier.app, port=proxy_port),
                service(tmp_path, redis_url, emulator_port=emulator_port, telnyx_port=proxy_port) as svc,
                await Phone.dial(svc.emulator_url, caller.phone or "") as phone):
        assert "Welcome" in await said(phone)
        carrier.gate.clear()
        try:
            await phone.say("vote")  # its worker saves the state, then waits on the carrier, holding the lease
            for _ in range(200):
                if carrier.held:
                    break
                await asyncio.sleep(0.05)
            lock = f"ivr:lock:{phone.call_id}"
            assert carrier.held and await r.exists(lock)
            for pid in svc.worker_pids():  # the holder among them: kill -9
                os.kill(pid, 9)
            ttl_ms = await r.pttl(lock)
            assert 0 < ttl_ms <= LEASE_S * 1000, f"a dead worker's call stays locked {ttl_ms} ms"
        finally:
            carrier.gate.set()  # a held request would keep the proxy from shutting down
        await svc.wait_workers()
        # The prompt never reached the caller: they repeat themselves, and the service answers
        heard = await said(phone, "vote")
        assert heard and not phone.ended, heard
        assert "How do you vote" in await said(phone, "h r 1234")
        await phone.hang_up()


_KILLED_AFTER_APPEND = """
import asyncio, os, signal, sys
from audit.log import AuditLog
from infra.redis_client import async_client_for
from infra.settings import Settings
from ivr.app import build_effects
from ivr.dialogue import CallState
from ivr.messages import Person, RecordVote

async def main(url, log_path, var, regn, phone, name, bill):
    r = async_client_for(url)
    audit = AuditLog(log_path, heads_every_s=None)
    real = audit.append
    async def append_then_die(*a, **kw):  # the fault: SIGKILL right after the event is on disk
        await real(*a, **kw)
        os.kill(os.getpid(), signal.SIGKILL)
    audit.append = append_then_die
    effects = build_effects(r, Settings(_env_file=None, var_dir=var), audit)
    ctx = CallState(call_id="c1", caller_id=phone, attestation="A", validated=True,
                    voter=Person(regn, "JOHN", name), version=4)
    await effects.run(RecordVote(regn, bill, "yes"), ctx)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_action_of_a_worker_killed_after_its_audit_append_is_logged_once(tmp_path: Path, redis_url: str,
                                                                               r: aioredis.Redis) -> None:
    await load_roll(r, ROLL)
    await BillStore(r).add(HR1234)
    log_path = tmp_path / "audit.log"
    AuditLog(log_path, heads_every_s=None).close()
    await DelegationStore(r).delegate(JOHN.regn_num, JANE.regn_num)
    child = subprocess.run([sys.executable, "-c", _KILLED_AFTER_APPEND, redis_url, str(log_path), str(tmp_path),
                            JOHN.regn_num, JOHN.phone or "", JOHN.public_name, HR1234.key],
                           cwd=ROOT, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    logged = [json.loads(x) for x in log_path.read_text().splitlines()]
    assert [e["type"] for e in logged] == ["vote"], "the killed worker's vote is not on disk"

    # The other worker takes the call over; the caller's repeated "yes" re-runs the same action.
    john = Person(JOHN.regn_num, "JOHN", JOHN.public_name)
    ctx = CallState(call_id="c1", caller_id=JOHN.phone, attestation="A", validated=True, voter=john, version=4)
    audit = AuditLog(log_path, heads_every_s=None)
    try:
        again = await build_effects(r, Settings(_env_file=None, var_dir=tmp_path), audit).run(
            RecordVote(JOHN.regn_num, HR1234.key, "yes"), ctx)
        assert isinstance(again, Recorded) and again.ok and again.seq == logged[0]["seq"]
        recall = RecordRecall(JOHN.regn_num)
        first = await build_effects(r, Settings(_env_file=None, var_dir=tmp_path), audit).run(recall, ctx)
        rerun = await build_effects(r, Settings(_env_file=None, var_dir=tmp_path), audit).run(recall, ctx)
        assert first.ok and rerun == first, "a recall re-run on another worker must answer as the first run"
    finally:
        await audit.aclose()
    events = [json.loads(x) for x in log_path.read_text().splitlines()]
    assert [e["type"] for e in events] == ["vote", "recall"], "an action was logged twice"
    assert all(len(e["data"]["op"]) == 40 for e in events)
    path = await DelegationStore(r).audit_path(JOHN.regn_num, HR1234.key)
    assert path.choice == "yes", "the vote whose worker died was not applied"
