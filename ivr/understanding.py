"""What the caller meant: pure parsing of transcripts and keys into menu commands and answers.

Words are matched as whole words, never as substrings: "know" and "north" are not "no" (a bug of the
original prototype, `../shared/design/original_system.md`).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9']+")

YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "correct", "right", "sure", "affirmative", "ok", "okay"})
NO_WORDS = frozenset({"no", "nope", "nah", "negative", "incorrect", "wrong"})
ABSTAIN_WORDS = frozenset({"abstain", "abstaining", "abstention", "present"})

# Main-menu commands and the words that name them (first word wins; the rest is the argument).
COMMAND_WORDS: dict[str, frozenset[str]] = {
    "delegate": frozenset({"delegate", "delegation", "proxy"}),
    "vote": frozenset({"vote", "voting", "ballot"}),
    "audit": frozenset({"audit", "check", "trace"}),
    "recall": frozenset({"recall", "revoke", "undelegate"}),
    "backup": frozenset({"backup", "backups", "fallback"}),
    "money": frozenset({"money", "balance", "pay", "send", "wallet", "mint"}),
    "list": frozenset({"list", "bills", "numbers"}),
    "help": frozenset({"help", "instructions"}),
    "menu": frozenset({"menu", "start", "main"}),
    "goodbye": frozenset({"goodbye", "bye", "quit", "exit", "hangup"}),
}
_FILLER = frozenset({"i", "want", "to", "would", "like", "please", "let", "me", "my", "um", "uh", "the", "a",
                     "can", "you", "could", "go", "back", "now", "add", "another", "set", "choose", "name"})

# DTMF on the main menu (documented in docs/phone-menu.md).
MENU_KEYS = {"1": "delegate", "2": "vote", "3": "audit", "4": "recall", "5": "money", "9": "help",
             "0": "menu", "*": "menu"}
YES_NO_KEYS = {"1": "yes", "2": "no"}
CHOICE_KEYS = {"1": "yes", "2": "no", "3": "abstain"}


def words(text: str) -> list[str]:
    """Lower-case word tokens ("Hang up!" -> ["hang", "up"]); "hang up" is folded to "hangup"."""
    toks = _WORD.findall(text.lower().replace("hang up", "hangup").replace("good bye", "goodbye"))
    return toks


def yes_no(text: str) -> str | None:
    """ "yes" | "no" | None. Ambiguous answers ("yes no") are None so the caller is asked again."""
    ws = set(words(text))
    if "not" in ws and ws & {"right", "correct"}:
        return "no"
    yes, no = bool(ws & YES_WORDS), bool(ws & NO_WORDS)
    if yes == no:
        return None
    return "yes" if yes else "no"


def vote_choice(text: str) -> str | None:
    """ "yes" | "no" | "abstain" | None from "I vote yes", "nay", "abstain"."""
    ws = set(words(text))
    found = {c for c, vocab in (("yes", YES_WORDS | {"yea", "aye", "for"}), ("no", NO_WORDS | {"nay", "against"}),
                                ("abstain", ABSTAIN_WORDS)) if ws & vocab}
    return found.pop() if len(found) == 1 else None


def command(text: str) -> tuple[str | None, str]:
    """(command, rest) from a main-menu utterance: "audit John Doe of Ames" -> ("audit", "John Doe of Ames").

    The command is the first command word; filler before it is ignored; `rest` keeps the caller's words
    after it (for "delegate <name>", "vote <bill>", "audit me"). Unknown -> (None, text).
    """
    toks = words(text)
    for i, w in enumerate(toks):
        for name, vocab in COMMAND_WORDS.items():
            if w in vocab:
                rest = " ".join(toks[i + 1:])
                return name, _strip_leading(rest)
        if w not in _FILLER:
            break
    return None, text


def _strip_leading(rest: str) -> str:
    toks = rest.split()
    while toks and toks[0] in {"to", "for", "on", "of", "a", "the", "my", "vote"}:
        toks.pop(0)
    return " ".join(toks)


def is_global(text: str) -> str | None:
    """ "help" | "menu" | "goodbye" when the whole utterance is one of those global words, else None."""
    toks = [w for w in words(text) if w not in _FILLER]
    if len(toks) == 1:
        for name in ("help", "menu", "goodbye"):
            if toks[0] in COMMAND_WORDS[name]:
                return name
    return None


def means_me(text: str) -> bool:
    """True for "me", "myself", "my vote", "audit me"."""
    toks = [w for w in words(text) if w not in {"audit", "check", "please", "on", "of"}]
    return bool(toks) and all(w in {"me", "myself", "my", "vote", "own", "mine", "i"} for w in toks)


def means_recent(text: str) -> bool:
    """True for "recent", "latest", "the most recent bills", "all"."""
    return bool(set(words(text)) & {"recent", "latest", "all", "newest", "last"})


_DIGIT_WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "to": "2", "too": "2", "three": "3",
                "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}


def spoken_digits(text: str) -> str:
    """Digits said or typed: "four seven one nine" / "4 7 1 9" / "4719" -> "4719"; anything else -> ""."""
    out = []
    for w in words(text):
        if w.isdigit():
            out.append(w)
        elif w in _DIGIT_WORDS:
            out.append(_DIGIT_WORDS[w])
        else:
            return ""
    return "".join(out)


def means_no_delegation(text: str) -> bool:
    """ "no delegate on this bill", "no delegation for this one", "nobody votes for me"."""
    ws = words(text)
    return ("no" in ws or "nobody" in ws) and bool({"delegate", "delegation", "delegates", "proxy"} & set(ws))


def per_bill(text: str) -> bool:
    """ "... for this bill only", "just this bill", "only this one"."""
    ws = set(words(text))
    return bool(ws & {"only", "just"}) and bool(ws & {"bill", "one", "this"})


def strip_scope(text: str) -> str:
    """The name part of "John Doe of Ames for this bill only"."""
    return re.sub(r"\b(for\s+)?(this|the)\s+(bill|one)(\s+only)?\b|\bonly\b|\bjust\b", " ", text,
                  flags=re.I).strip()
