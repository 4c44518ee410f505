"""Who a caller should phone about their registration: their county auditor, or the Secretary of State.

In Iowa the county auditor is the county's commissioner of elections and keeps the voter registrations
(Iowa Code chapter 47 and section 48A.1). Office phone numbers are public information, kept in
data/county_auditors.csv with the page each was taken from; a county whose number has not been checked
has an empty phone, and callers are then given the Iowa Secretary of State's voter hotline
(1-888-SOS-VOTE, sos.iowa.gov/elections/voterhotline) rather than an invented number.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

AUDITORS_CSV = Path(__file__).resolve().parent.parent / "data" / "county_auditors.csv"
SECRETARY_OF_STATE = ("Iowa Secretary of State", "8887678683")  # 1-888-SOS-VOTE
IOWA_AREA_CODES = ("319", "515", "563", "641", "712")  # border ZIPs also list neighbours' codes: ignored


def _key(county: str) -> str:
    """ "O'Brien County" / "OBRIEN" / "black hawk" -> "OBRIEN" / "OBRIEN" / "BLACKHAWK"."""
    s = re.sub(r"[^A-Z]", "", county.upper())
    return s.removesuffix("COUNTY") or s


@cache
def _table() -> dict[str, tuple[str, str]]:
    """County key -> (office name, 10-digit phone or "")."""
    with AUDITORS_CSV.open(newline="", encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {_key(r["county"]): (r["office"], r["phone"].strip()) for r in rows}


@cache
def _county_by_area_code() -> dict[str, str]:
    """Iowa area code -> the county with the most ZIP codes served by it (`zipcodes` data)."""
    import zipcodes

    counts: dict[str, dict[str, int]] = {}
    for z in zipcodes.filter_by(state="IA"):
        if z["zip_code_type"] != "STANDARD":
            continue
        for npa in set(z.get("area_codes") or ()) & set(IOWA_AREA_CODES):
            by_county = counts.setdefault(npa, {})
            by_county[_key(z["county"])] = by_county.get(_key(z["county"]), 0) + 1
    return {npa: max(c.items(), key=lambda kv: (kv[1], kv[0]))[0] for npa, c in counts.items()}


def _area_code(phone: str | None) -> str | None:
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return digits[:3] if len(digits) == 10 else None


def say_phone(digits: str) -> str:
    """A phone number the way the IVR reads it: "5152863080" -> "5 1 5, 2 8 6, 3 0 8 0".

    Accepts any punctuation and a leading +1 / 1 on 11 digits. Other lengths are read digit by digit;
    no digits gives "". Never raises.
    """
    d = re.sub(r"\D", "", digits or "")
    if len(d) == 11 and d[0] == "1":
        d = d[1:]
    if len(d) != 10:
        return " ".join(d)
    return ", ".join(" ".join(part) for part in (d[:3], d[3:6], d[6:]))


def auditor_for(county: str | None, phone: str | None = None) -> tuple[str, str]:
    """(office name to speak, phone number to speak) for questions about a voter's registration.

    county: the voter's county in any spelling ("POLK", "Polk County", "O'Brien"), or None when unknown;
    then the county is guessed from the caller's area code (`phone`, E.164 or 10 digits) as the Iowa
    county with the most ZIP codes in that area code. When the county is unknown, not in Iowa, or its
    auditor's number has not been verified, the Iowa Secretary of State's voter hotline is returned.
    Example: ("Polk County Auditor", "5 1 5, 2 8 6, 3 2 4 7"). Never raises.
    """
    table = _table()
    key = _key(county) if county else ""
    if key not in table:
        npa = _area_code(phone)
        key = _county_by_area_code().get(npa, "") if npa else ""
    office, number = table.get(key, SECRETARY_OF_STATE)
    if not number:
        office, number = SECRETARY_OF_STATE
    return office, say_phone(number)
