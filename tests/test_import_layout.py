"""import-voters writes the same keys as filing the voters one by one (`store.file_voter`).

The importer builds its index commands (`index.filing`, aggregated per batch) and its voter hashes
(serialized listpacks restored in one command) by its own fast paths; the matcher and the voter store
read the layout that `index_voter` and HSET define. These tests import awkward names and places in bulk
and compare every key, field, member and counter with the one-by-one filing of the same voters.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_importer import iowa_row, run, write_iowa
from voter_registry import importer
from voter_registry.formats import Row
from voter_registry.importer import iter_rows
from voter_registry.store import file_voter

AWKWARD = [
    iowa_row("2001", "Mary", "Smith-Jones", MIDDLE_NAME="Mary"),  # hyphenated; middle = first
    iowa_row("2002", "J", "De La Cruz", MIDDLE_NAME="Robert", NAME_SUFFIX="III"),  # initial; middle name
    iowa_row("2003", "José", "Peña", CITY="DES MOINES", ZIP_CODE="50309", COUNTY="POLK"),  # non-ASCII
    iowa_row("2004", "Ann", "O'Neil", MIDDLE_NAME="Q", PHONENO="5155550199"),
    iowa_row("2005", "", "Nguyen", CITY="", ZIP_CODE=""),  # no first name, no place
    iowa_row("2006", "Bo", "Li", HOUSE_NUM="0012", ZIP_CODE="05010"),  # digits that are not integers
    iowa_row("2007", "Lee", "Ames", STREET_NAME="X" * 70),  # a value too long for the serialized hash
    iowa_row("2008", "Sam", "Doe", VOTERSTATUS="Inactive"),  # not indexed
    iowa_row("2009", "Kim", "Van Der Berg", MIDDLE_NAME="Kim", PHONENO="5155550199"),  # household
]


def _dump(r: redis.Redis) -> dict[str, object]:
    """Every key's content (hash fields with a value), the import's bookkeeping (`_i`, meta, working sets) left out."""
    out: dict[str, object] = {}
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        if kind == "hash":
            out[key] = {f: v for f, v in r.hgetall(key).items() if f != "_i" and v}  # the importer omits empties
        elif kind == "zset":
            out[key] = sorted(r.zrange(key, 0, -1, withscores=True))
        elif kind == "set":
            out[key] = sorted(r.smembers(key))
        else:
            out[key] = r.get(key)
    return {k: v for k, v in out.items() if k.startswith(("vr:v:", "vr:ix:", "vr:phone:", "vr:active"))}


def _without_zeros(dump: dict[str, object]) -> dict[str, object]:
    """A replaced spelling's counter is left at 0 (and its emptied bucket gone) where filing only the
    final voters has no such field at all: the same for every reader."""
    out = {k: v for k, v in dump.items() if v != []}
    for name in ("vr:ix:ln", "vr:ix:fn", "vr:ix:pl"):
        out[name] = {k: v for k, v in dump.get(name, {}).items() if v != "0"}  # type: ignore[attr-defined]
    return out


def _filed_one_by_one(r: redis.Redis, path: Path) -> dict[str, object]:
    """`_dump` after filing the voters of `path` with `store.file_voter` on an empty database."""
    r.flushdb()
    with r.pipeline(transaction=False) as p:
        for row in iter_rows([path]):
            assert isinstance(row, Row)
            file_voter(p, row.voter)
        p.execute()
    return _dump(r)


def test_bulk_import_writes_what_file_voter_writes(rsync: redis.Redis, tmp_path: Path) -> None:
    path = write_iowa(tmp_path / "roll.csv", AWKWARD)
    s = run(rsync, tmp_path, path)
    assert (s.status, s.imported, s.rejected) == ("committed", len(AWKWARD), 0)
    imported = _dump(rsync)

    filed = _filed_one_by_one(rsync, path)
    # Counters of a field such as an empty first name do not exist in either; the rest is identical.
    assert imported == filed
    assert rsync.hget("vr:v:2003", "first") == "JOSÉ" and rsync.hget("vr:v:2006", "zip") == "05010"


def test_reimport_with_changes_keeps_the_layout(rsync: redis.Redis, tmp_path: Path) -> None:
    run(rsync, tmp_path, write_iowa(tmp_path / "a.csv", AWKWARD))
    changed = [
        iowa_row("2001", "Mary", "Smith", MIDDLE_NAME="Ann"),  # new surname and middle name
        *AWKWARD[1:3],
        iowa_row("2004", "Ann", "O'Neil", MIDDLE_NAME="Q", PHONENO="5155550100"),  # moved household
        *AWKWARD[4:7],
        iowa_row("2008", "Sam", "Doe"),  # now active
        *AWKWARD[8:],
    ]
    path = write_iowa(tmp_path / "b.csv", changed)
    s = run(rsync, tmp_path, path)
    assert (s.status, s.changed, s.unchanged) == ("committed", 3, len(AWKWARD) - 3)
    imported = _dump(rsync)

    filed = _filed_one_by_one(rsync, path)
    assert _without_zeros(imported) == _without_zeros(filed)


@pytest.mark.parametrize("bits", [8, 1 << 27])  # 8 bits: nearly every number is read back (false positives)
def test_first_import_with_duplicates_across_batches(
    rsync: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bits: int
) -> None:
    # A first import reads back only the numbers it may have written already; the result is the same.
    monkeypatch.setattr(importer, "_WRITTEN_BITS", bits)
    monkeypatch.setattr(importer, "BATCH_ROWS", 2)
    later = iowa_row("2001", "Maria", "Smith", LAST_UPDATED_DATE="02/01/2024", PHONENO="5155550100")
    older = iowa_row("2004", "Annie", "O'Neil", LAST_UPDATED_DATE="01/01/2020")
    s = run(rsync, tmp_path, write_iowa(tmp_path / "dups.csv", [*AWKWARD, later, older]), workers=1)
    assert (s.imported, s.superseded, s.new) == (len(AWKWARD), 2, len(AWKWARD))
    imported = _dump(rsync)
    winners = [later if r[0] == "2001" else r for r in AWKWARD]
    filed = _filed_one_by_one(rsync, write_iowa(tmp_path / "winners.csv", winners))
    assert _without_zeros(imported) == _without_zeros(filed)


_CELL = st.one_of(
    st.just(""),
    st.integers(0, 10**12).map(str),
    st.from_regex(r"[+-]?0*[0-9]{1,12}", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=70),
)


@given(st.lists(st.lists(_CELL, min_size=4, max_size=4), min_size=1, max_size=6))
@settings(max_examples=150, deadline=None)
def test_row_encoder_gives_the_bytes_of_the_general_payload(rows: list[list[str]]) -> None:
    """The importer's per-row encoder (cached and fresh fields, integer and string values) serializes
    each row exactly as `HashDumper.payload` serializes its non-empty fields: the same hash, same memory."""
    from voter_registry.hashdump import HashDumper

    names = ("regn_num", "first", "zip", "phone")
    dumper = HashDumper(b"\x0b\x00", ("regn_num", "zip"))
    encode = dumper.row_encoder(names, cached={"first", "zip"})
    for vals in rows * 2:  # the second pass reads the cached entries
        assert encode(vals) == dumper.payload((k, v) for k, v in zip(names, vals, strict=True) if v)


_VALUE = st.one_of(
    st.just(""),
    st.integers(-(2**64), 2**64).map(str),
    st.from_regex(r"[+-]?0*[0-9]{1,20}", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x1e\x1f"), max_size=70),
)


@given(st.lists(st.lists(_VALUE, min_size=15, max_size=15), min_size=1, max_size=8))
@settings(max_examples=150, deadline=None)
def test_compiled_packer_gives_the_bytes_of_the_python_path(rows: list[list[str]]) -> None:
    """New voters' household SADDs and RESTOREs packed in C are byte for byte those packed in Python
    (`_Run._store`); rows with a value too long for a listpack entry are left to Python."""
    import hiredis

    from voter_registry.hashdump import HashDumper
    from voter_registry.native import bulk_restores, why
    from voter_registry.store import PHONE, VOTER

    names = (*importer._FIELDS, importer.SEEN)
    dumper = HashDumper(b"\x0b\x00", importer._NUMERIC)
    bulk = bulk_restores(dumper, names, VOTER, PHONE, importer._PHONE)
    if bulk is None:
        pytest.skip(f"no compiled packer: {why()}")
    for r in rows:
        r[0] = r[0] or "1"  # a registration number is never empty
    built = bulk.build(rows)
    assert built is not None
    blob, commands, left = built
    encode = dumper.row_encoder(names, importer._CACHED)
    expected = []
    for i, vals in enumerate(rows):
        if any(len(v.encode("utf-8", "surrogateescape")) >= 64 for v in vals):
            assert i in left
            continue
        if vals[importer._PHONE]:
            expected.append(hiredis.pack_command(("SADD", PHONE + vals[importer._PHONE], vals[0])))
        expected.append(hiredis.pack_command(("RESTORE", VOTER + vals[0], 0, encode(vals), "REPLACE")))
    assert (blob, commands) == (b"".join(expected), len(expected))


@given(st.lists(st.lists(st.text(max_size=80), min_size=1, max_size=6), max_size=8))
@settings(max_examples=150, deadline=None)
def test_compiled_command_packer_gives_hiredis_bytes(commands: list[list[str]]) -> None:
    """The index's aggregated commands packed in one C call are what hiredis packs one by one; what the C
    packer cannot take (a separator or a surrogate in an argument) it refuses, for hiredis to pack."""
    import hiredis

    from voter_registry.native import packer, why

    p = packer()
    if p is None:
        pytest.skip(f"no compiled packer: {why()}")
    packed = p.pack(commands)
    if packed is None:
        assert any(ch in a for c in commands for a in c for ch in "\x1e\x1f") or any(
            "\ud800" <= ch <= "\udfff" for c in commands for a in c for ch in a
        )
    else:
        assert packed == b"".join(hiredis.pack_command(tuple(c)) for c in commands)
