"""Public audit endpoints over real HTTP (uvicorn on loopback): incremental download with range requests,
signed heads, inclusion and consistency proofs; the verifier run against the live service finds the exact
line a careful forger rewrote."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from audit.api import router
from audit.hashing import canonical, verify_consistency, verify_inclusion
from audit.log import AuditLog
from audit.treehead import verify_head_signature
from audit.verify import check_lines, main

ANN = {"regn_num": "100000001", "name": "Ann B Cole of Ames"}


def events(n: int, start: int = 0) -> list[tuple]:
    return [("vote", ANN, None, {"bill": f"119-hr-{i % 5}", "choice": "yes", "tentative": False})
            for i in range(start, start + n)]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, AuditLog, FastAPI]]:
    lg = AuditLog(tmp_path / "live" / "audit.log", heads_every_s=None)
    app = FastAPI()
    app.include_router(router)
    app.state.audit = lg
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", lg, app
    server.should_exit = True
    t.join(10)
    app.state.audit.close()
    lg.close()


def test_incremental_download_with_range_requests(service: tuple[str, AuditLog, FastAPI]) -> None:
    base, lg, app = service
    lg.append_many_sync(events(40))
    first = httpx.get(f"{base}/public/audit.log")
    assert first.status_code == 200 and first.headers["accept-ranges"] == "bytes"
    assert first.content == lg.path.read_bytes() and check_lines(first.content).count == 40
    have = len(first.content)
    lg.append_many_sync(events(25, 40))
    more = httpx.get(f"{base}/public/audit.log", headers={"Range": f"bytes={have}-"})
    assert more.status_code == 206
    total = lg.path.stat().st_size
    assert more.headers["content-range"] == f"bytes {have}-{total - 1}/{total}"
    assert check_lines(first.content + more.content).count == 65  # the pieces join into the whole log
    nothing_new = httpx.get(f"{base}/public/audit.log", headers={"Range": f"bytes={total}-"})
    assert nothing_new.status_code == 416 and nothing_new.headers["content-range"] == f"bytes */{total}"
    tail = httpx.get(f"{base}/public/audit.log", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == lg.path.read_bytes()[-10:]
    mid = httpx.get(f"{base}/public/audit.log", headers={"Range": "bytes=5-14"})
    assert mid.content == lg.path.read_bytes()[5:15]
    assert httpx.get(f"{base}/public/audit.log", headers={"Range": "lines=1-2"}).status_code == 416


def test_head_proof_and_consistency_verify_with_the_published_key(service: tuple[str, AuditLog, FastAPI]) -> None:
    base, lg, app = service
    lg.append_many_sync(events(30))
    old = httpx.get(f"{base}/public/audit/head").json()
    pub = httpx.get(f"{base}/public/audit/pubkey").text.strip()
    assert old["public_key"] == pub and verify_head_signature(pub, old["head"])
    assert old["head"]["tree_size"] == 30
    lg.append_many_sync(events(70, 30))
    lg.publish_head()
    new = httpx.get(f"{base}/public/audit/head").json()["head"]
    assert new["tree_size"] == 100 and verify_head_signature(pub, new)

    p = httpx.get(f"{base}/public/audit/proof", params={"seq": 17}).json()
    assert p["tree_size"] == 100 and p["event"]["seq"] == 17 and p["head"] == new
    leaf = hashlib.sha256(b"\x00" + canonical(p["event"])).digest()
    verify_inclusion(16, 100, leaf, [bytes.fromhex(x) for x in p["proof"]], bytes.fromhex(new["root_hash"]))
    p30 = httpx.get(f"{base}/public/audit/proof", params={"seq": 17, "tree_size": 30}).json()
    verify_inclusion(16, 30, leaf, [bytes.fromhex(x) for x in p30["proof"]], bytes.fromhex(old["head"]["root_hash"]))

    c = httpx.get(f"{base}/public/audit/consistency", params={"first": 30, "second": 100}).json()
    verify_consistency(30, 100, bytes.fromhex(old["head"]["root_hash"]), bytes.fromhex(new["root_hash"]),
                       [bytes.fromhex(x) for x in c["proof"]])
    for bad in ({"first": 0, "second": 5}, {"first": 50, "second": 40}, {"first": 5, "second": 101}):
        assert httpx.get(f"{base}/public/audit/consistency", params=bad).status_code in (400, 422)
    assert httpx.get(f"{base}/public/audit/proof", params={"seq": 101}).status_code == 400


def test_verify_a_url_and_find_the_line_a_forger_rewrote(service: tuple[str, AuditLog, FastAPI], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    base, lg, app = service
    lg.append_many_sync(events(20))
    lg.publish_head()
    lg.append_many_sync(events(20, 20))
    lg.publish_head()
    assert main([base, "--quiet"]) == 0
    assert "verified 40 events" in capsys.readouterr().out

    # A copy where line 27 was edited and every later hash recomputed: the chain alone looks fine.
    lines = lg.path.read_bytes().splitlines()
    prev = json.loads(lines[25])["hash"]
    for i in range(26, 40):
        ev = json.loads(lines[i])
        if i == 26:
            ev["data"]["choice"] = "no"
        ev["prev"] = prev
        ev.pop("hash")
        ev["hash"] = prev = hashlib.sha256(canonical(ev)).hexdigest()
        lines[i] = canonical(ev)
    copy = tmp_path / "copy" / "audit.log"
    copy.parent.mkdir()
    copy.write_bytes(b"\n".join(lines) + b"\n")
    assert check_lines(copy.read_bytes()).count == 40
    (copy.parent / "audit.heads").write_bytes(lg.heads_path.read_bytes())
    assert main([str(copy), "--against-live", base]) == 1
    err = capsys.readouterr().err
    assert "RootMismatch" in err and "first bad line: 27" in err


def test_an_auditor_keeps_a_copy_and_downloads_only_what_is_new(service: tuple[str, AuditLog, FastAPI], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    base, lg, app = service
    copy = tmp_path / "mine" / "audit.log"
    lg.append_many_sync(events(30))
    lg.publish_head()
    assert main([base, "--save", str(copy), "--quiet"]) == 0
    assert copy.read_bytes() == lg.path.read_bytes()
    first = len(copy.read_bytes())
    lg.append_many_sync(events(10, 30))
    lg.publish_head()
    assert main([base, "--save", str(copy), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"downloaded {len(lg.path.read_bytes()) - first} bytes (new since the last run)" in out
    assert "verified 40 events" in out and "2 signed tree heads match" in out  # the old head is kept

    # The operator rewrites history (line 5 edited, chain re-hashed, new heads signed with the same key):
    # the auditor's saved copy is no longer a prefix of what is served, and the first edited line is named.
    lines = lg.path.read_bytes().splitlines()
    prev = json.loads(lines[3])["hash"]
    for i in range(4, 40):
        ev = json.loads(lines[i])
        if i == 4:
            ev["data"]["choice"] = "no"
        ev["prev"] = prev
        ev.pop("hash")
        ev["hash"] = prev = hashlib.sha256(canonical(ev)).hexdigest()
        lines[i] = canonical(ev)
    lg.close()
    lg.path.write_bytes(b"\n".join(lines) + b"\n")
    lg.heads_path.unlink()
    lg.leaves_path.unlink()
    app.state.audit = forged = AuditLog(lg.path, heads_every_s=None)
    forged.append_many_sync(events(5, 40))
    forged.publish_head()
    assert main([base, "--quiet"]) == 0  # a newcomer without a copy sees a self-consistent log
    capsys.readouterr()
    before = copy.read_bytes()
    assert main([base, "--save", str(copy), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "InconsistentHeads" in err and "first bad line: 5" in err
    assert copy.read_bytes() == before  # the evidence is kept
