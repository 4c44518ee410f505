"""The sample-roll generator: determinism, file layouts, household and phone shape, district filter."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from data.generate_sample import IOWA_COLUMNS, NCSBE_COLUMNS, generate, iter_voters, main
from data.sample_tables import county_districts
from voter_registry.phones import to_e164

N = 3000


@pytest.fixture(scope="module")
def voters() -> list:
    return list(iter_voters(N, seed=11))


def test_same_seed_same_roll_other_seed_other_roll(voters: list) -> None:
    assert list(iter_voters(N, seed=11)) == voters
    other = list(iter_voters(N, seed=12))
    assert [v.regn_num for v in other] != [v.regn_num for v in voters]
    assert Counter((v.first, v.last) for v in other) != Counter((v.first, v.last) for v in voters)


def test_same_seed_same_roll_in_another_process(voters: list) -> None:
    # a fresh process rebuilds the name tables: their order must not depend on the run (benchmarks compare runs)
    code = f"from data.generate_sample import iter_voters; print(repr(list(iter_voters({N}, seed=11))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    assert out.strip() == repr(voters)


def test_exact_count_and_unique_registrations(voters: list) -> None:
    assert len(voters) == N
    assert len({v.regn_num for v in voters}) == N
    assert list(iter_voters(0, seed=1)) == []


def test_voters_look_like_iowa_voters(voters: list) -> None:
    districts = county_districts()
    for v in voters:
        assert v.first and v.last and v.city and v.house_num and v.street
        assert v.first == v.first.upper() and v.last == v.last.upper()
        assert len(v.zip) == 5 and v.zip[0] in "5"  # Iowa ZIPs are 50xxx-52xxx
        assert districts[v.county] == v.district
        assert 1926 <= v.birth_year <= 2008
        assert v.status in {"active", "inactive", "pending"}
    statuses = Counter(v.status for v in voters)
    assert statuses["active"] > 0.8 * N and statuses["inactive"] > 0 and statuses["pending"] > 0
    assert sum(1 for v in voters if len(v.middle) > 1) > 0.6 * N  # most have a full middle name
    assert any(len(v.middle) == 1 for v in voters) and any(not v.middle for v in voters)


def _homes(voters: list) -> dict:
    homes: dict = defaultdict(list)
    for v in voters:
        homes[(v.house_num, v.street, v.zip)].append(v)
    return homes


def test_households_and_phones(voters: list) -> None:
    homes = _homes(voters)
    sizes = Counter(min(len(h), 5) for h in homes.values())
    assert 0.30 < sizes[1] / len(homes) < 0.46 and 0.36 < sizes[2] / len(homes) < 0.52
    multi = [h for h in homes.values() if len(h) > 1]
    same = sum(1 for h in multi if len({v.last for v in h}) == 1) / len(multi)
    assert 0.75 < same < 0.95
    with_phone = [v for v in voters if v.phone]
    assert 0.33 < len(with_phone) / N < 0.47
    owner: dict[str, tuple] = {}
    for home, members in homes.items():
        for v in members:
            if v.phone:
                assert owner.setdefault(v.phone, home) == home, "a phone number is shared across households"
    shared = Counter(v.phone for v in with_phone)
    assert any(c > 1 for c in shared.values()), "no household shares a line"
    for p in shared:
        assert to_e164(p) == p and p[5:8] == "555"  # valid NANP, in the 555 exchange at this size
        assert p[2:5] in {"319", "515", "563", "641", "712"}


def test_district_filter() -> None:
    vs = list(iter_voters(500, seed=3, district="3"))
    assert len(vs) == 500 and {v.district for v in vs} == {"3"}
    assert "POLK" in {v.county for v in vs}
    with pytest.raises(ValueError):
        iter_voters(10, seed=1, district="5")
    with pytest.raises(ValueError):
        iter_voters(-1, seed=1)


def test_iowa_file_parses_back(tmp_path: Path, voters: list) -> None:
    out = tmp_path / "roll.csv"
    s = generate(N, 11, out, fmt="iowa")
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == IOWA_COLUMNS and all(len(r) == len(IOWA_COLUMNS) for r in rows)
    assert s.voters == N and s.rows == len(rows) - 1 and s.rows >= N
    latest: dict[str, dict] = {}
    for r in rows[1:]:  # duplicates: keep the latest LAST_UPDATED_DATE
        d = dict(zip(IOWA_COLUMNS, r, strict=True))
        key = d["LAST_UPDATED_DATE"][6:] + d["LAST_UPDATED_DATE"][:5]
        if d["REGN_NUM"] not in latest or key >= latest[d["REGN_NUM"]]["_k"]:
            latest[d["REGN_NUM"]] = {**d, "_k": key}
    assert len(latest) == N
    by_regn = {v.regn_num: v for v in voters}
    for regn, d in latest.items():
        v = by_regn[regn]
        assert (d["FIRST_NAME"], d["LAST_NAME"], d["CITY"], d["ZIP_CODE"]) == (v.first, v.last, v.city, v.zip)
        assert d["PHONENO"] == (v.phone[2:] if v.phone else "") and d["VOTERSTATUS"] == v.status.title()
        assert d["CONGRESSIONAL"] == v.district and d["BIRTHDATE"].endswith(str(v.birth_year))


def test_headerless_split(tmp_path: Path) -> None:
    s = generate(900, 5, tmp_path / "roll.txt", fmt="iowa-headerless", parts=3)
    assert [p.name for p in s.files] == ["roll-01.txt", "roll-02.txt", "roll-03.txt"]
    rows = [r for p in s.files for r in csv.reader(p.open(newline="", encoding="utf-8"))]
    assert rows[0][0].isdigit() and all(len(r) == len(IOWA_COLUMNS) for r in rows)
    assert len({r[0] for r in rows}) == 900 and all(p.stat().st_size > 0 for p in s.files)


def test_ncsbe_file_is_tab_delimited_latin1(tmp_path: Path, voters: list) -> None:
    out = tmp_path / "ncvoter.txt"
    generate(N, 11, out, fmt="ncsbe")
    with out.open(newline="", encoding="latin-1") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    assert tuple(rows[0]) == NCSBE_COLUMNS and all(len(r) == len(NCSBE_COLUMNS) for r in rows)
    got = [dict(zip(NCSBE_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert [(d["voter_reg_num"], d["first_name"], d["last_name"]) for d in got] == \
        [(v.regn_num, v.first, v.last) for v in voters]
    assert {d["status_cd"] for d in got} <= {"A", "I"}
    assert [d["full_phone_number"] for d in got] == [v.phone[2:] if v.phone else "" for v in voters]
    assert [d["cong_dist_abbrv"] for d in got] == [v.district for v in voters]


def test_cli_writes_and_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "d3.csv"
    assert main(["--voters", "200", "--seed", "2", "--district", "3", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "200 voters" in printed and "+1" not in printed  # no phone numbers on the terminal
    assert out.exists()
    assert main(["--voters", "10", "--format", "iowa", "--parts", "2", "--out", str(tmp_path / "x.csv"),
                 "--quiet"]) == 2
    assert not (tmp_path / "x.csv").exists()


def test_spelling_variants_and_registered_nicknames_are_real_names() -> None:
    from data.sample_tables import registered_nickname, spelling_variants

    assert "KATHRYN" in spelling_variants()["CATHERINE"]
    nick = registered_nickname()
    assert nick["MICHAEL"] == "MIKE"
    assert all(n[0] == f[0] and len(n) < len(f) for f, n in nick.items())
