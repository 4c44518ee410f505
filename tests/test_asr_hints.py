"""ASR place hints: the caller's county first, never more than the engine takes, and never person names."""

from __future__ import annotations

import redis.asyncio as aioredis

from ivr.asr_hints import PLACE_HINTS, PlaceHints, place_hints
from tests.e2e import ROLL, load_roll
from voter_registry.places import PlaceTable

TABLE = PlaceTable.from_hash({"DES MOINES|POLK|50309": "900", "ANKENY|POLK|50023": "300", "AMES|STORY|50010": "400",
                              "NEVADA|STORY|50201": "50", "ADEL|DALLAS|50003": "20"})


def test_callers_county_towns_come_first_then_the_state_by_voters() -> None:
    assert place_hints(TABLE, "STORY")[:3] == ("Ames", "Nevada", "Story County")
    assert place_hints(TABLE, "STORY")[3:6] == ("Des Moines", "Ankeny", "Adel")
    assert place_hints(TABLE, None)[:3] == ("Des Moines", "Ames", "Ankeny")  # unregistered caller: the state
    assert "Polk County" in place_hints(TABLE, None) and len(set(place_hints(TABLE, "STORY"))) == 8


def test_hints_are_capped_for_the_transcription_engine() -> None:
    big = PlaceTable.from_hash({f"TOWN{i}|C{i % 9}|5{i:04d}": str(i + 1) for i in range(500)})
    assert len(place_hints(big, "C1")) == PLACE_HINTS


async def test_hints_come_from_the_imported_roll_without_person_names(r: aioredis.Redis) -> None:
    await load_roll(r, ROLL)
    hints = await PlaceHints(r).for_county("STORY")
    assert hints[0] == "Ames" and "Centerville" in hints
    names = {w.title() for v in ROLL for w in (v.first, v.last)}
    assert not names & set(hints)
