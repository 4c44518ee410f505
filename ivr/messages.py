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
    """A call began (`call.initiated`): offered to us (direction "incoming") or placed by us ("outgoing",
    the call-back that verifies a phone).

    caller_id: E.164 `from` number, or None when anonymous/unparseable; to: the called number.
    attestation: SHAKEN/STIR level "A" | "B" | "C", None when absent.
    validated: `shaken_stir_validated`.
    """

    caller_id: str | None
    to: str = ""
    attestation: str | None = None
    validated: bool = False
    direction: str = "incoming"


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
    """DTMF from `call.gather.ended` (status valid): "0"-"9", "*", "#". (`call.dtmf.received` repeats
    the keys a gather reports, so it is not turned into a second event.)"""

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


# ---- effects: requests the dialogue makes of our own stores, and their results -----------------
# The runner (`ivr.runner`) executes a request with `ivr.effects.Effects` and feeds the result back
# into the dialogue as an event, so the dialogue stays a pure function.


@dataclass(frozen=True, slots=True)
class Person:
    """A voter as the dialogue speaks of them (no phone number). street: "Maple St" or ""."""

    regn_num: str
    first: str
    name: str
    street: str = ""
    county: str = ""


@dataclass(frozen=True, slots=True)
class BillInfo:
    """A bill as the dialogue speaks of it: key "119-hr-1234", number "H.R. 1234", short title."""

    key: str
    number: str
    title: str
    closed: bool = False


@dataclass(frozen=True, slots=True)
class IdentifyCaller:
    """Admit the call (rate limits, concurrency cap, allow/deny list) and look the caller ID up in the voter
    roll (household = several registrations on one number); judge whether it is trusted for actions."""

    caller_id: str | None
    attestation: str | None = None
    validated: bool = False
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class CallerIdentified:
    """Result of IdentifyCaller: registered voters on the number (may be empty), the county auditor, and
    whether the caller ID is trusted for actions (SHAKEN/STIR policy met, or verified by call-back).
    refusal: "busy" | "rate_limited" | "denied" when the call is not admitted at all; captcha: the digits
    the caller must enter before the menu ("" = no captcha; drawn at random by the effects layer).
    hints: ASR place hints for this caller (their county's towns first; `ivr.asr_hints`).
    claim_delegate / claim_votes: on a household phone, the tentative actions recorded from it before it was
    on the roll (the delegate's public name or "", the number of votes), which a member may claim."""

    voters: tuple[Person, ...]
    auditor_office: str = ""
    auditor_phone: str = ""
    trusted: bool = True
    refusal: str | None = None
    captcha: str = ""
    hints: tuple[str, ...] = ()
    claim_delegate: str = ""
    claim_votes: int = 0


@dataclass(frozen=True, slots=True)
class ClaimTentative:
    """A household member says the tentative actions recorded from this phone were theirs: make them the
    voter's own (`voter_registry.tentative.apply_pending`, keeping what the voter has since done)."""

    voter: str


@dataclass(frozen=True, slots=True)
class Claimed:
    """Result of ClaimTentative: actions now counting as the voter's, actions dropped (closed bills, a
    delegate no longer active, or superseded by the voter's own later action), audit seq of the claim."""

    applied: int
    dropped: int
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class StartVerification:
    """Call the voter back at their registered number (`calls.dial`) to verify it with a one-time code."""

    voter: str
    phone: str
    service_number: str


@dataclass(frozen=True, slots=True)
class VerificationStarted:
    """Result of StartVerification: the one-time code to read to the caller ("4719")."""

    code: str


@dataclass(frozen=True, slots=True)
class CheckVerification:
    """On the call-back: does `code` match the one read on the first call? Marks the phone verified."""

    phone: str
    code: str


@dataclass(frozen=True, slots=True)
class VerificationChecked:
    """Result of CheckVerification."""

    ok: bool


@dataclass(frozen=True, slots=True)
class FindVoter:
    """Match a spoken name/place/phone against the roll; `match` = a previous result to refine with text."""

    text: str
    caller: str | None
    match: dict | None = None


@dataclass(frozen=True, slots=True)
class VoterMatched:
    """Result of FindVoter: decision "unique" | "ask" | "not_found"; `match` is the opaque result to refine."""

    decision: str
    people: tuple[Person, ...]
    question: str | None
    match: dict | None


@dataclass(frozen=True, slots=True)
class FindBill:
    """Find bills by spoken number or title words; empty text = the most recent bills."""

    text: str
    limit: int = 3


@dataclass(frozen=True, slots=True)
class BillsFound:
    """Result of FindBill, best first."""

    bills: tuple[BillInfo, ...]


@dataclass(frozen=True, slots=True)
class LookupDelegate:
    """Who is the voter's standing delegate?"""

    voter: str


@dataclass(frozen=True, slots=True)
class DelegateIs:
    """Result of LookupDelegate: the delegate or None."""

    delegate: Person | None


@dataclass(frozen=True, slots=True)
class RecordDelegation:
    """Commit "voter delegates to delegate" (audit log first, then the store).

    scope: "standing" or a bill key (a delegation for that bill only, R6); backup: add the delegate as the
    next ranked backup (R7, up to 3 in all) instead of replacing the first choice."""

    voter: str
    delegate: str
    scope: str = "standing"
    backup: bool = False


@dataclass(frozen=True, slots=True)
class RecordNoDelegation:
    """Commit "voter has no delegation on this bill" (R6: only a direct vote counts for them there)."""

    voter: str
    bill: str


@dataclass(frozen=True, slots=True)
class RecordRecall:
    """Commit "voter recalls their standing delegation"."""

    voter: str


@dataclass(frozen=True, slots=True)
class RecordVote:
    """Commit "voter votes choice on bill" (choice: yes | no | abstain)."""

    voter: str
    bill: str
    choice: str


@dataclass(frozen=True, slots=True)
class Recorded:
    """Result of a Record* request: ok, the audit sequence number, or a spoken reason it was refused.

    loops: the new delegation currently loops back to the voter (R4: allowed, but the caller is told).
    award: activation reward in cents granted by this action (0 = none); award_next: next voter's, cents.
    balance_cents: the caller's balance after a payment or mint.
    """

    ok: bool
    seq: int | None = None
    reason: str = ""
    loops: bool = False
    award_cents: int = 0
    award_next_cents: int = 0
    balance_cents: int | None = None


@dataclass(frozen=True, slots=True)
class AuditFor:
    """How is `voter`'s power used on these bills (empty = the most recent bills)?"""

    voter: str
    bills: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditStep:
    """One bill's audit path: chain of delegate names after the voter, who finally voted and how, or why not.

    reason: "voted" (the voter themself) | "delegated" | "no_delegation" | "dead_end" | "loop" | "capped"
    | "inactive"; last_seq: sequence number of the voter's last action in the audit log, if any.
    """

    bill: BillInfo
    chain: tuple[str, ...]
    choice: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Result of AuditFor."""

    subject: Person
    steps: tuple[AuditStep, ...]
    last_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Balance:
    """The caller's delegate-money balance, and whether this call may mint (sovereign phone, attestation)."""

    voter: str | None
    caller_id: str | None
    attestation: str | None
    validated: bool


@dataclass(frozen=True, slots=True)
class BalanceIs:
    """Result of Balance: cents, and may_mint for a sovereign call."""

    cents: int
    may_mint: bool = False


@dataclass(frozen=True, slots=True)
class RecordPayment:
    """Commit a payment of `cents` (> 0) from voter to payee; `ref` makes a retry idempotent."""

    voter: str
    payee: str
    cents: int
    ref: str


@dataclass(frozen=True, slots=True)
class RecordMint:
    """Commit a sovereign mint of `cents` to `to`; the effect re-checks the sovereign and attestation."""

    by: str
    to: str
    cents: int
    ref: str
    caller_id: str | None
    attestation: str | None
    validated: bool


@dataclass(frozen=True, slots=True)
class EffectFailed:
    """An effect could not run (storage down, disk full): spoken apology, state unchanged."""

    reason: str


EffectRequest = (IdentifyCaller | FindVoter | FindBill | LookupDelegate | RecordDelegation | RecordRecall
                 | RecordVote | RecordNoDelegation | AuditFor | Balance | RecordPayment | RecordMint | StartVerification
                 | CheckVerification | ClaimTentative)
EffectResult = (CallerIdentified | VoterMatched | BillsFound | DelegateIs | Recorded | AuditReport
                | BalanceIs | VerificationStarted | VerificationChecked | Claimed | EffectFailed)
