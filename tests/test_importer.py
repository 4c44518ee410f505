"""import-voters on small files: layouts, rejects, duplicates, re-import, crash and re-run, households."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.generate_sample import NCSBE_COLUMNS
from tests.conftest import audit_text_without_hashes
from voter_registry import importer
from voter_registry.formats import IOWA_COLUMNS, FormatError
from voter_registry.importer import ImportLocked, NothingToImport, RollShrinks, import_voters
from voter_registry.index import bucket_keys, member
from voter_registry.phones import to_e164
from voter_registry.store import SyncVoterStore

ROOT = Path(__file__).resolve().parent.parent


def iowa_row(regn: str, first: str, last: str, **kw: str) -> list[str]:
    """One Iowa row in delivery order; kw uses the column names (CITY is the residence city)."""
    cells = dict.fromkeys(range(len(IOWA_COLUMNS)), "")
    base = {
        "REGN_NUM": regn,
        "FIRST_NAME": first,
        "LAST_NAME": last,
        "LAST_UPDATED_DATE": "01/15/2024",
        "HOUSE_NUM": "12",
        "STREET_NAME": "MAPLE",
        "STREET_TYPE": "ST",
        "CITY": "AMES",
        "STATE": "IA",
        "ZIP_CODE": "50010",
        "VOTERSTATUS": "Active",
        "BIRTHDATE": "03/04/1970",
        "COUNTY": "STORY",
        "CONGRESSIONAL": "4",
        **kw,
    }
    for name, value in base.items():
        cells[IOWA_COLUMNS.index(name)] = value
    cells[IOWA_COLUMNS.index("CITY", 19)] = kw.get("MAILING_CITY", "MAILTOWN")  # mailing city comes second
    return [cells[i] for i in range(len(IOWA_COLUMNS))]


def write_iowa(path: Path, rows: list[list[str]], header: bool = True) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if header:
            w.writerow(IOWA_COLUMNS)
        w.writerows(rows)
    return path


def run(r: redis.Redis, tmp_path: Path, *paths: Path, **kw: object) -> importer.ImportSummary:
    return import_voters(
        r,
        list(paths),
        kw.pop("fmt", None),
        kw.pop("district", None),  # type: ignore[arg-type]
        out_dir=tmp_path / "imports",
        progress=False,
        **kw,
    )  # type: ignore[arg-type]


def rejects(s: importer.ImportSummary) -> list[dict[str, str]]:
    with open(s.rejects_path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


FAMILY = [
    iowa_row("1001", "John", "Doe", MIDDLE_NAME="Q", PHONENO="(515) 555-0123", NAME_SUFFIX="Jr"),
    iowa_row("1002", "Alice", "Doe", PHONENO="515.555.0123"),
    iowa_row("1003", "Bob", "Smith", CITY="CENTERVILLE", ZIP_CODE="52544", COUNTY="APPANOOSE", CONGRESSIONAL="3"),
]


def test_header_file_imports_voters_and_households(rsync: redis.Redis, tmp_path: Path) -> None:
    s = run(rsync, tmp_path, write_iowa(tmp_path / "roll.csv", FAMILY))
    assert (s.status, s.rows, s.imported, s.active, s.rejected) == ("committed", 3, 3, 3, 0)
    store = SyncVoterStore(rsync)
    john = store.get("1001")
    assert john is not None
    assert (john.first, john.middle, john.last, john.suffix, john.city) == ("JOHN", "Q", "DOE", "JR", "AMES")
    assert (john.street, john.house_num, john.zip, john.birth_year, john.district) == (
        "MAPLE ST",
        "12",
        "50010",
        1970,
        "4",
    )
    assert john.public_name == "John Q Doe Jr of Ames"
    # Both registrations with the number are one household, read back by first name.
    assert [v.first for v in store.by_phone("+15155550123")] == ["ALICE", "JOHN"]
    assert store.by_phone("515-555-0123") == store.by_phone("+15155550123")
    assert store.count_active() == 3 and store.is_active("1003") and not store.is_active("9999")
    assert store.get("9999") is None
    assert s.new_phones == {"+15155550123"} and s.new_phones_count == 1
    summary = json.loads(Path(s.summary_path).read_text())
    assert summary["imported"] == 3 and "+15155550123" not in Path(s.summary_path).read_text()
    # The matcher's index has the active voters.
    assert all(rsync.zscore(k, member(john)) is not None for k in bucket_keys(john))


def test_headerless_parts_and_zip_import_the_same_roll(rsync: redis.Redis, tmp_path: Path) -> None:
    parts = [write_iowa(tmp_path / f"part{i}.txt", [row], header=False) for i, row in enumerate(FAMILY)]
    zpath = tmp_path / "delivery.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for p in parts:
            z.write(p, p.name)
    s = run(rsync, tmp_path, *parts)
    by_parts = SyncVoterStore(rsync).get_many(["1001", "1002", "1003"])
    rsync.flushdb()
    sz = run(rsync, tmp_path, zpath)
    assert s.imported == sz.imported == 3
    assert SyncVoterStore(rsync).get_many(["1001", "1002", "1003"]) == by_parts
    assert by_parts["1003"].city == "CENTERVILLE"  # residence city, not the mailing one
    assert sz.files == ["delivery.zip:part0.txt", "delivery.zip:part1.txt", "delivery.zip:part2.txt"]


def test_headerless_history_columns_are_accepted(rsync: redis.Redis, tmp_path: Path) -> None:
    rows = [row + ["GENERAL 2024", "Y"] for row in FAMILY]
    s = run(rsync, tmp_path, write_iowa(tmp_path / "hist.csv", rows, header=False))
    assert s.imported == 3 and s.rejected == 0


def test_nc_latin1_file(rsync: redis.Redis, tmp_path: Path) -> None:
    cols = NCSBE_COLUMNS
    rows = [
        {
            "county_id": "92",
            "county_desc": "WAKE",
            "voter_reg_num": "000123",
            "ncid": "AA1",
            "last_name": "PEÑA",
            "first_name": "JOSÉ",
            "status_cd": "A",
            "res_street_address": "12  OAK  ST",
            "res_city_desc": "RALEIGH",
            "zip_code": "27601",
            "full_phone_number": "9195550100",
            "registr_dt": "05/06/2010",
            "birth_year": "1980",
            "cong_dist_abbrv": "2",
        },
        {
            "county_id": "92",
            "county_desc": "WAKE",
            "voter_reg_num": "000124",
            "ncid": "AA2",
            "last_name": "LEE",
            "first_name": "ANN",
            "status_cd": "R",
            "registr_dt": "05/06/2010",
            "cong_dist_abbrv": "2",
        },
        {
            "county_id": "",
            "voter_reg_num": "",
            "ncid": "AA3",
            "last_name": "KIM",
            "first_name": "SAM",
            "status_cd": "S",
            "registr_dt": "2011-01-01",
            "cong_dist_abbrv": "02",
        },
    ]
    path = tmp_path / "ncvoter92.txt"
    with open(path, "w", newline="", encoding="latin-1") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(cols)
        for row in rows:
            w.writerow([row.get(c, "") for c in cols])
    s = run(rsync, tmp_path, path)
    assert s.formats == {"ncvoter92.txt": "ncsbe"} and s.imported == 3 and s.active == 1
    store = SyncVoterStore(rsync)
    jose = store.get("92-000123")
    assert jose is not None and (jose.first, jose.last) == ("JOSÉ", "PEÑA")
    assert (jose.house_num, jose.street, jose.phone, jose.district) == ("12", "OAK ST", "+19195550100", "2")
    assert store.get("92-000124").status == "inactive"  # type: ignore[union-attr]  # R: removed
    assert store.get("AA3").status == "pending"  # type: ignore[union-attr]  # S: temporary, ncid as key


def test_malformed_rows_are_reported_with_line_numbers(rsync: redis.Redis, tmp_path: Path) -> None:
    rows = [
        FAMILY[0],
        FAMILY[1][:10],  # line 3: wrong column count
        iowa_row("1004", "Ann", "Lee", LAST_UPDATED_DATE="13/45/2024"),  # line 4: bad date
        iowa_row("", "Nobody", "Here"),  # line 5: missing REGN_NUM
        iowa_row("1006", "Tom", "Ray", PHONENO="555-0199"),  # line 6: bad phone, imported anyway
        iowa_row("1007", "Kim", "Ray", VOTERSTATUS="Deceased?"),  # line 7: unknown status
        iowa_row("1008", "Amy", "Ray", BIRTHDATE="02/30/1980"),  # line 8: bad birth date, imported
    ]
    s = run(rsync, tmp_path, write_iowa(tmp_path / "bad.csv", rows))
    assert (s.rows, s.rejected, s.warnings, s.imported) == (7, 4, 2, 3)
    got = {(x["line"], x["action"]): x for x in rejects(s)}
    assert "expected 40 columns, got 10" in got[("3", "rejected")]["reason"]
    assert "LAST_UPDATED_DATE" in got[("4", "rejected")]["reason"] and got[("4", "rejected")]["regn_num"] == "1004"
    assert got[("5", "rejected")]["reason"] == "missing REGN_NUM"
    assert "PHONENO" in got[("6", "imported")]["reason"] and "555" not in got[("6", "imported")]["reason"]
    assert "VOTERSTATUS" in got[("7", "rejected")]["reason"]
    assert "BIRTHDATE" in got[("8", "imported")]["reason"]
    store = SyncVoterStore(rsync)
    assert store.get("1006").phone is None and store.get("1008").birth_year is None  # type: ignore[union-attr]
    assert store.get("1004") is None


@pytest.mark.parametrize(("batch", "workers"), [(1000, 1), (1, 1), (1, 3)])  # same batch, across batches
def test_duplicates_keep_the_latest_last_updated_date(
    rsync: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int, workers: int
) -> None:
    monkeypatch.setattr(importer, "BATCH_ROWS", batch)
    rows = [
        iowa_row("2001", "Old", "Name", LAST_UPDATED_DATE="01/01/2020"),
        iowa_row("2001", "New", "Name", LAST_UPDATED_DATE="01/01/2024", VOTERSTATUS="Inactive"),
        iowa_row("2002", "Newer", "Row", LAST_UPDATED_DATE="2024-06-01"),
        iowa_row("2002", "Older", "Row", LAST_UPDATED_DATE="2023-06-01"),
    ]
    s = run(rsync, tmp_path, write_iowa(tmp_path / "dups.csv", rows), workers=workers)
    store = SyncVoterStore(rsync)
    assert store.get("2001").first == "NEW" and not store.is_active("2001")  # type: ignore[union-attr]
    assert store.get("2002").first == "NEWER" and store.is_active("2002")  # type: ignore[union-attr]
    assert (s.imported, s.superseded, s.active) == (2, 2, 1)
    assert {x["line"] for x in rejects(s) if x["action"] == "superseded"} >= {"5"}


def test_reimport_updates_changed_and_deactivates_missing(rsync: redis.Redis, tmp_path: Path) -> None:
    run(rsync, tmp_path, write_iowa(tmp_path / "v1.csv", FAMILY))
    before = rsync.hgetall("vr:v:1002")
    old_bob = SyncVoterStore(rsync).get("1003")
    rsync.set("dl:standing:1002", "1001")  # another package's data about an unchanged voter
    v2 = [
        iowa_row(
            "1001", "John", "Doe", MIDDLE_NAME="Q", NAME_SUFFIX="Jr", VOTERSTATUS="Inactive", PHONENO="(515) 555-0123"
        ),
        FAMILY[1],
        iowa_row("1003", "Bob", "Smith", CITY="AMES", PHONENO="5155550177"),  # moved, got a phone
        iowa_row("1004", "Eve", "Stone"),
    ]
    s = run(rsync, tmp_path, write_iowa(tmp_path / "v2.csv", v2))
    store = SyncVoterStore(rsync)
    assert (s.new, s.changed, s.unchanged, s.active, s.deactivated) == (1, 2, 1, 3, 1)
    assert store.get("1001").status == "inactive" and not store.is_active("1001")  # type: ignore[union-attr]
    assert rsync.hget("vr:v:1001", "status") == "inactive"
    bob = store.get("1003")
    assert bob is not None and bob.city == "AMES" and store.by_phone("+15155550177") == [bob]
    assert all(rsync.zscore(k, member(old_bob)) is None for k in bucket_keys(old_bob))  # type: ignore[arg-type]
    assert all(rsync.zscore(k, member(bob)) is not None for k in bucket_keys(bob))
    after = rsync.hgetall("vr:v:1002")
    assert {k: v for k, v in after.items() if k[0] != "_"} == {k: v for k, v in before.items() if k[0] != "_"}
    assert rsync.get("dl:standing:1002") == "1001"
    assert [v.first for v in store.by_phone("+15155550123")] == ["ALICE"]  # John is inactive now
    assert s.new_phones == {"+15155550177"}
    # A third import without Eve marks her inactive; the household of two is unchanged.
    s3 = run(rsync, tmp_path, write_iowa(tmp_path / "v3.csv", v2[:3]))
    assert s3.deactivated == 1 and not store.is_active("1004") and store.get("1004").status == "inactive"  # type: ignore[union-attr]


def test_district_filter_keeps_one_district(rsync: redis.Redis, tmp_path: Path) -> None:
    s = run(rsync, tmp_path, write_iowa(tmp_path / "roll.csv", FAMILY), district="03")
    assert (s.imported, s.filtered) == (1, 2)
    assert SyncVoterStore(rsync).get("1003") is not None and SyncVoterStore(rsync).get("1001") is None
    with pytest.raises(NothingToImport):
        run(rsync, tmp_path, write_iowa(tmp_path / "roll.csv", FAMILY), district="9")
    assert SyncVoterStore(rsync).count_active() == 1  # the roll in service is unchanged


def test_unreadable_file_leaves_the_roll_unchanged(rsync: redis.Redis, tmp_path: Path) -> None:
    run(rsync, tmp_path, write_iowa(tmp_path / "roll.csv", FAMILY))
    junk = tmp_path / "junk.csv"
    junk.write_text("NAME,ADDRESS\nfoo,bar\n")
    junk_nc = tmp_path / "junk.tsv"
    junk_nc.write_text("ncid\tname\nx\ty\n")
    with pytest.raises(FormatError):
        run(rsync, tmp_path, write_iowa(tmp_path / "part.csv", FAMILY[:1]), junk_nc)
    with pytest.raises(NothingToImport):
        run(rsync, tmp_path, junk)
    assert SyncVoterStore(rsync).count_active() == 3
    summaries = [json.loads(p.read_text()) for p in sorted((tmp_path / "imports").glob("*.summary.json"))]
    assert [x["status"] for x in summaries].count("aborted") == 2
    assert any("junk.tsv: header lacks" in x["error"] for x in summaries)


def test_second_import_refused_while_one_runs(rsync: redis.Redis, tmp_path: Path) -> None:
    rsync.set(importer.LOCK, f"{os.uname().nodename}:{os.getpid()}")  # "another import" = this live process
    with pytest.raises(ImportLocked):
        run(rsync, tmp_path, write_iowa(tmp_path / "roll.csv", FAMILY))
    rsync.delete(importer.LOCK)


def test_audit_event_with_counts(rsync: redis.Redis, tmp_path: Path) -> None:
    from audit.log import AuditLog

    log = AuditLog(tmp_path / "audit.log")
    run(rsync, tmp_path, write_iowa(tmp_path / "roll.csv", FAMILY), audit=log)
    log.close()
    events = [json.loads(x) for x in (tmp_path / "audit.log").read_text().splitlines()]
    assert events[-1]["type"] == "voter-roll-imported"
    assert events[-1]["data"] == {"file": "roll.csv", "rows": 3, "active": 3, "inactive": 0, "rejected": 0}
    assert "555" not in audit_text_without_hashes(tmp_path / "audit.log")
    assert [e["type"] for e in events] == ["voter-roll-imported"]  # a first import names nobody
    # A re-import says who left and who joined the roll, for the replay's eligibility.
    v2 = [
        iowa_row("1001", "John", "Doe", MIDDLE_NAME="Q", NAME_SUFFIX="Jr", VOTERSTATUS="Inactive"),
        FAMILY[1],
        FAMILY[2],
        iowa_row("1004", "Eve", "Stone"),
    ]
    log = AuditLog(tmp_path / "audit.log")
    run(rsync, tmp_path, write_iowa(tmp_path / "v2.csv", v2), audit=log)
    log.close()
    events = [json.loads(x) for x in (tmp_path / "audit.log").read_text().splitlines()][1:]
    assert [(e["type"], e["subject"], e["data"]) for e in events[1:]] == [
        ("voter-status", {"regn_num": "1001", "name": "John Q Doe Jr of Ames"}, {"status": "inactive"}),
        ("voter-status", {"regn_num": "1004", "name": "Eve Stone of Ames"}, {"status": "active"}),
    ]
    assert not rsync.keys("vr:left:*") and not rsync.keys("vr:came:*")


def _big_roll(path: Path, n: int, first: str) -> Path:
    return write_iowa(
        path,
        [iowa_row(str(100000 + i), f"{first}{i % 97}", f"Name{i}", PHONENO=f"515555{i % 10000:04d}") for i in range(n)],
    )


def test_killed_import_leaves_previous_roll_and_rerun_completes(rsync: redis.Redis, tmp_path: Path) -> None:
    old = _big_roll(tmp_path / "old.csv", 300, "Old")
    pct = rsync.config_get(importer.AOF_PCT)[importer.AOF_PCT]
    run(rsync, tmp_path, old)
    assert rsync.config_get(importer.AOF_PCT)[importer.AOF_PCT] == pct  # AOF rewrites resume after an import
    new = _big_roll(tmp_path / "new.csv", 30000, "New")  # different names: every row changes
    url = "redis://{host}:{port}/{db}".format(**rsync.connection_pool.connection_kwargs)
    code = (
        "import sys; from pathlib import Path; import redis; from voter_registry import importer\n"
        "importer.BATCH_ROWS = 200\n"
        f"r = redis.Redis.from_url({url!r}, decode_responses=True)\n"
        f"importer.import_voters(r, [Path({str(new)!r})], out_dir=Path({str(tmp_path / 'imports')!r}),"
        " progress=False, workers=2)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.monotonic() + 60
    gen = None
    while time.monotonic() < deadline:
        gen = rsync.hget("vr:meta", "importing")
        if gen and rsync.scard(f"vr:gen:{gen}:came") > 2000:
            break
        time.sleep(0.01)
    assert rsync.config_get(importer.AOF_PCT)[importer.AOF_PCT] == "0"  # paused while the rows stream
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert gen is not None and rsync.scard(f"vr:gen:{gen}:came") < 30000, "import was not caught half way"
    store = SyncVoterStore(rsync)
    assert store.count_active() == 300  # the previous roll is still in service
    assert rsync.hget("vr:meta", "generation") == "1"
    assert not store.is_active("100400") and store.get("100400").status == "inactive"  # type: ignore[union-attr]
    time.sleep(0.5)  # the killed run's workers die with it (PR_SET_PDEATHSIG): nothing may write after this
    frozen = rsync.scard(f"vr:gen:{gen}:came")
    time.sleep(0.5)
    assert rsync.scard(f"vr:gen:{gen}:came") == frozen, "an orphaned worker is still importing"
    s = run(rsync, tmp_path, new)  # the re-run takes over the dead run's lock and completes
    assert s.status == "committed" and store.count_active() == 30000 and s.imported == 30000
    assert rsync.config_get(importer.AOF_PCT)[importer.AOF_PCT] == pct  # the killed run's pause is undone
    assert store.get("100001").first == "NEW1" and store.is_active("100400")  # type: ignore[union-attr]
    assert not rsync.keys("vr:gen:*") and not rsync.exists(importer.RECHECK)
    # The index agrees with the hashes: every voter filed under its new name, no old name left behind.
    voters = store.get_many(str(100000 + i) for i in range(30000))
    with rsync.pipeline(transaction=False) as p:
        for v in voters.values():
            for k in bucket_keys(v):
                p.zscore(k, member(v))
        assert None not in p.execute()
    stale = [m for k in rsync.scan_iter(match="vr:ix:n:*", count=1000) for m in rsync.zrange(k, 0, -1) if "|OLD" in m]
    assert stale == []


def test_killed_import_new_voters_rechecked_at_next_commit(rsync: redis.Redis, tmp_path: Path) -> None:
    run(rsync, tmp_path, write_iowa(tmp_path / "v1.csv", FAMILY))
    # Simulate what a killed run leaves: a new voter written and indexed, in its generation's working set.
    rsync.hset(
        "vr:v:7777", mapping={"regn_num": "7777", "first": "GHOST", "last": "X", "status": "active", "_gen": "99"}
    )
    rsync.sadd("vr:gen:99:came", "7777")
    s = run(rsync, tmp_path, write_iowa(tmp_path / "v2.csv", FAMILY))  # 7777 is not in this delivery
    assert s.deactivated == 0 and rsync.hget("vr:v:7777", "status") == "inactive"
    assert SyncVoterStore(rsync).count_active() == 3


def test_new_phones_are_numbers_no_previous_voter_had(rsync: redis.Redis, tmp_path: Path) -> None:
    first = run(rsync, tmp_path, write_iowa(tmp_path / "v1.csv", FAMILY))
    assert first.new_phones == {"+15155550123"}
    v2 = [
        *FAMILY,
        iowa_row("1005", "Carl", "Doe", PHONENO="5155550123"),  # joins a known household
        iowa_row("1006", "Dana", "Roe", PHONENO="3195550111"),  # a number never seen
        iowa_row("1007", "Ed", "Roe", PHONENO="3195550112", VOTERSTATUS="Inactive"),
    ]  # not active
    s = run(rsync, tmp_path, write_iowa(tmp_path / "v2.csv", v2))
    assert s.new_phones == {"+13195550111"} and s.new_phones_count == 1
    assert rsync.smembers(s.new_phones_key) == {"+13195550111"} and rsync.ttl(s.new_phones_key) > 0


def test_cli_prints_summary_and_refuses_bad_files(rsync: redis.Redis, tmp_path: Path) -> None:
    url = "redis://{host}:{port}/{db}".format(**rsync.connection_pool.connection_kwargs)
    env = {**os.environ, "REDIS_URL": url, "VAR_DIR": str(tmp_path / "var"), "AUDIT_LOG": str(tmp_path / "a.log")}
    cmd = [sys.executable, "-m", "infra.cli", "import-voters", "--no-progress", "--workers", "2"]
    ok = subprocess.run(
        [*cmd, str(write_iowa(tmp_path / "roll.csv", FAMILY))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "committed" in ok.stdout and "rejected 0" in ok.stdout
    assert list((tmp_path / "var" / "imports").glob("*.summary.json"))
    assert json.loads((tmp_path / "a.log").read_text().splitlines()[-1])["type"] == "voter-roll-imported"
    bad = subprocess.run(
        [*cmd, str(tmp_path / "missing.csv")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1 and "unchanged" in bad.stderr
    assert SyncVoterStore(rsync).count_active() == 3


def test_unbalanced_quote_is_reported_with_the_lines_it_swallowed(rsync: redis.Redis, tmp_path: Path) -> None:
    path = write_iowa(tmp_path / "q.csv", FAMILY)
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace("John", '"John', 1)  # opened on line 2 ...
    lines[2] = lines[2].replace("Alice", 'Alice"', 1)  # ... closed on line 3
    path.write_text("\n".join(lines) + "\n")
    s = run(rsync, tmp_path, path)
    [bad] = [x for x in rejects(s) if x["action"] == "rejected"]
    assert bad["line"] == "3" and "spans lines 2-3" in bad["reason"]
    assert (s.rejected, s.imported) == (1, 1) and SyncVoterStore(rsync).get("1003") is not None


def test_a_roll_that_shrinks_a_lot_is_refused_unless_allowed(
    rsync: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "SHRINK_FLOOR", 1)
    run(rsync, tmp_path, write_iowa(tmp_path / "full.csv", FAMILY))
    part = write_iowa(tmp_path / "part.csv", FAMILY[:1])  # a delivery missing two of three voters
    with pytest.raises(RollShrinks):
        run(rsync, tmp_path, part)
    assert SyncVoterStore(rsync).count_active() == 3
    s = run(rsync, tmp_path, part, max_shrink=None)
    assert s.deactivated == 2 and SyncVoterStore(rsync).count_active() == 1


_name = (
    st.text(alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ '-,\"ÑÉ"), min_size=1, max_size=12)
    .map(lambda x: " ".join(x.split()))
    .filter(bool)
)


_row = st.tuples(
    st.integers(1, 10**9),
    _name,
    _name,
    st.sampled_from(["", "5155550123", "(319) 555-0111"]),
    st.sampled_from(["Active", "Inactive", "Pending"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=8, unique_by=lambda t: t[0]))
def test_any_roll_parses_back_to_the_same_voters(tmp_path: Path, rows: list[tuple]) -> None:
    """Quotes, commas and accents in names survive both layouts; every row comes back once, in order."""
    from voter_registry.formats import Row as ParsedRow
    from voter_registry.importer import iter_rows

    written = [
        iowa_row(str(n), first, last, PHONENO=phone, VOTERSTATUS=status) for n, first, last, phone, status in rows
    ]
    for header in (True, False):
        path = write_iowa(tmp_path / f"p{header}.csv", written, header=header)
        got = list(iter_rows([path]))
        assert all(isinstance(x, ParsedRow) for x in got)
        assert [(x.voter.regn_num, x.voter.first, x.voter.last, x.voter.status, x.voter.phone) for x in got] == [
            (str(n), first.upper(), last.upper(), status.lower(), to_e164(phone))
            for n, first, last, phone, status in rows
        ]
        assert [x.line for x in got] == list(range(1 + header, len(rows) + 1 + header))


def test_duplicates_across_batches_on_a_reimport(
    rsync: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "BATCH_ROWS", 1)
    run(
        rsync,
        tmp_path,
        write_iowa(tmp_path / "v1.csv", [iowa_row("3001", "Ann", "Fox"), iowa_row("3002", "Ben", "Fox")]),
    )
    rows = [
        iowa_row("3001", "Ann", "Fox", VOTERSTATUS="Inactive", LAST_UPDATED_DATE="01/01/2020"),
        iowa_row("3002", "Ben", "Fox", LAST_UPDATED_DATE="01/01/2020"),
        iowa_row("3001", "Ann", "Fox", LAST_UPDATED_DATE="01/01/2025"),
        iowa_row("3002", "Ben", "Fox", VOTERSTATUS="Inactive", LAST_UPDATED_DATE="01/01/2025"),
    ]
    s = run(rsync, tmp_path, write_iowa(tmp_path / "v2.csv", rows))
    store = SyncVoterStore(rsync)
    assert store.is_active("3001") and store.get("3001").status == "active"  # type: ignore[union-attr]
    assert not store.is_active("3002") and rsync.hget("vr:v:3002", "status") == "inactive"
    assert (s.imported, s.active, s.deactivated, s.superseded) == (2, 1, 1, 2)


def test_voter_records_read_back_exactly_as_the_file_says(rsync: redis.Redis, tmp_path: Path) -> None:
    """Voter hashes are written as serialized listpacks (RESTORE); awkward values must read back as given."""
    odd = [
        iowa_row("0001234", "José", "Peña", HOUSE_NUM="0", ZIP_CODE="02134", CONGRESSIONAL="03"),
        iowa_row("9999999999999999999", "Ann", "Lee", HOUSE_NUM="-5", STREET_NAME="X" * 70, BIRTHDATE="1/2/1900"),
        iowa_row("2147483648", "Ed", "O'Neil", HOUSE_NUM="4095", HOUSE_SUFFIX="1/2", STREET_NAME="8388608"),
        iowa_row("127", "Al", "Bo", HOUSE_NUM="32768", PHONENO="5155550199", NAME_SUFFIX="III"),
    ]
    run(rsync, tmp_path, write_iowa(tmp_path / "odd.csv", odd))
    store = SyncVoterStore(rsync)
    for row in odd:
        want = importer.iter_rows([tmp_path / "odd.csv"])
        expected = {x.voter.regn_num: x.voter for x in want if not isinstance(x, importer.Reject)}
        regn = row[0]
        assert store.get(regn) == expected[regn]
        stored = rsync.hgetall(f"vr:v:{regn}")
        assert {k: v for k, v in stored.items() if k != "_i"} == {
            k: v for k, v in expected[regn].to_dict().items() if v
        }
    # A rewrite of the same voters (nothing changed) leaves them as they were.
    s = run(rsync, tmp_path, write_iowa(tmp_path / "odd.csv", odd))
    assert s.unchanged == len(odd) and s.changed == 0


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=70)


@given(
    st.dictionaries(
        _TEXT.filter(bool),
        st.one_of(st.integers(-(2**64), 2**64).map(str), _TEXT, st.from_regex(r"-?0*[0-9]{1,20}", fullmatch=True)),
        min_size=1,
        max_size=20,
    )
)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_serialized_hashes_restore_to_the_same_fields(
    rsync: redis.Redis, redis_url: str, fields: dict[str, str]
) -> None:
    from voter_registry.hashdump import HashDumper

    rsync.hset("probe", "a", "b")
    dumper = HashDumper(HashDumper.version_of(redis.Redis.from_url(redis_url).dump("probe")))
    payload = dumper.payload(fields.items())
    if payload is None:  # a value longer than 64 bytes: written with HSET instead
        assert any(len(v.encode()) >= 64 for v in fields.values())
        return
    rsync.restore("h", 0, payload, replace=True)
    assert rsync.hgetall("h") == fields


def test_partitions_together_read_exactly_the_whole_file(tmp_path: Path) -> None:
    """Workers each parse one partition (plain lines of other partitions are skipped unparsed): together
    they must see every row and every reject once, with the same line numbers as a single reader."""
    from voter_registry.formats import RowStream, sources

    rows = [iowa_row(str(5000 + i), f"Name{i}", f"Last{i}") for i in range(40)]
    rows[3] = iowa_row("5003", 'Jo "JJ"', "Quote")  # quotes inside a field
    rows[10] = iowa_row("5010", "Ann", "Lee, Jr")  # a quoted comma
    rows[20] = iowa_row("5001", "Dup", "Row", LAST_UPDATED_DATE="02/01/2024")  # duplicate of line 3
    path = write_iowa(tmp_path / "p.csv", rows)
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    text.insert(8, "\r\n")  # a blank line
    text.insert(15, '5999,"Unbalanced,Quote\r\n')  # swallows the lines after it up to the next quote
    text.insert(18, 'closes",here\r\n')
    text.insert(30, "   \r\n")
    text.insert(33, "5998,Short,Row\r\n")  # wrong column count
    path.write_text("".join(text), encoding="utf-8")

    def seen(part: tuple[int, int] | None) -> list[tuple[int, str, str]]:
        out = []
        for x in RowStream(sources([path]), "iowa", part):
            out.append((x.line, x.voter.regn_num, "") if hasattr(x, "voter") else (x.line, x.regn_num, x.reason))
        return out

    whole = sorted(seen(None))
    assert any("spans lines" in r for _, _, r in whole) and any("columns" in r for _, _, r in whole)
    for n in (2, 3):
        assert sorted(x for k in range(n) for x in seen((k, n))) == whole
