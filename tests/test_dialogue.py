"""The pure dialogue: event scripts -> commands, without any server."""

from __future__ import annotations

from typing import Any

from ivr.dialogue import CallState, step
from ivr.messages import (
    Answer,
    AuditFor,
    AuditReport,
    AuditStep,
    BillInfo,
    BillsFound,
    CallAnswered,
    CallEnded,
    CallerIdentified,
    CallStarted,
    Claimed,
    ClaimTentative,
    DelegateIs,
    DigitsPressed,
    FindBill,
    FindVoter,
    Hangup,
    IdentifyCaller,
    LookupDelegate,
    Person,
    Prompt,
    RecordDelegation,
    Recorded,
    RecordRecall,
    RecordVote,
    Say,
    Silence,
    SpeechHeard,
    StartTranscription,
    StopPrompt,
    VoterMatched,
)

JOHN = Person("100", "JOHN", "John Q Doe of Centerville", "Maple St", "APPANOOSE")
JANE = Person("200", "JANE", "Jane Roe of Ames", "Oak St", "STORY")
BOB = Person("300", "BOB", "Bob Lee of Adel", "", "DALLAS")
HR = BillInfo("119-hr-1234", "H.R. 1234", "Example Act")


def run_dialogue(events: list[Any], state: CallState | None = None) -> tuple[CallState, list[Any]]:
    """Feed events in order; return the final state and every command emitted."""
    s = state or CallState(call_id="c1")
    out: list[Any] = []
    for ev in events:
        s, cmds = step(s, ev)
        out.extend(cmds)
    return s, out


def spoken(cmds: list[Any]) -> str:
    return " | ".join(c.text for c in cmds if isinstance(c, Prompt | Say))


def answered(voters: tuple[Person, ...] = (JOHN,)) -> CallState:
    s, _ = run_dialogue([CallStarted("+15155550123", attestation="A", validated=True),
                         CallerIdentified(voters, "Polk County Auditor", "5 1 5, 2 8 6, 3 0 8 0"), CallAnswered()])
    return s


def test_registered_caller_is_identified_answered_and_greeted_by_first_name() -> None:
    s, cmds = run_dialogue([CallStarted("+15155550123")])
    assert cmds == [IdentifyCaller("+15155550123", None, False, "c1")]
    s, cmds = run_dialogue([CallerIdentified((JOHN,)), CallAnswered()], s)
    assert cmds[0] == Answer() and isinstance(cmds[1], StartTranscription)
    assert "Welcome to the Delegate Network, John." in spoken(cmds)
    assert s.node == "main" and s.voter == JOHN


def test_unregistered_caller_hears_auditor_can_audit_and_acts_only_tentatively() -> None:
    s = answered(())
    assert "not on any voter registration" in s.last_prompt and "Polk County Auditor" in s.last_prompt
    s, cmds = run_dialogue([SpeechHeard("audit John Doe of Centerville")], s)
    assert FindVoter("john doe of centerville", None) in cmds
    s, cmds = run_dialogue([SpeechHeard("menu"), SpeechHeard("money")], s)
    assert "Only registered voters" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("delegate")], s)
    assert "recorded as tentative" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("jane roe"), VoterMatched("unique", (JANE,), None, None), SpeechHeard("yes")],
                           s)
    assert RecordDelegation("tentative", "200") in cmds


def test_household_asks_who_is_speaking() -> None:
    s = answered((JOHN, JANE))
    assert "registered to John and Jane" in s.last_prompt and s.voter is None
    s, cmds = run_dialogue([SpeechHeard("it's jane")], s)
    assert s.voter == JANE and "Welcome to the Delegate Network, Jane." in spoken(cmds)


def test_delegate_flow_reads_back_confirms_and_records() -> None:
    s = answered()
    s, cmds = run_dialogue([SpeechHeard("delegate")], s)
    assert s.node == "delegate_ask" and "To whom" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("Jane Roe of Ames")], s)
    assert cmds == [StopPrompt(), FindVoter("Jane Roe of Ames", "100")]
    s, cmds = run_dialogue([VoterMatched("unique", (JANE,), None, {"x": 1})], s)
    assert spoken(cmds) == "Jane Roe of Ames, on Oak St. Is that right? Say yes or no."
    s, cmds = run_dialogue([SpeechHeard("yes")], s)
    assert RecordDelegation("100", "200") in cmds
    s, cmds = run_dialogue([Recorded(True, seq=7)], s)
    assert "Your vote now goes to Jane Roe of Ames" in spoken(cmds) and "number is 7" in spoken(cmds)
    assert s.node == "main"


def test_words_that_contain_no_are_not_no() -> None:
    s = answered()
    s, _ = run_dialogue([SpeechHeard("delegate"), SpeechHeard("jane"), VoterMatched("unique", (JANE,), None, None)],
                        s)
    for heard in ("I know", "north"):
        s, cmds = run_dialogue([SpeechHeard(heard)], s)
        assert s.node == "delegate_confirm" and "Please say yes or no" in spoken(cmds)
    s, cmds = run_dialogue([DigitsPressed("1")], s)  # 1 = yes
    assert RecordDelegation("100", "200") in cmds


def test_ambiguous_name_asks_the_splitting_question_then_refines() -> None:
    s = answered()
    s, _ = run_dialogue([SpeechHeard("delegate john smith of ames")], s)
    s, cmds = run_dialogue([VoterMatched("ask", (JANE, BOB), "Is their middle initial A or B?", {"m": 1})], s)
    assert s.node == "delegate_refine" and spoken(cmds) == "Is their middle initial A or B?"
    s, cmds = run_dialogue([SpeechHeard("B")], s)
    assert cmds[-1] == FindVoter("B", "100", match={"m": 1})


def test_self_delegation_is_refused_with_a_reason() -> None:
    s = answered()
    s, _ = run_dialogue([SpeechHeard("delegate")], s)
    s, cmds = run_dialogue([VoterMatched("unique", (JOHN,), None, None)], s)
    assert "cannot delegate your vote to yourself" in spoken(cmds) and s.node == "delegate_ask"


def test_hangup_during_confirmation_records_nothing() -> None:
    s = answered()
    s, _ = run_dialogue([SpeechHeard("delegate jane"), VoterMatched("unique", (JANE,), None, None)], s)
    s, cmds = run_dialogue([CallEnded("normal_clearing"), SpeechHeard("yes")], s)
    assert cmds == [] and s.node == "ended"


def test_vote_by_number_then_choice_then_confirm() -> None:
    s = answered()
    s, cmds = run_dialogue([SpeechHeard("vote on H.R. 1234")], s)
    assert FindBill("h r 1234") in cmds
    s, cmds = run_dialogue([BillsFound((HR,))], s)
    assert spoken(cmds).startswith("H.R. 1234, Example Act. How do you vote: yes, no, or abstain?")
    s, cmds = run_dialogue([SpeechHeard("abstain")], s)
    assert "You abstain on H.R. 1234" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("yes")], s)
    assert RecordVote("100", "119-hr-1234", "abstain") in cmds


def test_audit_me_speaks_the_chain() -> None:
    s = answered()
    s, cmds = run_dialogue([SpeechHeard("audit me")], s)
    assert s.node == "audit_bill"
    s, cmds = run_dialogue([SpeechHeard("recent")], s)
    assert cmds[-1] == AuditFor("100")
    rep = AuditReport(JOHN, (AuditStep(HR, ("Jane Roe", "Bob Lee"), "yes", "delegated"),), last_seq=12)
    s, cmds = run_dialogue([rep], s)
    assert "Your vote goes to Jane Roe, then to Bob Lee, who votes yes on H.R. 1234." in spoken(cmds)
    assert "number 12" in spoken(cmds)


def test_recall_reads_back_confirms_and_removes() -> None:
    s = answered()
    s, cmds = run_dialogue([SpeechHeard("recall")], s)
    assert LookupDelegate("100") in cmds
    s, cmds = run_dialogue([DelegateIs(JANE)], s)
    assert "Your vote goes to Jane Roe of Ames. Do you want to take it back?" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("yes")], s)
    assert RecordRecall("100") in cmds


def test_silence_reprompts_twice_then_says_goodbye() -> None:
    s = answered()
    s, c1 = run_dialogue([Silence()], s)
    s, c2 = run_dialogue([Silence()], s)
    assert all("Are you still there?" in spoken(c) for c in (c1, c2))
    s, c3 = run_dialogue([Silence()], s)
    assert isinstance(c3[-1], Hangup) and "Goodbye" in spoken(c3)


def test_menu_and_help_work_everywhere() -> None:
    s = answered()
    s, _ = run_dialogue([SpeechHeard("delegate")], s)
    s, cmds = run_dialogue([SpeechHeard("help")], s)
    assert "Say the name and town" in spoken(cmds) and s.node == "delegate_ask"
    s, cmds = run_dialogue([SpeechHeard("menu")], s)
    assert s.node == "main" and "Say delegate, vote" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("goodbye")], s)
    assert cmds[-1] == Hangup()


def test_state_round_trips_through_json() -> None:
    s = answered((JOHN, JANE))
    assert CallState.from_json(s.to_json()) == s


def test_a_failed_roll_lookup_answers_apologises_and_never_treats_a_voter_as_unregistered() -> None:
    from ivr.messages import EffectFailed

    s, cmds = run_dialogue([CallStarted("+15155550123"), EffectFailed("redis down")])
    assert cmds[-1] == Answer() and s.voter is None
    s, cmds = run_dialogue([CallAnswered()], s)
    assert "voter roll cannot be reached" in spoken(cmds) and cmds[-1] == Hangup()


def test_pay_by_voice_reads_back_amount_and_payee_then_records() -> None:
    from ivr.messages import Balance, BalanceIs, RecordPayment

    s = answered()
    s, cmds = run_dialogue([SpeechHeard("pay ten dollars and twenty-five cents to Jane Roe of Ames")], s)
    assert isinstance(cmds[-1], Balance)
    s, cmds = run_dialogue([BalanceIs(5000)], s)
    assert cmds[-1] == FindVoter("Jane Roe of Ames", "100")
    s, cmds = run_dialogue([VoterMatched("unique", (JANE,), None, None)], s)
    assert spoken(cmds) == "Pay ten dollars and twenty-five cents to Jane Roe of Ames, on Oak St. Is that right?"
    s, cmds = run_dialogue([SpeechHeard("yes")], s)
    assert isinstance(cmds[-1], RecordPayment) and cmds[-1].cents == 1025 and cmds[-1].payee == "200"
    s, cmds = run_dialogue([Recorded(True, balance_cents=3975)], s)
    assert "Your balance is now thirty-nine dollars and seventy-five cents" in spoken(cmds)


def test_mint_is_refused_to_ordinary_phones_and_paying_yourself_is_refused() -> None:
    from ivr.messages import BalanceIs

    s = answered()
    s, _ = run_dialogue([SpeechHeard("money"), BalanceIs(100, may_mint=False)], s)
    s, cmds = run_dialogue([SpeechHeard("mint a hundred dollars to myself")], s)
    assert "Only sovereign phones can mint" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("pay five dollars to john doe"), VoterMatched("unique", (JOHN,), None, None)],
                           s)
    assert "You cannot pay yourself" in spoken(cmds)


def test_untrusted_caller_id_is_called_back_and_verified_with_a_code() -> None:
    from ivr.messages import CheckVerification, StartVerification, VerificationChecked, VerificationStarted

    s, _ = run_dialogue([CallStarted("+15155550101", "+15155550100", attestation="C"),
                         CallerIdentified((JOHN,), trusted=False), CallAnswered()])
    s, cmds = run_dialogue([SpeechHeard("delegate")], s)
    assert cmds[-1] == StartVerification("100", "+15155550101", "+15155550100")
    s, cmds = run_dialogue([VerificationStarted("4719")], s)
    assert "enter this code: 4 7 1 9" in spoken(cmds) and cmds[-1] == Hangup()
    # the call-back: we dial the registered number; the person who answers enters the code
    s, cmds = run_dialogue([CallStarted("+15155550100", "+15155550101", direction="outgoing")],
                           CallState(call_id="c2"))
    assert cmds == [IdentifyCaller("+15155550101", None, False, "c2")]
    s, cmds = run_dialogue([CallerIdentified((JOHN,), trusted=False), CallAnswered()], s)
    assert Answer() not in cmds and "enter the four digit code" in spoken(cmds)
    s, cmds = run_dialogue([DigitsPressed("4719")], s)
    assert cmds[-1] == CheckVerification("+15155550101", "4719")
    s, cmds = run_dialogue([VerificationChecked(True)], s)
    assert "This phone is verified" in spoken(cmds) and s.trusted
    s, cmds = run_dialogue([SpeechHeard("delegate")], s)
    assert "To whom" in spoken(cmds)


def test_captcha_must_be_entered_before_the_menu() -> None:
    s, cmds = run_dialogue([CallStarted("+15155550101"), CallerIdentified((JOHN,), captcha="47"), CallAnswered()])
    assert "enter these numbers: 4 7" in spoken(cmds)
    s, cmds = run_dialogue([DigitsPressed("12")], s)
    assert "not right" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("four seven")], s)
    assert "Welcome to the Delegate Network, John." in spoken(cmds)
    s2, cmds = run_dialogue([DigitsPressed("11"), DigitsPressed("11")],
                            run_dialogue([CallStarted("+1515"), CallerIdentified((JOHN,), captcha="47"),
                                          CallAnswered()])[0])
    assert cmds[-1] == Hangup()


def test_refused_call_is_answered_told_why_and_hung_up() -> None:
    s, cmds = run_dialogue([CallStarted("+15155550101"), CallerIdentified((), refusal="busy"), CallAnswered()])
    assert "lines are busy" in spoken(cmds) and cmds[-1] == Hangup()


def test_delegate_for_this_bill_only_and_no_delegate_on_this_bill() -> None:
    from ivr.messages import RecordNoDelegation

    s = answered()
    s, _ = run_dialogue([SpeechHeard("vote h r 1234"), BillsFound((HR,))], s)
    s, cmds = run_dialogue([SpeechHeard("delegate Jane Roe of Ames for this bill only")], s)
    assert cmds[-1] == FindVoter("jane roe of ames", "100")
    s, cmds = run_dialogue([VoterMatched("unique", (JANE,), None, None)], s)
    assert "Jane Roe of Ames, on Oak St, for H.R. 1234 only. Is that right?" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("yes")], s)
    assert cmds[-1] == RecordDelegation("100", "200", "119-hr-1234", False)
    s, cmds = run_dialogue([Recorded(True, seq=3)], s)
    assert "On H.R. 1234 only, your vote goes to Jane Roe of Ames" in spoken(cmds)
    s, _ = run_dialogue([SpeechHeard("vote h r 1234"), BillsFound((HR,))], s)
    s, cmds = run_dialogue([SpeechHeard("no delegate on this bill")], s)
    assert "no delegate will vote for you" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("yes")], s)
    assert cmds[-1] == RecordNoDelegation("100", "119-hr-1234")


def test_add_a_backup_delegate() -> None:
    s = answered()
    s, cmds = run_dialogue([SpeechHeard("add a backup delegate")], s)
    assert "Who should carry your vote" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("bob lee of adel"), VoterMatched("unique", (BOB,), None, None)], s)
    assert "as a backup delegate. Is that right?" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("yes")], s)
    assert cmds[-1] == RecordDelegation("100", "300", "standing", True)


def test_transcription_starts_with_the_callers_place_hints_after_the_command_words() -> None:
    s, _ = run_dialogue([CallStarted("+15155550123", attestation="A", validated=True)])
    s, cmds = run_dialogue([CallerIdentified((JOHN,), hints=("Centerville", "Appanoose County")), CallAnswered()], s)
    start = next(c for c in cmds if isinstance(c, StartTranscription))
    assert start.hints[:2] == ("delegate", "vote") and start.hints[-2:] == ("Centerville", "Appanoose County")
    assert s.hints == ()  # sent once, not kept in every later state write


def household_with_claim(trusted: bool = True) -> CallState:
    s, _ = run_dialogue([CallStarted("+15155550123", attestation="A", validated=True),
                         CallerIdentified((JOHN, JANE), trusted=trusted, claim_delegate="Bob Lee of Adel",
                                          claim_votes=2), CallAnswered()])
    return s


def test_household_member_is_offered_the_phones_tentative_actions_and_claims_them() -> None:
    s, cmds = run_dialogue([SpeechHeard("jane")], household_with_claim())
    assert s.node == "claim_confirm" and s.voter == JANE
    assert "recorded a delegation to Bob Lee of Adel and 2 votes. Were those yours?" in spoken(cmds)
    s, cmds = run_dialogue([SpeechHeard("yes")], s)
    assert cmds == [StopPrompt(), ClaimTentative("200")]
    s, cmds = run_dialogue([Claimed(2, 1, seq=41)], s)
    assert s.node == "main" and s.claim == {}
    assert "2 actions now count as yours. One was left out" in spoken(cmds) and "number is 41" in spoken(cmds)


def test_household_member_who_says_no_leaves_the_tentative_actions_pending() -> None:
    s, _ = run_dialogue([SpeechHeard("jane")], household_with_claim())
    s, cmds = run_dialogue([DigitsPressed("2")], s)
    assert not any(isinstance(c, ClaimTentative) for c in cmds)
    assert s.node == "main" and "stay as they are" in spoken(cmds)


def test_untrusted_household_phone_is_not_offered_a_claim() -> None:
    s, cmds = run_dialogue([SpeechHeard("jane")], household_with_claim(trusted=False))
    assert s.node == "main" and "Welcome to the Delegate Network, Jane." in spoken(cmds)
