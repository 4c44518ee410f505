"""Whole calls through the emulator: simulator -> emulator -> signed webhooks -> app -> SDK -> emulator."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from delegation.store import DelegationStore
from ivr.simulator import Phone
from tests.e2e import BOB, JANE, JOHN, ROLL, Stack, running_stack


@pytest.fixture
async def stack(tmp_path: Path, redis_url: str, r: aioredis.Redis) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, redis_url, r) as s:
        yield s


async def turn(phone: Phone, said: str | None = None, press: str | None = None) -> str:
    """Say or press, then return what the service spoke until it waits again (or hangs up)."""
    if said is not None:
        await phone.say(said)
    if press is not None:
        await phone.press(press)
    return " ".join(line.removeprefix("SYSTEM: ") for line in await phone.wait_for_prompt(timeout=15)
                    if line.startswith("SYSTEM: "))


def audit_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_delegate_vote_audit_recall_audit_in_one_call(stack: Stack, r: aioredis.Redis) -> None:
    store = DelegationStore(r)
    await store.delegate(JANE.regn_num, BOB.regn_num)  # Jane passes her power to Bob ...
    await store.vote(BOB.regn_num, "119-hr-1234", "yes")  # ... who votes yes
    phone = await Phone.dial(stack.emulator_url, JOHN.phone)
    async with phone:
        assert "Welcome to the Delegate Network, John." in await turn(phone)
        assert "To whom do you wish to delegate" in await turn(phone, "delegate")
        heard = await turn(phone, "jane roe of ames")
        assert "Jane A Roe of Ames, on Oak St. Is that right?" in heard
        assert "Your vote now goes to Jane A Roe of Ames" in await turn(phone, "yes")

        heard = await turn(phone, "audit me")
        assert "For which bill?" in heard
        heard = await turn(phone, "H.R. 1234")
        assert "Your vote goes to Jane A Roe of Ames, then to Robert L Baker of Adel, who votes yes on H.R. 1234" \
            in heard

        assert "Which bill?" in await turn(phone, "vote")
        assert "H.R. 1234, Example Act. How do you vote" in await turn(phone, "h r twelve thirty four")
        assert "You vote no on H.R. 1234" in await turn(phone, "no")
        assert "Your vote of no on H.R. 1234 is recorded" in await turn(phone, press="1")

        assert "Your vote goes to Jane A Roe of Ames. Do you want to take it back?" in await turn(phone, "recall")
        assert "no longer carries your vote" in await turn(phone, "yes")

        await turn(phone, "audit me")
        assert "On H.R. 1234, you voted no directly." in await turn(phone, "recent")
        await turn(phone, "goodbye")
    assert phone.ended

    events = audit_events(stack.audit_path)
    mine = [(e["type"], (e.get("subject") or {}).get("regn_num")) for e in events
            if (e.get("actor") or {}).get("regn_num") == JOHN.regn_num]
    assert mine == [("delegate", JANE.regn_num), ("vote", None), ("recall", JANE.regn_num)]
    text = stack.audit_path.read_text()
    for v in ROLL:
        if v.phone:
            assert v.phone not in text and v.phone[2:] not in text, "a phone number reached the public audit log"
    assert await store.delegate_of(JOHN.regn_num) is None and await store.vote_of(JOHN.regn_num, "119-hr-1234") == "no"


async def test_hangup_in_the_middle_of_a_confirmation_records_nothing(stack: Stack, r: aioredis.Redis) -> None:
    phone = await Phone.dial(stack.emulator_url, JOHN.phone)
    await turn(phone)
    await turn(phone, "delegate")
    assert "Is that right?" in await turn(phone, "jane roe of ames")
    await phone.hang_up()
    await phone.aclose()
    await _settle(r)
    assert await DelegationStore(r).delegate_of(JOHN.regn_num) is None
    assert not stack.audit_path.exists() or "delegate" not in stack.audit_path.read_text()
    assert not [k async for k in r.scan_iter("call:*")], "call state must be removed at hang-up"


async def test_unregistered_caller_is_told_whom_to_call_and_cannot_use_money(stack: Stack) -> None:
    async with await Phone.dial(stack.emulator_url, "+15155550199") as phone:
        heard = await turn(phone)
        assert "not on any voter registration" in heard and "Auditor" in heard
        assert "Only registered voters" in await turn(phone, "money")


async def test_name_with_no_match_and_same_name_same_town(stack: Stack) -> None:
    async with await Phone.dial(stack.emulator_url, JOHN.phone) as phone:
        await turn(phone)
        await turn(phone, "delegate")
        assert "could not find a registered voter" in await turn(phone, "zebulon quackenbush of ames")
        question = await turn(phone, "john smith of ames")
        assert "?" in question and "John A Smith" not in question  # asks, does not pick one
        answer = "bruce" if "middle" in question.lower() else ("birch street" if "street" in question.lower()
                                                               else "1990")
        assert "John B Smith of Ames" in await turn(phone, answer)


async def test_silence_reprompts_twice_then_hangs_up(stack: Stack) -> None:
    async with await Phone.dial(stack.emulator_url, JOHN.phone) as phone:
        await turn(phone)
        for _ in range(2):
            await phone.silence()
            assert "Are you still there?" in await turn(phone)
        await phone.silence()
        assert "Goodbye" in await turn(phone)
    assert phone.ended


async def _settle(r: aioredis.Redis, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and [k async for k in r.scan_iter("call:*")]:
        await asyncio.sleep(0.05)


WEBHOOK = {"data": {"record_type": "event", "event_type": "call.initiated", "id": "evt-1",
                    "occurred_at": "2026-01-01T00:00:00Z",
                    "payload": {"call_control_id": "v3:test", "from": "+15155550101", "to": "+15155550100",
                                "direction": "incoming", "state": "parked", "client_state": None}}}


async def test_webhook_route_rejects_unsigned_bad_stale_and_malformed(stack: Stack) -> None:
    from ivr.signature import load_or_create_keypair, sign

    private, _ = load_or_create_keypair(stack.audit_path.parent / "emulator.key")
    body = json.dumps(WEBHOOK).encode()
    async with httpx.AsyncClient(base_url=stack.app_url) as http:
        assert (await http.post("/webhooks/telnyx", content=body)).status_code == 401  # missing headers
        stale = sign(body, private, int(time.time()) - 3600)
        assert (await http.post("/webhooks/telnyx", content=body, headers=stale)).status_code == 401
        forged = sign(body + b" ", private, int(time.time()))
        assert (await http.post("/webhooks/telnyx", content=body, headers=forged)).status_code == 401
        junk = b"{not json"
        assert (await http.post("/webhooks/telnyx", content=junk,
                                headers=sign(junk, private, int(time.time())))).status_code == 400
        unknown = json.dumps({"data": {"event_type": "call.bridged", "id": "x", "payload": {}}}).encode()
        resp = await http.post("/webhooks/telnyx", content=unknown, headers=sign(unknown, private, int(time.time())))
        assert resp.status_code == 200 and resp.json()["status"] == "ignored"


async def test_caller_id_without_full_attestation_is_verified_by_calling_back(stack: Stack) -> None:
    async with await Phone.dial(stack.emulator_url, JOHN.phone, attestation="C", validated=False) as first:
        assert "Welcome to the Delegate Network, John." in await turn(first)
        heard = await turn(first, "delegate")
        code = re.search(r"enter this code: ((?:\d ){3}\d)", heard)
        assert code and "We will call you back" in heard
    assert first.ended
    async with httpx.AsyncClient(base_url=stack.emulator_url) as http:
        for _ in range(100):
            calls = [c for c in (await http.get("/sim/calls")).json() if c["direction"] == "outgoing"]
            if calls:
                break
            await asyncio.sleep(0.05)
    assert calls and calls[0]["to"] == JOHN.phone  # the registered number, not whoever called
    back = Phone(httpx.AsyncClient(base_url=stack.emulator_url, timeout=30), calls[0]["call_control_id"])
    async with back:
        assert "enter the four digit code" in await turn(back)
        assert "This phone is verified" in await turn(back, press=code.group(1).replace(" ", ""))
        await turn(back, "delegate")
        await turn(back, "jane roe of ames")
        assert "Your vote now goes to Jane A Roe of Ames" in await turn(back, "yes")
        await turn(back, "goodbye")
    event = [e for e in audit_events(stack.audit_path) if e["type"] == "delegate"][-1]
    assert event["data"]["shaken_stir"] == {"attestation": None, "validated": False, "callback_verified": True}


async def test_unregistered_caller_acts_tentatively_until_an_import_shows_the_phone(
        stack: Stack, r: aioredis.Redis, redis_url: str) -> None:
    from audit.log import AuditLog
    from tests.e2e import load_roll
    from voter_registry.model import Voter
    from voter_registry.tentative import promote

    newcomer = "+15155550177"
    async with await Phone.dial(stack.emulator_url, newcomer) as phone:
        await turn(phone)
        assert "recorded as tentative" in await turn(phone, "delegate")
        await turn(phone, "jane roe of ames")
        assert "Your vote now goes to Jane A Roe of Ames" in await turn(phone, "yes")
        await turn(phone, "vote h r 1234")
        await turn(phone, "abstain")
        await turn(phone, "yes")
        await turn(phone, "audit me")
        assert "your tentative vote is abstain; it counts once this phone is on a voter registration" \
            in await turn(phone, "recent")
        await turn(phone, "goodbye")
    store = DelegationStore(r)
    tally = await store.tally("119-hr-1234")
    assert tally.abstain == 0, "a tentative vote must not count"
    events = audit_events(stack.audit_path)
    tentative = [e for e in events if e["data"].get("tentative")]
    assert [e["type"] for e in tentative] == ["delegate", "vote"]
    assert tentative[0]["actor"]["regn_num"].startswith("T-") and newcomer[2:] not in stack.audit_path.read_text()

    later = Voter("500", "NORA", "", "NEW", street="PINE ST", city="AMES", zip="50010", county="STORY",
                  phone=newcomer, district="3")
    await load_roll(r, [later])  # a later voter-roll import shows the number on a registration
    audit = AuditLog(stack.audit_path, heads_every_s=None)
    assert await asyncio.to_thread(promote, redis_url, audit) == 1
    await audit.aclose()
    assert await store.delegate_of("500") == JANE.regn_num
    assert await store.vote_of("500", "119-hr-1234") == "abstain"
    assert (await store.tally("119-hr-1234")).abstain >= 1
    kinds = [(e["type"], e["data"].get("promoted_from", "")[:2]) for e in audit_events(stack.audit_path)[-3:]]
    assert kinds == [("tentative-promoted", ""), ("delegate", "T-"), ("vote", "T-")]


async def test_household_member_claims_the_tentative_actions_of_a_newly_registered_phone(
        stack: Stack, r: aioredis.Redis, redis_url: str) -> None:
    from audit.log import AuditLog
    from tests.e2e import load_roll
    from voter_registry.model import Voter
    from voter_registry.tentative import promote

    shared = "+15155550188"
    async with await Phone.dial(stack.emulator_url, shared) as phone:
        await turn(phone)
        await turn(phone, "delegate jane roe of ames")
        await turn(phone, "yes")
        await turn(phone, "vote h r 1234")
        await turn(phone, "no")
        await turn(phone, "yes")
        await turn(phone, "goodbye")
    nora = Voter("510", "NORA", "", "NEW", street="PINE ST", city="AMES", zip="50010", county="STORY",
                 phone=shared, district="3")
    ned = Voter("511", "NED", "", "NEW", street="PINE ST", city="AMES", zip="50010", county="STORY",
                phone=shared, district="3")
    await load_roll(r, [nora, ned])  # the number now belongs to a household: the import cannot tell whose
    audit = AuditLog(stack.audit_path, heads_every_s=None)
    assert await asyncio.to_thread(promote, redis_url, audit) == 0
    await audit.aclose()
    store = DelegationStore(r)
    assert await store.delegate_of("510") is None and await store.delegate_of("511") is None

    async with await Phone.dial(stack.emulator_url, shared) as phone:
        assert "registered to Ned and Nora" in await turn(phone)
        heard = await turn(phone, "nora")
        assert "recorded a delegation to Jane A Roe of Ames and one vote. Were those yours?" in heard
        assert "2 actions now count as yours" in await turn(phone, "yes")
        await turn(phone, "goodbye")
        async with httpx.AsyncClient(base_url=stack.emulator_url) as http:
            commands = (await http.get(f"/sim/calls/{phone.call_id}/commands")).json()
    assert await store.delegate_of("510") == JANE.regn_num and await store.vote_of("510", "119-hr-1234") == "no"
    assert (await store.tally("119-hr-1234")).no >= 1
    claim = [e for e in audit_events(stack.audit_path)
             if "510" in ((e.get("actor") or {}).get("regn_num"), (e.get("subject") or {}).get("regn_num"))]
    assert [e["type"] for e in claim] == ["tentative-promoted", "delegate", "vote"]
    assert claim[0]["data"]["shaken_stir"]["attestation"] == "A"
    start = next(c for c in commands if c["action"] == "transcription_start")
    hints = start["body"]["transcription_engine_config"]["hints"]
    assert "delegate" in hints and hints.index("Ames") < hints.index("Centerville")  # the caller's county first

    async with await Phone.dial(stack.emulator_url, shared) as phone:  # claimed once: not offered again
        await turn(phone)
        assert "Welcome to the Delegate Network, Ned." in await turn(phone, "ned")


async def test_per_bill_delegation_backup_delegate_and_no_delegate_by_voice(stack: Stack, r: aioredis.Redis) -> None:
    store = DelegationStore(r)
    async with await Phone.dial(stack.emulator_url, JOHN.phone) as phone:
        await turn(phone)
        await turn(phone, "delegate jane roe of ames")
        await turn(phone, "yes")
        assert "as a backup delegate" in await turn(phone, "add a backup delegate robert baker of adel")
        assert "is now a backup delegate" in await turn(phone, "yes")
        await turn(phone, "vote h r 1234")
        assert "for H.R. 1234 only" in await turn(phone, "delegate robert baker of adel for this bill only")
        assert "On H.R. 1234 only, your vote goes to Robert L Baker of Adel" in await turn(phone, "yes")
        assert await store.delegates_of(JOHN.regn_num) == [JANE.regn_num, BOB.regn_num]
        assert await store.effective_delegates(JOHN.regn_num, "119-hr-1234") == [BOB.regn_num]
        await turn(phone, "vote h r 1234")
        assert "no delegate will vote for you" in await turn(phone, "no delegate on this bill")
        assert "On H.R. 1234 you have no delegate" in await turn(phone, "yes")
        assert await store.effective_delegates(JOHN.regn_num, "119-hr-1234") == []
    scopes = [(e["type"], e["data"].get("scope"), e["data"].get("rank")) for e in audit_events(stack.audit_path)
              if (e.get("actor") or {}).get("regn_num") == JOHN.regn_num]
    assert scopes == [("delegate", "standing", 1), ("delegate", "standing", 2), ("delegate", "119-hr-1234", 1),
                      ("no-delegate", None, None)]


async def test_a_redelivered_webhook_is_handled_once(stack: Stack) -> None:
    from ivr.signature import load_or_create_keypair, sign

    private, _ = load_or_create_keypair(stack.audit_path.parent / "emulator.key")
    async with await Phone.dial(stack.emulator_url, JOHN.phone) as phone:
        await turn(phone)
        body = json.dumps({"data": {"record_type": "event", "event_type": "call.transcription", "id": "dup-1",
                                    "occurred_at": "2026-01-01T00:00:00Z",
                                    "payload": {"call_control_id": phone.call_id, "client_state": None,
                                                "transcription_data": {"transcript": "delegate", "is_final": True,
                                                                       "confidence": 0.9}}},
                           "meta": {"attempt": 1}}).encode()
        async with httpx.AsyncClient(base_url=stack.app_url) as http:
            for attempt in range(2):  # Telnyx delivers at least once: the same event twice
                resp = await http.post("/webhooks/telnyx", content=body, headers=sign(body, private, int(time.time())))
                assert resp.status_code == 200, attempt
        for _ in range(50):
            await phone.poll(wait_s=0.2)
            if any("To whom do you wish to delegate" in line for line in phone.transcript):
                break
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=stack.emulator_url) as http:
            commands = (await http.get(f"/sim/calls/{phone.call_id}/commands")).json()
        asked = [c for c in commands if "To whom do you wish" in json.dumps(c.get("body", {}))]
        assert len(asked) == 1, "the duplicate delivery must not be acted on twice"
        await phone.hang_up()
