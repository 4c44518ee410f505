"""Refuse anything that looks like a phone number before it can reach the public audit log.

Rule (brief, issue 6): "Never a phone number." A value looks like a phone number when it holds
- a run of 10 or more digits ("5155550123", "15155550123"),
- E.164: "+" and 8 to 15 digits, spaces, dots, dashes or parentheses allowed between them
  ("+15155550123", "+44 20 7946 0958"), or
- a North American number written in groups ("515-555-0123", "(515) 555 0123", "1.515.555.0123").
Other digit groups ("H.R. 1234 (2025-2026)", "2026-11-19 00:00") are not phone numbers.
Checked: every string value and key, and every integer of 10 or more digits, except integers under
keys ending in `_cents` (money amounts) and strings that are whole hex digests (40 or 64 hex chars).
Tentative callers' pseudonyms ("T-" + 10 hex digits of an HMAC, voter_registry.tentative) are not
phone numbers even when all ten happen to be digits; they are skipped.
"""

from __future__ import annotations

import re
from typing import Any

from audit.errors import PhoneNumberInEvent

_DIGIT_RUN = re.compile(r"\d{10,}")
_E164 = re.compile(r"\+[\s(]*\d(?:[\s().\-]*\d){7,14}")
_NANP = re.compile(r"(?<!\d)(?:1[\s.\-]?)?\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]?\d{4}(?!\d)")
_HEX_DIGEST = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_PSEUDONYM = re.compile(r"(?<![0-9A-Za-z])T-[0-9a-f]{10}(?![0-9A-Za-z])")


def looks_like_phone(text: str) -> bool:
    """True when `text` contains a 10+ digit run, an E.164 number or a grouped North American number."""
    if _HEX_DIGEST.fullmatch(text):
        return False
    if "T-" in text:
        text = _PSEUDONYM.sub("T-", text)
    return bool(_DIGIT_RUN.search(text) or _E164.search(text) or _NANP.search(text))


def refuse_phone_numbers(value: Any, path: str = "event") -> None:
    """Raise `PhoneNumberInEvent(path)` if any part of `value` (JSON-like) looks like a phone number."""
    if isinstance(value, str):
        if looks_like_phone(value):
            raise PhoneNumberInEvent(path)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) >= 1_000_000_000 and not path.endswith("_cents"):
            raise PhoneNumberInEvent(path)
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and looks_like_phone(k):
                raise PhoneNumberInEvent(f"{path} key")
            refuse_phone_numbers(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            refuse_phone_numbers(v, f"{path}[{i}]")
