"""Golden tamper vectors (tests/vectors/audit/*.json, named by the tampering): the verifier reports the
expected error at the expected first bad line or head; the CLI exits 1 and names the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit import errors
from audit.verify import check_heads, check_lines, main

VECTORS = sorted((Path(__file__).parent / "vectors" / "audit").glob("*.json"))


def _log_bytes(vec: dict) -> bytes:
    text = "\n".join(vec["lines"]) + ("\n" if vec["trailing_newline"] else "")
    return text.encode("utf-8")


def _verify(vec: dict) -> None:
    check = check_lines(_log_bytes(vec))
    check_heads(check, vec["heads"], vec["public_key"])


def test_there_are_vectors_for_every_kind_of_tampering() -> None:
    names = {p.stem for p in VECTORS}
    assert {
        "clean",
        "edited-vote",
        "dropped-entry",
        "inserted-entry",
        "reordered",
        "forged-head",
        "torn-last-line",
    } <= names


# the reference, the default (compiled checker) and the Python quick proof
CHECKERS = {"strict": {"strict": True}, "fast": {}, "python": {"native": False}}


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
@pytest.mark.parametrize("how", CHECKERS)
def test_vector(path: Path, how: str) -> None:
    vec = json.loads(path.read_text())
    data = _log_bytes(vec)
    if vec["want_err"] is None:
        check = check_lines(data, **CHECKERS[how])
        assert check_heads(check, vec["heads"], vec["public_key"]) == len(vec["heads"])
        return
    want = getattr(errors, vec["want_err"])
    with pytest.raises(errors.VerificationError) as info:
        check = check_lines(data, **CHECKERS[how])
        check_heads(check, vec["heads"], vec["public_key"])
    assert type(info.value) is want, f"{vec['desc']}: got {info.value!r}"
    assert info.value.line == vec["want_line"], vec["desc"]
    if vec["want_head"] is not None:
        assert info.value.head_index == vec["want_head"]


@pytest.mark.parametrize("name", ["edited-vote", "dropped-entry", "inserted-entry", "reordered"])
def test_cli_names_the_first_bad_line(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vec = json.loads((Path(__file__).parent / "vectors" / "audit" / f"{name}.json").read_text())
    log = tmp_path / "audit.log"
    log.write_bytes(_log_bytes(vec))
    (tmp_path / "audit.heads").write_text("".join(json.dumps(h) + "\n" for h in vec["heads"]))
    assert main([str(log), "--pubkey", vec["public_key"]]) == 1
    err = capsys.readouterr().err
    assert f"first bad line: {vec['want_line']}" in err and vec["want_err"] in err


def test_cli_on_clean_vector_prints_the_replayed_tally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vec = json.loads((Path(__file__).parent / "vectors" / "audit" / "clean.json").read_text())
    log = tmp_path / "audit.log"
    log.write_bytes(_log_bytes(vec))
    (tmp_path / "audit.heads").write_text("".join(json.dumps(h) + "\n" for h in vec["heads"]))
    (tmp_path / "audit_operator.pub").write_text(vec["public_key"] + "\n")
    assert main([str(log)]) == 0
    out = capsys.readouterr().out
    assert "verified 12 events" in out and "3 signed tree heads match" in out
    # Ann -> Bob (abstains), Bob's standing delegation to Cal recalled; Cal yes; Dee voted no directly.
    row = next(ln for ln in out.splitlines() if ln.startswith("119-hr-1234"))
    assert row.split()[1:5] == ["1", "1", "2", "0"]
    assert "100000001" in out and "7492" in out  # Ann: 10000 minted - 2500 paid - 8 demurrage


def test_verifier_runs_standalone_as_a_module(tmp_path: Path) -> None:
    import subprocess
    import sys

    for name, want in (("clean", 0), ("reordered", 1)):
        vec = json.loads((Path(__file__).parent / "vectors" / "audit" / f"{name}.json").read_text())
        log = tmp_path / f"{name}.log"
        log.write_bytes(_log_bytes(vec))
        out = subprocess.run(
            [sys.executable, "-m", "audit.verify", str(log), "--quiet"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent.parent,
            timeout=60,
        )
        assert out.returncode == want, out.stderr
    assert "first bad line: 6" in out.stderr


ODD = {"regn_num": "100000009", "name": 'Zoë "Q" O\'Neil}, \\ ,"data":{} \t\u2028\x7f of Ames'}


def _mixed_log(tmp_path: Path, n: int) -> Path:
    """A log as the service writes it, with the odd spellings canonical JSON allows (escapes, non-ASCII,
    braces and field names inside strings, a nested `hash` key in data), over `n` events."""
    from audit.log import AuditLog

    lg = AuditLog(tmp_path / "audit.log", heads_every_s=None)
    choices = ("yes", "no", "abstain")
    evs: list[tuple] = [
        ("bill-opened", None, None, {"bill": "119-hr-1", "title": 'Ünïcode \\ "title"', "closed_at": None})
    ]
    for i in range(n - 4):
        a = {"regn_num": f"1000{i % 97:05d}", "name": f"Voter {i % 97} of Ames"}
        if i % 7 == 0:
            evs.append(
                (
                    "delegate",
                    a,
                    ODD,
                    {
                        "scope": "standing",
                        "rank": 1 + i % 3,
                        "tentative": False,
                        "shaken_stir": {"attestation": "A", "validated": True},
                    },
                )
            )
        elif i % 11 == 0:
            evs.append(("payment", ODD, a, {"amount_cents": i, "memo": {"hash": "x", "z": [1, {"b": None}]}}))
        else:
            evs.append(("vote", a, None, {"bill": "119-hr-1", "choice": choices[i % 5 % 3], "tentative": False}))
    evs += [
        ("mint", None, ODD, {"amount_cents": 5}),
        ("custom-type-2", ODD, None, {}),
        ("bill-closed", None, None, {"bill": "119-hr-1", "title": "t", "closed_at": "2026-11-21T12:00:00Z"}),
    ]
    lg.append_many_sync(evs)
    lg.close()
    return lg.path


@pytest.mark.parametrize("native", [True, False], ids=["compiled", "python"])
def test_what_the_writer_writes_is_proven_without_the_reference_and_equals_it(tmp_path: Path, native: bool) -> None:
    from audit import native as compiled
    from audit.replay import Replay

    if native and compiled.load() is None:
        pytest.skip(f"compiled checker not built: {compiled.why()}")
    data = _mixed_log(tmp_path, 600).read_bytes()
    fast, ref = Replay(), Replay()
    check = check_lines(data, fast, workers=0, native=native)
    assert check.proven_by == ("native" if native else "scan")  # the quick proof accepted every line
    want = check_lines(data, ref, strict=True)
    assert want.proven_by == "reference"
    assert (
        (check.count, check.levels, check.last_hash)
        == (want.count, want.levels, want.last_hash)
        == (600, want.levels, want.last_hash)
    )
    assert fast.tallies() == ref.tallies() and fast.balances == ref.balances and fast.named == ref.named
    assert fast.balances[ODD["regn_num"]] == ref.balances[ODD["regn_num"]] != 0


def _rehashed(line: bytes) -> bytes:
    """`line` with its hash field recomputed over the line's own bytes (so only its form is wrong)."""
    import hashlib as _hashlib

    i = line.rfind(b',"hash":"')
    digest = _hashlib.sha256(line[: i + 1] + line[i + 75 :]).hexdigest().encode()
    return line[: i + 9] + digest + line[i + 73 :]


@pytest.mark.parametrize(
    "edit",
    [
        (b'"choice":"yes"', b'"choice": "yes"'),  # a space
        (b'{"bill":"119-hr-1","choice":"yes"', b'{"choice":"yes","bill":"119-hr-1"'),  # keys out of order
        (b'"tentative":false}', b'"tentative":false,"tentative":false}'),  # a repeated key
        (b'"bill":"119-hr-1"', b'"bill":"119\\u002dhr-1"'),  # an escape where none is needed
        (b'"bill":"119-hr-1"', b'"bill":"119\\/hr-1"'),
        (b'"name":"Voter', b'"name":"\\u0056oter'),
        (b'"name":"Voter', b'"extra":1,"name":"Voter'),  # a third field in the actor
        (b'"tentative":false}', b'"tentative":false,"x":1.0}'),  # a float
        (b'"tentative":false}', b'"tentative":false,"x":1e+16}'),
        (b'"choice":"yes"', b'"choice":"y\xc3es"'),  # not UTF-8
        (b'"choice":"yes"', b'"choice":"y\\ud800es"'),  # a lone surrogate (cannot be written as UTF-8)
        (b'"time":"', b'"time":"x'),
        (b'"type":"vote"', b'"type":"Vote"'),
        (b'"subject":null', b'"subject":"null"'),
        (b'{"actor":{', b"{"),  # the actor's fields without the actor
        (b'"subject":null', b'"subject":{"actor":{"name":"Voter 1 of Ames","regn_num":"100000001"}'),
        (b'"seq":', b'"seq":0'),  # seq 03: in LINE_RE's pattern a leading zero is not a number
    ],
)
@pytest.mark.parametrize("how", CHECKERS)
def test_a_line_not_in_canonical_form_is_named_even_with_a_matching_hash(tmp_path: Path, edit: tuple, how: str) -> None:
    from audit.log import AuditLog

    lg = AuditLog(tmp_path / "audit.log", heads_every_s=None)
    a = {"regn_num": "100000001", "name": "Voter 1 of Ames"}
    lg.append_many_sync([("vote", a, None, {"bill": "119-hr-1", "choice": "yes", "tentative": False})] * 3)
    lg.close()
    lines = lg.path.read_bytes().split(b"\n")[:-1]
    assert edit[0] in lines[2]
    lines[2] = _rehashed(lines[2].replace(edit[0], edit[1], 1))
    with pytest.raises(errors.CanonicalFormError) as info:
        check_lines(b"\n".join(lines) + b"\n", **CHECKERS[how])
    assert info.value.line == 3


def test_forked_check_equals_one_process_and_defers_to_the_reference_on_tampering(tmp_path: Path) -> None:
    from audit.checks import _check_forked, _Doubt
    from audit.hashing import canonical
    from audit.replay import Replay

    data = _mixed_log(tmp_path, 12_500).read_bytes()  # workers' ranges start at aligned lines past 4,096
    one, par = Replay(), Replay()
    serial = check_lines(data, one, workers=0, native=False)
    forked = _check_forked(data, par, 2)
    assert forked.proven_by == "forked" and serial.proven_by == "scan"
    assert (forked.count, forked.levels, forked.last_hash) == (serial.count, serial.levels, serial.last_hash)
    assert forked.root(12_500) == serial.root(12_500) and forked.root(4097) == serial.root(4097)
    assert par.tallies() == one.tallies() and par.balances == one.balances and par.events == 12_500
    # Line 11,000 (in a worker's range) edited and rehashed alone: the forked check doubts, the
    # reference names the line after it.
    lines = data.split(b"\n")[:-1]
    ev = json.loads(lines[10_999])
    ev["data"]["amount_cents" if "amount_cents" in ev["data"] else "rank" if "rank" in ev["data"] else "choice"] = 2
    ev.pop("hash")
    ev["hash"] = _hashlib_hex(canonical(ev))
    lines[10_999] = canonical(ev)
    bad = b"\n".join(lines) + b"\n"
    with pytest.raises(_Doubt):
        _check_forked(bad, Replay(), 2)
    for kw in ({"workers": 2, "native": False}, {"workers": 0, "native": False}, {}, {"strict": True}):
        with pytest.raises(errors.ChainBroken) as info:
            check_lines(bad, Replay(), **kw)
        assert info.value.line == 11_001


def _hashlib_hex(b: bytes) -> str:
    import hashlib as _hashlib

    return _hashlib.sha256(b).hexdigest()
