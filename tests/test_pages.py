"""Public pages and JSON: what a visitor sees (httpx in-process) and a real headless Chromium (playwright)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI

from delegation.bills import Bill
from delegation.bills_import import close_bill_sync
from delegation.pages import router
from delegation.tally_cli import main as tally_main

CHROMIUM = "/usr/bin/chromium"
BILL = "119-hr-29"


def seed(rsync) -> None:
    """Five voters of Ames; b and c delegate to a, who votes yes; d votes no; e delegates to nobody."""
    for v, first in zip("abcde", ["ALICE", "BOB", "CAROL", "DAVE", "ERIN"], strict=True):
        rsync.hset(f"vr:v:{v}", mapping={"regn_num": v, "first": first, "last": "DOE", "city": "AMES",
                                          "phone": "+15155550100", "status": "active"})
        rsync.sadd("vr:active", v)
    for key, short in ((BILL, "Laken Riley Act"), ("119-hr-22", "SAVE Act")):
        num = int(key.rsplit("-", 1)[1])
        b = Bill(119, "hr", num, f"Official title of H.R. {num}.", short, "2025-01-03", "2025-01-07")
        rsync.hset(f"bill:{key}", mapping=b.to_dict())
        rsync.zadd("bill:keys", {key: num})
        rsync.sadd("bill:open", key)


def app_for(client: aioredis.Redis) -> FastAPI:
    app = FastAPI()
    app.state.redis = client
    app.include_router(router)
    return app


async def act(r) -> None:
    from delegation.store import DelegationStore

    s = DelegationStore(r)
    await s.delegate("b", "a")
    await s.delegate("c", "b")
    await s.vote("a", BILL, "yes")
    await s.vote("d", BILL, "no")


async def test_json_endpoints_and_snapshot_roundtrip(rsync, r, tmp_path, capsys):
    seed(rsync)
    await act(r)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_for(r)), base_url="http://t") as c:
        bills = (await c.get("/public/bills.json")).json()
        row = next(b for b in bills if b["bill"] == BILL)
        assert (row["yes"], row["no"], row["abstain"], row["not_cast"]) == (3, 1, 0, 1)
        t = (await c.get(f"/public/bills/{BILL}/tally.json")).json()
        assert t["outcome"] == "passes" and t["top"][0] == {"regn_num": "a", "name": "Alice Doe of Ames",
                                                           "weight": 3, "choice": "yes"}
        snap = (await c.get(f"/public/bills/{BILL}/snapshot.json")).json()
        assert set(snap) == {"bill", "closed_at", "voters", "delegations", "votes"}
        assert snap["delegations"] == [["b", "a"], ["c", "b"]] and ["d", "no"] in snap["votes"]
        assert (await c.get("/public/bills/119-hr-424242/tally.json")).status_code == 404
        # live tally follows a change at once
        from delegation.store import DelegationStore

        await DelegationStore(r).vote("b", BILL, "no")
        t2 = (await c.get(f"/public/bills/{BILL}/tally.json")).json()
        assert (t2["yes"], t2["no"]) == (1, 3)
        body = (await c.get("/")).text + (await c.get(f"/bills/{BILL}")).text + (await c.get("/voters/a")).text
        assert "+1515" not in body and "5550100" not in body
    f = tmp_path / "snap.json"
    f.write_text(json.dumps(snap))
    assert tally_main(["--snapshot", str(f)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"yes": 3, "no": 1, "abstain": 0, "not_cast": 1, "weights": {"a": 3, "d": 1}}


async def test_closed_bill_serves_frozen_tally(rsync, r):
    seed(rsync)
    await act(r)
    close_bill_sync(rsync, BILL, "2025-01-07T20:00:00Z")
    rsync.hset(f"dl:v:{BILL}", "e", "no")  # a write behind the store's back after the close changes nothing
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_for(r)), base_url="http://t") as c:
        t = (await c.get(f"/public/bills/{BILL}/tally.json")).json()
        assert (t["yes"], t["no"], t["closed_at"]) == (3, 1, "2025-01-07T20:00:00Z")
        assert "frozen" in (await c.get(f"/bills/{BILL}")).text


def test_tally_cli_refuses_a_bad_snapshot(tmp_path, capsys):
    f = tmp_path / "bad.json"
    f.write_text('{"voters": ["a"], "delegations": [["a"]], "votes": []}')
    assert tally_main(["--snapshot", str(f)]) == 2
    assert "bad delegation row" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(redis_url, rsync):
    """The router served by uvicorn on a loopback port, with seeded data."""
    seed(rsync)

    async def setup() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        await act(client)
        await client.aclose()

    asyncio.run(setup())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        yield
        await app.state.redis.aclose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(router)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="system chromium not installed")
def test_pages_in_headless_chromium(served, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.goto(served + "/")
        row = page.locator(f"tr[data-bill='{BILL}']")
        assert row.locator("td.yes").inner_text() == "3"
        assert "Laken Riley Act" in row.inner_text()
        row.get_by_role("link").click()
        page.wait_for_url(f"**/bills/{BILL}")
        assert "passes" in page.locator("#outcome").inner_text()
        assert "Alice Doe of Ames" in page.locator("#influencers").inner_text()
        shot = tmp_path / "bill.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 5000
        with page.expect_download() as dl:
            page.locator("#snapshot").click()
        snap = json.loads(Path(dl.value.path()).read_text())
        assert snap["bill"] == BILL
        page.locator("#influencers a").first.click()
        page.wait_for_url("**/voters/a")
        record = page.locator("#record").inner_text()
        assert "yes" in record and "3" in record
        assert "+1515" not in page.content()
        browser.close()
