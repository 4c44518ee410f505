"""A local Telnyx Call Control emulator: the commands Telnyx accepts, the webhooks Telnyx sends back.

Service side (what our app talks to, through the real `AsyncTelnyx` SDK with `base_url=.../v2`):
`POST /v2/calls/{call_control_id}/actions/{action}` and `POST /v2/calls` (dial). Answers are Telnyx's:
`200 {"data": {"result": "ok"}}`, or `422 {"errors": [...]}` for an ended or unknown call. Webhooks have
the shapes of `/work/shared/design/telnyx_webhook_examples.json`, are signed with `ivr.signature.sign`,
and are POSTed to `webhook_url` in order per call, retried on failure (Telnyx delivers at least once).

Phone side (the caller, for `ivr.simulator` and tests): `/sim/...`, see `docs/emulator.md`.

Deliberate simplifications: by default speech takes no time (speak.started and speak.ended at once, a
caller's utterance transcribed at once); `tts_wps` / `caller_wps` (words per second) make playback and
the caller's speech take as long as on a real call (see `docs/emulator.md`, "Pacing"). A key that is not
in a gather's `valid_digits` is ignored by that gather (Telnyx would replay `invalid_payload`); outbound
calls (dial) are answered by the phone at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from ivr.signature import load_or_create_keypair, sign

log = logging.getLogger(__name__)

DTMF_KEYS = frozenset("0123456789*#")
DEDUPE_WINDOW_S = 60.0  # Telnyx ignores a repeated command_id for the same call for 60 s
DELIVERY_ATTEMPTS = 4
ENDED_CALLS_KEPT_S = 600.0  # transcripts of ended calls stay readable this long
OK = {"data": {"result": "ok"}}
# Real playback and speech rates for pacing: text-to-speech voices read about 150 words a minute
# (2.5 words/s), the conversational rate callers also speak at.
TTS_WPS = 2.5
CALLER_WPS = 2.5
LAG_EVERY_S = 0.05  # event-loop lag sampling period of the stats
# Webhooks go out through several small connection pools, a call always through the same one: httpcore
# scans its whole pool for every request, so one pool of hundreds of connections costs O(n) per webhook
# (profiled: half the emulator's CPU at 100 concurrent calls).
SENDER_POOLS = 16
POOL_CONNECTIONS = 64
ACTIONS = frozenset(
    {
        "answer",
        "speak",
        "gather_using_speak",
        "gather",
        "gather_stop",
        "transcription_start",
        "transcription_stop",
        "playback_stop",
        "hangup",
        "client_state_update",
    }
)
NEEDS_ANSWER = ACTIONS - {"answer", "hangup", "client_state_update"}


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _telnyx_error(status: int, code: str, title: str, detail: str) -> JSONResponse:
    """Telnyx's error body (`{"errors": [{"code", "title", "detail", "source"}]}`)."""
    error = {"code": code, "title": title, "detail": detail, "source": {"pointer": "/call_control_id"}}
    return JSONResponse({"errors": [error]}, status_code=status)


@dataclass
class _Gather:
    """An active DTMF gather. `awaiting`: its prompt has been spoken and the caller has not answered yet."""

    valid: str
    minimum: int
    maximum: int
    timeout_s: float
    terminator: str = "#"
    digits: str = ""
    awaiting: bool = True
    timer: asyncio.Task | None = None


@dataclass
class _Call:
    """One call leg as Telnyx tracks it, plus the transcript the simulated phone reads."""

    call_control_id: str
    direction: str  # "incoming" | "outgoing"
    from_: str
    to: str
    connection_id: str
    attestation: str | None = None
    validated: bool = False
    state: str = "parked"  # parked | bridging | answered | hangup
    client_state: str | None = None  # base64, sticky
    call_leg_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    call_session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    start_time: str = field(default_factory=_now_iso)
    transcribing: bool = False
    gather: _Gather | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    command_ids: dict[str, float] = field(default_factory=dict)
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    ended_at: float | None = None
    playing_until: float = 0.0  # monotonic time the queued playback ends (pacing)

    @property
    def ended(self) -> bool:
        return self.state == "hangup"

    @property
    def waiting(self) -> bool:
        """A gather is open, its prompt spoken (played to the end), and the caller has not answered it yet."""
        return (not self.ended and self.gather is not None and self.gather.awaiting
                and time.monotonic() >= self.playing_until)  # fmt: skip

    def touch(self) -> None:
        """Wake long polls: something the phone can see changed."""
        self.changed.set()
        self.changed = asyncio.Event()

    def add_line(self, who: str, text: str) -> dict[str, Any]:
        line = {"n": len(self.lines) + 1, "who": who, "text": text}
        self.lines.append(line)
        self.touch()
        return line


class Emulator:
    """State and behaviour behind the emulator's routes; `create_emulator` wires it into FastAPI.

    webhook_url may be reassigned after creation (e.g. when the app starts on a port chosen later).
    time_scale multiplies gather timeouts; auto_timeout=False leaves gathers open until /silence.
    tts_wps: playback rate of spoken prompts in words per second (0 = instant; TTS_WPS is a real voice's);
    caller_wps: the caller's speaking rate, the time before an utterance's transcription (0 = instant).
    `stats()`: webhook delivery latency and this process's event-loop lag.
    """

    def __init__(self, webhook_url: str, private_key: Ed25519PrivateKey, *, time_scale: float = 1.0,
                 auto_timeout: bool = True, tts_wps: float = 0.0, caller_wps: float = 0.0) -> None:  # fmt: skip
        self.webhook_url = webhook_url
        self.private_key = private_key
        self.time_scale = time_scale
        self.auto_timeout = auto_timeout
        self.tts_wps, self.caller_wps = tts_wps, caller_wps
        self.calls: dict[str, _Call] = {}
        self.http: httpx.AsyncClient | None = None
        self._pools: list[httpx.AsyncClient] = []
        self._tasks: set[asyncio.Task] = set()
        self.delivery_s: deque[float] = deque(maxlen=200_000)  # POST -> response of delivered webhooks
        self.lag_s: deque[float] = deque(maxlen=200_000)

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        limits = httpx.Limits(max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS)
        self._pools = [httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0), limits=limits)
                       for _ in range(SENDER_POOLS)]  # fmt: skip
        self.http = self._pools[0]
        self._spawn(self._sample_lag())

    async def _sample_lag(self) -> None:
        """How late this event loop wakes up (a busy loop delays every webhook it sends)."""
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(LAG_EVERY_S)
            self.lag_s.append(max(0.0, time.perf_counter() - t0 - LAG_EVERY_S))

    def stats(self) -> dict[str, Any]:
        """{"deliveries": n, "delivery_ms": {"p50", "p99", "max"}, "loop_lag_ms": {...}} since start or
        `reset_stats()`; quantiles null when there is no sample."""
        return {"deliveries": len(self.delivery_s), "delivery_ms": _quantiles_ms(self.delivery_s),
                "loop_lag_ms": _quantiles_ms(self.lag_s)}  # fmt: skip

    def reset_stats(self) -> None:
        self.delivery_s.clear()
        self.lag_s.clear()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for pool in self._pools:
            await pool.aclose()

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- webhooks -------------------------------------------------------------------------------

    def _emit(self, call: _Call, event_type: str, **extra: Any) -> None:
        """Queue one webhook for `call`; the call's sender delivers them in order."""
        payload = {
            "call_control_id": call.call_control_id,
            "connection_id": call.connection_id,
            "call_leg_id": call.call_leg_id,
            "call_session_id": call.call_session_id,
            "client_state": call.client_state,
            **extra,
        }
        data = {
            "record_type": "event",
            "event_type": event_type,
            "id": str(uuid.uuid4()),
            "occurred_at": _now_iso(),
            "payload": payload,
        }
        call.queue.put_nowait(data)

    def _parties(self, call: _Call) -> dict[str, str]:
        return {"from": call.from_, "to": call.to}

    async def _sender(self, call: _Call) -> None:
        """Deliver the call's webhooks one at a time, each retried, until call.hangup has gone out."""
        while True:
            data = await call.queue.get()
            await self._deliver(data)
            if data["event_type"] == "call.hangup":
                return

    async def _deliver(self, data: dict[str, Any]) -> bool:
        assert self._pools, "emulator not started (use it as an ASGI app with lifespan)"
        http = self._pools[hash(data["payload"]["call_control_id"]) % len(self._pools)]
        for attempt in range(1, DELIVERY_ATTEMPTS + 1):
            body = json.dumps({"data": data, "meta": {"attempt": attempt, "delivered_to": self.webhook_url}})
            raw = body.encode()
            headers = {"content-type": "application/json", **sign(raw, self.private_key, int(time.time()))}
            try:
                t0 = time.perf_counter()
                response = await http.post(self.webhook_url, content=raw, headers=headers)
                if response.is_success:
                    self.delivery_s.append(time.perf_counter() - t0)
                    return True
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = repr(exc)
            log.warning("webhook %s attempt %d failed: %s", data["event_type"], attempt, problem)
            if attempt < DELIVERY_ATTEMPTS:
                await asyncio.sleep(0.1 * 2**attempt)
        log.error("webhook %s for %s dropped", data["event_type"], data["payload"]["call_control_id"])
        return False

    # ---- calls ----------------------------------------------------------------------------------

    def _prune(self) -> None:
        cutoff = time.monotonic() - ENDED_CALLS_KEPT_S
        for ccid in [c for c, call in self.calls.items() if call.ended_at is not None and call.ended_at < cutoff]:
            del self.calls[ccid]

    def new_call(
        self,
        direction: str,
        from_: str,
        to: str,
        connection_id: str = "emulator",
        attestation: str | None = None,
        validated: bool = False,
        client_state: str | None = None,
    ) -> _Call:
        """Create a call and send `call.initiated`; an outgoing call is then answered by the phone."""
        self._prune()
        ccid = f"v3:{uuid.uuid4().hex}"
        state = "parked" if direction == "incoming" else "bridging"
        call = _Call(ccid, direction, from_, to, connection_id, attestation, validated, state, client_state)
        self.calls[ccid] = call
        self._spawn(self._sender(call))
        initiated: dict[str, Any] = {
            **self._parties(call),
            "caller_id_name": "",
            "direction": direction,
            "state": state,
            "start_time": call.start_time,
            "connection_codecs": "G722,PCMU,PCMA",
            "offered_codecs": "G722,PCMU,PCMA",
            "shaken_stir_validated": validated,
            "custom_headers": [],
            "sip_headers": [],
            "tags": [],
        }
        if attestation:
            initiated["shaken_stir_attestation"] = attestation
        self._emit(call, "call.initiated", **initiated)
        if direction == "outgoing":
            self._answered(call)
        return call

    def _answered(self, call: _Call) -> None:
        call.state = "answered"
        self._emit(call, "call.answered", **self._parties(call), state="answered", start_time=call.start_time)
        call.touch()

    def _speak(self, call: _Call, text: str) -> None:
        """Play `text`: speak.started now, speak.ended when it has played (queued after any playback)."""
        self._emit(call, "call.speak.started")
        call.add_line("SYSTEM", text)
        if not self.tts_wps:
            self._emit(call, "call.speak.ended", status="completed")
            return
        now = time.monotonic()
        call.playing_until = max(now, call.playing_until) + len(text.split()) / self.tts_wps
        self._spawn(self._later(call.playing_until - now, call, "call.speak.ended", status="completed"))

    async def _later(self, delay_s: float, call: _Call, event_type: str, **extra: Any) -> None:
        """Emit `event_type` after `delay_s` unless the call has ended by then; wake the phone."""
        await asyncio.sleep(delay_s)
        if not call.ended:
            self._emit(call, event_type, **extra)
            call.touch()

    def _start_gather(self, call: _Call, body: dict[str, Any]) -> None:
        if call.gather is not None:
            self._end_gather(call, "cancelled")
        gather = _Gather(
            valid=str(body.get("valid_digits") or "0123456789*#"),
            minimum=int(body.get("minimum_digits") or 1),
            maximum=int(body.get("maximum_digits") or 128),
            timeout_s=int(body.get("timeout_millis") or 5000) / 1000 * self.time_scale,
            terminator=str(body.get("terminating_digit") or "#"),
        )
        call.gather = gather
        if self.auto_timeout:
            gather.timer = self._spawn(self._gather_timer(call, gather))
        call.touch()

    async def _gather_timer(self, call: _Call, gather: _Gather) -> None:
        # the timeout runs from the end of the prompt's playback
        await asyncio.sleep(max(0.0, call.playing_until - time.monotonic()) + gather.timeout_s)
        if call.gather is gather:
            gather.timer = None  # we are that task: do not cancel ourselves
            self._gather_timeout(call)

    def _gather_timeout(self, call: _Call) -> None:
        gather = call.gather
        assert gather is not None
        self._end_gather(call, "valid" if len(gather.digits) >= gather.minimum else "timeout")

    def _end_gather(self, call: _Call, status: str) -> None:
        gather, call.gather = call.gather, None
        if gather is None:
            return
        if gather.timer is not None:
            gather.timer.cancel()
        self._emit(call, "call.gather.ended", **self._parties(call), digits=gather.digits, status=status)
        call.touch()

    def _key(self, call: _Call, key: str) -> None:
        """One DTMF key from the phone: always call.dtmf.received, then feed the active gather."""
        self._emit(call, "call.dtmf.received", **self._parties(call), digit=key)
        gather = call.gather
        if gather is None:
            return
        gather.awaiting = False
        if key == gather.terminator and gather.maximum > 1 and len(gather.digits) >= gather.minimum:
            self._end_gather(call, "valid")
        elif key in gather.valid:
            gather.digits += key
            if len(gather.digits) >= gather.maximum:
                self._end_gather(call, "valid")

    def _hangup(self, call: _Call, by_phone: bool) -> None:
        if call.gather is not None:
            self._end_gather(call, "call_hangup")
        call.state, call.transcribing, call.ended_at = "hangup", False, time.monotonic()
        caller_side = by_phone == (call.direction == "incoming")
        call.add_line("CALLER" if by_phone else "SYSTEM", "(hangs up)")
        self._emit(
            call,
            "call.hangup",
            **self._parties(call),
            start_time=call.start_time,
            state="hangup",
            hangup_cause="normal_clearing",
            hangup_source="caller" if caller_side else "callee",
            sip_hangup_cause="200",
            call_quality_stats={
                "inbound": {
                    "jitter_max_variance": "0.00",
                    "jitter_packet_count": "0",
                    "mos": "4.50",
                    "packet_count": "0",
                    "skip_packet_count": "0",
                },
                "outbound": {"packet_count": "0", "skip_packet_count": "0"},
            },  # fmt: skip
        )
        call.touch()

    # ---- service side: Call Control commands ----------------------------------------------------

    def command(self, ccid: str, action: str, body: dict[str, Any]) -> JSONResponse | dict[str, Any]:
        """Apply one Call Control action; the HTTP answer Telnyx would give."""
        call = self.calls.get(ccid)
        record = {"call_control_id": ccid, "action": action, "body": body, "duplicate": False, "status": 200}
        if call is None:
            return _telnyx_error(422, "90015", "Invalid Call Control ID", "The call_control_id is not valid.")
        call.commands.append(record)
        if action not in ACTIONS:
            record["status"] = 501
            return _telnyx_error(501, "10000", "Not implemented", f"the emulator does not implement {action}")
        if call.ended:
            record["status"] = 422
            return _telnyx_error(
                422, "90018", "Call has already ended", "This call is no longer active and can't receive commands."
            )
        if action in NEEDS_ANSWER and call.state != "answered":
            record["status"] = 422
            return _telnyx_error(422, "90034", "Call is not answered", "Answer the call before this command.")
        command_id = body.get("command_id")
        now = time.monotonic()
        call.command_ids = {k: t for k, t in call.command_ids.items() if now - t < DEDUPE_WINDOW_S}
        if isinstance(command_id, str) and command_id:
            if command_id in call.command_ids:
                record["duplicate"] = True
                return OK
            call.command_ids[command_id] = now
        if isinstance(body.get("client_state"), str):
            call.client_state = body["client_state"]
        self._execute(call, action, body)
        return OK

    def _execute(self, call: _Call, action: str, body: dict[str, Any]) -> None:
        text = str(body.get("payload") or "")
        if action == "answer" and call.state != "answered":
            self._answered(call)
        elif action == "speak":
            self._speak(call, text)
        elif action == "gather_using_speak":
            if call.gather is not None:
                self._end_gather(call, "cancelled")
            self._speak(call, text)
            self._start_gather(call, body)
        elif action == "gather":
            self._start_gather(call, body)
        elif action == "gather_stop":
            self._end_gather(call, "cancelled")
        elif action in ("transcription_start", "transcription_stop"):
            call.transcribing = action == "transcription_start"
        elif action == "hangup":
            self._hangup(call, by_phone=False)
        elif action == "playback_stop":
            call.playing_until = min(call.playing_until, time.monotonic())
            call.touch()
        # client_state_update: handled above.

    # ---- phone side -----------------------------------------------------------------------------

    def live_call(self, ccid: str) -> _Call:
        """The call `ccid`; HTTPException 404 if unknown, 409 if it has ended."""
        call = self.calls.get(ccid)
        if call is None:
            raise HTTPException(404, f"no call {ccid}")
        if call.ended:
            raise HTTPException(409, "the call has ended")
        return call

    def phone_says(self, call: _Call, text: str) -> dict[str, Any]:
        line = call.add_line("CALLER", text)
        if call.gather is not None:
            call.gather.awaiting = False
        if call.transcribing and call.state == "answered":
            data = {"confidence": 0.93, "is_final": True, "transcript": text}
            if self.caller_wps:  # the final transcript comes once the caller has finished speaking
                self._spawn(self._later(len(text.split()) / self.caller_wps, call, "call.transcription",
                                        transcription_data=data))  # fmt: skip
            else:
                self._emit(call, "call.transcription", transcription_data=data)
        return line

    def phone_presses(self, call: _Call, digits: str) -> dict[str, Any]:
        line = call.add_line("CALLER", f"(presses {digits})")
        if call.state == "answered":
            for key in digits:
                self._key(call, key)
        return line

    def phone_silent(self, call: _Call) -> dict[str, Any]:
        line = call.add_line("CALLER", "(silence)")
        if call.gather is not None:
            self._gather_timeout(call)
        return line

    async def transcript(self, call: _Call, after: int, wait_s: float) -> dict[str, Any]:
        """Lines after `after`; waits up to wait_s for something to show when there is nothing new."""
        deadline = time.monotonic() + max(0.0, min(wait_s, 60.0))
        while len(call.lines) <= after and not call.ended and not call.waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.changed.wait(), remaining)
        listening = not call.ended and call.gather is not None
        return {"lines": call.lines[max(0, after) :], "ended": call.ended, "waiting": call.waiting,
                "listening": listening}  # fmt: skip


def _quantiles_ms(xs: deque[float]) -> dict[str, float | None]:
    s = sorted(xs)
    if not s:
        return {"p50": None, "p99": None, "max": None}
    return {"p50": round(s[len(s) // 2] * 1000, 2), "p99": round(s[min(len(s) - 1, int(0.99 * len(s)))] * 1000, 2),
            "max": round(s[-1] * 1000, 2)}  # fmt: skip


def create_emulator(
    webhook_url: str,
    private_key: Ed25519PrivateKey,
    *,
    time_scale: float = 1.0,
    auto_timeout: bool = True,
    tts_wps: float = 0.0,
    caller_wps: float = 0.0,
) -> FastAPI:
    """The emulator as a FastAPI app; its `Emulator` is `app.state.emulator`.

    webhook_url: where webhooks go (our app's Telnyx route); private_key: signs them (`ivr.signature`).
    time_scale: factor on gather timeouts (0.01 makes an 8 s timeout 80 ms); auto_timeout=False: a
    gather only times out on `POST /sim/calls/{id}/silence`. tts_wps / caller_wps: pacing in words per
    second (0 = instant, the default; TTS_WPS / CALLER_WPS are real rates).
    """
    emulator = Emulator(webhook_url, private_key, time_scale=time_scale, auto_timeout=auto_timeout,
                        tts_wps=tts_wps, caller_wps=caller_wps)  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await emulator.start()
        yield
        await emulator.stop()

    app = FastAPI(title="Telnyx Call Control emulator", lifespan=lifespan)
    app.state.emulator = emulator

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise HTTPException(422, "body must be a JSON object")
        return body

    @app.post("/v2/calls/{call_control_id}/actions/{action}")
    async def call_action(call_control_id: str, action: str, request: Request) -> Any:
        return emulator.command(call_control_id, action, await json_body(request))

    @app.post("/v2/calls")
    async def dial(request: Request) -> Any:
        body = await json_body(request)
        to = body.get("to")
        to = to[0] if isinstance(to, list) and to else to
        if not isinstance(to, str) or not isinstance(body.get("from"), str) or not body.get("connection_id"):
            return _telnyx_error(422, "10015", "Invalid parameters", "to, from and connection_id are required")
        call = emulator.new_call(
            "outgoing", body["from"], to, str(body["connection_id"]), client_state=body.get("client_state")
        )
        data = {
            "call_control_id": call.call_control_id,
            "call_leg_id": call.call_leg_id,
            "call_session_id": call.call_session_id,
            "is_alive": False,
            "record_type": "call",
            "client_state": call.client_state,
        }
        return {"data": data}

    @app.get("/sim/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "calls": len(emulator.calls)}

    @app.get("/sim/stats")
    async def stats() -> dict[str, Any]:
        return emulator.stats()

    @app.post("/sim/stats/reset")
    async def reset_stats() -> dict[str, Any]:
        emulator.reset_stats()
        return {"ok": True}

    @app.get("/sim/calls")
    async def list_calls() -> list[dict[str, Any]]:
        return [
            {"call_control_id": c.call_control_id, "direction": c.direction, "from": c.from_, "to": c.to,
             "ended": c.ended}
            for c in emulator.calls.values()
        ]  # fmt: skip

    @app.post("/sim/calls")
    async def place_call(request: Request) -> dict[str, Any]:
        body = await json_body(request)
        from_, to = body.get("from", ""), body.get("to") or "+15155550100"
        attestation = body.get("attestation") or None
        if not isinstance(from_, str) or not isinstance(to, str) or attestation not in (None, "A", "B", "C"):
            raise HTTPException(422, 'expected {"from": str, "to": str, "attestation": "A"|"B"|"C"|null}')
        validated = bool(body.get("validated", attestation is not None))
        call = emulator.new_call("incoming", from_, to, attestation=attestation, validated=validated)
        return {"call_control_id": call.call_control_id}

    @app.post("/sim/calls/{call_control_id}/say")
    async def say(call_control_id: str, request: Request) -> dict[str, Any]:
        call = emulator.live_call(call_control_id)
        text = (await json_body(request)).get("text")
        if not isinstance(text, str) or not text.strip():
            raise HTTPException(422, 'expected {"text": non-empty str}')
        return emulator.phone_says(call, text.strip())

    @app.post("/sim/calls/{call_control_id}/press")
    async def press(call_control_id: str, request: Request) -> dict[str, Any]:
        call = emulator.live_call(call_control_id)
        digits = (await json_body(request)).get("digits")
        if not isinstance(digits, str) or not digits or not set(digits) <= DTMF_KEYS:
            raise HTTPException(422, 'expected {"digits": keys from 0-9 * #}')
        return emulator.phone_presses(call, digits)

    @app.post("/sim/calls/{call_control_id}/silence")
    async def silence(call_control_id: str) -> dict[str, Any]:
        return emulator.phone_silent(emulator.live_call(call_control_id))

    @app.post("/sim/calls/{call_control_id}/hangup")
    async def phone_hangup(call_control_id: str) -> dict[str, Any]:
        emulator._hangup(emulator.live_call(call_control_id), by_phone=True)
        return {"ok": True}

    @app.get("/sim/calls/{call_control_id}/transcript")
    async def transcript(call_control_id: str, after: int = 0, wait: float = 0.0) -> dict[str, Any]:
        call = emulator.calls.get(call_control_id)
        if call is None:
            raise HTTPException(404, f"no call {call_control_id}")
        return await emulator.transcript(call, after, wait)

    @app.get("/sim/calls/{call_control_id}/commands")
    async def commands(call_control_id: str) -> list[dict[str, Any]]:
        call = emulator.calls.get(call_control_id)
        if call is None:
            raise HTTPException(404, f"no call {call_control_id}")
        return call.commands

    return app


# ---- running it -------------------------------------------------------------------------------------


async def serve_in_background(app: Any, port: int = 0, host: str = "127.0.0.1") -> tuple[uvicorn.Server, asyncio.Task]:
    """Start `app` under uvicorn in the current event loop; returns once it accepts connections.

    port=0 picks a free port: read it with `server_url(server)`. Stop with `stop_server(server, task)`.
    Raises RuntimeError if the server could not start (e.g. the port is taken).
    """
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))

    async def serve() -> None:
        try:
            await server.serve()
        except SystemExit as exc:  # uvicorn exits the process on a bind error: keep ours alive
            raise RuntimeError(f"uvicorn could not start on {host}:{port} (exit {exc.code})") from None

    task = asyncio.create_task(serve())
    while not server.started:
        if task.done():
            task.result()  # raises the RuntimeError above
            raise RuntimeError(f"uvicorn stopped before starting on {host}:{port}")
        await asyncio.sleep(0.01)
    return server, task


def server_url(server: uvicorn.Server) -> str:
    """`http://host:port` of a started server (the real port when it was started with port 0)."""
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    return f"http://{host}:{port}"


async def stop_server(server: uvicorn.Server, task: asyncio.Task) -> None:
    """Ask uvicorn to exit and wait for it (lifespan shutdown included)."""
    server.should_exit = True
    await task


@contextlib.asynccontextmanager
async def serving(app: Any, port: int = 0, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """`async with serving(app) as url:` runs `app` on loopback for the block; yields its base URL."""
    server, task = await serve_in_background(app, port, host)
    try:
        yield server_url(server)
    finally:
        await stop_server(server, task)


def run_emulator(host: str, port: int, webhook_url: str, key_path: Path, time_scale: float = 1.0,
                 tts_wps: float = 0.0, caller_wps: float = 0.0) -> None:  # fmt: skip
    """Run the emulator in the foreground (blocking) with the key at `key_path` (created if absent)."""
    private_key, _ = load_or_create_keypair(key_path)
    app = create_emulator(webhook_url, private_key, time_scale=time_scale, tts_wps=tts_wps, caller_wps=caller_wps)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def main(argv: list[str] | None = None) -> int:
    """`python -m ivr.emulator --webhook-url URL [--port N] [--key PATH]`: the emulator on its own."""
    from infra.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(prog="ivr.emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.emulator_port)
    parser.add_argument("--webhook-url", default=f"http://{settings.host}:{settings.port}/webhooks/telnyx")
    parser.add_argument("--key", type=Path, default=settings.var_dir / "emulator_ed25519.key")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument(
        "--tts-wps", type=float, default=0.0, help=f"prompt playback in words/s (0 = instant; a real voice: {TTS_WPS})"
    )
    parser.add_argument(
        "--caller-wps",
        type=float,
        default=0.0,
        help=f"caller speech in words/s before its transcription (0 = instant; real: {CALLER_WPS})",
    )
    args = parser.parse_args(argv)
    run_emulator(args.host, args.port, args.webhook_url, args.key, args.time_scale, args.tts_wps, args.caller_wps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
