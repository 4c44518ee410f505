"""Phone numbers as written in voter files -> E.164 ("+15155550123").

Only digit strings with punctuation are handled here ("(515) 555-0123", "515.555.0123", "1-515-555-0123",
"+1 515 555 0123", "5155550123 ext. 12"); digits said as words are the matcher's concern.

North American numbers follow the NANP plan (ATIS-0300051): NPA-NXX-XXXX where the area code (NPA) and
the exchange (NXX) start with 2-9, and an area code of the form N11 (211 ... 911) is a service code, not an
area code. Numbers that break these rules are rejected (None), never guessed.
"""

from __future__ import annotations

import re

_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension|#)\s*\d{1,6}\s*$", re.IGNORECASE)
_ALLOWED = re.compile(r"^[\d\s().\-/+]*$")


def valid_nanp(ten: str) -> bool:
    """True when `ten` (exactly 10 digits, no country code) is a dialable NANP number."""
    return (
        len(ten) == 10
        and ten.isdigit()
        and ten[0] not in "01"
        and ten[3] not in "01"
        and ten[1:3] != "11"
    )


def to_e164(text: str | None, default_country: str = "1") -> str | None:
    """Normalise a written phone number to E.164, or None when it is empty or invalid.

    text: digits with any of the usual punctuation (spaces, dots, dashes, parentheses, slash), an optional
    leading "+" and country code, and an optional trailing extension ("x12", "ext. 12"), which is dropped.
    default_country: country calling code assumed when there is no "+"; for "1" (NANP) 10 digits, or 11
    digits with a leading 1, are accepted and checked with `valid_nanp`. Numbers with an explicit other
    country code ("+44 20 7946 0958") are kept when they have 8-15 digits (ITU-T E.164 length).
    Never raises.
    """
    if not text:
        return None
    s = _EXTENSION.sub("", str(text).strip())
    if not s or not _ALLOWED.match(s) or s.count("+") > 1 or ("+" in s and not s.startswith("+")):
        return None
    digits = re.sub(r"\D", "", s)
    if s.startswith("+"):
        if digits.startswith("1"):
            return "+" + digits if valid_nanp(digits[1:]) else None
        return "+" + digits if 8 <= len(digits) <= 15 and digits[0] != "0" else None
    if default_country == "1":
        if len(digits) == 11 and digits[0] == "1":
            digits = digits[1:]
        return "+1" + digits if valid_nanp(digits) else None
    if 8 <= len(default_country + digits) <= 15 and digits and digits[0] != "0":
        return "+" + default_country + digits
    return None


def mask(e164: str | None) -> str:
    """A phone number safe for logs and operator output: "+1515***0123" (never for public pages)."""
    if not e164:
        return ""
    return e164[:5] + "***" + e164[-4:] if len(e164) > 9 else "***"
