"""An action re-run after a storage failure (the same webhook, the same call state) is logged and applied
once, and the caller hears the same confirmation (ivr.once)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import redis.asyncio as aioredis

from audit.log import AuditLog
from delegation.bills import BillStore
from delegation.store import DelegationStore
from infra.settings import Settings
from ivr.app import build_effects
from ivr.dialogue import CallState
from ivr.messages import Person, Recorded, RecordRecall, RecordVote
from tests.e2e import HR1234, JANE, JOHN, ROLL, load_roll


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_rerun_action_is_logged_and_applied_once(tmp_path: Path, r: aioredis.Redis) -> None:
    await load_roll(r, ROLL)
    await BillStore(r).add(HR1234)
    audit = AuditLog(tmp_path / "audit.log", heads_every_s=None)
    effects = build_effects(r, Settings(_env_file=None, var_dir=tmp_path), audit)
    john = Person(JOHN.regn_num, "JOHN", JOHN.public_name)
    ctx = CallState(call_id="c1", caller_id=JOHN.phone, attestation="A", validated=True, voter=john, version=4)
    await DelegationStore(r).delegate(JOHN.regn_num, JANE.regn_num)
    try:
        vote = RecordVote(JOHN.regn_num, HR1234.key, "yes")
        first = await effects.run(vote, ctx)
        again = await effects.run(vote, ctx)  # the runner re-runs a webhook whose state could not be saved
        assert isinstance(first, Recorded) and first.ok and again == first
        recall = RecordRecall(JOHN.regn_num)
        assert (await effects.run(recall, ctx)).ok
        assert (await effects.run(recall, ctx)).ok, "a re-run recall must not be refused as 'no delegate'"
        later = await effects.run(vote, replace(ctx, version=9))  # a new confirmation
        assert later.ok and later.seq != first.seq
    finally:
        await audit.aclose()
    kinds = [e["type"] for e in events(tmp_path / "audit.log") if (e.get("actor") or {}).get("regn_num") == "100"]
    assert kinds == ["vote", "recall", "vote"]
