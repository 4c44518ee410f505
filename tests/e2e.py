"""End-to-end harness: the real app and the Telnyx emulator under uvicorn on loopback, the real telnyx
SDK between them, signed webhooks, and a real Valkey. Used by the call-flow tests."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from delegation.bills import Bill, BillStore
from infra.settings import Settings
from ivr.app import Wiring, create_app
from ivr.emulator import create_emulator, serving
from ivr.signature import load_or_create_keypair
from voter_registry.model import Voter
from voter_registry.store import file_voter

JOHN = Voter("100", "JOHN", "QUINCY", "DOE", house_num="12", street="MAPLE ST", city="CENTERVILLE", zip="52544",
             county="APPANOOSE", birth_year=1960, phone="+15155550101", district="3")
JANE = Voter("200", "JANE", "ANN", "ROE", house_num="4", street="OAK ST", city="AMES", zip="50010", county="STORY",
             birth_year=1970, phone="+15155550102", district="3")
BOB = Voter("300", "ROBERT", "LEE", "BAKER", house_num="9", street="ELM AVE", city="ADEL", zip="50003",
            county="DALLAS", birth_year=1955, phone="+15155550103", district="3")
# Two voters of the same name in the same town, told apart by middle initial and street.
SMITH_A = Voter("400", "JOHN", "ALLEN", "SMITH", house_num="1", street="MAIN ST", city="AMES", zip="50010",
                county="STORY", birth_year=1980, phone=None, district="3")
SMITH_B = Voter("401", "JOHN", "BRUCE", "SMITH", house_num="7", street="BIRCH ST", city="AMES", zip="50014",
                county="STORY", birth_year=1990, phone=None, district="3")
ROLL = (JOHN, JANE, BOB, SMITH_A, SMITH_B)
HR1234 = Bill(119, "hr", 1234, "To provide for an example of a bill.", "Example Act", introduced="2025-03-01",
              latest_action_date="2025-03-02")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load_roll(r: aioredis.Redis, voters: Sequence[Voter]) -> None:
    """File voters under the registry's key contract (vr:v, vr:phone, vr:active) and the matcher index."""
    p = r.pipeline(transaction=False)
    for v in voters:
        file_voter(p, v)
    await p.execute()


@dataclass
class Stack:
    emulator_url: str
    app_url: str
    audit_path: Path
    public_key: str


@contextlib.asynccontextmanager
async def running_stack(tmp: Path, redis_url: str, r: aioredis.Redis) -> AsyncIterator[Stack]:
    """The whole service on loopback with the sample roll and one open bill loaded."""
    await load_roll(r, ROLL)
    await BillStore(r).add(HR1234)
    settings = Settings(_env_file=None, var_dir=tmp, audit_log=tmp / "audit.log", redis_url=redis_url,
                        verify_dial_delay_s=0)
    private, public = load_or_create_keypair(tmp / "emulator.key")
    app_port = free_port()
    emulator = create_emulator(f"http://127.0.0.1:{app_port}/webhooks/telnyx", private, auto_timeout=False)
    async with serving(emulator) as emulator_url:
        app = create_app(Wiring(settings, redis_url, f"{emulator_url}/v2", "test-key", public))
        async with serving(app, port=app_port) as app_url:
            yield Stack(emulator_url, app_url, settings.audit_log_path, public)
