"""Every sentence the service speaks, in one place. No phone numbers of voters are ever spoken.

Functions take already-public values (public names, bill numbers) and return plain text for TTS.
"""

from __future__ import annotations

from ivr.messages import AuditReport, AuditStep, BillInfo, Person
from money.amounts import say_amount

MAIN_MENU = "Say delegate, vote, audit, recall, or money. Say help at any time."
MAIN_MENU_UNREGISTERED = "You can also say audit to hear how a registered voter's power is used, or goodbye."
GOODBYE = "Thank you for calling the Delegate Network. Goodbye."
STILL_THERE = "Are you still there? "
NOT_UNDERSTOOD = "Sorry, I did not understand. "
APOLOGY = "Sorry, that could not be completed just now, and nothing was changed. Please try again later."
APOLOGY_RETRY = "Sorry, we had a problem on our side. "
YES_OR_NO = "Please say yes or no, or press 1 for yes and 2 for no."

HELP = {
    "main": "This is the main menu. Say delegate to give your voting power to another registered voter. "
    "Say vote to vote on a bill before the House. Say audit to hear how your power is used. "
    "Say recall to take your delegation back. Say add a backup delegate for someone to carry your vote when "
    "your delegate's chain is lost. Say money for your delegate money balance. "
    "Say menu to come back here, or goodbye to hang up. You can also press 1 for delegate, 2 for vote, "
    "3 for audit, 4 for recall, and 5 for money.",
    "household": "Several voters are registered with this phone. Say your first name so I know who is calling.",
    "claim_confirm": "Say yes if the actions recorded from this phone before it was on the voter roll were "
    "yours, so that they count as yours. Say no if they were someone else's; they then wait for them.",
    "delegate_ask": "Say the name and town of the registered voter who should carry your vote when you do "
    "not vote yourself, for example a first and last name followed by of and the town. You may also say "
    "their street, their county, or their ten digit phone number. Say menu to go back.",
    "delegate_refine": "Several registered voters fit. Answer the question so I can tell them apart, "
    "or say menu to go back.",
    "delegate_confirm": "Say yes to delegate your vote to this voter, or no to choose someone else.",
    "vote_bill": "Say the number of a bill, such as H R and a number, or some words of its title. "
    "Say list to hear the most recent bills. Say menu to go back.",
    "vote_choice": "Say yes, no, or abstain. You can also press 1 for yes, 2 for no, or 3 for abstain. "
    "To let someone else vote for you on this bill only, say delegate and their name and town. "
    "To make sure no delegate votes for you on this bill, say no delegate on this bill.",
    "nodelegate_confirm": "Say yes to have no delegate on this bill, or no to keep your delegation.",
    "vote_confirm": "Say yes to record this vote, or no to change it.",
    "audit_who": "Say me to audit your own vote, or the name and town of a registered voter.",
    "audit_refine": "Several registered voters fit. Answer the question so I can tell them apart.",
    "audit_bill": "Say the number or title words of a bill, or say recent for the most recent bills.",
    "recall_confirm": "Say yes to take back your delegation now, or no to keep it.",
    "money": "Delegate money is a currency that rewards taking part. To pay, say pay, the amount, to, and the "
    "name and town or phone number of a registered voter. Say menu to go back.",
    "pay_payee": "Say the name and town, or the phone number, of the registered voter you want to pay.",
    "pay_refine": "Several registered voters fit. Answer the question so I can tell them apart.",
    "pay_confirm": "Say yes to make this payment, or no to cancel it.",
    "mint_confirm": "Say yes to mint this amount, or no to cancel.",
}


def welcome(first: str) -> str:
    """Greeting of an identified voter (first name only)."""
    return f"Welcome to the Delegate Network, {first.title()}. {MAIN_MENU}"


def household(firsts: list[str]) -> str:
    """Asks which of several voters registered on one phone is speaking."""
    names = ", ".join(f.title() for f in firsts[:-1]) + f" and {firsts[-1].title()}"
    return (f"Welcome to the Delegate Network. This phone is registered to {names}. "
            "Who is speaking? Say your first name.")


def unregistered(office: str, phone: str) -> str:
    """For a caller whose number is on no registration: who to call to add it, and tentative actions."""
    return ("Welcome to the Delegate Network. This phone number is not on any voter registration. "
            f"To add it to your voter registration, call the {office} at {phone}. "
            "You can still say delegate or vote to record what you would do: it counts once this phone "
            f"number is on your registration. {MAIN_MENU_UNREGISTERED}")


CLAIM_DECLINED = "Those actions stay as they are, for the person who recorded them. "


def claim_offer(first: str, delegate: str, votes: int) -> str:
    """Offer a household member the tentative actions recorded from their phone before it was on the roll.

    delegate: the tentative delegate's public name ("" = none); votes: how many tentative votes."""
    what = [f"a delegation to {delegate}"] if delegate else []
    if votes:
        what.append("one vote" if votes == 1 else f"{votes} votes")
    return (f"Welcome, {first.title()}. Before this phone was on the voter roll, someone calling from it recorded "
            f"{' and '.join(what) or 'some actions'}. Were those yours? Say yes to make them count as yours, "
            "or no.")


def claimed(applied: int, dropped: int, seq: int | None) -> str:
    """After a claim: how many actions now count, and how many were left out (closed bills, an inactive
    delegate, or something the voter has since done themself)."""
    text = ("Done. " + ("One action now counts as yours." if applied == 1 else f"{applied} actions now count as yours.")
            if applied else "Nothing more counts now: ")
    if dropped:
        text += (" One was left out" if dropped == 1 else f" {dropped} were left out") + (
            ", because its bill has closed, its delegate is no longer active, or you have since decided yourself.")
    if seq is not None:
        text += f" Your audit log number is {seq}."
    return text + " "


TENTATIVE_NOTE = "This will be recorded as tentative until this phone number is on a voter registration. "


def cannot_act(office: str, phone: str) -> str:
    """Refusal of a state-changing action to an unregistered caller."""
    return (f"Only registered voters calling from the phone on their registration can do that. "
            f"To add this phone to your registration, call the {office} at {phone}. ")


def ask_delegate() -> str:
    return "To whom do you wish to delegate your vote? Say their name and town, or their phone number."


def person_readback(p: Person) -> str:
    """ "John Q Doe of Centerville, on Maple St" -- name, town and street, never a phone number."""
    return f"{p.name}, on {p.street}" if p.street else p.name


def confirm_delegate(p: Person, bill: BillInfo | None = None, backup: bool = False) -> str:
    what = f", for {bill.number} only" if bill else (", as a backup delegate" if backup else "")
    return f"{person_readback(p)}{what}. Is that right? Say yes or no."


def ask_backup() -> str:
    return ("Who should carry your vote when your delegate's chain reaches nobody who votes? "
            "Say their name and town, or their phone number.")


def delegated_for_bill(p: Person, b: BillInfo, seq: int | None) -> str:
    text = f"Done. On {b.number} only, your vote goes to {p.name} unless you vote yourself."
    return text + (f" Your audit log number is {seq}. " if seq is not None else " ")


def backup_added(p: Person, seq: int | None) -> str:
    text = f"Done. {p.name} is now a backup delegate, tried in order when your first choice's chain is lost."
    return text + (f" Your audit log number is {seq}. " if seq is not None else " ")


def confirm_no_delegation(b: BillInfo) -> str:
    return (f"On {b.number}, no delegate will vote for you; your vote counts only if you vote yourself. "
            "Is that right?")


def no_delegation_done(b: BillInfo, seq: int | None) -> str:
    text = f"Done. On {b.number} you have no delegate."
    return text + (f" Your audit log number is {seq}. " if seq is not None else " ")


def not_found(heard: str) -> str:
    return f"I could not find a registered voter matching {heard}. Please say their name and town again."


def self_delegation() -> str:
    return ("You cannot delegate your vote to yourself: your vote already counts for you whenever you vote. "
            "Please name someone else.")


def delegated(p: Person, loops: bool, seq: int | None) -> str:
    text = f"Done. Your vote now goes to {p.name} whenever you do not vote yourself."
    if loops:
        text += (" Note that your delegation currently loops back to you,"
                 " so it is not cast until someone in the loop votes.")
    if seq is not None:
        text += f" Your audit log number is {seq}."
    return text


def award(cents: int, next_cents: int) -> str:
    return (f"You have been awarded {say_amount(cents)} in delegate money for joining; "
            f"the next voter to join receives {say_amount(next_cents)}. ")


def ask_bill() -> str:
    return "Which bill? Say its number or words of its title, or say list."


def bill_list(bills: tuple[BillInfo, ...]) -> str:
    if not bills:
        return "There are no open bills right now. "
    return "The most recent bills are: " + "; ".join(f"{b.number}, {b.title}" for b in bills) + ". "


def bill_not_found(heard: str) -> str:
    return f"I could not find a bill matching {heard}. Say its number or words of its title, or say list."


def ask_choice(b: BillInfo) -> str:
    return (f"{b.number}, {b.title}. How do you vote: yes, no, or abstain? "
            "You can also say delegate and a name for this bill only, or no delegate on this bill.")


def bill_closed(b: BillInfo) -> str:
    return f"Voting on {b.number} has closed. "


def confirm_vote(choice: str, b: BillInfo) -> str:
    verb = "abstain on" if choice == "abstain" else f"vote {choice} on"
    return f"You {verb} {b.number}, {b.title}. Is that right?"


def voted(choice: str, b: BillInfo, seq: int | None) -> str:
    text = f"Your vote of {choice} on {b.number} is recorded. It overrides your delegation on this bill only."
    return text + (f" Your audit log number is {seq}. " if seq is not None else " ")


def ask_audit_who() -> str:
    return "Whose vote should I audit? Say me, or a voter's name and town."


def ask_audit_bill() -> str:
    return "For which bill? Say its number or title words, or say recent."


def _audit_step(s: AuditStep, own: bool) -> str:
    """One bill's audit path (R11): the chain and who finally votes how, or why the vote is not cast."""
    whose, bill = ("Your vote" if own else "Their vote"), s.bill.number
    if s.reason == "tentative":
        what = f"your tentative vote is {s.choice}" if s.choice else (
            f"your tentative delegate is {s.chain[0]}" if s.chain else "you have recorded nothing")
        return f"On {bill}, {what}; it counts once this phone is on a voter registration."
    if s.reason == "voted":
        return f"On {bill}, {'you' if own else 'they'} voted {s.choice} directly."
    path = f"{whose} goes to {', then to '.join(s.chain)}" if s.chain else ""
    if s.reason == "delegated" and s.chain:
        how = "abstains" if s.choice == "abstain" else f"votes {s.choice}"
        return f"{path}, who {how} on {bill}."
    why = {
        "no_delegation": "there is no delegation and no direct vote",
        "dead_end": f"{s.chain[-1] if s.chain else 'the last delegate'} has not voted and has no delegate",
        "loop": "the delegation chain loops back without reaching anyone who voted",
        "capped": "the delegate already carries the maximum weight",
        "inactive": "the registration is not active",
        "tentative": "this phone is not on a voter registration yet",
    }.get(s.reason, "nobody on the chain voted")
    if path:
        return f"{path}, but it is not cast on {bill}, because {why}."
    return f"On {bill}, {whose.lower()} is not cast, because {why}."


def audit_report(rep: AuditReport, own: bool) -> str:
    """Spoken audit: one sentence per bill, then the caller's last audit log number."""
    if not rep.steps:
        return "There are no bills to audit yet. "
    head = "" if own else f"Audit of {rep.subject.name}. "
    text = head + " ".join(_audit_step(s, own) for s in rep.steps)
    if own and rep.last_seq is not None:
        text += f" Your last action is number {rep.last_seq} in the public audit log."
    return text + " "


def confirm_recall(p: Person) -> str:
    return f"Your vote goes to {p.name}. Do you want to take it back?"


def recalled(p: Person, seq: int | None) -> str:
    text = f"Done. {p.name} no longer carries your vote; it is cast only when you vote yourself."
    return text + (f" Your audit log number is {seq}. " if seq is not None else " ")


def no_delegate() -> str:
    return "You have no delegate to recall. "


def refused(reason: str) -> str:
    return f"That could not be done: {reason} "


def money_menu(cents: int, may_mint: bool) -> str:
    text = f"Your delegate money balance is {say_amount(cents)}. To pay someone, say pay, the amount, and who."
    if may_mint:
        text += " To create money, say mint, the amount, and to whom, or to myself."
    return text + " Or say menu."


def confirm_payment(verb: str, cents: int, p: Person) -> str:
    return f"{verb} {say_amount(cents)} to {person_readback(p)}. Is that right?"


def paid(verb: str, cents: int, p: Person, balance: int | None) -> str:
    text = f"Done. {say_amount(cents)} {verb} to {p.name}."
    return text + (f" Your balance is now {say_amount(balance)}. " if balance is not None else " ")


def _digits(code: str) -> str:
    return " ".join(code)


def captcha(code: str) -> str:
    return ("Welcome to the Delegate Network. To show that you are a person, please enter these numbers: "
            f"{_digits(code)}.")


def captcha_wrong(code: str) -> str:
    return f"That was not right. Please enter these numbers: {_digits(code)}."


def refusal(code: str) -> str:
    """Why a call is not admitted (guards): busy, rate limited or from a refused area."""
    return {"busy": "All our lines are busy right now. Please call again in a few minutes. Goodbye.",
            "rate_limited": "This phone has called too often in the last hour. Please call again later. Goodbye.",
            "unavailable": "Sorry, the voter roll cannot be reached just now. Please call again in a few minutes. "
                           "Goodbye.",
            }.get(code, "Calls from this number cannot be accepted. Goodbye.")


def verify_callback(code: str) -> str:
    return ("To protect your vote, this phone must be verified, because the phone network could not confirm "
            "the caller ID of this call. We will call you back in a few seconds at the number on your "
            f"registration. Answer, and enter this code: {_digits(code)}. Again, the code is {_digits(code)}. "
            "Goodbye for now.")


VERIFY_ASK = ("This is the Delegate Network, calling back to verify this phone. "
              "Please enter the four digit code you heard on your call.")
VERIFY_WRONG = "That code is not right. Please enter the four digit code again."
VERIFY_FAILED = "The code was not right, so this phone is not verified. Goodbye."


def verified(first: str) -> str:
    return f"Thank you, {first.title()}. This phone is verified. {MAIN_MENU}"
