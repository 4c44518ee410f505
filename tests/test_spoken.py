"""Parsing what a caller said, the sound keys behind the buckets, and the `match` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.settings import get_settings
from tests.test_matcher import ROLL, load
from voter_registry import match_cli
from voter_registry.phonetic import name_similarity, skeleton, sound_key
from voter_registry.spoken import parse


def test_name_place_street_and_suffix() -> None:
    s = parse("Bill Smith junior of Ames on Maple Street")
    assert (s.readings[0].first, s.readings[0].last) == ("BILL", "SMITH")
    assert (s.suffix, s.city, s.street) == ("JR", "AMES", "MAPLE")
    s = parse("this is mary smith who lives at 123 elm st in ames 50010")
    assert (s.house, s.street, s.city, s.zip) == ("123", "ELM", "AMES", "50010")


def test_county_zip_and_the_third() -> None:
    assert parse("jane doe of polk county").county == "POLK"
    assert parse("jane doe of polk county").city == ""
    assert parse("john doe the third").suffix == "III"
    assert parse("john doe five oh three one nine").zip == "50319"
    assert parse("giselle junior of moravia").readings[0].last == "JUNIOR"  # a surname, not a suffix
    assert parse("john doe of iowa city").city == "IOWA CITY"
    assert parse("john doe of the city of ames").city == "AMES"


def test_spelled_letters_and_middle_initial() -> None:
    assert parse("john d o e").readings[0] .last == "DOE"
    r = parse("john q doe").readings[0]
    assert (r.first, r.middle, r.last) == ("JOHN", "Q", "DOE")


def test_phone_said_as_words_or_digits() -> None:
    assert parse("five one five five five five zero one two three").phone == "5155550123"
    assert parse("my number is 1 515 555 0123").phone == "5155550123"
    assert parse("double five").phone == ""


def test_reversed_and_two_word_surnames_are_readings() -> None:
    readings = parse("mary smith jones").readings
    assert any(r.last == "SMITH JONES" for r in readings)
    assert any((r.first, r.last) == ("JOHN", "DOE") for r in parse("doe john").readings)


def test_sound_keys_merge_spellings_not_names() -> None:
    assert sound_key("SMITH") == sound_key("SMYTH") == sound_key("SCHMIDT")
    assert sound_key("CATHY") == sound_key("KATHY") and sound_key("STEPHEN") == sound_key("STEVEN")
    assert sound_key("SMITH") != sound_key("JONES")
    assert skeleton("ERIN") != skeleton("ELLEN")  # finer than the key
    assert name_similarity("SMITH", "SMYTH") > 0.95 > name_similarity("MARY", "HENRY")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_parse_never_raises(text: str) -> None:
    s = parse(text)
    assert all(r.last for r in s.readings)
    assert s.phone == "" or len(s.phone) == 10


@pytest.fixture
def cli_env(rsync: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> redis.Redis:
    load(rsync, ROLL)
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    yield rsync
    get_settings.cache_clear()


def test_cli_json_never_prints_phone(cli_env: redis.Redis, capsys: pytest.CaptureFixture[str]) -> None:
    assert match_cli.main(["john q doe of centerville", "--json", "--caller", "+15155550102"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decision"] == "unique" and out["candidates"][0]["regn_num"] == "1001"
    assert "elapsed_ms" in out and "555" not in json.dumps(out)


def test_cli_batch(cli_env: redis.Redis, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join([
        json.dumps({"id": 1, "text": "james johnson of des moines", "caller": None}),
        json.dumps({"id": 2, "text": "jennifer miller", "caller": "+15155550102"}),
        "not json",
        json.dumps({"id": 3, "text": "zachary quartermaine of ames"}),
    ]) + "\n")
    assert match_cli.main(["--batch", str(f)]) == 2  # one bad line, reported, the rest matched
    captured = capsys.readouterr()
    rows = [json.loads(x) for x in captured.out.splitlines()]
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert rows[0]["decision"] == "ask" and rows[0]["question"]
    assert rows[2]["decision"] == "not_found"
    assert set(rows[0]) == {"id", "decision", "candidates", "question", "elapsed_ms"}
    assert "in.jsonl:3" in captured.err
    assert match_cli.main([]) == 2
