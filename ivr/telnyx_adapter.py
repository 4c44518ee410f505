"""Telnyx webhook JSON -> `ivr.messages.Inbound`; pure (no I/O), never raises.

Shapes follow Telnyx Call Control v2 webhooks (`/work/shared/design/telnyx.md`, examples in
`telnyx_webhook_examples.json`): `{"data": {"event_type", "id", "occurred_at", "payload": {...}}}`.
We dispatch on `data.event_type` with tolerant reads instead of the SDK's typed webhook union, which
mis-types unknown event types. Anything we do not act on, or cannot read, becomes None.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ivr.messages import (
    CallAnswered,
    CallEnded,
    CallStarted,
    DigitsPressed,
    Event,
    Inbound,
    Silence,
    SpeechEnded,
    SpeechHeard,
)

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")  # ITU-T E.164: '+', country code, at most 15 digits
DTMF_KEYS = frozenset("0123456789*#")
ATTESTATIONS = frozenset("ABC")  # SHAKEN/STIR levels (ATIS-1000074)


def encode_client_state(s: str) -> str:
    """Telnyx `client_state` form of `s`: base64 of its UTF-8 bytes."""
    return base64.b64encode(s.encode()).decode()


def decode_client_state(value: Any) -> str | None:
    """The string carried in a base64 `client_state`; None when absent, not base64 or not UTF-8."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        return None


def _str(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    return value if isinstance(value, str) else ""


def _call_started(p: Mapping[str, Any]) -> Event | None:
    caller = _str(p, "from").strip()
    attestation = _str(p, "shaken_stir_attestation").strip().upper()
    return CallStarted(
        caller_id=caller if E164.match(caller) else None,
        to=_str(p, "to").strip(),
        attestation=attestation if attestation in ATTESTATIONS else None,
        validated=p.get("shaken_stir_validated") is True,
        direction="outgoing" if _str(p, "direction").strip() == "outgoing" else "incoming",
    )


def _transcription(p: Mapping[str, Any]) -> Event | None:
    data = p.get("transcription_data")
    if not isinstance(data, Mapping) or data.get("is_final") is not True:
        return None
    text = data.get("transcript")
    if not isinstance(text, str) or not text.strip():
        return None
    confidence = data.get("confidence")
    ok = isinstance(confidence, int | float) and not isinstance(confidence, bool) and 0 <= confidence <= 1
    return SpeechHeard(text=text.strip(), confidence=float(confidence) if ok else None)


def _digits(value: Any) -> Event | None:
    if isinstance(value, str) and value and set(value) <= DTMF_KEYS:
        return DigitsPressed(digits=value)
    return None


def _gather_ended(p: Mapping[str, Any]) -> Event | None:
    status = _str(p, "status")
    if status == "valid":
        # A valid gather with no key would leave the dialogue waiting forever: treat it as silence.
        return _digits(p.get("digits")) if p.get("digits") else Silence()
    if status == "timeout":
        return Silence()
    return None  # cancelled (our own gather_stop), call_hangup (call.hangup follows), invalid


def _speak_ended(p: Mapping[str, Any]) -> Event | None:
    return SpeechEnded() if _str(p, "status") == "completed" else None


def _hangup(p: Mapping[str, Any]) -> Event | None:
    return CallEnded(cause=_str(p, "hangup_cause"))


_PARSERS: dict[str, Callable[[Mapping[str, Any]], Event | None]] = {
    "call.initiated": _call_started,
    "call.answered": lambda p: CallAnswered(),
    "call.transcription": _transcription,
    "call.gather.ended": _gather_ended,
    "call.speak.ended": _speak_ended,
    "call.hangup": _hangup,
}


def parse_webhook(body: Any) -> Inbound | None:
    """Parse one Telnyx webhook into an `Inbound`, or None if it is unknown, ignored or malformed.

    body: the decoded JSON object (a dict), or the raw JSON as bytes/str.
    Events: call.initiated -> CallStarted; call.answered -> CallAnswered; call.transcription (final,
    non-empty) -> SpeechHeard; call.gather.ended valid -> DigitsPressed, timeout -> Silence, others None;
    call.speak.ended completed -> SpeechEnded; call.hangup -> CallEnded(hangup_cause).

    call.dtmf.received -> None: Telnyx sends it for every key, also during a gather that then ends with
    the same keys in call.gather.ended, so passing both on would make the dialogue act twice on one key
    press. Every input the dialogue waits for is a gather (`Prompt`), so nothing is lost.
    """
    try:
        if isinstance(body, bytes | bytearray | str):
            body = json.loads(body)
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, Mapping):
            return None
        event_type, event_id, payload = data.get("event_type"), data.get("id"), data.get("payload")
        parser = _PARSERS.get(event_type) if isinstance(event_type, str) else None
        if parser is None or not isinstance(payload, Mapping) or not isinstance(event_id, str) or not event_id:
            return None
        call_id = payload.get("call_control_id")
        if not isinstance(call_id, str) or not call_id:
            return None
        event = parser(payload)
        if event is None:
            return None
        return Inbound(
            call_id=call_id,
            event_id=event_id,
            event_type=event_type,
            event=event,
            client_state=decode_client_state(payload.get("client_state")),
        )
    except (ValueError, TypeError, AttributeError, RecursionError):
        return None  # malformed JSON or shapes we did not foresee: never crash the webhook route
