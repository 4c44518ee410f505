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
    assert {"clean", "edited-vote", "dropped-entry", "inserted-entry", "reordered", "forged-head",
            "torn-last-line"} <= names


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "fast"])
def test_vector(path: Path, strict: bool) -> None:
    vec = json.loads(path.read_text())
    data = _log_bytes(vec)
    if vec["want_err"] is None:
        check = check_lines(data, strict=strict)
        assert check_heads(check, vec["heads"], vec["public_key"]) == len(vec["heads"])
        return
    want = getattr(errors, vec["want_err"])
    with pytest.raises(errors.VerificationError) as info:
        check = check_lines(data, strict=strict)
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
        out = subprocess.run([sys.executable, "-m", "audit.verify", str(log), "--quiet"], capture_output=True,
                             text=True, cwd=Path(__file__).parent.parent, timeout=60)
        assert out.returncode == want, out.stderr
    assert "first bad line: 6" in out.stderr


def test_parallel_check_equals_the_serial_one_and_defers_to_it_on_tampering(tmp_path: Path) -> None:
    import hashlib as _hashlib

    from audit.checks import _check_fast, _check_parallel
    from audit.hashing import canonical
    from audit.log import AuditLog
    from audit.replay import Replay

    lg = AuditLog(tmp_path / "audit.log", heads_every_s=None)
    choices = ("yes", "no", "abstain")
    votes = [("vote", {"regn_num": f"1000{i % 97:05d}", "name": "V"}, None,
              {"bill": f"119-hr-{i % 3}", "choice": choices[i % 5 % 3], "tentative": False}) for i in range(3000)]
    lg.append_many_sync([*votes, ("mint", None, {"regn_num": "100000001", "name": "V"}, {"amount_cents": 5})])
    lg.close()
    lines = lg.path.read_bytes().split(b"\n")[:-1]
    serial_replay, par_replay = Replay(), Replay()
    serial = _check_fast(lines, serial_replay)
    par = _check_parallel(lines, par_replay, 3)
    assert par is not None and par.count == serial.count == 3001
    assert par.leaves == serial.leaves and par.last_hash == serial.last_hash
    assert par_replay.tallies() == serial_replay.tallies() and par_replay.balances == serial_replay.balances
    # Line 2500 (in the last slice) edited and rehashed alone: the parallel path declines, the serial
    # path names the line after it.
    ev = json.loads(lines[2499])
    ev["data"]["choice"] = "no" if ev["data"]["choice"] != "no" else "yes"
    ev.pop("hash")
    ev["hash"] = _hashlib.sha256(canonical(ev)).hexdigest()
    lines[2499] = canonical(ev)
    assert _check_parallel(lines, Replay(), 3) is None
    with pytest.raises(errors.ChainBroken) as info:
        check_lines(b"\n".join(lines) + b"\n", Replay(), strict=False, workers=3)
    assert info.value.line == 2501
