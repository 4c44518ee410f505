"""Typed messages between the call-control edge and the pure dialogue.

Events come in (parsed from Telnyx webhooks by `ivr.telnyx_adapter`); commands go out (turned into
Telnyx Call Control requests by the same adapter). The dialogue (`ivr.dialogue`) sees only these
dataclasses: no JSON, no HTTP, no Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---- events (provider -> dialogue) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStarted:
    """An inbound call was offered (`call.initiated`).

    caller_id: E.164 `from` number, or None when anonymous/unparseable.
    attestation: SHAKEN/STIR level "A" | "B" | "C", None when absent.
    validated: `shaken_stir_validated`.
    """

    caller_id: str | None
    to: str = ""
    attestation: str | None = None
    validated: bool = False


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """The call was answered (`call.answered`)."""


@dataclass(frozen=True, slots=True)
class SpeechHeard:
    """A final transcription result (`call.transcription` with `is_final`). confidence in 0..1 or None."""

    text: str
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class DigitsPressed:
    """DTMF from `call.gather.ended` (status valid) or `call.dtmf.received`: "0"-"9", "*", "#"."""

    digits: str


@dataclass(frozen=True, slots=True)
class Silence:
    """A prompt's gather timed out with no key and no speech (`call.gather.ended`, status timeout)."""


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    """A plain `Say` finished playing (`call.speak.ended`, status completed)."""


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over (`call.hangup`); terminal even when it overtakes other events."""

    cause: str = ""


Event = CallStarted | CallAnswered | SpeechHeard | DigitsPressed | Silence | SpeechEnded | CallEnded


@dataclass(frozen=True, slots=True)
class Inbound:
    """One parsed webhook: the event plus the envelope the edge needs.

    call_id: Telnyx `call_control_id`; event_id: `data.id` (dedupe key);
    client_state: decoded `client_state` string (our prompt token) or None.
    """

    call_id: str
    event_id: str
    event_type: str
    event: Event
    client_state: str | None = None


# ---- commands (dialogue -> provider) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer the parked inbound call."""


@dataclass(frozen=True, slots=True)
class StartTranscription:
    """Start speech recognition on the inbound track; hints are ASR phrase hints (no example names)."""

    hints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Prompt:
    """Speak `text` and wait for a key or speech (`gather_using_speak`).

    digits: the valid DTMF keys ("" = any of 0-9*#); timeout_ms: silence before `Silence` is raised.
    """

    text: str
    digits: str = "0123456789*#"
    max_digits: int = 1
    timeout_ms: int = 8000


@dataclass(frozen=True, slots=True)
class Say:
    """Speak `text` without waiting for input (`speak`)."""

    text: str


@dataclass(frozen=True, slots=True)
class StopPrompt:
    """Barge-in: stop the playing prompt and its gather (`gather_stop`)."""


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call."""


TelephonyCommand = Answer | StartTranscription | Prompt | Say | StopPrompt | Hangup
