"""County auditor lookup: known counties, area-code guess, Secretary of State fallback, spoken numbers."""

from __future__ import annotations

import csv
import re

from data.sample_tables import county_districts
from voter_registry.auditors import AUDITORS_CSV, SECRETARY_OF_STATE, auditor_for, say_phone
from voter_registry.phones import valid_nanp

SOS = ("Iowa Secretary of State", "8 8 8, 7 6 7, 8 6 8 3")


def _rows() -> list[dict[str, str]]:
    with AUDITORS_CSV.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def test_table_has_all_99_counties_with_sourced_valid_numbers() -> None:
    rows = _rows()
    assert sorted(r["county"] for r in rows) == sorted(county_districts())
    for r in rows:
        if r["phone"]:
            assert valid_nanp(r["phone"]) and r["phone"][:3] in {"319", "515", "563", "641", "712"}
            assert r["source"], f"{r['county']}: a number without a source"
    assert len({r["phone"] for r in rows if r["phone"]}) == sum(1 for r in rows if r["phone"])


def test_known_county_in_any_spelling() -> None:
    expected = ("Polk County Auditor", "5 1 5, 2 8 6, 3 2 4 7")
    assert auditor_for("POLK") == expected
    assert auditor_for("Polk County") == expected
    assert auditor_for("polk", "+17125550100") == expected  # the county wins over the area code


def test_county_without_a_verified_number_gives_the_secretary_of_state() -> None:
    missing = [r["county"] for r in _rows() if not r["phone"]]
    if missing:
        assert auditor_for(missing[0]) == SOS


def test_unknown_county_guessed_from_area_code() -> None:
    assert auditor_for(None, "+13195550100") == ("Linn County Auditor", "3 1 9, 8 9 2, 5 3 0 0")
    assert auditor_for("", "5635550100")[0] == "Scott County Auditor"
    assert auditor_for("NOT A COUNTY", "+15155550123")[0] == "Polk County Auditor"


def test_no_county_and_no_iowa_phone_gives_the_secretary_of_state() -> None:
    assert auditor_for(None) == SOS
    assert auditor_for(None, "+12125550100") == SOS  # not an Iowa area code
    assert auditor_for(None, "garbage") == SOS
    assert say_phone(SECRETARY_OF_STATE[1]) == SOS[1]


def test_say_phone() -> None:
    assert say_phone("5152863080") == "5 1 5, 2 8 6, 3 0 8 0"
    assert say_phone("+1 (515) 286-3080") == "5 1 5, 2 8 6, 3 0 8 0"
    assert say_phone("911") == "9 1 1"
    assert say_phone("") == ""
    assert re.fullmatch(r"(\d ){2}\d, (\d ){2}\d, (\d ){3}\d", say_phone("13195550100"))
