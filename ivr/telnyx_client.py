"""Telephony commands -> Telnyx Call Control requests through the official `AsyncTelnyx` SDK.

The same code talks to Telnyx or to the local emulator (`ivr.emulator`): only `base_url` and the
injected `httpx.AsyncClient` differ. Retries are ours, not the SDK's (`max_retries=0`): every attempt
reuses the command's `command_id`, which Telnyx uses to ignore a repeat for the same call within 60 s,
so a retried command that did reach Telnyx is not executed twice.

Errors: `CommandFailed` after the last attempt (connection error, timeout, 408/429/5xx) or at once for
another refusal (400/401/403...). 404/422 mean the call is already over: logged and absorbed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import telnyx
from telnyx import AsyncTelnyx

from ivr.messages import Answer, Hangup, Prompt, Say, StartTranscription, StopPrompt, TelephonyCommand
from ivr.telnyx_adapter import encode_client_state

log = logging.getLogger(__name__)

ALL_KEYS = "0123456789*#"
TRANSIENT_STATUS = frozenset({408, 409, 429})  # plus every 5xx


class CommandFailed(Exception):
    """A command could not be delivered: `call_id`, `action` (Telnyx action name), `cause` (last error)."""

    def __init__(self, call_id: str, action: str, cause: BaseException) -> None:
        super().__init__(f"{action} on call {call_id} failed: {cause}")
        self.call_id = call_id
        self.action = action
        self.cause = cause


def make_client(base_url: str, api_key: str, http_client: httpx.AsyncClient | None = None) -> AsyncTelnyx:
    """An `AsyncTelnyx` for `base_url` (e.g. "https://api.telnyx.com/v2" or "http://127.0.0.1:8001/v2").

    api_key may be "" for the emulator (no Authorization header is sent). The SDK's own retries are off
    (max_retries=0): `CallCommands` retries with a stable command_id instead. Timeout 10 s per request.
    """
    return AsyncTelnyx(
        api_key=api_key or None,
        base_url=base_url,
        max_retries=0,
        timeout=httpx.Timeout(10.0, connect=3.0),
        http_client=http_client,
    )


def _transcription_config(engine: str, hints: Sequence[str]) -> dict[str, Any] | None:
    """Engine-specific phrase hints: Google takes `hints`, Deepgram nova-3 `keyterms` (Telnyx API ref)."""
    if engine == "Google":
        return {
            "transcription_engine": "Google",
            "interim_results": False,
            **({"hints": list(hints)} if hints else {}),
        }
    if engine == "Deepgram":
        config: dict[str, Any] = {
            "transcription_engine": "deepgram/nova-3",
            "transcription_model": "deepgram/nova-3",
        }
        if hints:
            config["keyterms"] = list(hints)
        return config
    return None


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, telnyx.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(exc, telnyx.APIStatusError) and (
        exc.status_code >= 500 or exc.status_code in TRANSIENT_STATUS
    )


def _call_gone(exc: BaseException) -> bool:
    return isinstance(exc, telnyx.APIStatusError) and exc.status_code in (404, 422)


class CallCommands:
    """Sends `ivr.messages` telephony commands for one account.

    client: from `make_client`; voice: Telnyx TTS voice (e.g. "female", "AWS.Polly.Joanna-Neural");
    language: TTS language ("en-US"); engine: transcription engine ("Google", "Deepgram", "Telnyx"...);
    attempts: tries per command for transient failures; backoff_s: sleep before retry n (last value repeats).
    """

    def __init__(
        self,
        client: AsyncTelnyx,
        *,
        voice: str = "female",
        language: str = "en-US",
        engine: str = "Google",
        attempts: int = 3,
        backoff_s: Sequence[float] = (0.1, 0.4),
    ) -> None:
        self.client = client
        self.voice = voice
        self.language = language
        self.engine = engine
        self.attempts = max(1, attempts)
        self.backoff_s = tuple(backoff_s) or (0.0,)

    def _request(self, call_id: str, cmd: TelephonyCommand, common: dict[str, Any]) -> tuple[str, Callable]:
        """(Telnyx action name, zero-argument coroutine factory) for `cmd`."""
        actions = self.client.calls.actions
        match cmd:
            case Answer():
                return "answer", lambda: actions.answer(call_id, **common)
            case StartTranscription(hints=hints):
                config = _transcription_config(self.engine, hints)
                extra = {"transcription_engine_config": config} if config else {}
                return "transcription_start", lambda: actions.start_transcription(
                    call_id,
                    transcription_engine=self.engine,
                    transcription_tracks="inbound",
                    **extra,
                    **common,
                )
            case Prompt(text=text, digits=digits, max_digits=max_digits, timeout_ms=timeout_ms):
                return "gather_using_speak", lambda: actions.gather_using_speak(
                    call_id,
                    payload=text,
                    voice=self.voice,
                    language=self.language,
                    valid_digits=digits or ALL_KEYS,
                    minimum_digits=1,
                    maximum_digits=max(1, max_digits),
                    timeout_millis=timeout_ms,
                    **common,
                )
            case Say(text=text):
                return "speak", lambda: actions.speak(
                    call_id, payload=text, voice=self.voice, language=self.language, **common
                )
            case StopPrompt():
                return "gather_stop", lambda: actions.stop_gather(call_id, **common)
            case Hangup():
                return "hangup", lambda: actions.hangup(call_id, **common)
        raise TypeError(f"not a telephony command: {cmd!r}")

    async def send(
        self, call_id: str, cmd: TelephonyCommand, *, client_state: str | None, command_id: str
    ) -> None:
        """Send `cmd` on call `call_id` (Telnyx call_control_id).

        client_state: our plain-text token, sent base64 and echoed by Telnyx on every later webhook.
        command_id: idempotency key, identical on every retry (derive it from call, state version, action).
        Returns normally when accepted, or when Telnyx answers 404/422 (the call has already ended).
        Raises CommandFailed after `attempts` transient failures, or at once on another refusal;
        TypeError if `cmd` is not a TelephonyCommand.
        """
        common: dict[str, Any] = {"command_id": command_id}
        if client_state is not None:
            common["client_state"] = encode_client_state(client_state)
        action, request = self._request(call_id, cmd, common)
        await self._with_retries(call_id, action, request)

    async def _with_retries(self, call_id: str, action: str, request: Callable[[], Awaitable[Any]]) -> Any:
        for attempt in range(1, self.attempts + 1):
            try:
                return await request()
            except telnyx.APIError as exc:
                if _call_gone(exc):
                    log.info("%s on call %s ignored: call no longer active (%s)", action, call_id, exc)
                    return None
                if not _is_transient(exc) or attempt == self.attempts:
                    raise CommandFailed(call_id, action, exc) from exc
                log.warning("%s on call %s: attempt %d failed (%s); retrying", action, call_id, attempt, exc)
                await asyncio.sleep(self.backoff_s[min(attempt - 1, len(self.backoff_s) - 1)])
        raise AssertionError("unreachable")

    async def dial(self, to: str, from_: str, connection_id: str, client_state: str | None = None) -> str:
        """Place an outbound call (`POST /calls`); returns its call_control_id.

        to/from_: E.164; connection_id: the Call Control application id; client_state: plain text.
        Not retried (a repeated dial would ring twice). Raises CommandFailed on any error.
        """
        extra: dict[str, Any] = {}
        if client_state is not None:
            extra["client_state"] = encode_client_state(client_state)
        try:
            response = await self.client.calls.dial(connection_id=connection_id, from_=from_, to=to, **extra)
        except telnyx.APIError as exc:
            raise CommandFailed("", "dial", exc) from exc
        if response.data is None:
            raise CommandFailed("", "dial", ValueError("response carries no call"))
        return response.data.call_control_id
