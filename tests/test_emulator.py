"""The Telnyx emulator over real loopback HTTP, driven by the real Telnyx SDK through CallCommands.

A small receiver app stands where our webhook app will: it verifies every signature with
`ivr.signature.verify` and parses with `ivr.telnyx_adapter.parse_webhook`, exactly as the app does.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import telnyx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request, Response

from ivr.emulator import Emulator, create_emulator, serving
from ivr.messages import (
    Answer,
    CallAnswered,
    CallEnded,
    CallStarted,
    DigitsPressed,
    Hangup,
    Inbound,
    Prompt,
    Say,
    Silence,
    SpeechHeard,
    StartTranscription,
    StopPrompt,
)
from ivr.signature import BadSignature, public_key_b64, verify
from ivr.simulator import EmulatorUnavailable, Phone
from ivr.simulator import main as simulator_main
from ivr.telnyx_adapter import decode_client_state, parse_webhook
from ivr.telnyx_client import CallCommands, CommandFailed, make_client


@dataclass
class Receiver:
    """Our side of the webhooks: verifies, parses and records; optionally refuses the first deliveries."""

    public_key: str
    fail_first: int = 0
    react: Callable[[Inbound], Any] | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhooks/telnyx")
        async def webhook(request: Request) -> Response:
            raw = await request.body()
            try:
                verify(raw, request.headers, self.public_key)
            except BadSignature as exc:
                self.rejected.append(exc.reason)
                return Response(status_code=403)
            if self.fail_first > 0:
                self.fail_first -= 1
                return Response(status_code=500)
            body = json.loads(raw)
            self.bodies.append(body)
            inbound = parse_webhook(body)
            if self.react is not None and inbound is not None:
                await self.react(inbound)
            self.changed.set()
            return Response(status_code=200)

        return app

    def types(self, call_id: str | None = None) -> list[str]:
        return [
            b["data"]["event_type"]
            for b in self.bodies
            if call_id is None or b["data"]["payload"]["call_control_id"] == call_id
        ]

    def events(self) -> list[Any]:
        return [p.event for b in self.bodies if (p := parse_webhook(b)) is not None]

    async def wait_for(self, event_type: str, count: int = 1, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while self.types().count(event_type) < count:
                self.changed.clear()
                await self.changed.wait()


@dataclass
class Edge:
    url: str
    emulator: Emulator
    receiver: Receiver
    commands: CallCommands
    http: httpx.AsyncClient


@pytest.fixture
async def edge() -> AsyncIterator[Edge]:
    """Receiver + emulator on free loopback ports; CallCommands through the real SDK."""
    key = Ed25519PrivateKey.generate()
    receiver = Receiver(public_key_b64(key))
    async with serving(receiver.app()) as receiver_url:
        app = create_emulator(f"{receiver_url}/webhooks/telnyx", key, auto_timeout=False)
        async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
            commands = CallCommands(make_client(f"{url}/v2", "test-key", http), backoff_s=(0.01,))
            yield Edge(url, app.state.emulator, receiver, commands, http)


async def place_call(edge: Edge, **body: Any) -> str:
    response = await edge.http.post("/sim/calls", json={"from": "+15155550123", **body})
    response.raise_for_status()
    call_id = response.json()["call_control_id"]
    await edge.receiver.wait_for("call.initiated")
    return call_id


async def answered_call(edge: Edge) -> str:
    """An inbound call answered by CallCommands (command_id "a", no client_state)."""
    call_id = await place_call(edge)
    await edge.commands.send(call_id, Answer(), client_state=None, command_id="a")
    return call_id


async def transcript(edge: Edge, call_id: str) -> dict[str, Any]:
    return (await edge.http.get(f"/sim/calls/{call_id}/transcript")).json()


async def test_call_flow_sends_the_right_webhooks_in_order(edge: Edge) -> None:
    call_id = await place_call(edge, attestation="B", validated=True)
    send = edge.commands.send
    await send(call_id, Answer(), client_state="greeting", command_id="1")
    await send(call_id, Prompt("Press 1 to vote.", digits="12", timeout_ms=8000), client_state="menu", command_id="2")
    assert (await transcript(edge, call_id))["waiting"] is True
    await edge.http.post(f"/sim/calls/{call_id}/press", json={"digits": "1"})
    await edge.receiver.wait_for("call.gather.ended")
    await send(call_id, Say("Goodbye."), client_state="bye", command_id="3")
    await send(call_id, Hangup(), client_state="bye", command_id="4")
    await edge.receiver.wait_for("call.hangup")

    assert edge.receiver.types() == [
        "call.initiated",
        "call.answered",
        "call.speak.started",
        "call.speak.ended",
        "call.dtmf.received",
        "call.gather.ended",
        "call.speak.started",
        "call.speak.ended",
        "call.hangup",
    ]
    parsed = [parse_webhook(b) for b in edge.receiver.bodies]
    assert parsed[0].event == CallStarted("+15155550123", "+15155550100", "B", True)
    assert parsed[1].event == CallAnswered() and parsed[1].client_state == "greeting"
    assert parsed[4] is None  # call.dtmf.received: the key comes once, in call.gather.ended
    assert parsed[5].event == DigitsPressed("1") and parsed[5].client_state == "menu"
    assert [e for e in edge.receiver.events() if isinstance(e, DigitsPressed)] == [DigitsPressed("1")]
    assert parsed[-1].event == CallEnded("normal_clearing") and parsed[-1].client_state == "bye"
    assert edge.receiver.bodies[-1]["data"]["payload"]["hangup_source"] == "callee"
    assert len({b["data"]["id"] for b in edge.receiver.bodies}) == len(edge.receiver.bodies)
    assert not edge.receiver.rejected

    t = await transcript(edge, call_id)
    assert [(line["who"], line["text"]) for line in t["lines"]] == [
        ("SYSTEM", "Press 1 to vote."),
        ("CALLER", "(presses 1)"),
        ("SYSTEM", "Goodbye."),
        ("SYSTEM", "(hangs up)"),
    ]
    assert t["ended"] is True and t["waiting"] is False


async def test_webhook_shapes_match_the_shared_examples(edge: Edge) -> None:
    """Every field of the documented examples is present in what the emulator sends."""
    examples = json.loads(Path("/work/shared/design/telnyx_webhook_examples.json").read_text())
    call_id = await place_call(edge, attestation="A")
    await edge.commands.send(call_id, Answer(), client_state="s", command_id="a")
    await edge.commands.send(call_id, StartTranscription(), client_state="s", command_id="t")
    await edge.commands.send(call_id, Prompt("Say a name."), client_state="s", command_id="p")
    await edge.http.post(f"/sim/calls/{call_id}/say", json={"text": "jane roe"})
    await edge.http.post(f"/sim/calls/{call_id}/press", json={"digits": "5"})
    await edge.http.post(f"/sim/calls/{call_id}/hangup")
    await edge.receiver.wait_for("call.hangup")
    seen = {b["data"]["event_type"]: b for b in edge.receiver.bodies}
    for event_type, sample in examples.items():
        if event_type.startswith("call.playback"):
            continue  # the emulator plays no audio files
        body = seen[event_type]
        assert set(sample) <= set(body)
        assert set(sample["data"]) <= set(body["data"])
        assert set(sample["data"]["payload"]) <= set(body["data"]["payload"]), event_type
    assert body["meta"] == {"attempt": 1, "delivered_to": edge.emulator.webhook_url}


async def test_gather_timeout_and_silence_give_silence(edge: Edge) -> None:
    call_id = await answered_call(edge)
    await edge.commands.send(call_id, Prompt("Anyone there?"), client_state=None, command_id="p1")
    await edge.http.post(f"/sim/calls/{call_id}/silence")
    await edge.receiver.wait_for("call.gather.ended")
    assert edge.receiver.events()[-1] == Silence()

    edge.emulator.auto_timeout, edge.emulator.time_scale = True, 0.001
    await edge.commands.send(call_id, Prompt("Still there?", timeout_ms=5000), client_state=None, command_id="p2")
    await edge.receiver.wait_for("call.gather.ended", count=2, timeout=2)
    assert edge.receiver.bodies[-1]["data"]["payload"]["status"] == "timeout"


async def test_multi_digit_gather_ends_on_max_or_pound(edge: Edge) -> None:
    call_id = await answered_call(edge)
    await edge.commands.send(call_id, Prompt("Amount?", max_digits=6), client_state=None, command_id="p1")
    await edge.http.post(f"/sim/calls/{call_id}/press", json={"digits": "25#"})
    await edge.receiver.wait_for("call.gather.ended")
    await edge.commands.send(call_id, Prompt("PIN?", digits="0123456789", max_digits=2), client_state=None,
                             command_id="p2")  # fmt: skip
    await edge.http.post(f"/sim/calls/{call_id}/press", json={"digits": "*12"})
    await edge.receiver.wait_for("call.gather.ended", count=2)
    gathered = [e for e in edge.receiver.events() if isinstance(e, DigitsPressed)]
    assert gathered[-1] == DigitsPressed("12")
    ends = [
        b["data"]["payload"]["digits"] for b in edge.receiver.bodies if b["data"]["event_type"].endswith("gather.ended")
    ]
    assert ends == ["25", "12"]


async def test_speech_is_heard_only_with_transcription_on(edge: Edge) -> None:
    call_id = await answered_call(edge)
    await edge.http.post(f"/sim/calls/{call_id}/say", json={"text": "hello before"})
    await edge.commands.send(call_id, StartTranscription(("delegate",)), client_state=None, command_id="t")
    await edge.commands.send(call_id, Prompt("Who?"), client_state="who", command_id="p")
    await edge.http.post(f"/sim/calls/{call_id}/say", json={"text": "John Q Doe of Centerville"})
    await edge.receiver.wait_for("call.transcription")
    heard = [e for e in edge.receiver.events() if isinstance(e, SpeechHeard)]
    assert [h.text for h in heard] == ["John Q Doe of Centerville"]
    assert (await transcript(edge, call_id))["waiting"] is False  # the caller has answered the prompt
    await edge.commands.send(call_id, StopPrompt(), client_state="who", command_id="s")
    await edge.receiver.wait_for("call.gather.ended")
    assert edge.receiver.bodies[-1]["data"]["payload"]["status"] == "cancelled"
    assert parse_webhook(edge.receiver.bodies[-1]) is None


async def test_repeated_command_id_is_acknowledged_but_not_executed(edge: Edge) -> None:
    call_id = await answered_call(edge)
    for _ in range(3):
        await edge.commands.send(call_id, Say("Only once."), client_state=None, command_id="say-1")
    await edge.commands.send(call_id, Say("Only once."), client_state=None, command_id="say-2")
    lines = [line["text"] for line in (await transcript(edge, call_id))["lines"]]
    assert lines == ["Only once.", "Only once."]
    recorded = (await edge.http.get(f"/sim/calls/{call_id}/commands")).json()
    assert [(c["action"], c["duplicate"]) for c in recorded] == [
        ("answer", False),
        ("speak", False),
        ("speak", True),
        ("speak", True),
        ("speak", False),
    ]


async def test_command_after_hangup_is_422_and_absorbed(edge: Edge) -> None:
    call_id = await answered_call(edge)
    await edge.commands.send(call_id, Prompt("Menu"), client_state=None, command_id="p")
    await edge.http.post(f"/sim/calls/{call_id}/hangup")
    await edge.receiver.wait_for("call.hangup")
    assert edge.receiver.types()[-2:] == ["call.gather.ended", "call.hangup"]
    assert edge.receiver.bodies[-1]["data"]["payload"]["hangup_source"] == "caller"

    await edge.commands.send(call_id, Say("Are you there?"), client_state=None, command_id="late")  # no raise
    await edge.commands.send("v3:unknown", Hangup(), client_state=None, command_id="x")  # no raise
    recorded = (await edge.http.get(f"/sim/calls/{call_id}/commands")).json()
    assert recorded[-1]["status"] == 422
    with pytest.raises(telnyx.UnprocessableEntityError):
        await edge.commands.client.calls.actions.speak(call_id, payload="x", voice="female")
    assert (await edge.http.post(f"/sim/calls/{call_id}/say", json={"text": "hi"})).status_code == 409


async def test_commands_before_answer_are_refused(edge: Edge) -> None:
    call_id = await place_call(edge)
    with pytest.raises(telnyx.UnprocessableEntityError):
        await edge.commands.client.calls.actions.speak(call_id, payload="x", voice="female")


async def test_failed_webhook_is_redelivered_in_order(edge: Edge) -> None:
    edge.receiver.fail_first = 2
    await answered_call(edge)
    await edge.receiver.wait_for("call.answered")
    assert edge.receiver.types() == ["call.initiated", "call.answered"]
    assert [b["meta"]["attempt"] for b in edge.receiver.bodies] == [3, 1]


async def test_webhooks_signed_with_another_key_are_rejected(edge: Edge) -> None:
    edge.emulator.private_key = Ed25519PrivateKey.generate()
    await edge.http.post("/sim/calls", json={"from": "+15155550123"})
    async with asyncio.timeout(5):
        while not edge.receiver.rejected:
            await asyncio.sleep(0.02)
    assert edge.receiver.rejected[0] == "signature does not match the body"
    assert edge.receiver.bodies == []


async def test_transient_failures_are_retried_with_the_same_command_id(edge: Edge) -> None:
    """A proxy that answers 503 (after forwarding, like a lost response) makes CallCommands retry."""
    calls: list[dict[str, Any]] = []
    proxy = FastAPI()

    @proxy.post("/v2/{path:path}")
    async def forward(path: str, request: Request) -> Response:
        body = await request.body()
        calls.append(json.loads(body))
        upstream = await edge.http.post(f"/v2/{path}", content=body, headers={"content-type": "application/json"})
        if len(calls) <= 2:
            return Response(status_code=503)
        return Response(upstream.content, upstream.status_code, media_type="application/json")

    call_id = await place_call(edge)
    async with serving(proxy) as proxy_url, httpx.AsyncClient() as http:
        flaky = CallCommands(make_client(f"{proxy_url}/v2", "k", http), attempts=3, backoff_s=(0.01,))
        await flaky.send(call_id, Answer(), client_state=None, command_id="ans")
        await flaky.send(call_id, Say("Welcome."), client_state=None, command_id="w")
    assert [c["command_id"] for c in calls] == ["ans", "ans", "ans", "w"]
    await edge.receiver.wait_for("call.speak.ended")
    assert edge.receiver.types().count("call.answered") == 1


async def test_connection_refused_raises_command_failed(edge: Edge) -> None:
    async with serving(FastAPI()) as dead_url:
        pass  # the port is free again once the server has stopped
    dead = CallCommands(make_client(f"{dead_url}/v2", "k"), attempts=2, backoff_s=(0.01,))
    with pytest.raises(CommandFailed) as info:
        await dead.send("v3:any", Answer(), client_state=None, command_id="a")
    assert isinstance(info.value.cause, telnyx.APIConnectionError)


async def test_dial_places_an_answered_outbound_call(edge: Edge) -> None:
    call_id = await edge.commands.dial("+15155550123", "+15155550100", "conn-1", client_state="verify")
    await edge.receiver.wait_for("call.answered")
    first = edge.receiver.bodies[0]["data"]["payload"]
    assert first["direction"] == "outgoing" and first["call_control_id"] == call_id
    assert parse_webhook(edge.receiver.bodies[1]).client_state == "verify"
    await edge.commands.send(call_id, Hangup(), client_state=None, command_id="h")
    await edge.receiver.wait_for("call.hangup")
    assert edge.receiver.bodies[-1]["data"]["payload"]["hangup_source"] == "caller"


# ---- the simulated phone against a tiny IVR ----------------------------------------------------


def tiny_ivr(commands: CallCommands) -> Callable[[Inbound], Any]:
    """Answers, asks for a key, repeats it and hangs up; re-asks once on silence."""
    asked: dict[str, int] = {}

    async def react(inbound: Inbound) -> None:
        n = asked.get(inbound.call_id, 0)
        send = commands.send
        match inbound.event:
            case CallStarted():
                await send(inbound.call_id, Answer(), client_state="0", command_id="answer")
            case CallAnswered():
                asked[inbound.call_id] = 1
                await send(inbound.call_id, Prompt("Press a key."), client_state="1", command_id="p1")
            case Silence() if n < 2:
                asked[inbound.call_id] = 2
                await send(inbound.call_id, Prompt("Please press a key."), client_state="2", command_id="p2")
            case DigitsPressed(digits=d):
                await send(inbound.call_id, Say(f"You pressed {d}."), client_state="3", command_id="say")
                await send(inbound.call_id, Hangup(), client_state="3", command_id="bye")
            case Silence():
                await send(inbound.call_id, Hangup(), client_state="3", command_id="bye")

    return react


async def test_phone_talks_to_a_service(edge: Edge) -> None:
    edge.receiver.react = tiny_ivr(edge.commands)
    heard: list[str] = []
    async with await Phone.dial(edge.url, "+15155550123", on_line=heard.append) as phone:
        assert await phone.wait_for_prompt(5) == ["SYSTEM: Press a key."]
        assert phone.waiting
        await phone.silence()
        assert await phone.wait_for_prompt(5) == ["SYSTEM: Please press a key."]
        await phone.press("7")
        await phone.wait_for_prompt(5)
        assert phone.ended
        assert phone.transcript == [
            "SYSTEM: Press a key.",
            "CALLER: (silence)",
            "SYSTEM: Please press a key.",
            "CALLER: (presses 7)",
            "SYSTEM: You pressed 7.",
            "SYSTEM: (hangs up)",
        ]
        assert heard == phone.transcript
        await phone.hang_up()  # harmless after the end


async def test_call_command_prints_the_conversation(edge: Edge, capsys: pytest.CaptureFixture[str]) -> None:
    edge.receiver.react = tiny_ivr(edge.commands)
    argv = ["--from", "+15155550123", "--emulator", edge.url, "--silence", "--press", "4"]
    status = await asyncio.to_thread(simulator_main, argv)
    assert status == 0
    assert capsys.readouterr().out.splitlines() == [
        "SYSTEM: Press a key.",
        "CALLER: (silence)",
        "SYSTEM: Please press a key.",
        "CALLER: (presses 4)",
        "SYSTEM: You pressed 4.",
        "SYSTEM: (hangs up)",
    ]


async def test_call_command_hangs_up_when_steps_run_out(edge: Edge, capsys: pytest.CaptureFixture[str]) -> None:
    edge.receiver.react = tiny_ivr(edge.commands)
    argv = ["--from", "+15155550123", "--emulator", edge.url]
    status = await asyncio.to_thread(simulator_main, [*argv, "--say", "hello"])
    assert status == 0
    assert capsys.readouterr().out.splitlines() == [
        "SYSTEM: Press a key.",
        "CALLER: hello",
        "CALLER: (hangs up)",
    ]
    await edge.receiver.wait_for("call.hangup")
    assert edge.receiver.bodies[-1]["data"]["payload"]["hangup_source"] == "caller"


async def test_call_command_without_emulator_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    async with serving(FastAPI()) as dead_url:
        pass
    status = await asyncio.to_thread(simulator_main, ["--from", "+15155550123", "--emulator", dead_url, "--press", "1"])
    assert status == 1
    assert "./run_delegate_network" in capsys.readouterr().err
    with pytest.raises(EmulatorUnavailable):
        await Phone.dial(dead_url, "+15155550123")


async def test_serving_on_a_taken_port_raises_instead_of_exiting() -> None:
    async with serving(FastAPI()) as url:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(RuntimeError, match="could not start"):
            async with serving(FastAPI(), port=port):
                pass


async def test_webhooks_of_parallel_calls_keep_their_own_order(edge: Edge) -> None:
    calls = [await answered_call(edge) for _ in range(3)]
    for i in range(4):
        for call_id in calls:
            await edge.commands.send(call_id, Say(f"line {i}"), client_state=f"{i}", command_id=f"s{i}")
    for call_id in calls:
        await edge.commands.send(call_id, Hangup(), client_state="end", command_id="h")
    await edge.receiver.wait_for("call.hangup", count=3)
    for call_id in calls:
        said = [
            decode_client_state(b["data"]["payload"]["client_state"])
            for b in edge.receiver.bodies
            if b["data"]["payload"]["call_control_id"] == call_id and b["data"]["event_type"] == "call.speak.ended"
        ]
        assert said == ["0", "1", "2", "3"]
        assert edge.receiver.types(call_id)[-1] == "call.hangup"


async def test_interactive_call_reads_typed_lines(edge: Edge) -> None:
    """`./run_delegate_network call` without steps: the user types after each prompt."""
    edge.receiver.react = tiny_ivr(edge.commands)
    root = Path(__file__).resolve().parent.parent
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "infra.cli", "call", "--from", "+15155550123", "--emulator", edge.url,
        cwd=root, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    out: list[str] = []
    async with asyncio.timeout(20):
        for typed in ["/press x", "/silence", "/press 9"]:
            while not out or not out[-1].startswith("SYSTEM:"):
                out.append((await proc.stdout.readline()).decode().rstrip("\n"))
            proc.stdin.write(f"{typed}\n".encode())
            await proc.stdin.drain()
            if typed == "/press x":  # refused with a usage hint: the service still waits
                continue
            out.append((await proc.stdout.readline()).decode().rstrip("\n"))
        while "(hangs up)" not in out[-1]:  # the service ends the call; stdin is still open
            out.append((await proc.stdout.readline()).decode().rstrip("\n"))
        rest, err = await proc.communicate()
    out += rest.decode().splitlines()
    assert proc.returncode == 0
    assert out == [
        "SYSTEM: Press a key.",
        "CALLER: (silence)",
        "SYSTEM: Please press a key.",
        "CALLER: (presses 9)",
        "SYSTEM: You pressed 9.",
        "SYSTEM: (hangs up)",
    ]
    assert "usage: /press" in err.decode()
