"""A simulated telephone: places a call through the emulator's phone side (`/sim/...`) and talks.

`Phone` is the library form (tests, benchmarks); `main` is `./run_delegate_network call ...`.
Transcript lines read "SYSTEM: ..." (what the service spoke) and "CALLER: ..." (what the phone did);
key presses, silence and hang-ups show as "(presses 12)", "(silence)", "(hangs up)".
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

DEFAULT_TO = "+15155550100"
POLL_S = 5.0  # one long poll's wait; the emulator answers at once when something happens
DTMF = frozenset("0123456789*#")
SETTLE_S = 1.0  # after the last step: this long without a new line while a gather is open = done


class EmulatorUnavailable(Exception):
    """The emulator did not answer at the given URL."""


class Phone:
    """One simulated call. Create with `await Phone.dial(...)`; close with `await phone.aclose()`.

    transcript: "SYSTEM: ..." / "CALLER: ..." lines in call order; ended: the call is over;
    waiting: the service's prompt has been spoken and it now waits for the caller;
    listening: a gather is open (also after the caller answered, until the service reacts).
    on_line: called with each new transcript line as it is learnt (the CLI prints them).
    """

    def __init__(self, http: httpx.AsyncClient, call_id: str, on_line: Callable[[str], None] | None = None) -> None:
        self.http = http
        self.call_id = call_id
        self.on_line = on_line
        self.ended = False
        self.waiting = False
        self.listening = False
        self._lines: dict[int, str] = {}
        self._after = 0

    @classmethod
    async def dial(
        cls,
        emulator_url: str,
        from_: str,
        to: str = DEFAULT_TO,
        attestation: str | None = "A",
        validated: bool = True,
        on_line: Callable[[str], None] | None = None,
    ) -> Phone:
        """Place an inbound call from `from_` (E.164, or e.g. "anonymous") to `to`.

        attestation: SHAKEN/STIR "A" | "B" | "C" or None. Raises EmulatorUnavailable when nothing
        answers at emulator_url, httpx.HTTPStatusError when the emulator refuses the call.
        """
        http = httpx.AsyncClient(base_url=emulator_url.rstrip("/"), timeout=httpx.Timeout(POLL_S + 25, connect=3))
        body = {"from": from_, "to": to, "attestation": attestation, "validated": validated}
        try:
            response = await http.post("/sim/calls", json=body)
            response.raise_for_status()
        except httpx.TransportError as exc:
            await http.aclose()
            raise EmulatorUnavailable(f"no emulator at {emulator_url}: {exc!r}") from exc
        except httpx.HTTPStatusError:
            await http.aclose()
            raise
        return cls(http, response.json()["call_control_id"], on_line)

    async def __aenter__(self) -> Phone:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release the HTTP client (the call itself stays as it is; hang up first if needed)."""
        await self.http.aclose()

    @property
    def transcript(self) -> list[str]:
        return [self._lines[n] for n in sorted(self._lines)]

    def _learn(self, line: dict[str, Any]) -> str | None:
        n = int(line["n"])
        if n in self._lines:
            return None
        text = f"{line['who']}: {line['text']}"
        self._lines[n] = text
        while self._after + 1 in self._lines:  # poll from the first line we have not seen
            self._after += 1
        if self.on_line is not None:
            self.on_line(text)
        return text

    async def poll(self, wait_s: float = 0.0) -> list[str]:
        """New lines since the last poll (waiting up to wait_s for any); updates `ended` and `waiting`."""
        response = await self.http.get(
            f"/sim/calls/{self.call_id}/transcript", params={"after": self._after, "wait": wait_s}
        )
        response.raise_for_status()
        data = response.json()
        new = [text for line in data["lines"] if (text := self._learn(line)) is not None]
        self.ended, self.waiting = bool(data["ended"]), bool(data["waiting"])
        self.listening = bool(data.get("listening"))
        return new

    async def wait_for_prompt(self, timeout: float = 10.0) -> list[str]:
        """New SYSTEM/CALLER lines until the service waits for input, the call ends, or timeout (s)."""
        deadline = time.monotonic() + timeout
        new: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            new += await self.poll(max(0.0, min(POLL_S, remaining)))
            if self.ended or self.waiting or remaining <= 0:
                return new

    async def _act(self, what: str, body: dict[str, Any] | None = None) -> None:
        response = await self.http.post(f"/sim/calls/{self.call_id}/{what}", json=body or {})
        if response.status_code == 409:  # the service hung up first
            self.ended, self.waiting = True, False
            return
        response.raise_for_status()
        self.waiting = False
        if what != "hangup":
            self._learn(response.json())

    async def say(self, text: str) -> None:
        """Speak `text` (the emulator turns it into call.transcription when transcription is on)."""
        await self._act("say", {"text": text})

    async def press(self, digits: str) -> None:
        """Press DTMF keys "0"-"9", "*", "#" in order."""
        await self._act("press", {"digits": digits})

    async def silence(self) -> None:
        """Say nothing: the service's pending prompt times out now."""
        await self._act("silence")

    async def hang_up(self) -> None:
        """Hang up (call.hangup with hangup_source "caller"); harmless when the call is already over."""
        if not self.ended:
            await self._act("hangup")
            await self.poll()


# ---- CLI ----------------------------------------------------------------------------------------


class _Step(argparse.Action):
    """Collects --say/--press/--silence into one list, in command-line order."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        steps = list(getattr(namespace, "steps", None) or [])
        steps.append((self.dest, values))
        namespace.steps = steps


def _parser(default_url: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_delegate_network call",
        description="Place a simulated phone call to The Delegate Network through the local Telnyx emulator. "
        "Without --say/--press/--silence it is interactive: type text to say it, /press 12, /silence, /hangup.",
    )
    parser.add_argument("--from", dest="from_", required=True, help="caller ID, E.164 (e.g. +15155550123)")
    parser.add_argument("--to", default=DEFAULT_TO, help=f"number called, E.164 (default {DEFAULT_TO})")
    parser.add_argument("--say", action=_Step, help="say TEXT at the next prompt (repeatable)")
    parser.add_argument("--press", action=_Step, help="press DIGITS at the next prompt (repeatable)")
    parser.add_argument("--silence", action=_Step, nargs=0, help="stay silent at the next prompt (repeatable)")
    parser.add_argument("--attestation", default="A", choices=["A", "B", "C", "none"], help="SHAKEN/STIR level")
    parser.add_argument("--emulator", default=default_url, help=f"emulator URL (default {default_url})")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the service each turn")
    parser.set_defaults(steps=[])
    return parser


async def _step(phone: Phone, kind: str, value: Any) -> None:
    if kind == "say":
        await phone.say(value)
    elif kind == "press":
        await phone.press(value)
    else:
        await phone.silence()


async def _scripted(phone: Phone, steps: list[tuple[str, Any]], timeout: float) -> int:
    for kind, value in steps:
        await phone.wait_for_prompt(timeout)
        if phone.ended:
            return 0
        if not phone.waiting:
            print(f"(the service did not ask anything within {timeout:g} s; hanging up)", file=sys.stderr)
            await phone.hang_up()
            return 1
        await _step(phone, kind, value)
    # Listen until the service stops speaking: a new prompt, the end, or a quiet open gather.
    deadline = time.monotonic() + timeout
    while not (phone.ended or phone.waiting) and time.monotonic() < deadline:
        if not await phone.poll(SETTLE_S) and phone.listening:
            break
    if not phone.ended:
        await phone.hang_up()
    return 0


async def _interactive(phone: Phone) -> int:
    print("(type to speak; /press 12, /silence, /hangup; end of input hangs up)", file=sys.stderr)
    loop = asyncio.get_running_loop()
    typed: asyncio.Queue[str | None] = asyncio.Queue()

    def read_stdin() -> None:  # a daemon thread: a pending readline never holds up the exit
        for line in sys.stdin:
            loop.call_soon_threadsafe(typed.put_nowait, line)
        loop.call_soon_threadsafe(typed.put_nowait, None)

    async def show() -> None:
        while not phone.ended:
            if not await phone.poll(POLL_S):
                await asyncio.sleep(0.2)  # nothing new while the service waits: do not spin

    threading.Thread(target=read_stdin, daemon=True).start()
    printer = asyncio.create_task(show())
    try:
        while not phone.ended:
            next_line = asyncio.create_task(typed.get())
            await asyncio.wait({next_line, printer}, return_when=asyncio.FIRST_COMPLETED)
            if not next_line.done():  # the call ended while the user was typing
                next_line.cancel()
                break
            await _typed(phone, next_line.result())
    finally:
        printer.cancel()
    return 0


async def _typed(phone: Phone, line: str | None) -> None:
    """One line of interactive input: text is said; /press DIGITS, /silence, /hangup; None = end of input."""
    text = (line or "").strip()
    if line is None or text == "/hangup":
        await phone.hang_up()
    elif text == "/silence":
        await phone.silence()
    elif text.startswith("/press"):
        digits = text.removeprefix("/press").strip()
        if digits and set(digits) <= DTMF:
            await phone.press(digits)
        else:
            print("(usage: /press DIGITS with 0-9 * #)", file=sys.stderr)
    elif text:
        await phone.say(text)


async def _run(args: argparse.Namespace) -> int:
    attestation = None if args.attestation == "none" else args.attestation
    try:
        phone = await Phone.dial(
            args.emulator, args.from_, args.to, attestation, attestation is not None, on_line=print
        )
    except EmulatorUnavailable:
        print(
            f"No Telnyx emulator answers at {args.emulator}.\n"
            "Start the service first, in another terminal:  ./run_delegate_network",
            file=sys.stderr,
        )
        return 1
    async with phone:
        if args.steps:
            return await _scripted(phone, args.steps, args.timeout)
        return await _interactive(phone)


def main(argv: list[str] | None = None) -> int:
    """`./run_delegate_network call --from E164 [--to E164] [--say T]... [--press D]... [--silence]...`.

    Steps run in command-line order, each once the service waits for input; lines print as they
    happen; after the last step the phone listens until the service stops speaking and then hangs
    up if the service still waits. Exit 0 when the call ended, 1 when the emulator is not running or
    the service did not ask for input in time, 2 for bad arguments.
    """
    from infra.settings import get_settings

    args = _parser(f"http://127.0.0.1:{get_settings().emulator_port}").parse_args(argv)
    for kind, value in args.steps:
        if kind == "press" and not (value and set(value) <= DTMF):
            print(f"--press {value!r}: use keys 0-9 * #", file=sys.stderr)
            return 2
    return asyncio.run(_run(args))


if __name__ == "__main__":
    raise SystemExit(main())
