"""VoterStore / SyncVoterStore read the roll in service: households, status from vr:active, unknowns."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from tests.test_importer import iowa_row, run, write_iowa
from voter_registry.model import Voter
from voter_registry.store import SyncVoterStore, VoterStore

ROWS = [
    iowa_row("11", "Zoe", "Lane", PHONENO="3195550142"),
    iowa_row("12", "Adam", "Lane", PHONENO="319-555-0142"),
    iowa_row("13", "Mia", "Lane", PHONENO="3195550142", VOTERSTATUS="Inactive"),
    iowa_row("14", "Lee", "Park", PHONENO="3195550199", VOTERSTATUS="Pending"),
]


async def test_async_store_reads_households_sorted_by_first_name(
    rsync: redis.Redis, r: aioredis.Redis, tmp_path: Path
) -> None:
    run(rsync, tmp_path, write_iowa(tmp_path / "roll.csv", ROWS))
    store = VoterStore(r)
    household = await store.by_phone("+13195550142")
    assert [v.first for v in household] == ["ADAM", "ZOE"]  # Mia is inactive: she cannot act
    assert all(v.status == "active" for v in household)
    assert await store.by_phone("+13195550199") == []  # pending registration
    assert await store.by_phone("+13195550000") == [] and await store.by_phone("not a phone") == []
    mia = await store.get("13")
    assert mia is not None and mia.status == "inactive" and mia.phone == "+13195550142"
    assert (await store.get("14")).status == "pending"  # type: ignore[union-attr]
    assert await store.get("99") is None
    many = await store.get_many(["11", "99", "12", "11"])
    assert sorted(many) == ["11", "12"] and many["11"].first == "ZOE"
    assert await store.get_many([]) == {}
    assert await store.is_active("11") and not await store.is_active("13")
    assert await store.count_active() == 2


def test_sync_store_agrees_with_async(rsync: redis.Redis, tmp_path: Path) -> None:
    run(rsync, tmp_path, write_iowa(tmp_path / "roll.csv", ROWS))
    store = SyncVoterStore(rsync)
    assert [v.regn_num for v in store.by_phone("(319) 555-0142")] == ["12", "11"]
    assert store.get("13").status == "inactive" and store.count_active() == 2  # type: ignore[union-attr]
    assert sorted(store.get_many(["14", "13"])) == ["13", "14"]


def test_status_follows_the_roll_in_service_not_the_hash(rsync: redis.Redis, tmp_path: Path) -> None:
    """While an import is unfinished the hash may already be refreshed; eligibility is vr:active."""
    run(rsync, tmp_path, write_iowa(tmp_path / "roll.csv", ROWS))
    rsync.hset("vr:v:11", "status", "inactive")  # as an unfinished import may have written it
    rsync.hset(
        "vr:v:15",
        mapping={"regn_num": "15", "first": "NEW", "last": "LANE", "status": "active", "phone": "+13195550142"},
    )
    rsync.sadd("vr:phone:+13195550142", "15")
    store = SyncVoterStore(rsync)
    assert store.get("11").status == "active"  # type: ignore[union-attr]
    assert store.get("15").status == "inactive"  # type: ignore[union-attr]  # not on the roll yet
    assert [v.first for v in store.by_phone("+13195550142")] == ["ADAM", "ZOE"]


def test_voter_behaves_as_a_frozen_dataclass() -> None:
    """`Voter` is built by a generated __init__ (speed); it must keep the dataclass's behaviour."""
    v = Voter("12", "ANN", last="LEE", birth_year=1970)
    assert v == Voter(regn_num="12", first="ANN", middle="", last="LEE", birth_year=1970, status="active")
    assert (v.phone, v.status, v.district) == (None, "active", "")
    assert hash(v) == hash(Voter("12", "ANN", last="LEE", birth_year=1970))
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.first = "BOB"  # type: ignore[misc]
    assert dataclasses.replace(v, status="inactive").status == "inactive"
    assert dataclasses.asdict(v)["last"] == "LEE" and Voter.from_dict(v.to_dict()) == v
    with pytest.raises(TypeError):
        Voter("12")  # type: ignore[call-arg]
