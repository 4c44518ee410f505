"""The compiled line checker (audit/_scan.c) against the reference check, line by line.

The compiled checker must prove exactly the lines the reference (LINE_RE, json.loads, canonical
re-serialisation) accepts: a line it proves that the reference rejects would let tampering through; a
line the reference accepts that it cannot prove only costs speed (Python takes over), but the writer's
lines must all be proven. Generated events cover non-ASCII text, every escape, big integers, nesting,
and the spellings that are not canonical: floats, whitespace, reordered and repeated keys, needless
or upper-case escapes, bad UTF-8.
"""

from __future__ import annotations

import hashlib
import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import errors, native
from audit.checks import check_lines
from audit.hashing import ZERO_HASH, canonical
from audit.native_check import proven_lines
from audit.replay import Replay

LIB = native.load()
pytestmark = pytest.mark.skipif(LIB is None, reason=f"compiled checker not built: {native.why()}")

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # any code point but surrogates
KEYS = st.one_of(TEXT, st.sampled_from(["a", "b", "hash", "é", "\u2028", '"', "\\", "\n", "\x01", "z\x7f"]))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    TEXT,
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=12
)
PARTY = st.one_of(
    st.none(), st.fixed_dictionaries({"name": TEXT, "regn_num": TEXT.filter(bool)})
)


def _line(data: dict, actor: object = None, subject: object = None, seq: int = 1, prev: str = ZERO_HASH) -> bytes:
    """One event line as the writer writes it (canonical JSON with its hash)."""
    ev = {"actor": actor, "data": data, "prev": prev, "seq": seq, "subject": subject,
          "time": "2026-11-22T05:00:00.000001Z", "type": "vote"}
    ev["hash"] = hashlib.sha256(canonical(ev)).hexdigest()
    return canonical(ev)


def _rehashed(line: bytes) -> bytes:
    """`line` with its hash recomputed over its own bytes (so only its form can be wrong)."""
    i = line.rfind(b',"hash":"')
    if i < 0 or len(line) < i + 75:
        return line
    digest = hashlib.sha256(line[: i + 1] + line[i + 75 :]).hexdigest().encode()
    return line[: i + 9] + digest + line[i + 73 :]


def _reference_accepts(data: bytes) -> bool:
    try:
        check_lines(data, strict=True)
    except errors.VerificationError:
        return False
    return True


def _agree(line: bytes) -> None:
    data = line + b"\n"
    assert proven_lines(LIB, data) == int(_reference_accepts(data)), line


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(KEYS, VALUES, max_size=5), actor=PARTY, subject=PARTY)
def test_what_the_writer_writes_is_proven(data: dict, actor: object, subject: object) -> None:
    line = _line(data, actor, subject)
    assert proven_lines(LIB, line + b"\n") == 1, line


EDITS = [
    (b":", b": "),
    (b",", b", "),
    (b"{", b"{ "),
    (b"}", b" }"),
    (b"[", b"[\n"),
    (b"\\u00", b"\\u00".upper()),
    (b"\\n", b"\\u000a"),
    (b"\\u001f", b"\\u001F"),
    (b"\\\\", b"\\/"),
    (b"0", b"0.0"),
    (b"1", b"1e3"),
    (b"1", b"01"),
    (b"-", b"-0"),
    (b"true", b"True"),
    (b"null", b"NaN"),
    (b"\xc3\xa9", b"\xc3"),
    (b"\xc3\xa9", b"\xe0\x80\x80"),
    (b"\xe2\x80\xa8", b"\xed\xa0\x80"),  # an encoded surrogate
    (b"\xe2\x80\xa8", b"\\u2028"),
    (b"e", b"\\u0065"),
    (b"\x7f", b"\\u007f"),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.dictionaries(KEYS, VALUES, min_size=1, max_size=5),
    edit=st.sampled_from(EDITS),
    where=st.integers(min_value=0, max_value=1000),
)
def test_an_edited_line_is_proven_only_when_the_reference_accepts_it(data: dict, edit: tuple, where: int) -> None:
    line = _line(data, {"name": "Zoë", "regn_num": "100000001"})
    old, new = edit
    spots = [i for i in range(len(line)) if line.startswith(old, i)]
    if spots:
        i = spots[where % len(spots)]
        line = line[:i] + new + line[i + len(old) :]
    _agree(_rehashed(line))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.dictionaries(KEYS, VALUES, min_size=1, max_size=5),
    edit=st.sampled_from(EDITS),
    where=st.integers(min_value=0, max_value=1000),
    decoy=st.booleans(),
)
def test_hashing_ahead_on_the_other_core_changes_no_verdict(data: dict, edit: tuple, where: int,
                                                          decoy: bool) -> None:
    """The line hashes computed ahead (dn_hash, which finds the hash member from the line's end) give the
    same verdict as the checker hashing each line itself, also with a decoy hash member inside `data`."""
    if decoy:
        data = {**data, "hash": "0" * 64, "prev": ZERO_HASH}
    first = _line(data, {"name": "Zoë", "regn_num": "100000001"})
    old, new = edit
    spots = [i for i in range(len(first)) if first.startswith(old, i)]
    line = first
    if spots:
        i = spots[where % len(spots)]
        line = _rehashed(first[:i] + new + first[i + len(old) :])
    second = _line({"n": 2}, seq=2, prev=json.loads(first)["hash"])
    for log in (line + b"\n", first + b"\n" + second + b"\n", line + b"\n" + second + b"\n"):
        assert proven_lines(LIB, log) == proven_lines(LIB, log, ahead=False), log


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(KEYS, VALUES, min_size=2, max_size=5), repeat=st.booleans())
def test_reordered_or_repeated_keys_are_not_proven(data: dict, repeat: bool) -> None:
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    items = [json.dumps(k, ensure_ascii=False) + ":" + json.dumps(v, sort_keys=True, separators=(",", ":"),
                                                                   ensure_ascii=False) for k, v in sorted(data.items())]
    bad = "{" + ",".join(items + items[:1] if repeat else items[::-1]) + "}"
    line = _line({}).replace(b'"data":{}', b'"data":' + bad.encode(), 1)
    assert body != bad
    _agree(_rehashed(line))
    assert proven_lines(LIB, _rehashed(line) + b"\n") == 0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable + "é\u2028\x00\x1f", max_size=40))
def test_any_text_in_a_string_agrees(s: str) -> None:
    """Raw text (control characters, quotes, backslashes, unicode) put into a string unescaped."""
    line = _line({"s": "PLACEHOLDER"}).replace(b"PLACEHOLDER", s.encode(), 1)
    _agree(_rehashed(line))


def test_floats_big_integers_and_depth() -> None:
    base = _line({"x": 0})
    for value, proven in [
        (b"1.5", 0), (b"-1", 1), (b"1E5", 0), (b"9" * 4300, 1), (b"9" * 4301, 0), (b"-" + b"9" * 500, 1),
        (b"[" * 60 + b"]" * 60, 1), (b"[" * 70 + b"]" * 70, 0), (b'"\\u0000\\u001f\\b\\t\\n\\f\\r\\"\\\\"', 1),
    ]:
        line = _rehashed(base.replace(b'"x":0', b'"x":' + value, 1))
        assert proven_lines(LIB, line + b"\n") == proven, value[:20]
        if proven:
            assert _reference_accepts(line + b"\n")  # deeper or longer: Python decides, never proven here


def test_chain_seq_and_hash_are_checked_line_by_line() -> None:
    lines = [_line({"n": 1})]
    lines.append(_line({"n": 2}, seq=2, prev=json.loads(lines[0])["hash"]))
    lines.append(_line({"n": 3}, seq=3, prev=json.loads(lines[1])["hash"]))
    good = b"\n".join(lines) + b"\n"
    assert proven_lines(LIB, good) == 3
    assert proven_lines(LIB, b"\n".join([lines[0], lines[2], lines[1]]) + b"\n") == 1  # reordered
    assert proven_lines(LIB, b"\n".join([lines[0], lines[2]]) + b"\n") == 1  # dropped
    assert proven_lines(LIB, good.replace(b'"n":2', b'"n":5')) == 1  # edited, hash not recomputed
    assert proven_lines(LIB, b"\n".join([lines[0], _rehashed(lines[1].replace(b'"n":2', b'"n":5'))]) + b"\n") == 2
    assert proven_lines(LIB, good.replace(b'"seq":2', b'"seq":02')) == 1


def test_a_fallback_in_the_middle_gives_the_same_result_as_the_reference() -> None:
    """A line only Python can prove (integer nesting deeper than the compiled checker goes) in the middle
    of a log: the compiled checker proves the lines before it, Python the rest; same check and replay."""
    lines, prev = [], ZERO_HASH
    deep: object = 1
    for _ in range(80):
        deep = [deep]
    for n in range(1, 101):
        data = {"amount_cents": n, "deep": deep} if n == 40 else {"amount_cents": n}
        ln = _line(data, None, {"name": "A", "regn_num": "1"}, seq=n, prev=prev).replace(b'"vote"', b'"mint"')
        ln = _rehashed(ln)
        prev = json.loads(ln)["hash"]
        lines.append(ln)
    data = b"\n".join(lines) + b"\n"
    assert proven_lines(LIB, data) == 39
    fast, ref = Replay(), Replay()
    got, want = check_lines(data, fast), check_lines(data, ref, strict=True)
    assert got.proven_by == "native+scan"
    assert (got.count, got.levels, got.last_hash) == (want.count, want.levels, want.last_hash)
    assert fast.balances == ref.balances == {"1": sum(range(1, 101))}


def test_chunks_hashed_ahead_and_checked_in_step_name_the_same_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many small chunks (the hashing thread ahead of the checker, the checker ahead of the replay): the
    same check and replay as the reference, and an edited line in the middle is named exactly."""
    from audit import native_check

    monkeypatch.setattr(native_check, "CHUNK", 7)
    lines, prev = [], ZERO_HASH
    for n in range(1, 101):
        ln = _line({"amount_cents": n}, None, {"name": "A", "regn_num": str(n % 3)}, seq=n, prev=prev)
        ln = _rehashed(ln.replace(b'"vote"', b'"mint"'))
        prev = json.loads(ln)["hash"]
        lines.append(ln)
    data = b"\n".join(lines) + b"\n"
    fast, ref = Replay(), Replay()
    got, want = check_lines(data, fast), check_lines(data, ref, strict=True)
    assert got.proven_by == "native"
    assert (got.count, got.levels, got.last_hash) == (want.count, want.levels, want.last_hash)
    assert fast.balances == ref.balances
    with pytest.raises(errors.HashMismatch) as bad:
        check_lines(data.replace(b'"amount_cents":57}', b'"amount_cents":75}'), Replay())
    assert bad.value.line == 57


def test_verify_audit_says_which_implementation_proved_the_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from audit.log import AuditLog
    from audit.verify import main

    lg = AuditLog(tmp_path / "audit.log", heads_every_s=None)
    a = {"regn_num": "100000001", "name": "Zoë \"Q\" of Ames"}
    lg.append_many_sync([("mint", None, a, {"amount_cents": 5})] * 3)
    lg.publish_head()
    lg.close()
    assert main([str(lg.path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "verified 3 events" in out and "lines proven by the compiled checker" in out
    monkeypatch.setattr(native.LIBRARY, "_state", None)  # loaded again, now disabled
    monkeypatch.setenv("DN_NATIVE", "0")
    assert main([str(lg.path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "lines proven by Python (compiled checker not used: disabled by DN_NATIVE=0)" in out
    assert "total 15 cents" in out


def test_the_library_is_built_once_into_the_cache_named_by_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DN_NATIVE_CACHE", str(tmp_path / "cache"))
    first = native.build()
    assert first.parent == tmp_path / "cache" and first.name.startswith("_scan-") and first.suffix == ".so"
    mtime = first.stat().st_mtime_ns
    assert native.build() == first and first.stat().st_mtime_ns == mtime  # not rebuilt
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.name]  # no temporary file left
