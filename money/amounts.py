"""Spoken and written money amounts <-> integer cents.

What callers say (and what the speech recogniser writes down) comes in many shapes; all parse to cents:

    "ten dollars and twenty-five cents"  -> 1025      "$10.25" / "10.25" / "10.25 dollars" -> 1025
    "1,000 dollars" / "one thousand dollars" -> 100000
    "a hundred and five dollars" -> 10500             "5 cents" -> 5
    "sixty five thousand five hundred thirty five dollars" -> 6553500
    "ten dollars twenty five" -> 1025                 "ten point two five" -> 1025
    "twelve fifty" -> 1250                            "twelve oh five" -> 1205

Choice for two bare numbers ("twelve fifty"): as in American speech about prices, the first number is
dollars and the second is cents, so "twelve fifty" is $12.50, not $1,250. The second number must be
0..99 said as a two-digit form ("fifty", "oh five", "ten"..), otherwise the text is not an amount.
A bare number ("five", "5") is dollars.

The text may carry a few filler words ("um", "please", "exactly"); any other word, a negative sign
("minus", "negative", "-5"), more than two decimal places, or an amount above `MAX_CENTS` makes
`parse_amount` return None. It never raises on any string and never returns a negative number.
"""

from __future__ import annotations

import re

MAX_CENTS = 10**15  # ten trillion dollars: far above any supply, well inside Lua's exact-integer range

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9,
}
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_DOLLAR = {"dollar", "dollars", "buck", "bucks", "usd"}
_CENT = {"cent", "cents", "penny", "pennies"}
_FILLER = {
    "um", "uh", "er", "erm", "hmm", "please", "just", "only", "exactly", "its", "it's", "it", "is",
    "make", "about", "of", "amount", "the", "total", "that's", "thats", "okay", "ok", "so", "well",
}
_NEGATIVE = {"minus", "negative"}

# Token kinds produced by _tokens.
_NUM, _DEC, _DOL, _CNT, _AND, _PT, _A = "num", "dec", "dol", "cnt", "and", "pt", "a"


class _NotAmount(Exception):
    """Internal: the text is not an amount."""


def _words(text: str) -> list[str]:
    """Lower-case words; '$' and digit groups ("1,000", "10.25") kept as single words."""
    t = text.lower().replace("\u2019", "'")
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)  # 1,000 -> 1000
    t = t.replace("$", " $ ")
    t = re.sub(r"(?<![\w.])-(?=\s*[\d$])", " minus ", t)  # "-5", "- $5"
    t = t.replace("-", " ")
    return re.findall(r"\$|\d+(?:\.\d+)?|\.\d+|[a-z']+", t)


def _tokens(text: str) -> list[tuple[str, object]]:
    """Classify words: numbers said in words are grouped into one _NUM per English number."""
    out: list[tuple[str, object]] = []
    group: list[str] = []  # number words of the English number being read

    def flush() -> None:
        if group:
            out.append((_NUM, _words_value(group)))
            group.clear()

    words = _words(text)
    i = 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w in _NEGATIVE:
            raise _NotAmount
        if w in _UNITS or w in _TEENS or w in _TENS or w in _SCALES or w == "hundred":
            if group and not _continues(group, w):
                flush()
            group.append(w)
        elif w == "and" and group and _open_after_and(group) and _is_number_word(nxt):
            group.append(w)  # "a hundred and five": the 'and' belongs to the number
        elif w == "a" and (nxt in _SCALES or nxt == "hundred"):
            flush()
            group.append("one")
        else:
            flush()
            if re.fullmatch(r"\d+", w):
                out.append((_NUM, int(w)))
            elif re.fullmatch(r"\d*\.\d+", w):
                out.append((_DEC, w))
            elif w == "$":
                out.append(("$", None))
            elif w in _DOLLAR:
                out.append((_DOL, None))
            elif w in _CENT:
                out.append((_CNT, None))
            elif w == "and":
                out.append((_AND, None))
            elif w in ("point", "dot"):
                out.append((_PT, None))
            elif w in ("a", "an"):
                out.append((_A, None))
            elif w in _FILLER:
                pass
            else:
                raise _NotAmount
        i += 1
    flush()
    return out


def _is_number_word(w: str) -> bool:
    return w in _UNITS or w in _TEENS or w in _TENS


def _kind(w: str) -> str:
    if w in _UNITS:
        return "unit"
    if w in _TEENS:
        return "teen"
    if w in _TENS:
        return "tens"
    if w == "and":
        return "and"
    return "scale"  # hundred, thousand, ...


def _open_after_and(group: list[str]) -> bool:
    """'and' may continue a number only right after 'hundred' or a scale word."""
    return _kind(group[-1]) == "scale"


def _continues(group: list[str], w: str) -> bool:
    """Whether number word `w` continues the English number in `group` ("twelve fifty" does not)."""
    last, k = _kind(group[-1]), _kind(w)
    if k == "scale":
        if w == "hundred":
            return last in ("unit", "teen", "tens") and group[-1] != "zero"
        # "one million two hundred thousand": every earlier scale is larger, and a count precedes it
        if last == "and" or any(_SCALES.get(g, 2**64) <= _SCALES[w] for g in group if g in _SCALES):
            return False
        return last != "scale" or group[-1] == "hundred"
    if last == "tens":
        return k == "unit" and w != "zero"
    if last in ("scale", "and"):
        return w != "zero"
    return False  # unit/teen followed by a unit/teen/tens starts a new number


def _words_value(group: list[str]) -> int:
    """Value of a valid English number given as words ("sixty five thousand five hundred ...")."""
    total, current = 0, 0
    for w in group:
        if w == "and":
            continue
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TEENS:
            current += _TEENS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = (current or 1) * 100
        else:
            total += (current or 1) * _SCALES[w]
            current = 0
    return total + current


def _decimal_cents(s: str) -> int:
    """"10.25" -> 1025; "10.5" -> 1050; more than two non-zero decimals is not an amount."""
    whole, _, frac = s.partition(".")
    frac = frac.rstrip("0") if len(frac) > 2 else frac
    if len(frac) > 2:
        raise _NotAmount
    return int(whole or "0") * 100 + int((frac + "00")[:2])


def _cents_value(kind: str, v: object) -> int:
    """A number said after the dollars ("and twenty five"): must be 0..99 whole cents."""
    if kind != _NUM or not isinstance(v, int) or v > 99:
        raise _NotAmount
    return v


def _interpret(toks: list[tuple[str, object]]) -> int:
    """Cents from the token sequence; raises _NotAmount when it is not one of the known shapes."""
    kinds = [k for k, _ in toks if k not in ("$",)]
    vals = [v for k, v in toks if k not in ("$",)]
    dollar_sign = any(k == "$" for k, _ in toks)
    if not kinds:
        raise _NotAmount
    # "a dollar (fifty)" / "a dollar and five cents": 'a' means one
    if kinds[0] == _A:
        if len(kinds) < 2 or kinds[1] != _DOL:
            raise _NotAmount
        kinds[0], vals[0] = _NUM, 1
    if _A in kinds:
        raise _NotAmount
    k0, v0 = kinds[0], vals[0]
    rest_k, rest_v = kinds[1:], vals[1:]
    if k0 == _DEC:
        dollars_cents = _decimal_cents(str(v0))
        if rest_k in ([], [_DOL]):
            return dollars_cents
        if rest_k == [_CNT] and not dollar_sign:  # "0.5 cents" is not whole cents
            raise _NotAmount
        raise _NotAmount
    if k0 != _NUM:
        raise _NotAmount
    n = int(v0)  # type: ignore[arg-type]
    # "ten point two five": digits said one by one after 'point'
    if rest_k[:1] == [_PT]:
        digits = []
        j = 1
        while j < len(rest_k) and rest_k[j] == _NUM and isinstance(rest_v[j], int) and rest_v[j] < 10:
            digits.append(str(rest_v[j]))
            j += 1
        tail = rest_k[j:]
        if not digits or tail not in ([], [_DOL]):
            raise _NotAmount
        return _decimal_cents(f"{n}.{''.join(digits)}")
    if rest_k == []:
        return n * 100
    if rest_k == [_CNT] and not dollar_sign:
        return n
    if rest_k[0] == _DOL:
        tail_k, tail_v = rest_k[1:], rest_v[1:]
        if tail_k and tail_k[0] == _AND:
            tail_k, tail_v = tail_k[1:], tail_v[1:]
        if tail_k == []:
            return n * 100
        if tail_k in ([_NUM], [_NUM, _CNT]):
            return n * 100 + _cents_value(tail_k[0], tail_v[0])
        raise _NotAmount
    # "twelve fifty" / "twelve oh five" / "ten and twenty five cents"
    tail_k, tail_v = rest_k, rest_v
    if tail_k and tail_k[0] == _AND:
        tail_k, tail_v = tail_k[1:], tail_v[1:]
        if tail_k != [_NUM, _CNT]:
            raise _NotAmount
    if tail_k in ([_NUM], [_NUM, _CNT]):
        return n * 100 + _cents_value(tail_k[0], tail_v[0])
    raise _NotAmount


def _oh_cents(text: str) -> str:
    """ "twelve oh five" -> "twelve five": 'oh' before a unit is the leading zero of the cents."""
    return re.sub(r"(?<=[a-z] )(?:oh|o|zero)\s+(one|two|three|four|five|six|seven|eight|nine)\b", r"\1", text)


def parse_amount(text: str) -> int | None:
    """Cents said or written in `text`, or None when the text is not (only) a non-negative amount.

    Accepts digits ("$10.25", "1,000 dollars", "5 cents"), words ("ten dollars and twenty-five cents",
    "a hundred and five dollars"), spoken prices ("twelve fifty" = 1250) and "point" decimals.
    Returns an int in 0..MAX_CENTS; never raises.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > 500:
        return None
    try:
        toks = _tokens(_oh_cents(text.lower()))
        cents = _interpret(toks)
    except (_NotAmount, ValueError, OverflowError):
        return None
    return cents if 0 <= cents <= MAX_CENTS else None


_ONES_W = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
           "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS_W = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _under_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    parts = [f"{_ONES_W[hundreds]} hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        parts.append(_TENS_W[tens] + (f"-{_ONES_W[ones]}" if ones else ""))
    elif rest or not hundreds:
        parts.append(_ONES_W[rest])
    return " ".join(parts)


def number_words(n: int) -> str:
    """American English words for a non-negative integer: 65535 -> "sixty-five thousand five hundred
    thirty-five" (no "and", hyphenated tens). Raises ValueError for negative numbers."""
    if n < 0:
        raise ValueError("negative number")
    if n < 1000:
        return _under_thousand(n)
    parts: list[str] = []
    for name, scale in sorted(_SCALES.items(), key=lambda kv: -kv[1]):
        if n >= scale:
            q, n = divmod(n, scale)
            parts.append(f"{number_words(q)} {name}")
    if n:
        parts.append(_under_thousand(n))
    return " ".join(parts)


def say_amount(cents: int) -> str:
    """How the IVR speaks an amount: 1025 -> "ten dollars and twenty-five cents", 100 -> "one dollar",
    0 -> "zero dollars", 25 -> "twenty-five cents", -500 -> "minus five dollars" (only the mint
    account is ever negative). `parse_amount(say_amount(c)) == c` for every 0 <= c <= MAX_CENTS."""
    if cents < 0:
        return "minus " + say_amount(-cents)
    dollars, rest = divmod(int(cents), 100)
    d = f"{number_words(dollars)} dollar{'' if dollars == 1 else 's'}"
    c = f"{number_words(rest)} cent{'' if rest == 1 else 's'}"
    if not rest:
        return d
    return c if not dollars else f"{d} and {c}"


_VERBS = r"(?:pay|send|give|transfer|wire|move)"


def split_payment(text: str) -> tuple[int | None, str | None]:
    """Split a spoken payment into (cents, payee text): "pay ten dollars to John Doe of Adel" ->
    (1000, "John Doe of Adel"); "send $10.25 to 515 555 0123" -> (1025, "515 555 0123");
    "give John Doe five dollars" -> (500, "John Doe"). Either part is None when missing or not
    understood ("pay John Doe" -> (None, "John Doe")). Never raises."""
    if not isinstance(text, str) or len(text) > 500:
        return None, None
    t = " ".join(text.strip().rstrip(".!?").split())
    t = re.sub(rf"^(?:(?:i want to|i'd like to|i would like to|please)\s+)?{_VERBS}\b\s*", "", t, flags=re.I)
    if not t:
        return None, None
    # "AMOUNT to PAYEE": the first ' to ' whose left side is an amount
    for m in re.finditer(r"\s+to\s+", t, flags=re.I):
        left, right = t[: m.start()], t[m.end():].strip()
        amount = parse_amount(left)
        if amount is not None:
            return amount, right or None
    # "PAYEE AMOUNT": the longest trailing amount
    words = t.split()
    for i in range(1, len(words)):
        amount = parse_amount(" ".join(words[i:]))
        if amount is not None:
            payee = re.sub(r"^to\s+", "", " ".join(words[:i]), flags=re.I).strip()
            return amount, payee or None
    amount = parse_amount(t)
    if amount is not None:
        return amount, None
    payee = re.sub(r"^to\s+", "", t, flags=re.I).strip()
    return None, payee or None


def format_amount(cents: int) -> str:
    """Written form for pages and CLI output: 123456 -> "$1,234.56", -5 -> "-$0.05"."""
    sign, cents = ("-", -cents) if cents < 0 else ("", cents)
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"
