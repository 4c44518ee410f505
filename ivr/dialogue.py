"""The call dialogue: a pure state machine `step(state, event) -> (state, commands)`.

No Redis, HTTP or FastAPI here. Telephony commands (`Prompt`, `Say`, `Hangup`, ...) go to the carrier;
effect requests (`FindVoter`, `RecordVote`, ...) are run by `ivr.runner` against our stores and their
results come back as events. The menu map is in `docs/phone-menu.md`; every sentence is in
`ivr.prompts`.

Rules kept here: nothing is recorded before an explicit "yes" (so a hang-up mid-confirmation records
nothing); "menu", "help" and "goodbye" work everywhere; silence re-prompts twice, then goodbye.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ivr import prompts
from ivr import understanding as nlu
from ivr.messages import (
    Answer,
    AuditFor,
    AuditReport,
    Balance,
    BalanceIs,
    BillInfo,
    BillsFound,
    CallAnswered,
    CallEnded,
    CallerIdentified,
    CallStarted,
    CheckVerification,
    Claimed,
    ClaimTentative,
    DelegateIs,
    DigitsPressed,
    EffectFailed,
    FindBill,
    FindVoter,
    Hangup,
    IdentifyCaller,
    LookupDelegate,
    Person,
    Prompt,
    RecordDelegation,
    Recorded,
    RecordMint,
    RecordNoDelegation,
    RecordPayment,
    RecordRecall,
    RecordVote,
    Say,
    Silence,
    SpeechEnded,
    SpeechHeard,
    StartTranscription,
    StartVerification,
    StopPrompt,
    VerificationChecked,
    VerificationStarted,
    VoterMatched,
)

MAX_SILENCES = 2
TENTATIVE = Person("tentative", "", "you")  # an unregistered caller recording tentative actions
Command = Any  # a TelephonyCommand or an EffectRequest (ivr.messages)

COMMAND_HINTS = ("delegate", "vote", "audit", "recall", "money", "help", "menu", "goodbye", "yes", "no",
                 "abstain", "list", "recent", "me", "H R", "house resolution", "junior", "senior", "county",
                 "street")


@dataclass(frozen=True)
class CallState:
    """Per-call state, kept in Redis between webhooks (JSON via `to_json` / `from_json`).

    node: where the dialogue is ("main", "delegate_confirm", ...); version: bumped on every prompt and
    sent as `client_state` so stale gather timeouts are recognised; voter: the identified caller
    (None = unregistered or not yet chosen in a household); pending: data of the question in progress;
    trusted: the caller ID may act (SHAKEN/STIR policy met or verified by call-back); captcha: digits the
    caller must enter before the menu ("" = none); direction: "outgoing" for our verification call-back;
    hints: the caller's ASR place hints until transcription starts; claim: tentative actions recorded from a
    household phone that a member may claim ({"delegate": public name or "", "votes": n}, {} = none).
    """

    call_id: str
    caller_id: str | None = None
    attestation: str | None = None
    validated: bool = False
    node: str = "start"
    voter: Person | None = None
    household: tuple[Person, ...] = ()
    auditor_office: str = ""
    auditor_phone: str = ""
    silences: int = 0
    version: int = 0
    last_prompt: str = ""
    pending: dict[str, Any] = field(default_factory=dict)
    service_number: str = ""
    direction: str = "incoming"
    trusted: bool = True
    captcha: str = ""
    tries: int = 0
    hints: tuple[str, ...] = ()
    claim: dict[str, Any] = field(default_factory=dict)

    @property
    def token(self) -> str:
        """The `client_state` of the current prompt."""
        return f"p{self.version}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CallState:
        d = dict(d)
        d["voter"] = Person(**d["voter"]) if d.get("voter") else None
        d["household"] = tuple(Person(**p) for p in d.get("household", ()))
        d["hints"] = tuple(d.get("hints", ()))
        return cls(**d)


Result = tuple[CallState, list[Command]]


# ---- helpers -------------------------------------------------------------------------------------

def _ask(s: CallState, text: str, node: str | None = None, **pending: Any) -> Result:
    """Speak `text` and wait for the caller, moving to `node` with `pending` data."""
    s = replace(s, node=node or s.node, version=s.version + 1, last_prompt=text, silences=0,
                pending=pending if node else s.pending)
    n = int(s.pending.get("digits", 1))
    return s, [Prompt(text, digits="0123456789" if n > 1 else "0123456789*#", max_digits=n)]


def _bye(s: CallState, text: str = prompts.GOODBYE) -> Result:
    return replace(s, node="ended"), [Say(text), Hangup()]


def _main(s: CallState, prefix: str = "") -> Result:
    menu = prompts.MAIN_MENU if s.voter else prompts.MAIN_MENU_UNREGISTERED
    return _ask(s, prefix + menu, "main")


def _bill(b: dict[str, Any]) -> BillInfo:
    """The BillInfo kept (as a dict) in the call state."""
    return BillInfo(**b)


def _greet(s: CallState) -> Result:
    if s.household:
        return _ask(s, prompts.household([p.first for p in s.household]), "household")
    if s.voter:
        return _ask(s, prompts.welcome(s.voter.first), "main")
    return _ask(s, prompts.unregistered(s.auditor_office, s.auditor_phone), "main")


# ---- the step function ---------------------------------------------------------------------------

def step(s: CallState, ev: Any) -> Result:
    """Advance the dialogue by one event. Pure: same (state, event) -> same (state, commands)."""
    if isinstance(ev, CallEnded):
        return replace(s, node="ended"), []
    if s.node == "ended":
        return s, []
    if isinstance(ev, CallStarted):
        if ev.direction == "outgoing":  # our call-back: the voter is the called party
            s = replace(s, caller_id=ev.to, service_number=ev.caller_id or "", direction="outgoing",
                        node="identifying")
            return s, [IdentifyCaller(ev.to, None, False, s.call_id)]
        s = replace(s, caller_id=ev.caller_id, attestation=ev.attestation, validated=ev.validated,
                    service_number=ev.to, node="identifying")
        return s, [IdentifyCaller(ev.caller_id, ev.attestation, ev.validated, s.call_id)]
    if isinstance(ev, CallerIdentified):
        voter = ev.voters[0] if len(ev.voters) == 1 else None
        s = replace(s, voter=voter, household=ev.voters if len(ev.voters) > 1 else (),
                    auditor_office=ev.auditor_office, auditor_phone=ev.auditor_phone, trusted=ev.trusted,
                    captcha=ev.captcha, node="answering", pending={"refusal": ev.refusal} if ev.refusal else {},
                    hints=ev.hints, claim={"delegate": ev.claim_delegate, "votes": ev.claim_votes}
                    if ev.claim_delegate or ev.claim_votes else {})
        return s, ([] if s.direction == "outgoing" else [Answer()])
    if isinstance(ev, CallAnswered):
        if s.node != "answering":
            return s, []
        if s.pending.get("refusal"):
            return _bye(s, prompts.refusal(s.pending["refusal"]))
        cmds: list[Command] = [StartTranscription(COMMAND_HINTS + s.hints)]
        s = replace(s, hints=())  # sent once; not carried in every later state write
        if s.direction == "outgoing":
            s2, c = _ask(s, prompts.VERIFY_ASK, "verify_code", digits=4)
        elif s.captcha:
            s2, c = _ask(s, prompts.captcha(s.captcha), "captcha", digits=len(s.captcha))
        else:
            s2, c = _greet(s)
        return s2, cmds + c
    if isinstance(ev, Silence):
        if s.silences >= MAX_SILENCES:
            return _bye(s)
        s2, c = _ask(s, prompts.STILL_THERE + s.last_prompt)
        return replace(s2, silences=s.silences + 1), c
    if isinstance(ev, SpeechEnded):
        return s, []
    if isinstance(ev, EffectFailed):
        if s.node == "identifying":  # the roll is unreachable: never treat a voter as unregistered
            return replace(s, node="answering", pending={"refusal": "unavailable"}), [Answer()]
        return _main(s, prompts.APOLOGY + " ")
    if isinstance(ev, SpeechHeard | DigitsPressed):
        return _input(s, ev)
    handler = _RESULTS.get(type(ev))
    return handler(s, ev) if handler else (s, [])


def _input(s: CallState, ev: SpeechHeard | DigitsPressed) -> Result:
    text = ev.text if isinstance(ev, SpeechHeard) else ""
    digits = ev.digits if isinstance(ev, DigitsPressed) else ""
    barge: list[Command] = [StopPrompt()] if text else []  # speech stops the playing prompt
    if text:
        g = nlu.is_global(text)
        if g == "goodbye":
            return _bye(s)
        if g == "menu" and s.node != "household":
            st, c = _main(s)
            return st, barge + c
        if g == "help":
            st, c = _ask(s, prompts.HELP.get(s.node, prompts.HELP["main"]) + " " + s.last_prompt)
            return st, barge + c
    elif digits in ("*", "0") and s.node not in ("household", "main"):
        return _main(s)
    handler = _NODES.get(s.node)
    if handler is None:
        return s, []
    st, c = handler(s, text, digits)
    return st, barge + c


def _yes_no(text: str, digits: str) -> str | None:
    return nlu.YES_NO_KEYS.get(digits[:1]) if digits else nlu.yes_no(text)


# ---- node handlers: (state, text, digits) -> result ----------------------------------------------

def _household(s: CallState, text: str, digits: str) -> Result:
    ws = set(nlu.words(text))
    chosen = [p for p in s.household if p.first.lower() in ws]
    if digits.isdigit() and 1 <= int(digits) <= len(s.household):
        chosen = [s.household[int(digits) - 1]]
    if len(chosen) != 1:
        return _ask(s, prompts.NOT_UNDERSTOOD + prompts.household([p.first for p in s.household]))
    s = replace(s, voter=chosen[0])
    if s.claim and s.trusted:  # actions recorded before this phone was on the roll: whose were they?
        return _ask(s, prompts.claim_offer(chosen[0].first, s.claim["delegate"], s.claim["votes"]),
                    "claim_confirm")
    return _ask(s, prompts.welcome(chosen[0].first), "main")


def _claim_confirm(s: CallState, text: str, digits: str) -> Result:
    assert s.voter is not None
    yn = _yes_no(text, digits)
    if yn is None:
        return _ask(s, prompts.YES_OR_NO)
    s = replace(s, claim={})
    if yn == "yes":
        return s, [ClaimTentative(s.voter.regn_num)]
    return _main(s, prompts.CLAIM_DECLINED)


def _main_menu(s: CallState, text: str, digits: str) -> Result:
    cmd, rest = (nlu.MENU_KEYS.get(digits[:1]), "") if digits else nlu.command(text)
    if cmd is None:
        return _main(s, prompts.NOT_UNDERSTOOD)
    if cmd == "goodbye":
        return _bye(s)
    if cmd == "help":
        return _ask(s, prompts.HELP["main"])
    if cmd == "menu":
        return _main(s)
    if cmd == "audit":
        return _start_audit(s, rest)
    if cmd == "list":
        return replace(s, node="vote_bill", pending={"listing": True}), [FindBill("")]
    prefix = ""
    if s.voter is None and cmd in ("delegate", "vote", "recall") and not s.household:
        s, prefix = replace(s, voter=TENTATIVE), prompts.TENTATIVE_NOTE
    if s.voter is None or (cmd == "money" and s.voter == TENTATIVE):
        return _main(s, prompts.cannot_act(s.auditor_office, s.auditor_phone))
    if not s.trusted:  # SHAKEN/STIR policy not met: verify the phone by calling it back first
        assert s.caller_id is not None
        return replace(s, node="verify_offer"), [StartVerification(s.voter.regn_num, s.caller_id, s.service_number)]
    if cmd == "delegate":
        if rest:
            return replace(s, node="delegate_ask", pending={"heard": rest}), [FindVoter(rest, s.voter.regn_num)]
        return _ask(s, prefix + prompts.ask_delegate(), "delegate_ask")
    if cmd == "vote":
        if rest:
            return replace(s, node="vote_bill", pending={"heard": rest}), [FindBill(rest)]
        return _ask(s, prefix + prompts.ask_bill(), "vote_bill")
    if cmd == "recall":
        return replace(s, node="recall_confirm"), [LookupDelegate(s.voter.regn_num)]
    if cmd == "backup":
        name = " ".join(w for w in rest.split() if w not in ("delegate", "delegates", "is", "to"))
        if name:
            return replace(s, node="delegate_ask", pending={"backup": True, "heard": name}), [
                FindVoter(name, s.voter.regn_num)]
        return _ask(s, prompts.ask_backup(), "delegate_ask", backup=True)
    if cmd == "money":
        first = nlu.words(text)[:1]
        pending = {"utterance": text} if first and first[0] in ("pay", "send", "give", "mint") else {}
        return replace(s, node="money", pending=pending), [
            Balance(s.voter.regn_num, s.caller_id, s.attestation, s.validated)]
    return _main(s, prompts.NOT_UNDERSTOOD)


def _start_audit(s: CallState, rest: str) -> Result:
    if rest and nlu.means_me(rest):
        return _audit_me(s)
    if rest:
        return replace(s, node="audit_who"), [FindVoter(rest, s.voter.regn_num if s.voter else None)]
    return _ask(s, prompts.ask_audit_who(), "audit_who")


def _audit_me(s: CallState) -> Result:
    if s.voter is None:
        return _main(s, "This phone is not on a voter registration, so there is no vote of yours to audit. ")
    return _ask(s, prompts.ask_audit_bill(), "audit_bill", subject=asdict(s.voter), own=True)


def _delegate_ask(s: CallState, text: str, digits: str) -> Result:
    heard = text or digits
    if not heard:
        return _ask(s, prompts.ask_delegate())
    assert s.voter is not None
    return replace(s, pending={**s.pending, "heard": heard}), [FindVoter(heard, s.voter.regn_num)]


def _refine(s: CallState, text: str, digits: str) -> Result:
    answer = text or digits
    return s, [FindVoter(answer, s.voter.regn_num if s.voter else None, match=s.pending.get("match"))]


def _delegate_confirm(s: CallState, text: str, digits: str) -> Result:
    yn = _yes_no(text, digits)
    if yn is None:
        return _ask(s, prompts.YES_OR_NO)
    if yn == "no":
        return _ask(s, "All right. " + prompts.ask_delegate(), "delegate_ask")
    assert s.voter is not None
    scope = s.pending["bill"]["key"] if s.pending.get("bill") else "standing"
    return s, [RecordDelegation(s.voter.regn_num, s.pending["person"]["regn_num"], scope,
                                bool(s.pending.get("backup")))]


def _vote_bill(s: CallState, text: str, digits: str) -> Result:
    heard = text or digits
    if nlu.command(heard)[0] == "list" or nlu.means_recent(heard):
        return replace(s, pending={"listing": True}), [FindBill("")]
    return replace(s, pending={"heard": heard}), [FindBill(heard)]


def _vote_choice(s: CallState, text: str, digits: str) -> Result:
    bill = _bill(s.pending["bill"])
    assert s.voter is not None
    if text and nlu.means_no_delegation(text):
        return _ask(s, prompts.confirm_no_delegation(bill), "nodelegate_confirm", bill=s.pending["bill"])
    if text and nlu.command(text)[0] == "delegate":  # a delegation for this bill only (R6)
        name = nlu.strip_scope(nlu.command(text)[1])
        if not name:
            return _ask(s, prompts.ask_delegate(), "delegate_ask", bill=s.pending["bill"])
        return replace(s, node="delegate_ask", pending={"bill": s.pending["bill"], "heard": name}), [
            FindVoter(name, s.voter.regn_num)]
    choice = nlu.CHOICE_KEYS.get(digits[:1]) if digits else nlu.vote_choice(text)
    if choice is None:
        return _ask(s, prompts.NOT_UNDERSTOOD + prompts.ask_choice(bill))
    return _ask(s, prompts.confirm_vote(choice, bill), "vote_confirm", bill=s.pending["bill"], choice=choice)


def _vote_confirm(s: CallState, text: str, digits: str) -> Result:
    yn = _yes_no(text, digits)
    bill = _bill(s.pending["bill"])
    if yn is None:
        return _ask(s, prompts.YES_OR_NO)
    if yn == "no":
        return _ask(s, "All right. " + prompts.ask_choice(bill), "vote_choice", bill=s.pending["bill"])
    assert s.voter is not None
    return s, [RecordVote(s.voter.regn_num, bill.key, s.pending["choice"])]


def _confirm(s: CallState, text: str, digits: str, yes: Command, unchanged: str) -> Result:
    """A yes/no confirmation: `yes` is the commit request; "no" returns to the menu saying `unchanged`."""
    yn = _yes_no(text, digits)
    if yn is None:
        return _ask(s, prompts.YES_OR_NO)
    return (s, [yes]) if yn == "yes" else _main(s, unchanged)


def _nodelegate_confirm(s: CallState, text: str, digits: str) -> Result:
    assert s.voter is not None
    return _confirm(s, text, digits, RecordNoDelegation(s.voter.regn_num, s.pending["bill"]["key"]),
                    "Your delegation is unchanged. ")


def _audit_who(s: CallState, text: str, digits: str) -> Result:
    if nlu.means_me(text):
        return _audit_me(s)
    return replace(s, pending={"heard": text or digits}), [
        FindVoter(text or digits, s.voter.regn_num if s.voter else None)]


def _audit_bill(s: CallState, text: str, digits: str) -> Result:
    subject = s.pending["subject"]
    if nlu.means_recent(text) or not (text or digits):
        return s, [AuditFor(subject["regn_num"])]
    return replace(s, pending={**s.pending, "bill_heard": text}), [FindBill(text or digits, limit=1)]


def _recall_confirm(s: CallState, text: str, digits: str) -> Result:
    assert s.voter is not None
    return _confirm(s, text, digits, RecordRecall(s.voter.regn_num), "Your delegation is unchanged. ")


def _money(s: CallState, text: str, digits: str) -> Result:
    """Money menu: "pay AMOUNT to PAYEE" or, on a sovereign call, "mint AMOUNT to PAYEE | myself"."""
    from money.amounts import parse_amount, split_payment

    ws = nlu.words(text)
    minting = bool(ws) and ws[0] == "mint"
    if minting and not s.pending.get("may_mint"):
        return _ask(s, "Only sovereign phones can mint delegate money. " + prompts.HELP["money"])
    rest = " ".join(ws[1:]) if minting else text
    cents, payee = split_payment(rest) if not minting else (None, None)
    if minting:
        head, _, tail = rest.partition(" to ")
        cents, payee = parse_amount(head), tail.strip() or None
    if cents is None:
        return _ask(s, prompts.NOT_UNDERSTOOD + "Say the amount in dollars and cents, and to whom.")
    if cents <= 0:
        return _ask(s, "The amount must be more than zero. " + prompts.HELP["money"])
    verb = "Mint" if minting else "Pay"
    pending = {**s.pending, "cents": cents, "verb": verb}
    assert s.voter is not None
    if payee is None:
        return _ask(s, prompts.HELP["pay_payee"], "pay_payee", **pending)
    if minting and nlu.means_me(payee):
        return _ask(s, prompts.confirm_payment(verb, cents, s.voter), "pay_confirm", **pending,
                    person=asdict(s.voter))
    return replace(s, node="pay_payee", pending={**pending, "heard": payee}), [FindVoter(payee, s.voter.regn_num)]


def _pay_payee(s: CallState, text: str, digits: str) -> Result:
    assert s.voter is not None
    if s.pending.get("verb") == "Mint" and nlu.means_me(text):
        return _ask(s, prompts.confirm_payment("Mint", s.pending["cents"], s.voter), "pay_confirm",
                    **s.pending, person=asdict(s.voter))
    return replace(s, pending={**s.pending, "heard": text or digits}), [FindVoter(text or digits, s.voter.regn_num)]


def _pay_confirm(s: CallState, text: str, digits: str) -> Result:
    assert s.voter is not None
    to, cents, ref = s.pending["person"]["regn_num"], s.pending["cents"], f"{s.call_id}:{s.version}"
    if s.pending["verb"] == "Mint":
        commit: Command = RecordMint(s.voter.regn_num, to, cents, ref, s.caller_id, s.attestation, s.validated)
    else:
        commit = RecordPayment(s.voter.regn_num, to, cents, ref)
    return _confirm(s, text, digits, commit, "Nothing was paid. ")


def _captcha(s: CallState, text: str, digits: str) -> Result:
    got = digits or nlu.spoken_digits(text)
    if got == s.captcha:
        return _greet(replace(s, captcha="", pending={}))
    if s.tries >= 1:
        return _bye(s, "That was not right either. " + prompts.GOODBYE)
    return _ask(replace(s, tries=s.tries + 1), prompts.captcha_wrong(s.captcha))


def _verify_code(s: CallState, text: str, digits: str) -> Result:
    got = digits or nlu.spoken_digits(text)
    assert s.caller_id is not None
    return s, [CheckVerification(s.caller_id, got)]


_NODES = {
    "captcha": _captcha,
    "verify_code": _verify_code,
    "household": _household,
    "claim_confirm": _claim_confirm,
    "main": _main_menu,
    "delegate_ask": _delegate_ask,
    "delegate_refine": _refine,
    "delegate_confirm": _delegate_confirm,
    "vote_bill": _vote_bill,
    "vote_choice": _vote_choice,
    "vote_confirm": _vote_confirm,
    "nodelegate_confirm": _nodelegate_confirm,
    "audit_who": _audit_who,
    "audit_refine": _refine,
    "audit_bill": _audit_bill,
    "recall_confirm": _recall_confirm,
    "money": _money,
    "pay_payee": _pay_payee,
    "pay_refine": _refine,
    "pay_confirm": _pay_confirm,
}


# ---- effect results --------------------------------------------------------------------------------

def _voter_matched(s: CallState, ev: VoterMatched) -> Result:
    prefix = s.node.split("_")[0]  # delegate | audit | pay
    auditing = prefix == "audit"
    heard = s.pending.get("heard", "that name")
    if ev.decision == "not_found" or not ev.people:
        back = {"audit": "audit_who", "delegate": "delegate_ask", "pay": "pay_payee"}[prefix]
        return _ask(s, prompts.not_found(heard), back, **{**s.pending, "heard": heard})
    if ev.decision == "ask":
        return _ask(s, ev.question or prompts.HELP[f"{prefix}_refine"], f"{prefix}_refine",
                    **{**s.pending, "match": ev.match, "heard": heard})
    person = ev.people[0]
    if prefix == "pay":
        assert s.voter is not None
        if person.regn_num == s.voter.regn_num and s.pending["verb"] == "Pay":
            return _ask(s, "You cannot pay yourself. " + prompts.HELP["pay_payee"], "pay_payee", **s.pending)
        return _ask(s, prompts.confirm_payment(s.pending["verb"], s.pending["cents"], person), "pay_confirm",
                    **s.pending, person=asdict(person))
    if auditing:
        own = s.voter is not None and person.regn_num == s.voter.regn_num
        return _ask(s, prompts.ask_audit_bill(), "audit_bill", subject=asdict(person), own=own)
    assert s.voter is not None
    if person.regn_num == s.voter.regn_num:  # invariant cannot_delegate_to_self, told with its reason
        return _ask(s, prompts.self_delegation(), "delegate_ask")
    bill = _bill(s.pending["bill"]) if s.pending.get("bill") else None
    return _ask(s, prompts.confirm_delegate(person, bill, bool(s.pending.get("backup"))), "delegate_confirm",
                **{k: v for k, v in s.pending.items() if k in ("bill", "backup")}, person=asdict(person))


def _bills_found(s: CallState, ev: BillsFound) -> Result:
    if s.node == "audit_bill":
        subject = s.pending["subject"]
        if not ev.bills:
            return _ask(s, prompts.bill_not_found(s.pending.get("bill_heard", "that")))
        return s, [AuditFor(subject["regn_num"], tuple(b.key for b in ev.bills))]
    if s.pending.get("listing"):
        return _ask(s, prompts.bill_list(ev.bills) + prompts.ask_bill(), "vote_bill")
    if not ev.bills:
        return _ask(s, prompts.bill_not_found(s.pending.get("heard", "that")), "vote_bill")
    bill = ev.bills[0]
    if bill.closed:
        return _ask(s, prompts.bill_closed(bill) + prompts.ask_bill(), "vote_bill")
    return _ask(s, prompts.ask_choice(bill), "vote_choice", bill=asdict(bill))


def _delegate_is(s: CallState, ev: DelegateIs) -> Result:
    if ev.delegate is None:
        return _main(s, prompts.no_delegate())
    return _ask(s, prompts.confirm_recall(ev.delegate), "recall_confirm", person=asdict(ev.delegate))


def _recorded(s: CallState, ev: Recorded) -> Result:
    if not ev.ok:
        return _main(s, prompts.refused(ev.reason) + " ")
    if s.node == "nodelegate_confirm":
        return _main(s, prompts.no_delegation_done(_bill(s.pending["bill"]), ev.seq))
    if s.node == "delegate_confirm" and s.pending.get("bill"):
        return _main(s, prompts.delegated_for_bill(Person(**s.pending["person"]), _bill(s.pending["bill"]),
                                                   ev.seq))
    if s.node == "delegate_confirm" and s.pending.get("backup"):
        return _main(s, prompts.backup_added(Person(**s.pending["person"]), ev.seq))
    if s.node == "delegate_confirm":
        person = Person(**s.pending["person"])
        text = prompts.delegated(person, ev.loops, ev.seq) + " "
        if ev.award_cents:
            text += prompts.award(ev.award_cents, ev.award_next_cents)
        return _main(s, text)
    if s.node == "vote_confirm":
        return _main(s, prompts.voted(s.pending["choice"], _bill(s.pending["bill"]), ev.seq))
    if s.node == "recall_confirm":
        return _main(s, prompts.recalled(Person(**s.pending["person"]), ev.seq))
    if s.node == "pay_confirm":
        verb = "minted" if s.pending["verb"] == "Mint" else "paid"
        return _main(s, prompts.paid(verb, s.pending["cents"], Person(**s.pending["person"]), ev.balance_cents))
    return _main(s)


def _claimed(s: CallState, ev: Claimed) -> Result:
    return _main(s, prompts.claimed(ev.applied, ev.dropped, ev.seq))


def _verification_started(s: CallState, ev: VerificationStarted) -> Result:
    return _bye(s, prompts.verify_callback(ev.code))


def _verification_checked(s: CallState, ev: VerificationChecked) -> Result:
    if ev.ok and s.voter is not None:
        return _ask(replace(s, trusted=True, tries=0), prompts.verified(s.voter.first), "main")
    if ev.ok:  # a household phone: verified for all of them; ask who is speaking
        return _greet(replace(s, trusted=True, tries=0))
    if s.tries >= 1:
        return _bye(s, prompts.VERIFY_FAILED)
    return _ask(replace(s, tries=s.tries + 1), prompts.VERIFY_WRONG)


def _balance_is(s: CallState, ev: BalanceIs) -> Result:
    s = replace(s, pending={**s.pending, "may_mint": ev.may_mint})
    if s.pending.get("utterance"):  # "pay ten dollars to ..." said at the main menu
        return _money(s, s.pending.pop("utterance"), "")
    return _ask(s, prompts.money_menu(ev.cents, ev.may_mint), "money", may_mint=ev.may_mint)


def _audit_report(s: CallState, ev: AuditReport) -> Result:
    return _main(s, prompts.audit_report(ev, bool(s.pending.get("own"))))


_RESULTS = {
    VoterMatched: _voter_matched,
    BillsFound: _bills_found,
    DelegateIs: _delegate_is,
    Recorded: _recorded,
    Claimed: _claimed,
    AuditReport: _audit_report,
    BalanceIs: _balance_is,
    VerificationStarted: _verification_started,
    VerificationChecked: _verification_checked,
}

__all__ = ["CallState", "step", "COMMAND_HINTS"]
