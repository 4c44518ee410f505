"""The audit log writer: durable, dense, chained, canonical; refuses phone numbers; recovers from torn
tails and write errors; several writers (processes) share one chain."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.errors import AuditWriteError, InvalidEvent, PhoneNumberInEvent
from audit.hashing import ZERO_HASH, canonical
from audit.log import AuditLog
from audit.verify import check_lines

ROOT = Path(__file__).resolve().parent.parent
ANN = {"regn_num": "100000001", "name": "Ann B Cole of Ames"}
BOB = {"regn_num": "100000002", "name": "Bob Lee of Ames"}


def vote(i: int = 0) -> tuple[str, dict, None, dict]:
    return ("vote", ANN, None, {"bill": f"119-hr-{i}", "choice": "yes", "tentative": False})


def lines(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_bytes().splitlines()]


@pytest.fixture
def log(tmp_path: Path):
    lg = AuditLog(tmp_path / "audit.log", heads_every_s=None)
    yield lg
    lg.close()


async def test_append_returns_seq_once_the_canonical_line_is_in_the_file(log: AuditLog) -> None:
    seq = await log.append("delegate", ANN, BOB, {"scope": "standing", "rank": 1, "tentative": False})
    assert seq == 1
    raw = log.path.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    ev = json.loads(raw)
    assert canonical(ev) == raw.rstrip(b"\n")
    assert set(ev) == {"seq", "time", "type", "actor", "subject", "data", "prev", "hash"}
    assert ev["seq"] == 1 and ev["prev"] == ZERO_HASH and ev["time"].endswith("Z")
    assert ev["actor"] == ANN and ev["subject"] == BOB and ev["type"] == "delegate"
    without = {k: v for k, v in ev.items() if k != "hash"}
    import hashlib

    assert ev["hash"] == hashlib.sha256(canonical(without)).hexdigest()
    assert log.append_sync(*vote()) == 2
    assert lines(log.path)[1]["prev"] == ev["hash"]


async def test_concurrent_appends_share_fsyncs_and_keep_seq_dense_and_chain_valid(log: AuditLog) -> None:
    n = 600
    seqs = await asyncio.gather(*(log.append(*vote(i)) for i in range(n)))
    assert sorted(seqs) == list(range(1, n + 1))
    assert log.fsyncs < n / 5  # group commit: many appends per fsync
    evs = lines(log.path)
    assert [e["seq"] for e in evs] == list(range(1, n + 1))
    by_seq = {s: i for i, s in enumerate(seqs)}
    assert all(evs[s - 1]["data"]["bill"] == f"119-hr-{by_seq[s]}" for s in seqs)  # each caller got its seq
    assert check_lines(log.path.read_bytes()).count == n


@pytest.mark.parametrize("where, value", [
    ("data", {"note": "+15155550123"}),
    ("data", {"note": "call 515-555-0123"}),
    ("data", {"note": "(515) 555 0123"}),
    ("data", {"note": "5155550123"}),
    ("data", {"phone": 5155550123}),
    ("data", {"+15155550123": 1}),
    ("data", {"nested": [{"x": "+44 20 7946 0958"}]}),
    ("actor", {"regn_num": "100000001", "name": "Ann +15155550123"}),
    ("subject", {"regn_num": "5155550123", "name": "Bob"}),
])
async def test_phone_numbers_are_refused_and_nothing_is_written(log: AuditLog, where: str, value: dict) -> None:
    log.append_sync(*vote())
    before = log.path.read_bytes()
    args = {"actor": ANN, "subject": None, "data": {"bill": "x"}}
    args[where] = value
    with pytest.raises(PhoneNumberInEvent) as info:
        await log.append("vote", args["actor"], args["subject"], args["data"])
    assert isinstance(info.value, ValueError)
    assert "555" not in str(info.value) and "7946" not in str(info.value)  # the number is not echoed
    with pytest.raises(PhoneNumberInEvent):
        log.append_sync("vote", args["actor"], args["subject"], args["data"])
    assert log.path.read_bytes() == before
    assert await log.append(*vote()) == 2


def test_ordinary_numbers_and_digests_are_not_phone_numbers(log: AuditLog) -> None:
    log.append_sync("bill-opened", None, None, {"bill": "119-hr-1234", "title": "H.R. 1234 of 2025",
                                                  "closed_at": "2026-11-21T12:00:00Z"})
    log.append_sync("mint", None, BOB, {"amount_cents": 12_345_678_900})
    pseudonym = {"regn_num": "T-3915528804", "name": "tentative caller T-3915528804"}  # HMAC hex, all digits
    log.append_sync("vote", pseudonym, None, {"bill": "119-hr-1", "choice": "yes", "tentative": True})
    log.append_sync("bill-opened", None, None, {"bill": "119-hr-7", "title": "H.R. 7 (2025-2026), 1234 5678",
                                                  "closed_at": "2026-11-19 00:00:00"})
    log.append_sync("demurrage-closed", None, None, {"period": "2026-W47", "pool_cents": 7,
                                                     "snapshot": "1234567890" * 6 + "abcd"})
    assert log.seq == 5


@pytest.mark.parametrize("args", [
    ("vote", ANN, None, {"x": 1.5}),
    ("vote", ANN, None, {"x": float("nan")}),
    ("Vote Cast", ANN, None, {}),
    ("vote", {"regn_num": "1"}, None, {}),
    ("vote", {"regn_num": "1", "name": "A", "phone": "x"}, None, {}),
    ("vote", ANN, None, ["not", "a", "dict"]),
])
def test_malformed_events_are_refused_with_state_unchanged(log: AuditLog, args: tuple) -> None:
    with pytest.raises(InvalidEvent):
        log.append_sync(*args)
    assert log.seq == 0 and log.path.read_bytes() == b""


def test_many_sync_is_all_or_nothing(log: AuditLog) -> None:
    with pytest.raises(PhoneNumberInEvent):
        log.append_many_sync([vote(1), ("payment", ANN, BOB, {"memo": "+15155550123"})])
    assert log.seq == 0
    assert log.append_many_sync([vote(1), vote(2), vote(3)]) == [1, 2, 3]
    assert log.fsyncs == 1


def test_torn_last_line_is_reported_and_cut_on_open(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lg = AuditLog(path, heads_every_s=None)
    lg.append_many_sync([vote(i) for i in range(5)])
    root5 = lg.tree.root(5)
    lg.close()
    good = path.read_bytes()
    with open(path, "ab") as f:
        f.write(good.splitlines()[2][:40])  # a writer died mid-line
    lg = AuditLog(path, heads_every_s=None)
    assert lg.torn_cuts and len(lg.torn_cuts[0]) == 40
    assert path.read_bytes() == good and lg.seq == 5 and lg.tree.root(5) == root5
    assert lg.append_sync(*vote(9)) == 6
    assert check_lines(path.read_bytes()).count == 6
    lg.close()


def test_leaf_side_file_is_rebuilt_when_lost_or_short(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    lg = AuditLog(path, heads_every_s=None)
    lg.append_many_sync([vote(i) for i in range(300)])
    root = lg.tree.root(300)
    lg.close()
    leaves = path.with_suffix(".leaves")
    leaves.write_bytes(leaves.read_bytes()[: 32 * 100])
    lg = AuditLog(path, heads_every_s=None)
    assert lg.tree.root(300) == root and leaves.stat().st_size == 32 * 300
    lg.close()
    leaves.unlink()
    lg = AuditLog(path, heads_every_s=None)
    assert lg.tree.root(300) == root
    lg.close()
    stale = bytearray(leaves.read_bytes())  # a power cut left zeros where leaf hashes should be
    stale[32 * 250: 32 * 260] = bytes(320)
    leaves.write_bytes(bytes(stale))
    lg = AuditLog(path, heads_every_s=None)
    assert lg.tree.root(300) == root and leaves.read_bytes()[32 * 250: 32 * 251] != bytes(32)
    lg.close()


async def test_two_writers_on_one_file_continue_each_others_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    a, b = AuditLog(path, heads_every_s=None), AuditLog(path, heads_every_s=None)
    got = []
    for i in range(10):
        got.append(await (a if i % 2 else b).append(*vote(i)))
        got.append((b if i % 2 else a).append_sync(*vote(i)))
    assert got == list(range(1, 21))
    assert a.refresh() == b.refresh() == 20
    assert a.tree.root(20) == b.tree.root(20)
    assert check_lines(path.read_bytes()).count == 20
    a.close()
    b.close()


def test_writer_processes_append_concurrently_and_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from audit.log import AuditLog
        lg = AuditLog({str(path)!r}, heads_every_s=None)
        for i in range(150):
            lg.append_sync("vote", {{"regn_num": sys.argv[1], "name": "W"}}, None, {{"i": i}})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, f"w{k}"]) for k in range(3)]
    lg = AuditLog(path, heads_every_s=None)
    for i in range(150):
        lg.append_sync(*vote(i))
    assert all(p.wait(60) == 0 for p in procs)
    assert lg.refresh() == 600
    evs = lines(path)
    assert [e["seq"] for e in evs] == list(range(1, 601))
    for k in range(3):  # each writer's events are all there, in its own order
        assert [e["data"]["i"] for e in evs if e["actor"]["regn_num"] == f"w{k}"] == list(range(150))
    assert check_lines(path.read_bytes()).count == 600
    lg.close()


def test_write_error_leaves_no_half_written_line_and_no_lost_seq(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    script = textwrap.dedent(f"""
        import resource, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from audit.errors import AuditWriteError
        from audit.log import AuditLog
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        lg = AuditLog({str(path)!r}, heads_every_s=None)
        lg.append_many_sync([("vote", None, None, {{"i": i}}) for i in range(3)])
        size = lg.byte_size()
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 1000, resource.RLIM_INFINITY))
        seqs = []
        try:
            while True:
                seqs.append(lg.append_sync("vote", None, None, {{"i": 100 + len(seqs), "pad": "x" * 90}}))
        except AuditWriteError as e:
            print(len(seqs), lg.seq, lg.byte_size(), e.errno)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    acked, seq, size, errno_ = map(int, out.stdout.split())
    assert acked >= 1 and seq == 3 + acked and errno_ != 0
    assert path.stat().st_size == size and path.read_bytes().endswith(b"\n")
    lg = AuditLog(path, heads_every_s=None)
    assert not lg.torn_cuts and lg.seq == seq
    assert lg.append_sync(*vote()) == seq + 1  # the failed event's seq was not consumed
    assert check_lines(path.read_bytes()).count == seq + 1
    lg.close()


def test_read_event_finds_every_line(log: AuditLog) -> None:
    log.append_many_sync([vote(i) for i in range(57)])
    for seq in (1, 2, 28, 56, 57):
        assert json.loads(log.read_event(seq))["seq"] == seq
    assert log.read_event(0) is None and log.read_event(58) is None


async def test_publisher_signs_heads_in_the_background_and_aclose_publishes_a_last_one(tmp_path: Path) -> None:
    from audit.treehead import read_heads, verify_head_signature

    lg = AuditLog(tmp_path / "audit.log", heads_every_s=0.05)
    await lg.append(*vote())
    await asyncio.sleep(0.2)
    await lg.append(*vote())
    await lg.aclose()
    heads = read_heads(tmp_path / "audit.heads")
    assert len(heads) >= 3 and heads[-1]["tree_size"] == 2
    pub = (tmp_path / "audit_operator.pub").read_text().strip()
    assert all(verify_head_signature(pub, h) for h in heads)
    assert os.stat(tmp_path / "audit_operator.key").st_mode & 0o777 == 0o600


@settings(max_examples=60, deadline=None)
@given(st.from_regex(r"[2-9]\d{2}[2-9]\d{6}", fullmatch=True),
       st.sampled_from(["+1{a}{b}{c}", "{a}-{b}-{c}", "({a}) {b}-{c}", "{a}.{b}.{c}", "1{a}{b}{c}", "+1 {a} {b} {c}"]),
       st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=12))
def test_any_spelling_of_a_phone_number_is_refused(tmp_path_factory: pytest.TempPathFactory, digits: str,
                                                   fmt: str, around: str) -> None:
    text = around + fmt.format(a=digits[:3], b=digits[3:6], c=digits[6:]) + around
    lg = AuditLog(tmp_path_factory.mktemp("p") / "audit.log", heads_every_s=None)
    with pytest.raises(PhoneNumberInEvent):
        lg.append_sync("payment", ANN, BOB, {"amount_cents": 1, "memo": text})
    assert lg.path.read_bytes() == b""
    lg.close()


async def test_a_failed_write_fails_every_waiter_of_the_batch(tmp_path: Path) -> None:
    lg = AuditLog(tmp_path / "audit.log", heads_every_s=None)
    await lg.append(*vote())
    good_fd, lg._fd = lg._fd, os.open(lg.path, os.O_RDONLY)  # every write now fails (EBADF)
    results = await asyncio.gather(*(lg.append(*vote(i)) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, AuditWriteError) for r in results)
    assert lg.seq == 1
    os.close(lg._fd)
    lg._fd = good_fd
    assert await lg.append(*vote()) == 2  # the writer carries on once the disk is back
    lg.close()
    assert check_lines((tmp_path / "audit.log").read_bytes()).count == 2


def test_a_torn_head_line_does_not_swallow_the_next_head(tmp_path: Path) -> None:
    from audit.treehead import latest_head, read_heads

    lg = AuditLog(tmp_path / "audit.log", heads_every_s=None)
    lg.append_sync(*vote())
    lg.publish_head()
    with open(lg.heads_path, "ab") as f:
        f.write(b'{"root_hash":"ab')  # died mid-write
    lg.append_sync(*vote())
    head = lg.publish_head()
    assert latest_head(lg.heads_path) == head
    assert [h["tree_size"] for h in read_heads(lg.heads_path)] == [1, 2]
    lg.close()
