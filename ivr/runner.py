"""Drives one call: dedupe, load state, step the dialogue, run effects, save state, send commands.

Per-call state lives in Redis (`call:{call_control_id}`, JSON, 2 h TTL) so a restart does not lose a
call; event ids are remembered for 24 h (`ivr:evt:{id}`) because Telnyx delivers at least once.
Events of one call are handled one at a time: in arrival order within a worker (`CallQueues`), and across
workers under the call's lease (`ivr.lease`: renewed while the event is processed, so a killed worker's
call is free again within 2 s).

Telnyx does not order webhooks, and two workers may take a call's events in either order, so the runner
does not rely on order: a caller's input (speech, keys, a gather timeout) counts only for the prompt it
answers -- its `client_state`, the prompt token Telnyx echoes on every later event, must be the call's
current token (an input to a superseded prompt is dropped); a `call.hangup` that overtakes the call's
`call.initiated` leaves a mark (`ivr:ended:{id}`) so the late start is not taken for a new call; other
events are caused by our own commands, so they cannot overtake the event that sent them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio as aioredis

from ivr import metrics, prompts
from ivr.dialogue import CallState, step
from ivr.lease import Lease, hold
from ivr.messages import (
    Answer,
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

log = logging.getLogger(__name__)
TELEPHONY = (Answer, StartTranscription, Prompt, Say, StopPrompt, Hangup)
CALLER_INPUT = (SpeechHeard, DigitsPressed, Silence)  # each answers the prompt whose token it carries
STATE_TTL_S = 2 * 3600
RETRY_S = (0.2, 0.5, 1.0, 2.0, 4.0)  # storage outages (e.g. a Valkey restart) an event waits out
DEDUPE_TTL_S = 24 * 3600
_NS = uuid.UUID("6f1c1f9e-3b1e-4d55-9a43-2f8d3c1e7a10")


def command_id(call_id: str, version: int, index: int, action: str) -> str:
    """Deterministic Telnyx `command_id` from (call, state version, position, action): a redelivered
    webhook that produces the same commands repeats the same ids, which Telnyx ignores."""
    return str(uuid.uuid5(_NS, f"{call_id}|{version}|{index}|{action}"))


class CallRunner:
    """Handles parsed webhooks of all calls. `send(call_id, cmd, client_state=, command_id=)` is the
    carrier seam (`ivr.telnyx_client.CallCommands.send`); `effects.run(request)` our stores' seam."""

    def __init__(self, r: aioredis.Redis, effects: Any, send: Callable[..., Awaitable[None]]) -> None:
        self.r, self.effects, self.send = r, effects, send

    async def handle(self, inbound: Inbound) -> None:
        """Process one webhook event to completion. Duplicates (same `data.id`) are ignored; events of one
        call are serialised across worker processes by a Redis lock (`ivr:lock:{call}`)."""
        if not await self.r.set(f"ivr:evt:{inbound.event_id}", 1, nx=True, ex=DEDUPE_TTL_S):
            log.info("duplicate event %s ignored", inbound.event_id)
            return
        started = time.perf_counter()
        try:
            async with hold(self.r, inbound.call_id) as lease:  # ivr.lease: free within 2 s of a kill
                await self._handle(inbound, lease)
        except Exception:
            # not handled: forget the event id so a retry or a redelivery is not taken for a duplicate
            with contextlib.suppress(Exception):
                await self.r.delete(f"ivr:evt:{inbound.event_id}")
            raise
        metrics.EVENT_SECONDS.observe(time.perf_counter() - started)

    async def _handle(self, inbound: Inbound, lease: Lease) -> None:
        key = f"call:{inbound.call_id}"
        raw = await self.r.get(key)
        ev = inbound.event
        if raw is None:
            if isinstance(ev, CallEnded):  # the hang-up overtook the call's start: remember it ended
                await self.r.set(f"ivr:ended:{inbound.call_id}", 1, ex=STATE_TTL_S)
            if not isinstance(ev, CallStarted) or await self.r.exists(f"ivr:ended:{inbound.call_id}"):
                return  # unknown or already finished call: nothing to do (hang-up is terminal)
            state = CallState(call_id=inbound.call_id)
            metrics.CALLS_IN_PROGRESS.inc()
        else:
            state = CallState.from_json(json.loads(raw))
        # An input to a superseded prompt is dropped -- unless the current prompt may never have reached
        # Telnyx (its sending mark survived: a send failed or the worker died), so Telnyx still echoes
        # the previous token and the caller answers what they last heard.
        if isinstance(ev, CALLER_INPUT) and inbound.client_state not in (None, state.token) \
                and await self.r.get(lease.mark) != state.token:
            log.info("%s for superseded prompt %s ignored (now %s)", inbound.event_type, inbound.client_state,
                     state.token)
            return
        if isinstance(ev, CallEnded):
            await self.r.delete(key)  # nothing half-done survives a hang-up
            lease.clear_mark = True
            await self.effects.ended(inbound.call_id)
            metrics.CALLS_IN_PROGRESS.dec()
            log.info("call %s ended (%s) in node %s", inbound.call_id, ev.cause, state.node)
            return
        outbox: list[tuple[Any, str, str]] = []
        before = state
        state = await self._advance(state, ev, outbox)
        if state.node == "ended":
            await self.r.delete(key)
            lease.clear_mark = True
            await self.effects.ended(inbound.call_id)
            metrics.CALLS_IN_PROGRESS.dec()
        elif state is not before or raw is None:  # events that change nothing (speak.ended) write nothing
            pipe = self.r.pipeline(transaction=False)  # one round trip; the lease's release clears the mark
            pipe.set(key, json.dumps(state.to_json()), ex=STATE_TTL_S)
            if outbox:
                pipe.set(lease.mark, state.token, ex=STATE_TTL_S)
            await pipe.execute()
            lease.clear_mark = bool(outbox)  # cleared at release unless a command fails (below)
        for cmd, token, cid in outbox:
            if not await self._send(inbound.call_id, cmd, token, cid):
                metrics.ERRORS.labels("telnyx_command").inc()
                lease.clear_mark = False  # Telnyx may still echo the previous prompt's token
                if isinstance(cmd, Answer):  # nobody can hear an apology on an unanswered call: end it
                    with contextlib.suppress(Exception):
                        await self.send(inbound.call_id, Hangup(), client_state=token, command_id=cid + "-h")
                else:
                    await self._apologise(inbound.call_id, state)
                return

    async def _send(self, call_id: str, cmd: Any, token: str, cid: str) -> bool:
        """Send one command; an Answer is retried for longer (the call rings ~30 s before Telnyx gives up)."""
        for delay in ((0.0, 1.0, 2.0, 4.0) if isinstance(cmd, Answer) else (0.0,)):
            await asyncio.sleep(delay)
            try:
                await self.send(call_id, cmd, client_state=token, command_id=cid)
                return True
            except Exception:  # the carrier stayed down through the client's own retries
                log.exception("command %s on call %s failed", type(cmd).__name__, call_id)
        return False

    async def _apologise(self, call_id: str, state: CallState) -> None:
        """Say a short apology rather than leave the caller in silence, and ask again."""
        cid = command_id(call_id, state.version, 999, "apology")
        try:
            await self.send(call_id, Prompt(prompts.APOLOGY_RETRY + state.last_prompt), client_state=state.token,
                            command_id=cid)
        except Exception:
            log.warning("apology on call %s could not be sent either", call_id)

    async def _advance(self, state: CallState, ev: Any, outbox: list[tuple[Any, str, str]]) -> CallState:
        pending = [ev]
        while pending:
            state, cmds = step(state, pending.pop(0))
            for cmd in cmds:
                if isinstance(cmd, TELEPHONY):
                    cid = command_id(state.call_id, state.version, len(outbox), type(cmd).__name__)
                    outbox.append((cmd, state.token, cid))
                else:
                    pending.append(await self.effects.run(cmd, state))
        return state


class CallQueues:
    """One FIFO worker per active call, so the webhook route can answer at once while events of a call
    are processed in arrival order and different calls run concurrently."""

    def __init__(self, handle: Callable[[Inbound], Awaitable[None]]) -> None:
        self.handle = handle
        self._queues: dict[str, asyncio.Queue[Inbound]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, inbound: Inbound) -> None:
        q = self._queues.get(inbound.call_id)
        if q is None:
            q = self._queues[inbound.call_id] = asyncio.Queue()
            task = asyncio.create_task(self._drain(inbound.call_id, q))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        q.put_nowait(inbound)

    async def _drain(self, call_id: str, q: asyncio.Queue[Inbound]) -> None:
        while not q.empty():
            inbound = q.get_nowait()
            for delay in (0.0, *RETRY_S):  # an acknowledged webhook is never redelivered: wait out outages
                await asyncio.sleep(delay)
                try:
                    await self.handle(inbound)
                    break
                except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.LockError) as exc:  # LeaseTimeout
                    log.warning("event %s of call %s: storage unavailable (%r), retrying", inbound.event_type, call_id,
                                exc)
                except Exception:
                    log.exception("event %s of call %s failed", inbound.event_type, call_id)
                    break
        del self._queues[call_id]

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for queued events (shutdown, tests)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*list(self._tasks), return_exceptions=True), timeout_s)
