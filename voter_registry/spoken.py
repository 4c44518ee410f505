"""Parse what a caller said ("bill smith junior of ames on maple street") into name, place and phone parts.

Pure text processing; no Redis. The transcript comes from the telephony ASR (lower or mixed case, digits
as words or figures, letters spelled one by one). The parser keeps several readings when the words allow
them (first-last or last-first, a two-word surname or a middle name); the matcher scores them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import jellyfish


def word_set(text: str) -> frozenset[str]:
    """The words of `text` (split on white space) as a set: compact word lists in source."""
    return frozenset(text.split())


NUMBER_WORDS = {
    "zero": 0,
    "oh": 0,
    "o": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_DIGIT_WORDS = {k: v for k, v in NUMBER_WORDS.items() if v < 10}
SUFFIXES = {
    "jr": "JR",
    "junior": "JR",
    "sr": "SR",
    "senior": "SR",
    "ii": "II",
    "second": "II",
    "2nd": "II",
    "iii": "III",
    "third": "III",
    "3rd": "III",
    "iv": "IV",
    "fourth": "IV",
    "4th": "IV",
    "v": "V",
    "fifth": "V",
    "5th": "V",
}
STREET_WORDS = word_set(
    "street st avenue ave road rd drive dr lane ln court ct boulevard blvd place pl way circle cir "
    "parkway pkwy highway hwy trail trl terrace ter square sq loop run ridge pike row path"
)
# Connectors that start a place phrase; "on" and "who lives on" usually announce a street.
PLACE_CONNECTORS = {"of", "from", "in", "at", "near", "on", "zip", "zipcode"}
STREET_CONNECTORS = {"on"}
FILLER = word_set(
    "my name is this it's its i'm im i am hi hello yes yeah um uh er ah please the voter called mister mr "
    "mrs ms miss doctor who lives living live that person named and an to delegate want like would i'd id "
    "with for okay ok so well sir madam code number phone call reach at"
)
# after the name: carrier words, but not those a recogniser writes for a surname ("would" for WOOD)
TRAILING_FILLER = FILLER - word_set("would call reach well like want")
INNER_FILLER = word_set("um uh er ah the please okay ok mister mr mrs ms miss doctor sir madam yes yeah")
PARTICLES = {
    "van",
    "von",
    "de",
    "del",
    "della",
    "la",
    "le",
    "da",
    "di",
    "du",
    "st",
    "saint",
    "mc",
    "mac",
    "o",
    "ten",
    "ter",
    "vander",
    "van der",
    "bin",
    "al",
    "el",
}


@dataclass(frozen=True, slots=True)
class NameReading:
    """One reading of the name words: upper-case `first`, `middle` (may be "" or an initial), `last`."""

    first: str
    middle: str
    last: str
    penalty: float = 0.0  # how much less likely this reading is than the plainest one


@dataclass(frozen=True, slots=True)
class Spoken:
    """What the caller said, split into parts. All text upper-case; empty when not said.

    readings: name readings, most likely first; suffix: "JR" | "SR" | "II" | "III" | "IV" | "V" | "";
    city: free text after "of/from/in/at" that is not a county, street or ZIP; county: without "COUNTY";
    zip: 5 digits; street: street words as said ("MAPLE ST" is kept as "MAPLE"), house: house number;
    phone: the 10 digits of a North American number said in the request (never published).
    """

    readings: tuple[NameReading, ...] = ()
    suffix: str = ""
    city: str = ""
    county: str = ""
    zip: str = ""
    street: str = ""
    house: str = ""
    phone: str = ""
    words: tuple[str, ...] = field(default=())


def normalize(text: str) -> list[str]:
    """Lower-case words; punctuation (but apostrophes) dropped, hyphens split, figures kept."""
    text = text.lower().replace("-", " ").replace("_", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def words_to_digits(words: list[str]) -> list[str]:
    """Turn number words into figures, digit by digit: "five one five" -> "5 1 5", "nineteen" -> "19".

    "twenty one" -> "21" (tens followed by a unit); "oh" becomes 0 only between other digits.
    """
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in NUMBER_WORDS and not (w in ("o", "oh") and not _between_digits(words, i)):
            v = NUMBER_WORDS[w]
            if (
                v >= 20
                and v % 10 == 0
                and i + 1 < len(words)
                and words[i + 1] in _DIGIT_WORDS
                and NUMBER_WORDS[words[i + 1]] > 0
            ):
                v += NUMBER_WORDS[words[i + 1]]
                i += 1
            out.append(str(v))
        elif w in ("double", "triple") and i + 1 < len(words) and words[i + 1] in _DIGIT_WORDS:
            out.extend([str(NUMBER_WORDS[words[i + 1]])] * (2 if w == "double" else 3))
            i += 1
        elif w == "hundred" and out and out[-1].isdigit():
            out[-1] = str(int(out[-1]) * 100)
        else:
            out.append(w)
        i += 1
    return out


def _between_digits(words: list[str], i: int) -> bool:
    def digitish(w: str) -> bool:
        return w.isdigit() or w in _DIGIT_WORDS or w in ("oh",)

    return (i > 0 and digitish(words[i - 1])) and (i + 1 < len(words) and digitish(words[i + 1]))


def join_spelled(words: list[str], spelled: set[int] | None = None) -> list[str]:
    """Join letters spelled one by one into a word: ["d", "o", "e"] -> ["doe"]; a lone initial stays.

    When `spelled` is given, the positions (in the output) of the joined words are added to it."""
    out: list[str] = []
    run: list[str] = []

    def flush(last: bool) -> None:
        if len(run) >= 3 or (len(run) == 2 and last):
            if spelled is not None:
                spelled.add(len(out))
            out.append("".join(run))
        else:
            out.extend(run)
        run.clear()

    for w in words:
        if len(w) == 1 and w.isalpha():
            run.append(w)
        else:
            flush(False)
            out.append(w)
    flush(True)
    return out


def _phone(words: list[str]) -> tuple[str, list[str]]:
    """Find 10 (or 11 with a leading 1) digits said in a row; return them and the other words."""
    best = ("", words)
    i = 0
    while i < len(words):
        if words[i].isdigit():
            j = i
            digits = ""
            while j < len(words) and words[j].isdigit():
                digits += words[j]
                j += 1
            if len(digits) == 11 and digits[0] == "1":
                digits = digits[1:]
            if len(digits) == 10:
                rest = words[:i] + words[j:]
                if rest and rest[-1] in ("number", "phone", "at"):
                    rest = rest[:-1]
                return digits, rest
            i = j
        else:
            i += 1
    return best


def _join_digit_runs(words: list[str]) -> list[str]:
    """Digits said one by one become one number: "5 0 3 0 9" -> "50309" (a ZIP or house number)."""
    out: list[str] = []
    for w in words:
        if len(w) == 1 and w.isdigit() and out and out[-1].isdigit() and len(out[-1]) < 5:
            out[-1] += w
        else:
            out.append(w)
    return out


def parse(text: str) -> Spoken:
    """Parse a transcript; never raises. Unknown words stay in the name or the city text."""
    spelled: set[int] = set()
    words = join_spelled(words_to_digits(normalize(text or "")), spelled)
    # "baker b a k e r": a surname said then spelled; the spelling wins over the recognised word
    for i in sorted(spelled, reverse=True):
        if (
            i > 0
            and words[i - 1].isalpha()
            and len(words[i - 1]) > 1
            and i - 1 not in spelled
            and jellyfish.jaro_winkler_similarity(words[i - 1], words[i]) >= 0.6
        ):
            words[i - 1 : i + 1] = [words[i]]
    phone, words = _phone(words)
    words = _join_digit_runs(words)
    # split at connectors: the name comes first, then place phrases
    segments: list[tuple[str, list[str]]] = [("", [])]
    for w in words:
        if w in PLACE_CONNECTORS and segments[-1][1]:
            segments.append((w, []))
        else:
            segments[-1][1].append(w)
    # carrier words ("i'd like to delegate to", "who lives") surround the name; inside it only hesitations
    # and titles are dropped, so a surname the recogniser wrote as a common word ("would" for WOOD) stays
    head = segments[0][1]
    lead = 0
    while lead < len(head) and head[lead] in FILLER and head[lead] not in SUFFIXES:
        lead += 1
    tail = len(head)
    while tail > lead and head[tail - 1] in TRAILING_FILLER:
        tail -= 1
    name_words = [w for w in head[lead:tail] if w not in INNER_FILLER or w in SUFFIXES]
    suffix = ""
    # "the third", "junior": suffix words at the end of the name
    while name_words and name_words[-1] in SUFFIXES and len(name_words) > 2:
        suffix = suffix or SUFFIXES[name_words.pop()]
    city = county = zip_ = street = house = ""
    zip_ = next((w for w in name_words if w.isdigit() and len(w) == 5), "")  # "john doe 5 0 3 0 9"
    name_words = [w for w in name_words if not w.isdigit()]
    for conn, seg in segments[1:]:
        seg = [w for w in seg if w not in ("the", "of", "in", "who", "lives", "live", "living")]
        while seg and seg[0] in ("city", "town"):  # "the city of ames"; keep "iowa city"
            seg = seg[1:]
        if not seg:
            continue
        if "county" in seg:  # "of polk county", "in the county of polk"
            county = " ".join(w for w in seg if w != "county").upper()
            continue
        if any(w.isdigit() and len(w) == 5 for w in seg) and conn != "on":
            zip_ = next(w for w in seg if w.isdigit() and len(w) == 5)
            seg = [w for w in seg if w != zip_]
            if not seg:
                continue
        if conn in STREET_CONNECTORS or seg[-1] in STREET_WORDS or (seg[0].isdigit() and len(seg) > 1):
            if seg[0].isdigit():
                house = seg[0]
                seg = seg[1:]
            words_ = [w for w in seg if w not in STREET_WORDS] or seg
            street = " ".join(words_).upper()
            continue
        if not city:
            city = " ".join(w for w in seg if not w.isdigit()).upper()
    return Spoken(_readings(name_words), suffix, city, county, zip_, street, house, phone, tuple(words))


def _readings(words: list[str]) -> tuple[NameReading, ...]:
    """Candidate (first, middle, last) splits of the name words, most likely first."""
    w = [x.upper() for x in words if x]
    # glue surname particles to the next word: "van buren" -> "VAN BUREN" (the index also files "VANBUREN")
    glued: list[str] = []
    i = 0
    while i < len(w):
        if w[i].lower() in PARTICLES and i + 1 < len(w) and i > 0:
            glued.append(w[i] + " " + w[i + 1])
            i += 2
        else:
            glued.append(w[i])
            i += 1
    w = glued
    if not w:
        return ()
    if len(w) == 1:
        return (NameReading("", "", w[0]),)
    if len(w) == 2:
        return (NameReading(w[0], "", w[1]), NameReading(w[1], "", w[0], 0.08))
    out = [NameReading(w[0], " ".join(w[1:-1]), w[-1])]
    if len(w) == 3:
        if len(w[1]) > 1:
            out.append(NameReading(w[0], "", w[1] + " " + w[2], 0.04))  # two-word or hyphenated surname
        if len(w[2]) == 1:  # "Doe John Q"
            out.append(NameReading(w[1], w[2], w[0], 0.08))
    else:
        out.append(NameReading(w[0], " ".join(w[1:-2]), w[-2] + " " + w[-1], 0.05))
    return tuple(out)
