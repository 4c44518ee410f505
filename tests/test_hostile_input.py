"""Hostile input: schema-driven fuzzing of the public API, replayed and re-signed webhooks, oversized
bodies, and no phone number in any public output or log line."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
import schemathesis
from hypothesis import HealthCheck, given, settings

from bench.load_calls import BILL, TARGETS, caller_roll, one_call, seed, service, settle
from infra.logging import JsonFormatter, configure_logging, mask_phones
from ivr.signature import load_or_create_keypair, sign
from tests.e2e import JOHN, ROLL, Stack, running_stack


async def state_digest(r: aioredis.Redis, audit: Path) -> dict[str, str]:
    """Digests of every Redis key's value and of the audit log's bytes."""
    out = {"audit.log": hashlib.sha256(audit.read_bytes() if audit.exists() else b"").hexdigest()}
    for key in [k async for k in r.scan_iter("*", count=1000)]:
        out[key] = hashlib.sha256(await r.dump(key) or b"").hexdigest()
    return out


async def quiet_state(r: aioredis.Redis, audit: Path, timeout_s: float = 15.0) -> dict[str, str]:
    """The state once it has not changed for a second."""
    last, deadline = await state_digest(r, audit), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = await state_digest(r, audit)
        if now == last:
            break
        last = now
    return last


def phone_forms(e164: str) -> list[str]:
    """How a US number may be written: +15155550101, 15155550101, 5155550101, 515-555-0101, ..."""
    n = e164.removeprefix("+1")
    a, b, c = n[:3], n[3:6], n[6:]
    return [e164, e164[1:], n, f"{a}-{b}-{c}", f"({a}) {b}-{c}", f"{a}.{b}.{c}", f"{a} {b} {c}"]


async def test_api_fuzzed_from_its_schema_no_5xx_no_state_change_no_phone_in_any_page(
        tmp_path: Path, redis_url: str, r: aioredis.Redis) -> None:
    callers = caller_roll(3)
    await seed(r, tmp_path / "audit.log", callers)
    async with service(tmp_path, redis_url, workers=1) as svc:
        results = await asyncio.gather(*(one_call(svc.emulator_url, v, i) for i, v in enumerate(callers)))
        assert all(x.ok for x in results), [x.error for x in results]
        await settle(r)
        before = await quiet_state(r, svc.audit_path)  # late webhooks of the ended calls are processed

        schema = schemathesis.openapi.from_url(f"{svc.app_url}/openapi.json")
        seen: list[str] = []

        @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=schema.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
            resp = case.call(base_url=svc.app_url, timeout=15)
            seen.append(case.path)
            assert resp.status_code < 500, f"{case.method} {case.formatted_path} {case.query}: {resp.status_code}"

        t0 = time.monotonic()
        fuzz()
        print(f"schemathesis: {len(seen)} requests in {time.monotonic() - t0:.1f} s")
        async with httpx.AsyncClient(base_url=svc.app_url, timeout=15) as http:
            for path in schema.raw_schema["paths"]:  # methods the API does not have: refused, never 5xx
                for method in ("POST", "PUT", "PATCH", "DELETE"):
                    concrete = path.replace("{key}", BILL.key).replace("{regn}", TARGETS[0].regn_num)
                    assert (await http.request(method, concrete, content=b"x" * 100)).status_code in (404, 405)
            after = await state_digest(r, svc.audit_path)
            changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            assert not changed, f"an unauthenticated request changed the state: {changed}"
            assert len(set(seen)) >= 8, sorted(set(seen))

            pages = ["/", f"/bills/{BILL.key}", "/public/bills.json", f"/public/bills/{BILL.key}/tally.json",
                     f"/public/bills/{BILL.key}/snapshot.json", "/public/audit.log", "/public/audit/head",
                     "/public/audit/heads", "/public/money/balances.json", "/public/money/supply.json"]
            pages += [f"/voters/{v.regn_num}" for v in [*TARGETS, *callers]]
            text = ""
            for page in pages:
                resp = await http.get(page)
                assert resp.status_code == 200, page
                text += resp.text
        text += svc.audit_path.read_text()
        for heads in svc.var.glob("*.heads"):
            text += heads.read_text()
    assert "Margaret E Holloway" in text and '"seq"' in text  # the scan read real pages and the real log
    for v in [*TARGETS, *callers]:
        for form in phone_forms(v.phone or ""):
            assert form not in text, f"{form} (phone of {v.regn_num}) appears in a public output"


WEBHOOK = {"data": {"record_type": "event", "event_type": "call.initiated", "id": "evt-hostile-1",
                    "occurred_at": "2026-01-01T00:00:00Z",
                    "payload": {"call_control_id": "v3:hostile", "from": JOHN.phone, "to": "+15155550100",
                                "direction": "incoming", "state": "parked", "client_state": None}}}
HANGUP = {"data": {"record_type": "event", "event_type": "call.hangup", "id": "evt-hostile-2",
                   "occurred_at": "2026-01-01T00:00:05Z",
                   "payload": {"call_control_id": "v3:hostile", "hangup_cause": "normal_clearing",
                               "hangup_source": "caller"}}}


@pytest.fixture
async def stack(tmp_path: Path, redis_url: str, r: aioredis.Redis) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, redis_url, r) as s:
        yield s


async def _wait_key(r: aioredis.Redis, key: str, present: bool, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if bool(await r.exists(key)) == present:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_old_and_resigned_replayed_webhooks(stack: Stack, r: aioredis.Redis) -> None:
    private, _ = load_or_create_keypair(stack.audit_path.parent / "emulator.key")
    body, hangup = json.dumps(WEBHOOK).encode(), json.dumps(HANGUP).encode()
    now = int(time.time())
    async with httpx.AsyncClient(base_url=stack.app_url) as http:
        for ts in (now - 301, now - 86400, now + 400):  # captured long ago, or dated in the future
            resp = await http.post("/webhooks/telnyx", content=body, headers=sign(body, private, ts))
            assert resp.status_code == 401
        assert not await r.exists("call:v3:hostile") and not await r.exists("ivr:evt:evt-hostile-1")

        assert (await http.post("/webhooks/telnyx", content=body, headers=sign(body, private, now))).status_code == 200
        assert await _wait_key(r, "call:v3:hostile", True), "the genuine event was not processed"
        resp = await http.post("/webhooks/telnyx", content=hangup, headers=sign(hangup, private, int(time.time())))
        assert resp.status_code == 200
        assert await _wait_key(r, "call:v3:hostile", False), "the hang-up was not processed"

        # An attacker with the signing key's help (or Telnyx redelivering) re-sends the old event id, fresh.
        resigned = sign(body, private, int(time.time()))
        assert (await http.post("/webhooks/telnyx", content=body, headers=resigned)).status_code == 200
        await asyncio.sleep(1.0)
        assert not await r.exists("call:v3:hostile"), "a replayed call.initiated started the call again"


async def test_oversized_bodies_are_refused_before_anything_else(stack: Stack, r: aioredis.Redis) -> None:
    private, _ = load_or_create_keypair(stack.audit_path.parent / "emulator.key")
    padded = dict(WEBHOOK, pad="x" * (64 * 1024))
    big = json.dumps(padded).encode()
    async with httpx.AsyncClient(base_url=stack.app_url, timeout=30) as http:
        for raw in (big, b"{" * (2 * 1024 * 1024)):
            assert (await http.post("/webhooks/telnyx", content=raw)).status_code == 413
            signed = sign(raw, private, int(time.time()))
            assert (await http.post("/webhooks/telnyx", content=raw, headers=signed)).status_code == 413

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the size is only known as it streams
            for _ in range(100):
                yield b"x" * 4096

        assert (await http.post("/webhooks/telnyx", content=chunks())).status_code == 413
    assert not await r.exists("call:v3:hostile")


def test_log_lines_mask_every_phone_number(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    log = logging.getLogger("hostile")
    try:
        for v in ROLL:
            if v.phone:
                n = v.phone.removeprefix("+1")
                log.info("call from %s (%s-%s-%s)", v.phone, n[:3], n[3:6], n[6:], extra={"caller": v.phone})
        try:
            raise ValueError(f"no voter for {JOHN.phone}")
        except ValueError:
            log.exception("lookup failed")
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines()]
    assert len(lines) == 4 and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    assert lines[0]["time"].endswith("Z") and lines[-1]["level"] == "ERROR" and "exc" in lines[-1]
    for v in ROLL:
        if v.phone:
            for form in phone_forms(v.phone):
                assert form not in err
    assert lines[0]["caller"].endswith(JOHN.phone[-2:]) and "*" in lines[0]["caller"]


def test_masking_keeps_times_and_ids_readable() -> None:
    line = "2026-11-21T22:06:42.123Z seq 1763750000 regn 000123456 amount 1234 call v3:abc-1515"
    assert mask_phones(line) == line
    assert mask_phones("+447700900123 and +15155550101") == "+**********23 and +*********01"
    assert "Z" in JsonFormatter().format(logging.makeLogRecord({"msg": "x"}))
    with pytest.raises(ValueError, match="log level"):
        configure_logging("loud")
