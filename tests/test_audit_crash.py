"""kill -9 of writer processes in the middle of concurrent appends: every event a writer acknowledged
(printed to a pipe after `append` returned) is in the file after restart, the torn tail (if any) is cut,
and the chain verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from audit.log import AuditLog
from audit.verify import check_lines

ROOT = Path(__file__).resolve().parent.parent

WRITER = textwrap.dedent("""
    import asyncio, sys
    sys.path.insert(0, {root!r})
    from audit.log import AuditLog

    name, pad = sys.argv[1], int(sys.argv[2])

    async def worker(lg, w):
        i = 0
        while True:
            seq = await lg.append("vote", {{"regn_num": name, "name": "Writer"}}, None,
                                  {{"w": w, "i": i, "pad": "x" * pad}})
            print(seq, w, i, flush=True)  # acknowledged: the caller would now hear the confirmation
            i += 1

    async def main():
        lg = AuditLog({path!r}, heads_every_s=None)
        await asyncio.gather(*(worker(lg, w) for w in range(16)))

    asyncio.run(main())
""")


def start_writer(path: Path, name: str, pad: int = 10) -> subprocess.Popen[str]:
    code = WRITER.format(root=str(ROOT), path=str(path))
    return subprocess.Popen([sys.executable, "-c", code, name, str(pad)], stdout=subprocess.PIPE, text=True)


def read_acks(proc: subprocess.Popen[str], at_least: int, timeout_s: float = 30) -> list[tuple[int, int, int]]:
    acks = []
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while len(acks) < at_least and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acks.append(tuple(map(int, line.split())))
    return acks


def kill9(proc: subprocess.Popen[str], acks: list) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.stdout is not None
    acks.extend(tuple(map(int, ln.split())) for ln in proc.stdout.read().splitlines() if ln.strip())


def assert_all_acked_present(path: Path, name: str, acks: list[tuple[int, int, int]]) -> None:
    evs = {e["seq"]: e for e in map(json.loads, path.read_bytes().splitlines())}
    for seq, w, i in acks:
        ev = evs[seq]
        assert ev["actor"]["regn_num"] == name and (ev["data"]["w"], ev["data"]["i"]) == (w, i)


def test_kill_9_mid_append_loses_no_acknowledged_event(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    proc = start_writer(path, "a", pad=20_000)  # large lines: a kill can land inside a write
    acks = read_acks(proc, 200)
    kill9(proc, acks)
    assert len(acks) >= 200
    lg = AuditLog(path, heads_every_s=None)  # restart: a torn tail is reported and cut
    assert path.read_bytes().endswith(b"\n")
    assert lg.seq >= max(s for s, _, _ in acks)
    assert_all_acked_present(path, "a", acks)
    assert lg.append_sync("vote", None, None, {"after": "restart"}) == lg.seq
    assert check_lines(path.read_bytes()).count == lg.seq
    lg.close()


def test_one_of_two_concurrent_writer_processes_killed_the_other_carries_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    a, b = start_writer(path, "a"), start_writer(path, "b")
    acks_a = read_acks(a, 150)
    kill9(a, acks_a)
    acks_b = read_acks(b, 300)  # b keeps going after a died holding (or not) the lock
    kill9(b, acks_b)
    lg = AuditLog(path, heads_every_s=None)
    assert_all_acked_present(path, "a", acks_a)
    assert_all_acked_present(path, "b", acks_b)
    assert check_lines(path.read_bytes()).count == lg.seq
    lg.close()
