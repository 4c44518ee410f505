"""Find the one registered voter a caller names ("John Q Doe of Centerville") in about a millisecond.

Algorithm (docs/matching.md):
1. `spoken.parse` splits the words into name readings, suffix, place (town / county / ZIP / street) and a
   phone number said aloud.
2. In process: the place is fuzzy-resolved against the roll's own places (`places.PlaceTable`); surname
   and given-name spellings map to sound keys that are on the roll (nicknames both ways, and those of a
   nickname the given name may be a mishearing of).
3. Round trip 1 (plain commands, pipelined over the matcher's own connection, `wire`): `ZRANGEBYLEX` on
   each (surname key, given key) bucket of the name as heard, narrowed to the town, or the county, or
   the whole state, as the place is sure, unsure, or missing. Only when nobody of that name is in the
   place: keys one sound-class edit away there, and the name where a misheard place could put it.
4. Candidates are scored by the evidence that the word heard is the voter's name (`phonetic.
   name_evidence`: the same, one recogniser error away, or another name) and its weak links (a near
   name, a nickname, a middle name, a reversed order), plus place credit and the caller's county as a
   prior. The leading candidates' voter hashes (status, street, birth year; the last round trip) drop
   inactive voters even if the index is stale.
5. Decision: "unique" only when one candidate's name is a sure match, the place agrees, and nobody else
   shares that name there; "ask" with the question that best splits the rest; otherwise "not_found".
`MatchResult.refine` narrows on the caller's answer without Redis.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import jellyfish
from rapidfuzz import process as rf_process
from rapidfuzz.distance import JaroWinkler

from voter_registry import spoken as sp
from voter_registry.index import BUCKET, GIVEN_NAMES, LAST_NAMES, PLACES, SEP, bucket_key
from voter_registry.model import Voter
from voter_registry.nicknames import census_names, heard_as, related_names
from voter_registry.phones import to_e164
from voter_registry.phonetic import (
    FAR,
    NEAR,
    SAME,
    clean,
    name_evidence,
    name_similarity,
    pron_codes,
    sound_key,
    warm,
)
from voter_registry.places import SURE, PlaceMatch, PlaceTable
from voter_registry.wire import AsyncWire, SyncWire, wire_settings

log = logging.getLogger(__name__)
NAME_OK = 0.86  # below this a surname or given name does not match
MARGIN = 0.06  # the best candidate must lead the next by this much to stand alone
MAX_ASK = 24  # candidates carried into a question (their voter hashes are read in round trip 2)
SCOPE_LIMIT = 400  # members read per bucket range
STATE_LIMIT = 120  # members read per statewide bucket range
MAX_KEYS = 16  # buckets read per match (readings x surname keys x given-name keys)
VOCAB_REFRESH_S = 30.0
PREWARM_GIVEN = 5000  # commonest given-name spellings prepared at load (about 95% of voters' names)
PREWARM_NEAR = 5000  # commonest given names and surnames whose near keys are prepared at load
NO_MATCH = 9  # weak links of a name that is not the voter's at all
YOUNG_GC_THRESHOLD = 20_000  # allocations between young collections in a process that matches
ACTIVE = "vr:active"  # the roll in service (importer contract): only its members are ever returned

Cmd = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A voter the spoken name may mean: `name` is the public name ("John Q Doe of Centerville"),
    `score` in [0, 1] (higher is a better match)."""

    regn_num: str
    name: str
    score: float


QUESTIONS = {
    "middle": "What is your middle initial?",
    "street": "What street do you live on?",
    "birth_year": "What year were you born?",
    "first": "What is your first name?",
    "suffix": "Are you a junior or a senior?",
    "city": "Which town do you live in?",
    "spell_last": "Please spell your last name.",
    "house": "What is your house number?",
}
# tie-break order: questions people answer easily and that ASR hears well come first
KIND_ORDER = ("city", "middle", "street", "birth_year", "first", "suffix", "house", "spell_last")


@dataclass(frozen=True)
class MatchResult:
    """The outcome of matching a spoken name.

    decision: "unique" (candidates[0] is the voter), "ask" (say `question`, pass the answer to `refine`),
    "not_found". candidates: best first. question: the spoken question, None unless "ask".
    kind: what the question asks ("middle", "street", "birth_year", "first", "suffix", "city",
    "spell_last", "house"). facts: per candidate (same order) the fields answers are checked against
    (first, middle, last, suffix, city, county, street, house, birth_year) -- call state only, never
    published. asked: kinds already asked. complete: False when more voters share the name than were kept.
    """

    decision: str
    candidates: tuple[Candidate, ...] = ()
    question: str | None = None
    kind: str | None = None
    facts: tuple[dict[str, str], ...] = ()
    asked: tuple[str, ...] = ()
    complete: bool = True
    need: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (for per-call state in Redis); inverse of `from_dict`."""
        return {
            "decision": self.decision,
            "candidates": [
                {"regn_num": c.regn_num, "name": c.name, "score": round(c.score, 4)} for c in self.candidates
            ],
            "question": self.question,
            "kind": self.kind,
            "facts": [dict(f) for f in self.facts],
            "asked": list(self.asked),
            "complete": self.complete,
            "need": self.need,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MatchResult:
        """Rebuild from `to_dict` output. Raises KeyError/TypeError/ValueError on a malformed dict."""
        return cls(
            decision=str(d["decision"]),
            candidates=tuple(
                Candidate(str(c["regn_num"]), str(c["name"]), float(c["score"])) for c in d.get("candidates", [])
            ),
            question=d.get("question"),
            kind=d.get("kind"),
            facts=tuple({str(k): str(v) for k, v in f.items()} for f in d.get("facts", [])),
            asked=tuple(d.get("asked", [])),
            complete=bool(d.get("complete", True)),
            need=int(d.get("need", 1)),
        )

    def refine(self, answer_text: str) -> MatchResult:
        """Narrow the candidates by the caller's answer to `question` (pure; no Redis).

        The answer must identify ("Q", "quincy", "maple street", "1957", "ames", "junior", "s m i t h");
        "the first one" identifies nobody and gets the same question again. One candidate left -> "unique";
        several -> "ask" the next splitting question; none -> "not_found".
        """
        if self.decision != "ask" or not self.kind:
            return self
        if not answer_identifies(self.kind, answer_text):
            return self
        keep = [i for i, f in enumerate(self.facts) if answer_matches(self.kind, answer_text, f)]
        if not keep:
            return MatchResult("not_found", asked=self.asked)
        cands = tuple(self.candidates[i] for i in keep)
        facts = tuple(self.facts[i] for i in keep)
        asked = (*self.asked, self.kind)
        need = self.need - 1 if self.kind in IDENTITY_KINDS else self.need
        if len(keep) == 1 and need > 0:  # a weakly heard name: one more fact only the voter knows
            kind = identity_question(facts, asked)
            if kind is None:
                return MatchResult("not_found", asked=asked)
            return MatchResult("ask", cands, QUESTIONS[kind], kind, facts, asked, need=need)
        if len(keep) == 1 and (self.complete or self.kind != "city"):
            return MatchResult("unique", cands, facts=facts, asked=asked)
        if len(keep) == 1:  # the town picked one of an incomplete list: confirm with a personal detail
            kind = "middle" if len(facts[0].get("middle", "")) >= 1 else None
            if kind is None or kind in asked:
                return MatchResult("not_found", asked=asked)
            return MatchResult("ask", cands, QUESTIONS[kind], kind, facts, asked, complete=True)
        kind = best_question(facts, asked)
        if kind is None:
            return MatchResult("not_found", asked=asked)
        return MatchResult("ask", cands, QUESTIONS[kind], kind, facts, asked, complete=self.complete, need=need)


# --------------------------------------------------------------------------------------------------------
# answers to questions


def _answer_words(text: str) -> list[str]:
    return sp.join_spelled(sp.words_to_digits(sp.normalize(text or "")))


_NON_ANSWERS = sp.word_set(
    "the first second one last that this him her me it yes no i am is my it's its um uh i'm im was born "
    "in on live street st avenue ave road rd drive dr lane ln initial middle name year town city of a an "
    "letter as like number house"
)


def answer_identifies(kind: str, text: str) -> bool:
    """False when the answer carries nothing to check against a question of `kind` ("the first one")."""
    raw = sp.normalize(text or "")
    words = [w for w in _answer_words(text) if w not in _NON_ANSWERS or (kind == "middle" and len(w) == 1)]
    alpha = [w for w in words if w.isalpha()]
    if kind == "suffix":
        return any(w in sp.SUFFIXES or w in ("neither", "none", "nope", "no") for w in raw)
    if kind == "middle":
        return bool(alpha) or any(w in ("none", "nope", "don't", "dont") for w in raw) or raw == ["no"]
    if kind == "birth_year":
        return len(_year(text)) in (2, 4)
    if kind == "house":
        return any(w.isdigit() for w in words)
    if kind == "street":  # "maple", "46th avenue", "123 maple street"
        return bool(alpha) or any(ch.isdigit() for w in words for ch in w)
    return bool(alpha)


def _year(text: str) -> str:
    digits = "".join(w for w in _answer_words(text) if w.isdigit())
    return digits


def answer_matches(kind: str, text: str, f: dict[str, str]) -> bool:
    """True when the answer `text` to a question of `kind` fits the candidate facts `f`."""
    words = [w for w in _answer_words(text) if w not in _NON_ANSWERS or (kind == "middle" and len(w) == 1)]
    raw = sp.normalize(text or "")
    if kind == "middle":
        mid = f.get("middle", "")
        if any(w in ("none", "nope", "don't", "dont") for w in raw) or raw == ["no"]:
            return not mid
        if not words or not mid:
            return False
        w = words[0].upper()
        if len(w) == 1 or len(mid) == 1:
            return w[0] == mid[0]
        return _same_given(w, mid)
    if kind == "birth_year":
        y, by = _year(text), f.get("birth_year", "")
        if not by or len(y) not in (2, 4):
            return False
        return y == by if len(y) == 4 else y == by[2:]
    if kind == "street":
        words = _ordinals(words)
        house = next((w for w in words if w.isdigit()), "")
        said = " ".join(w for w in words if not w.isdigit()).upper()
        if house and house != f.get("house", ""):
            return False
        if all(w.lower() in sp.STREET_WORDS for w in said.split()):
            return bool(house)
        return _street_similarity(said, f.get("street", "")) >= 0.88
    if kind == "house":
        return bool(words) and words[0] == f.get("house", "")
    if kind == "first":
        if not words:
            return False
        w = words[0].upper()
        return _same_given(w, f.get("first", ""))
    if kind == "suffix":
        sfx = next((sp.SUFFIXES[w] for w in raw if w in sp.SUFFIXES), "")
        return sfx == f.get("suffix", "")
    if kind == "city":
        said = " ".join(words).upper()
        return bool(said) and (
            _place_sim(said, f.get("city", "")) >= 0.88 or said.replace(" COUNTY", "") == f.get("county", "")
        )
    if kind == "spell_last":
        said = clean("".join(words))
        return bool(said) and said == clean(f.get("last", ""))
    return False


def _same_given(said: str, name: str) -> bool:
    """Strict given-name check for answers: same letters nearly, or same sound and close letters, or a
    nickname ("BILL" for "WILLIAM")."""
    a, b = clean(said), clean(name)
    if not a or not b:
        return False
    jw = jellyfish.jaro_winkler_similarity(a, b)
    return a == b or jw >= 0.93 or (sound_key(a) == sound_key(b) and jw >= 0.85) or b in related_names(a)


_ORDINAL_WORDS = (
    ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"),
    ("eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth"),
    ("nineteenth", "twentieth"),
)
_ORDINALS = {w: i + 1 for i, w in enumerate(w for row in _ORDINAL_WORDS for w in row)} | {
    w: 10 * (i + 3) for i, w in enumerate(("thirtieth", "fortieth", "fiftieth", "sixtieth", "seventieth"))
}


def _ordinals(words: list[str]) -> list[str]:
    """Street ordinals said as words, as written on the roll: ["40", "fifth"] -> ["45th"], ["third"] -> ["3rd"]."""
    out: list[str] = []
    for w in words:
        n = _ORDINALS.get(w)
        if n is None:
            out.append(w)
            continue
        if out and out[-1].isdigit() and int(out[-1]) % 10 == 0 and n < 10:
            n += int(out.pop())
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        out.append(f"{n}{suffix}")
    return out


_NUMBERS = re.compile(r"\d+")


def _street_similarity(said: str, street: str) -> float:
    """How alike a street said and a street on file are; numbered streets ("46TH AVE") must have the same
    number (letters alone would make 45TH and 46TH the same street)."""
    if _NUMBERS.findall(said) != _NUMBERS.findall(street) and any(ch.isdigit() for ch in said + street):
        return 0.0
    return max(name_similarity(_street_core(said), _street_core(street)), name_similarity(said, street))


_DIRECTIONS = {"N", "S", "E", "W", "NORTH", "SOUTH", "EAST", "WEST"}


def _street_core(street: str) -> str:
    """The name part of a street: "N MAPLE ST" -> "MAPLE"; "E AVE" -> "E" and "W RIDGE AVE" -> "W RIDGE"
    (a street whose name is a letter, a direction or a street word keeps it)."""
    words = street.upper().split()
    core = [w for w in words if w.lower() not in sp.STREET_WORDS and w not in _DIRECTIONS]
    if not core:
        core = words[:-1] if len(words) > 1 and words[-1].lower() in sp.STREET_WORDS else words
    return " ".join(core)


def _place_sim(said: str, city: str) -> float:
    return 1.0 if said == city else name_similarity(said, city)


def best_question(facts: tuple[dict[str, str], ...] | list[dict[str, str]], asked: tuple[str, ...] = ()) -> str | None:
    """The question kind whose answers split `facts` best (smallest largest group), or None if none splits."""
    best: tuple[float, int, str] | None = None
    n = len(facts)
    for order, kind in enumerate(KIND_ORDER):
        if kind in asked or kind == "spell_last":
            continue
        key = {
            "middle": lambda f: f.get("middle", "")[:1],
            "street": lambda f: f.get("street", ""),
            "birth_year": lambda f: f.get("birth_year", ""),
            "first": lambda f: f.get("first", ""),
            "suffix": lambda f: f.get("suffix", ""),
            "city": lambda f: f.get("city", ""),
            "house": lambda f: f.get("house", ""),
        }[kind]
        values = [key(f) for f in facts]
        if kind in ("street", "birth_year", "first", "house", "city") and not all(values):
            continue  # an unknown value cannot be checked
        groups: dict[str, int] = {}
        for v in values:
            groups[v] = groups.get(v, 0) + 1
        largest = max(groups.values())
        if largest == n:
            continue
        cand = (largest / n, order, kind)
        if best is None or cand < best:
            best = cand
    return best[2] if best else None


IDENTITY_KINDS = ("birth_year", "street", "middle", "house")


def identity_question(facts: tuple[dict[str, str], ...], asked: tuple[str, ...] = ()) -> str | None:
    """A question whose answer only the voter knows (birth year, street, middle initial), splitting the
    candidates when it can; None when every such question was asked or has no answer on file."""
    if len(facts) > 1:
        kind = best_question(facts, (*asked, "city", "first", "suffix", "spell_last", "middle", "house"))
        if kind is not None:
            return kind
    for kind in IDENTITY_KINDS:
        key = "house" if kind == "house" else kind
        if kind not in asked and all(f.get(key) for f in facts):
            return kind
    return None


# --------------------------------------------------------------------------------------------------------
# vocabulary of the roll (names and places), refreshed when the index changes

# leading sounds a recogniser or a spelling swaps (GERARDO/JERARDO, CELIA/KELIA, PHIL/FIL)
_LEAD_SWAPS = ({"J", "K"}, {"S", "K"}, {"J", "S"}, {"F", "P"}, {"F", "T"})


@dataclass
class Vocab:
    """Sound key -> spellings on the roll (commonest first), for surnames or given names, with the keys one
    deletion away, so that a misheard spelling finds the roll's keys one sound-class edit from its own."""

    by_key: dict[str, list[str]] = field(default_factory=dict)
    spellings: set[str] = field(default_factory=set)
    ranked: list[str] = field(default_factory=list)  # the spellings, commonest first
    deletes: dict[str, set[str]] = field(default_factory=dict)
    _cache: dict[tuple[str, int], list[tuple[str, float]]] = field(default_factory=dict)
    _near_cache: dict[str, tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]] = field(default_factory=dict)
    by_pron: dict[str, set[str]] = field(default_factory=dict)  # exact pronunciation -> sound keys
    by_merged: dict[str, set[str]] = field(default_factory=dict)  # merged pronunciation -> sound keys

    @classmethod
    def build(cls, counts: dict[str, str]) -> Vocab:
        """From a `vr:ix:ln` / `vr:ix:fn` hash (spelling -> count); counts <= 0 are dropped."""
        v = cls()
        ranked = sorted(
            ((int(c), s) for s, c in counts.items() if c.lstrip("-").isdigit() and int(c) > 0), reverse=True
        )
        for _, s in ranked:
            k = sound_key(s)
            cs = clean(s)
            if cs not in v.spellings:
                v.ranked.append(cs)
            v.spellings.add(cs)
            if k:
                v.by_key.setdefault(k, []).append(cs)
        for k, lst in v.by_key.items():
            del lst[40:]  # the commonest spellings are enough to judge a key
            for i in range(len(k)):
                v.deletes.setdefault(k[:i] + k[i + 1 :], set()).add(k)
        return v

    def index_pronunciations(self) -> None:
        """File every spelling's sound key under its pronunciations (CMUdict): homophones whose spelling
        rules give another key (HENRICKSON / HENRICHSEN, PFEIL / FILE) still find each other."""
        for s in self.spellings:
            codes = pron_codes(s)
            if codes is None:
                continue
            k = sound_key(s)
            for e in codes[0]:
                self.by_pron.setdefault(e, set()).add(k)
            for m in codes[1]:
                self.by_merged.setdefault(m, set()).add(k)

    def pron_keys(self, said: str, near: bool) -> list[tuple[str, int]]:
        """Sound keys of the roll's spellings pronounced like `said` (level SAME), and with `near` those
        one confusable phone away (NEAR, at most 6 keys); [] when CMUdict lacks the word."""
        codes = pron_codes(said)
        if codes is None:
            return []
        out = {k: SAME for e in codes[0] for k in self.by_pron.get(e, ())}
        if near:
            merged = sorted({k for m in codes[1] for k in self.by_merged.get(m, ())} - set(out))
            out.update((k, NEAR) for k in merged[:6])
        return sorted(out.items(), key=lambda kv: (kv[1], kv[0]))

    def _near(self, k: str) -> tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]:
        """Spellings of the roll keys one class-edit from `k` (same or swappable leading sound), the index
        where each key's spellings start, and the keys; cached per key (all keys are computed at load)."""
        hit = self._near_cache.get(k)
        if hit is not None:
            return hit
        near: set[str] = set(self.deletes.get(k, ())) | {k[:i] + k[i + 1 :] for i in range(1, len(k))}
        for i in range(len(k)):
            near |= self.deletes.get(k[:i] + k[i + 1 :], set())
        near.discard(k)
        spellings: list[str] = []
        starts: list[int] = []
        keys: list[str] = []
        for nk in sorted(near):
            lst = self.by_key.get(nk)
            if not lst or (nk[0] != k[0] and {nk[0], k[0]} not in _LEAD_SWAPS):
                continue
            starts.append(len(spellings))
            keys.append(nk)
            spellings += lst
        if len(self._near_cache) > 200_000:
            self._near_cache.clear()
        res = self._near_cache[k] = (tuple(spellings), tuple(starts), tuple(keys))
        return res

    def keys_for(self, said: str, extra: int = 3, min_sim: float = 0.84) -> list[tuple[str, float]]:
        """Sound keys on the roll that `said` may be: its own key, then up to `extra` keys one class-edit
        away (same leading sound) with a spelling at least `min_sim` similar. Each with that similarity."""
        hit = self._cache.get((said, extra))
        if hit is not None:
            return hit
        k = sound_key(said)
        if not k:
            return []
        out = [(k, 1.0)]
        cs = clean(said)
        if extra and cs in self.spellings:
            extra = 1  # the spelling is on the roll: a misspelling is less likely
        if extra:
            spellings, starts, keys = self._near(k)
            best: dict[str, float] = {}
            for _, sim, i in rf_process.extract(
                cs, spellings, scorer=JaroWinkler.normalized_similarity, score_cutoff=min_sim, limit=None
            ):
                nk = keys[bisect_right(starts, i) - 1]
                best[nk] = max(best.get(nk, 0.0), sim)
            ranked = sorted(best.items(), key=lambda kv: -kv[1])
            out += ranked[:extra]
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[(said, extra)] = out
        return out


# --------------------------------------------------------------------------------------------------------
# the matcher core (no I/O: a generator that yields pipelines of commands and receives their replies)


@dataclass(slots=True)
class _Rec:
    county: str
    city: str
    first: str
    middle: str
    last: str
    suffix: str
    regn: str
    name: float = 0.0  # name score
    place: float = 0.0  # place score
    total: float = 0.0
    sure: bool = False
    weak: int = 3  # weak links in the name (see _name_score)
    street_ok: bool = False
    facts: dict[str, str] = field(default_factory=dict)

    def public_name(self) -> str:
        parts = [self.first, self.middle, self.last, self.suffix]
        name = " ".join(x.title() for x in parts if x)
        return f"{name} of {self.city.title()}" if self.city else name


@dataclass
class _Scope:
    """Where to look: lex prefixes ("POLK|AMES|", "POLK|") and whether to read the whole state."""

    prefixes: list[tuple[str, int]] = field(default_factory=list)  # (prefix, limit)
    state: bool = False


class MatcherCore:
    """The I/O-free matcher shared by `Matcher` (asyncio) and `SyncMatcher` (blocking)."""

    def __init__(self) -> None:
        self.places = PlaceTable()
        self.last = Vocab()
        self.given = Vocab()
        self.version: tuple[int, int, int] = (-1, -1, -1)
        self.checked_at = 0.0
        self.stale = True
        self._nick_cache: dict[str, dict[str, int]] = {}
        self._keys_cache: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
        self._tiers_cache: dict[tuple[str, str], dict[str, int]] = {}

    # -- vocabulary -------------------------------------------------------------------------------------
    def load_cmds(self) -> list[Cmd]:
        """Commands that read the vocabularies (hashes of a few hundred thousand fields at state scale)."""
        return [("HGETALL", PLACES), ("HGETALL", LAST_NAMES), ("HGETALL", GIVEN_NAMES)]

    def load(self, replies: list[Any]) -> None:
        """Install vocabularies from the replies to `load_cmds`."""
        pl, ln, fn = replies
        self.places = PlaceTable.from_hash(pl)
        self.last = Vocab.build(ln)
        self.given = Vocab.build(fn)
        self.version = (len(pl), len(ln), len(fn))
        self._nick_cache = {}
        self._keys_cache = {}
        self._tiers_cache = {}
        warm([*self.last.spellings, *self.given.spellings])  # pronunciations: off the calls' path
        for vocab in (self.last, self.given):  # and each key's neighbours, as a warm server holds them
            vocab.index_pronunciations()
            for k in vocab.by_key:
                vocab._near(k)
        heard_as("AL")  # pronunciations, the nickname index and the Census lists load once, here
        # the given names most voters have: their keys, nicknames and misheard nicknames (tens of
        # microseconds each on a call's path) worked out now
        for name in self.given.ranked[:PREWARM_GIVEN]:
            self._given_tiers(name, "heard")
            self._given_tiers(name, "exact")
        # and the commonest names' keys one sound-class edit away (a rapidfuzz pass over the spellings of
        # every neighbouring key: 50-100 us a name), read when a place is misheard or the name not found
        for name in self.given.ranked[:PREWARM_NEAR]:
            self._given_tiers(name, "near")
        for name in self.last.ranked[:PREWARM_NEAR]:
            self._last_tiers(name, True)
        census_names("last"), census_names("first")
        # the towns a recogniser may have misheard as each roll town (a few hundred microseconds a town:
        # two passes over every town name), for the calls that name a town where nobody has the name
        for town in self.places.city_counties:
            self.places.close_towns(town, town_close)
        # the vocabularies and the pronunciation dictionary are millions of long-lived objects: a full
        # garbage collection walking them costs a call hundreds of milliseconds. Collect once now and
        # leave them out of later collections (they are freed normally when a reload drops them).
        gc.collect()
        gc.freeze()
        # a match allocates thousands of short-lived objects (bucket members, records): with the default
        # young-generation threshold (700) each paid several collections (a closed loop of 32 callers
        # answered 5-9% fewer matches, with a longer tail)
        young, *older = gc.get_threshold()
        gc.set_threshold(max(young, YOUNG_GC_THRESHOLD), *older)
        self.checked_at = time.monotonic()
        self.stale = False

    def needs_load(self) -> bool:
        """True before the first load and after the index grew or shrank (checked every 30 s)."""
        return self.stale

    # -- matching ---------------------------------------------------------------------------------------
    def run(self, text: str, caller: Voter | None) -> Generator[list[Cmd], list[Any], MatchResult]:
        """Match `text`; yields command lists (one pipeline each) and receives their replies."""
        said = sp.parse(text)
        check_version = time.monotonic() - self.checked_at > VOCAB_REFRESH_S
        if said.phone:
            return (yield from self._by_phone(said, caller))
        if not said.readings or not any(r.first for r in said.readings):
            return MatchResult("not_found")
        places, scope = self._scope(said, caller)
        # round trip 1: the name as heard (and its nicknames) in the place
        heard = self._stage_keys(said, "heard")
        state = self._state_keys(said) & set(heard) if scope.state else None
        cmds = self._range_cmds(heard, scope.prefixes, state)
        n = len(cmds)
        if check_version:
            cmds += [("HLEN", PLACES), ("HLEN", LAST_NAMES), ("HLEN", GIVEN_NAMES)]
        replies = (yield cmds) if cmds else []  # no bucket to read (an initial for a first name)
        if check_version:
            self._check_version(replies[n:])
        lasts: dict[str, bool] = {}
        # no place said, the caller's county known: `_decide` only looks outside that county when nobody
        # of the name is in it, so the state's other members are judged only then (most of a statewide
        # read: hundreds of members, many of them spellings the process has not judged yet)
        home = f"{caller.county}{SEP}" if caller is not None and caller.county and scope.state else None
        recs = self._collect(replies[:n], said, lasts, home)
        self._score(recs, said, places, caller)
        if home is not None and not any(x.name >= NAME_OK for x in recs.values()):
            recs = self._collect(replies[:n], said, lasts)
            self._score(recs, said, places, caller)
        # local, not on self: the asyncio Matcher runs many matches on one core at once
        truncated = any(
            isinstance(rep, list) and len(rep) >= c[-1] for rep, c in zip(replies[:n], cmds[:n], strict=True)
        )
        widened = False
        if not any(x.name >= NAME_OK and x.place >= 0.75 for x in recs.values()) and (
            scope.prefixes or not scope.state
        ):
            # nobody of that name in the place: spellings the recogniser may have got wrong there, and (the
            # place may be misheard) the same name in the whole state
            near = [k for k in self._stage_keys(said, "near") if k not in set(heard)]
            cmds2 = self._range_cmds(near, scope.prefixes)
            if not scope.state:  # only where `_decide` could accept somebody found outside the place
                exact = [k for k in heard if k in self._state_keys(said)]
                cmds2 += self._range_cmds(exact, self._widened_prefixes(said, places, caller, scope))
            if cmds2:
                more = self._collect((yield cmds2), said, lasts)
                for k, v in more.items():
                    recs.setdefault(k, v)
                self._score(recs, said, places, caller)
            widened = not scope.state and not any(x.name >= NAME_OK and x.place >= 0.75 for x in recs.values())
        return (yield from self._decide(recs, said, places, caller, widened, truncated))

    def _close_towns(self, said: sp.Spoken) -> set[tuple[str, str]]:
        """(county, town) of the roll towns the recogniser could have misheard as the town said."""
        return set(self.places.close_towns(said.city, town_close)) if said.city else set()

    def _widened_prefixes(
        self, said: sp.Spoken, places: list[PlaceMatch], caller: Voter | None, scope: _Scope
    ) -> list[tuple[str, int]]:
        """Lex prefixes of the places where a voter of the name said is looked for when nobody of that name
        is in the place (`_decide`): the counties of the places heard, the caller's county, and the towns
        the recogniser could have misheard as the town said; those already read are left out."""
        counties = {c for p in places if p.score >= 0.8 for c in p.counties}
        if caller is not None and caller.county:
            counties.add(caller.county)
        out = [(f"{c}|", SCOPE_LIMIT) for c in sorted(counties)]
        out += [(f"{c}|{t}|", SCOPE_LIMIT) for c, t in sorted(self._close_towns(said)) if c not in counties]
        done = set(scope.prefixes)
        return [p for p in out if p not in done and (p[0].split(SEP)[0] + SEP, SCOPE_LIMIT) not in done]

    def _check_version(self, lens: list[Any]) -> None:
        self.checked_at = time.monotonic()
        if tuple(int(x or 0) for x in lens) != self.version:
            self.stale = True

    def _scope(self, said: sp.Spoken, caller: Voter | None) -> tuple[list[PlaceMatch], _Scope]:
        """Resolve the spoken place; choose the lex prefixes to read."""
        places: list[PlaceMatch] = []
        if said.zip:
            places += self.places.resolve_zip(said.zip)
        if said.county:
            places += self.places.resolve_county(said.county)
        if said.city:
            places += self.places.resolve_city(said.city)
        scope = _Scope()
        if places:
            best = max(p.score for p in places)
            if best >= SURE:
                for p in places:
                    if p.score < best - 0.02:
                        continue
                    for c in p.counties:
                        scope.prefixes.append((f"{c}|{p.name}|" if p.kind == "city" else f"{c}|", SCOPE_LIMIT))
            else:
                counties = list(dict.fromkeys(c for p in places[:4] for c in p.counties))
                if caller and caller.county:
                    counties.append(caller.county)
                scope.prefixes += [(f"{c}|", SCOPE_LIMIT) for c in dict.fromkeys(counties)]
        elif caller and caller.county:
            scope.prefixes.append((f"{caller.county}|", SCOPE_LIMIT))
            scope.state = True
        else:
            scope.state = True
        scope.prefixes = list(dict.fromkeys(scope.prefixes))
        return places, scope

    def _keys(self, r: sp.NameReading, level: str) -> list[tuple[int, str]]:
        """(tier, bucket key) pairs for a reading, tier 0 for the name as heard, then one weak link (a
        nickname, a near surname key), then two: when the buckets must be capped, the likeliest stay.

        level "exact": the surname's and given name's own keys and the given name's nicknames'; "heard":
        also nicknames the given name may be a mishearing of; "near": also the roll's keys one sound-class
        edit away (surnames and given names the recogniser may have misspelt)."""
        ck = (r.first, r.last, level)
        hit = self._keys_cache.get(ck)
        if hit is not None:
            return hit
        if len(self._keys_cache) > 50_000:
            self._keys_cache.clear()
        out = self._keys_cache[ck] = self._keys_uncached(r, level)
        return out

    def _keys_uncached(self, r: sp.NameReading, level: str) -> list[tuple[int, str]]:
        if len(clean(r.first)) == 1:  # an initial: no key narrows it; skip
            return []
        ltiers = self._last_tiers(r.last, level == "near")
        ftiers = self._given_tiers(r.first, level)
        return sorted(
            ((lt + ft, bucket_key(a, b)) for a, lt in ltiers.items() for b, ft in ftiers.items()),
            key=lambda x: x[0],
        )

    def _last_tiers(self, last: str, near: bool) -> dict[str, int]:
        """Surname key -> tier (0 as heard, 1 one sound-class edit or a near homophone); cached per word."""
        ck = (last, "near" if near else "")
        hit = self._tiers_cache.get(ck)
        if hit is not None:
            return hit
        word = last.replace(" ", "")
        lk = self.last.keys_for(word, extra=3 if near else 0)
        ltiers = {k: (0 if i == 0 else 1) for i, (k, _) in enumerate(lk)}
        if near:  # homophones spelt under another key: only when the spelling heard finds nobody
            for k, lv in self.last.pron_keys(word, near):
                ltiers.setdefault(k, lv)
        if " " in last:  # two-word surname: also each word (filed under its parts)
            for w in last.split():
                ltiers.setdefault(sound_key(w), 0)
        ltiers.pop("", None)
        return self._cache_tiers(ck, ltiers)

    def _given_tiers(self, first: str, level: str) -> dict[str, int]:
        """Given-name key -> tier (0 as heard; 1 a nickname or a near key; 1 + error a misheard nickname);
        cached per word and level."""
        ck = (first, level)
        hit = self._tiers_cache.get(ck)
        if hit is not None:
            return hit
        near = level == "near"
        ftiers: dict[str, int] = {}
        for i, (k, _) in enumerate(self.given.keys_for(first, extra=2 if near else 0)):
            ftiers.setdefault(k, 0 if i == 0 else 1)
        if near:
            for k, lv in self.given.pron_keys(first, near):
                ftiers.setdefault(k, lv)
        on_roll = self.given.by_key
        for n in sorted(related_names(first)):  # sorted: a set's order varies per process (hash seed)
            k = sound_key(n)
            if clean(n) in on_roll.get(k, ()):
                ftiers.setdefault(k, 1)
        if level != "exact":
            fuzzy = self._fuzzy_nicks(first)
            for n in sorted(fuzzy, key=lambda n: (fuzzy[n], n))[:12]:
                k = sound_key(n)
                if clean(n) in on_roll.get(k, ()):
                    ftiers.setdefault(k, 1 + fuzzy[n])
        ftiers.pop("", None)
        return self._cache_tiers(ck, ftiers)

    def _cache_tiers(self, ck: tuple[str, str], tiers: dict[str, int]) -> dict[str, int]:
        if len(self._tiers_cache) > 100_000:
            self._tiers_cache.clear()
        self._tiers_cache[ck] = tiers
        return tiers

    def _stage_keys(self, said: sp.Spoken, level: str) -> list[str]:
        """Bucket keys of every reading at `level` (a reversed reading: its exact keys only, being itself
        a weak link), likeliest first, at most `MAX_KEYS`."""
        tiered: list[tuple[int, int, str]] = []
        for i, r in enumerate(said.readings):
            tiered += [(tier, i, k) for tier, k in self._keys(r, "exact" if r.penalty >= 0.05 else level)]
        tiered.sort(key=lambda x: (x[0], x[1]))
        return list(dict.fromkeys(k for _, _, k in tiered))[:MAX_KEYS]

    def _state_keys(self, said: sp.Spoken) -> set[str]:
        """Keys read across the whole state: only the name as heard and its nicknames (fuzzy keys there
        would bring hundreds of strangers for every caller who names no place)."""
        return {k for r in said.readings[:2] for _, k in self._keys(r, "exact")}

    def _fuzzy_nicks(self, first: str) -> dict[str, int]:
        """Names related (as nickname or formal name) to a name of the nickname table that `first` is, or
        is one recogniser error from ("KRIZ" heard for CHRIS -> CHRISTOPHER, "GREGG" for GREG -> GREGORY),
        each with that error's level (SAME 0, NEAR 1), beyond the names related to `first` itself."""
        hit = self._nick_cache.get(first)
        if hit is not None:
            return hit
        cs = clean(first)
        own = related_names(first)
        out: dict[str, int] = {}
        for name, lv in heard_as(cs):
            for n in related_names(name):
                if n not in own and n != cs and out.get(n, 2) > lv:
                    out[n] = lv
        if len(self._nick_cache) > 50_000:
            self._nick_cache.clear()
        self._nick_cache[first] = out
        return out

    @staticmethod
    def _range_cmds(keys: list[str], prefixes: list[tuple[str, int]], state: set[str] | None = None) -> list[Cmd]:
        """`ZRANGEBYLEX` commands reading the `state` keys whole (at most `STATE_LIMIT` members) and `keys`
        within each lex prefix ("POLK|AMES|": members sort by county, then town). A key read whole is read
        within the prefixes too: when the whole read was cut at its limit, those members may be missing
        from it (otherwise they come twice and `_collect` keeps one)."""
        cmds: list[Cmd] = [("ZRANGEBYLEX", k, "-", "+", "LIMIT", 0, STATE_LIMIT) for k in sorted(state or ())]
        for k in keys:
            for prefix, limit in prefixes:
                cmds.append(("ZRANGEBYLEX", k, "[" + prefix, "(" + prefix[:-1] + chr(ord(SEP) + 1), "LIMIT", 0, limit))
        return cmds

    def _collect(
        self, replies: list[Any], said: sp.Spoken, lasts: dict[str, bool], only: str | None = None
    ) -> dict[str, _Rec]:
        """regn -> record of the bucket members whom some reading could name. Most of a bucket is other
        surnames with the same sound key, or other given names: `_judge_name` would score them 0 (no
        reading gives them two weak links or fewer), so they are dropped here, before a record is built
        (`lasts`: surname -> kept, shared by a match's reads). `only` ("POLK|"): members of that county
        alone, in the order the whole collection would give them."""
        out: dict[str, _Rec] = {}
        readings = list(dict.fromkeys(r.last for r in said.readings))
        names: dict[tuple[str, str, str], bool] = {}  # (first, middle, last) -> some reading may name them
        fuzzies: list[dict[str, int]] | None = None
        seen: set[str] = set()  # a bucket read whole and by place, or a voter under two given-name keys
        for rep in replies:
            if not isinstance(rep, list):
                continue
            if only is not None:  # a reply is sorted (county first): that county's members are one slice
                rep = rep[bisect_left(rep, only) : bisect_left(rep, only[:-1] + chr(ord(SEP) + 1))]
            for m in rep:
                if m in seen:
                    continue
                seen.add(m)
                p = m.split(SEP)
                if len(p) < 7 or p[6] in out:
                    continue
                ok = lasts.get(p[4])
                if ok is None:
                    ok = lasts[p[4]] = any(_last_ev(said_last, p[4])[1] != NO_MATCH for said_last in readings)
                if not ok:
                    continue
                nk = (p[2], p[3], p[4])
                ok = names.get(nk)
                if ok is None:
                    if fuzzies is None:
                        fuzzies = [self._fuzzy_nicks(r.first) if r.first else {} for r in said.readings]
                    ok = names[nk] = _may_name(said, p[2], p[3], p[4], fuzzies)
                if ok:
                    out[p[6]] = _Rec(*p[:7])
        return out

    # -- scoring ----------------------------------------------------------------------------------------
    def _score(self, recs: dict[str, _Rec], said: sp.Spoken, places: list[PlaceMatch], caller: Voter | None) -> None:
        # a bucket holds many voters of one name: the name is judged once per spelling, the place once
        # per town
        names: dict[tuple[str, str, str, str], tuple[float, bool, int]] = {}
        towns: dict[tuple[str, str], float] = {}
        fuzzies = [self._fuzzy_nicks(r.first) if r.first else {} for r in said.readings]
        said_first = clean(said.readings[0].first) if said.readings else ""
        middle_said = any(r.middle for r in said.readings)
        for rec in recs.values():
            # the middle name only counts when one was said or the first name said is not the voter's (a
            # reversed reading cannot beat the plain one whose first name is exactly the voter's)
            keep_middle = middle_said or clean(rec.first) != said_first
            nk = (rec.first, rec.middle if keep_middle else "", rec.last, rec.suffix)
            judged = names.get(nk)
            if judged is None:
                judged = names[nk] = self._judge_name(rec, said, fuzzies)
            rec.name, rec.sure, rec.weak = judged
            tk = (rec.county, rec.city)
            place = towns.get(tk)
            if place is None:
                place = towns[tk] = _place_score(rec, said, places, caller)
            rec.place = place
            rec.total = rec.name + 0.25 * (rec.place - 0.5)

    def _judge_name(self, rec: _Rec, said: sp.Spoken, fuzzies: list[dict[str, int]]) -> tuple[float, bool, int]:
        """(name score, sure, weak links) of the best reading of the words said for the voter `rec`;
        (0.0, False, NO_MATCH) when no reading can name them."""
        best = 0.0
        sure = False
        weak = NO_MATCH
        for r, fuzzy in zip(said.readings, fuzzies, strict=True):
            last = _last_ev(r.last, rec.last)
            if last[1] == NO_MATCH:
                continue  # cheap exits first: most of a bucket is another name with the same sound key
            first = _given_ev(r.first, rec.first, rec.middle, fuzzy)
            if last[1] + first[1] + (r.penalty >= 0.05) > 2:
                continue
            s, ok, wk = _name_score(r, said.suffix, rec, fuzzy, self._other_given(r.first, rec), (last, first))
            if not ok and wk == 1 and self._only_misheard(r, last[1], first[1]):
                ok = True
            if ok and (r.penalty >= 0.05 or not self._spelling_fits(r, rec)):
                ok = False  # a reversed reading or another roll spelling: ask before confirming
            if not ok and self._names_someone_else(r, rec):
                s = min(s, NAME_OK - 0.01)
            s -= r.penalty
            if s > best:
                best, sure, weak = s, ok, wk
        return best, sure, weak

    def _only_misheard(self, r: sp.NameReading, last_level: int, first_level: int) -> bool:
        """True when the one weak link of a name is a word one recogniser error from the voter's that is
        nobody's name -- neither on the roll nor on the Census lists ("ZITMIK" for ZITNIK, "JDAEN" for
        JADEN): a mishearing, not another person; the name is then as sure as if heard right. A heard
        word that is a real name (GRESCO for GRECO) is evidence for that name: asked, never confirmed."""
        if r.penalty or r.middle:
            return False
        if last_level == NEAR and first_level == SAME:
            word, roll, kind = clean(r.last), self.last.spellings, "last"
        elif first_level == NEAR and last_level == SAME:
            word, roll, kind = clean(r.first), self.given.spellings, "first"
        else:
            return False
        return word not in roll and word not in census_names(kind)

    def _other_given(self, said_first: str, rec: _Rec) -> bool:
        """The given name said is itself a given name on the roll, other than the voter's (DAWN for DIANE)."""
        f = clean(said_first)
        return bool(f) and f in self.given.spellings and f not in (clean(rec.first), clean(rec.middle))

    def _names_someone_else(self, r: sp.NameReading, rec: _Rec) -> bool:
        """True when a word said is itself a name on the roll, and neither the same sound nor a nickname of
        the voter's ("MARTIN" said, MARTHA found): then it names somebody else, not a mishearing."""
        said_last, said_first = clean(r.last), clean(r.first)
        if said_last in self.last.spellings and _last_ev(r.last, rec.last)[1] >= FAR:
            return True
        if not said_first or said_first not in self.given.spellings:
            return False
        rel = related_names(r.first)
        return not (
            name_evidence(said_first, rec.first)[1] <= NEAR
            or rec.first in rel
            or (len(rec.middle) > 1 and (name_evidence(said_first, rec.middle)[1] <= NEAR or rec.middle in rel))
        )

    def _spelling_fits(self, r: sp.NameReading, rec: _Rec) -> bool:
        """A name heard as a different spelling that is itself on the roll may be that other person:
        the match is then not sure (SMITH said, SMYTH found: ask before confirming)."""
        said_last, said_first = clean(r.last), clean(r.first)
        last_parts = {clean(rec.last), *(clean(p) for p in rec.last.replace("-", " ").split())}
        if said_last not in last_parts and said_last in self.last.spellings:
            return False
        given = {clean(rec.first), clean(rec.middle)}
        return said_first in given or said_first not in self.given.spellings

    # -- decision ---------------------------------------------------------------------------------------
    def _decide(
        self,
        recs: dict[str, _Rec],
        said: sp.Spoken,
        places: list[PlaceMatch],
        caller: Voter | None,
        widened: bool,
        truncated: bool = False,
    ) -> Generator[list[Cmd], list[Any], MatchResult]:
        """The decision (docs/matching.md step 6); reads the leading candidates' voter hashes."""
        place_said = bool(said.city or said.county or said.zip)
        good = sorted((x for x in recs.values() if x.name >= NAME_OK), key=lambda x: -x.total)
        if not good:
            return MatchResult("not_found")
        if place_said:
            in_place = [x for x in good if x.place >= 0.75]
        elif caller and caller.county:
            in_place = [x for x in good if x.county == caller.county]
        else:
            in_place = []
        if place_said and not in_place:
            # nobody of that name in the place said. A misheard town is a few letters from the true one;
            # people also name their county seat or the caller's county. Only a name heard as written
            # (a homophone at most) is looked for in the county; one heard with a single weak link only in
            # a town whose name the recogniser could have misheard as the one said; a name that merely
            # sounds like a stranger's somewhere else is not found.
            close = self._close_towns(said)
            in_place = [
                x
                for x in good
                if (
                    x.weak == 0
                    and (
                        x.place >= 0.4
                        or (x.county, x.city) in close
                        or (caller is not None and caller.county == x.county)
                    )
                )
                or (x.weak == 1 and (x.county, x.city) in close)
            ]
            if not in_place:
                return MatchResult("not_found")
            widened = True
        # two weak links (a misheard surname AND a nickname) only where the caller said the person lives
        pool = in_place or [x for x in good if x.weak <= 1]
        if not pool:
            return MatchResult("not_found")
        top = pool[0]
        # keep those close to the best (same name, or a name nearly as good)
        close = [x for x in pool if x.total >= top.total - 0.12]
        complete = len(close) <= MAX_ASK and not (truncated and not in_place)
        close = close[:MAX_ASK]
        replies = yield _facts_cmds([x.regn for x in close])
        alive: list[_Rec] = []
        for x, on_roll, vals in zip(close, replies[0], replies[1:], strict=True):
            h = _hash(vals)
            if not h or not on_roll:
                continue  # the index may lag the roll in service: `vr:active` decides, as in VoterStore
            x.facts = _facts(h)
            alive.append(x)
        if said.street or said.house:
            for x in alive:
                st = _street_similarity(said.street, x.facts["street"]) >= 0.88 if said.street else True
                hn = not said.house or said.house == x.facts["house"]
                x.street_ok = st and hn
                x.total += 0.05 if x.street_ok else -0.1
            if not any(x.street_ok for x in alive):
                # the street said matches none of them: somebody else, or a place misheard
                if not place_said:
                    return MatchResult("not_found")
                widened = True
            alive = [x for x in alive if x.street_ok] or alive
            alive.sort(key=lambda x: -x.total)
        if not alive:
            return MatchResult("not_found")
        everyone = alive
        best = everyone[0]
        others = everyone[1:]
        place_ok = best.place >= 0.75 or (
            not place_said
            and (
                (caller is not None and caller.county == best.county)
                or (caller is None and len(everyone) == 1)
                or (said.street and best.street_ok)
            )
        )
        clear_lead = not others or others[0].total < best.total - MARGIN
        namesakes = [x for x in others if _same_name(x, best)]
        cands = tuple(Candidate(x.regn, x.public_name(), round(max(0.0, min(1.0, x.total)), 4)) for x in everyone)
        facts = tuple(x.facts for x in everyone)
        if best.sure and place_ok and clear_lead and not namesakes and complete and not widened:
            return MatchResult("unique", cands[:1], facts=facts[:1])
        if not best.sure and not any(x.sure for x in everyone):
            # a name heard only approximately: confirm with facts only the voter knows, twice when weak
            if best.name < NAME_OK + 0.03 and len(everyone) > 3:
                return MatchResult("not_found")
            kind = identity_question(facts)
            if kind is None:
                return MatchResult("not_found")
            need = 2 if best.weak >= 2 else 1
            return MatchResult("ask", cands, QUESTIONS[kind], kind, facts, complete=complete, need=need)
        if widened and place_said:
            # the name is sure but found in another town than the one heard: a fact only the voter knows
            # (asking the town again would meet the same mishearing)
            kind = identity_question(facts) if len(everyone) == 1 else best_question(facts)
            if kind is None:
                return MatchResult("not_found")
            return MatchResult("ask", cands, QUESTIONS[kind], kind, facts, complete=complete)
        if best.sure and not others and not place_ok:
            return MatchResult("ask", cands, QUESTIONS["city"], "city", facts, complete=complete)
        kind = best_question(facts)
        if kind is None:
            return MatchResult("not_found")
        return MatchResult("ask", cands, QUESTIONS[kind], kind, facts, complete=complete)

    # -- phone numbers ----------------------------------------------------------------------------------
    def _by_phone(self, said: sp.Spoken, caller: Voter | None) -> Generator[list[Cmd], list[Any], MatchResult]:
        e164 = to_e164(said.phone)
        if e164 is None:
            return MatchResult("not_found")
        # the registrations on the number (the first MAX_ASK by regn_num), then their facts
        (regns,) = yield [("SMEMBERS", f"vr:phone:{e164}")]
        regns = sorted(regns)[:MAX_ASK]
        if not regns:
            return MatchResult("not_found")
        replies = yield _facts_cmds(regns)
        recs: list[_Rec] = []
        for regn, on_roll, vals in zip(regns, replies[0], replies[1:], strict=True):
            h = _hash(vals)
            if not h or not on_roll:
                continue
            rec = _Rec(
                h.get("county", ""),
                h.get("city", ""),
                h.get("first", ""),
                h.get("middle", ""),
                h.get("last", ""),
                h.get("suffix", ""),
                regn,
            )
            rec.facts = _facts(h)
            recs.append(rec)
        if said.readings and any(r.first or r.last for r in said.readings):
            for rec in recs:
                rec.name = max(_name_score(r, said.suffix, rec)[0] - r.penalty for r in said.readings)
            named = [x for x in recs if x.name >= NAME_OK]
            recs = sorted(named, key=lambda x: -x.name) if named else recs
        if not recs:
            return MatchResult("not_found")
        cands = tuple(Candidate(x.regn, x.public_name(), 1.0) for x in recs)
        facts = tuple(x.facts for x in recs)
        if len(recs) == 1:
            return MatchResult("unique", cands, facts=facts)
        first_splits = len({clean(f["first"]) for f in facts}) == len(facts)
        kind = "first" if first_splits else best_question(facts, ("city",)) or "first"
        return MatchResult("ask", cands, QUESTIONS[kind], kind, facts)


FACT_FIELDS = ("first", "middle", "last", "suffix", "city", "county", "street", "house_num", "birth_year")


def _facts_cmds(regns: list[str]) -> list[Cmd]:
    """Whether each voter is on the roll in service (one SMISMEMBER reply) and their `FACT_FIELDS` (one
    HMGET reply each)."""
    return [("SMISMEMBER", ACTIVE, *regns), *(("HMGET", f"vr:v:{regn}", *FACT_FIELDS) for regn in regns)]


def _hash(vals: list[str | None] | None) -> dict[str, str]:
    """The `FACT_FIELDS` of a voter hash from an HMGET reply; {} when the hash does not exist."""
    if not vals or all(v is None for v in vals):
        return {}
    return {k: v or "" for k, v in zip(FACT_FIELDS, vals, strict=True)}


def _facts(h: dict[str, str]) -> dict[str, str]:
    """The fields answers are checked against, from a `vr:v:` hash."""
    return {
        "first": h.get("first", ""),
        "middle": h.get("middle", ""),
        "last": h.get("last", ""),
        "suffix": h.get("suffix", ""),
        "city": h.get("city", ""),
        "county": h.get("county", ""),
        "street": h.get("street", ""),
        "house": h.get("house_num", ""),
        "birth_year": h.get("birth_year", ""),
    }


def town_close(said: str, city: str) -> bool:
    """True when a heard town name could be a mishearing of `city`: a few letters apart (at most a third
    of the letters, or 2), or sounding alike (Jaro-Winkler on letters or sound keys >= 0.8)."""
    a, b = clean(said), clean(city)
    if not a or not b:
        return False
    return jellyfish.levenshtein_distance(a, b) <= max(2, len(b) // 3) or name_similarity(said, city) >= 0.8


def _same_name(a: _Rec, b: _Rec) -> bool:
    return clean(a.first) == clean(b.first) and clean(a.last) == clean(b.last)


_LAST_EV: dict[tuple[str, str], tuple[float, int]] = {}


def _last_ev(said: str, last: str) -> tuple[float, int]:
    """(score, level) of the surname said against the voter's, or against one part of a hyphenated or
    two-word surname (slightly lower); see `phonetic.name_evidence`. Cached per pair: a bucket's members
    share a few surnames."""
    hit = _LAST_EV.get((said, last))
    if hit is None:
        if len(_LAST_EV) > 400_000:
            _LAST_EV.clear()
        hit = _LAST_EV[(said, last)] = _last_ev_uncached(said, last)
    return hit


def _last_ev_uncached(said: str, last: str) -> tuple[float, int]:
    s, lv = name_evidence(said, last)
    if "-" in last or " " in last:
        for p in last.replace("-", " ").split():
            ps, pl = name_evidence(said, p)
            if (pl, s) < (lv, ps - 0.02):
                s, lv = ps - 0.02, pl
    return s, (NO_MATCH if lv >= FAR else lv)


_FIRST_EV: dict[tuple[str, str, str], tuple[float, int]] = {}


def _given_ev(said: str, first: str, middle: str, fuzzy: dict[str, int]) -> tuple[float, int]:
    """`_first_ev` with the misheard nicknames `fuzzy` = `MatcherCore._fuzzy_nicks(said)` (a function of
    the nickname tables alone), cached per (said, first, middle); a middle initial plays no part."""
    if len(middle) <= 1:
        middle = ""
    key = (said, first, middle)
    hit = _FIRST_EV.get(key)
    if hit is None:
        if len(_FIRST_EV) > 400_000:
            _FIRST_EV.clear()
        hit = _FIRST_EV[key] = _first_ev(said, first, middle, fuzzy)
    return hit


def _may_name(said: sp.Spoken, first: str, middle: str, last: str, fuzzies: list[dict[str, int]]) -> bool:
    """False when no reading names the voter with two weak links or fewer (`MatcherCore._judge_name`
    would give them nothing); `fuzzies`: each reading's misheard nicknames."""
    for r, fuzzy in zip(said.readings, fuzzies, strict=True):
        ll = _last_ev(r.last, last)[1]
        if ll != NO_MATCH and ll + _given_ev(r.first, first, middle, fuzzy)[1] + (r.penalty >= 0.05) <= 2:
            return True
    return False


def _first_ev(said: str, first: str, middle: str, fuzzy_nicks: dict[str, int] | None = None) -> tuple[float, int]:
    """(score, weak links) of the given name said against the voter's first name, a nickname of it
    (one weak link), their full middle name (people who go by it: one more), or a nickname of a name
    sounding like it (a misheard nickname: two). The evidence level of the name itself counts too."""
    if not said:
        return 0.0, NO_MATCH
    best = name_evidence(said, first)
    if best[1] == SAME:
        return best
    if best[1] >= FAR:
        best = (best[0], NO_MATCH)
    if len(middle) > 1:  # goes by the middle name
        m, ml = name_evidence(said, middle)
        if ml < FAR and (ml + 1, -(m - 0.03)) < (best[1], -best[0]):
            best = (m - 0.03, ml + 1)
    if best[1] > SAME:
        rel = related_names(said)
        if first in rel:
            alt = (0.95, NEAR)
        elif len(middle) > 1 and middle in rel:
            alt = (0.92, NEAR + 1)
        elif fuzzy_nicks and first in fuzzy_nicks:
            alt = (0.92 - 0.02 * fuzzy_nicks[first], NEAR + fuzzy_nicks[first])
        elif len(first) == 1 and said[:1] == first:
            alt = (0.85, NEAR)
        else:
            alt = (0.0, NO_MATCH)
        if (alt[1], -alt[0]) < (best[1], -best[0]):
            best = alt
    return best


def _name_score(
    r: sp.NameReading,
    suffix: str,
    rec: _Rec,
    fuzzy_nicks: dict[str, int] | None = None,
    other_given: bool = False,
    judged: tuple[tuple[float, int], tuple[float, int]] | None = None,
) -> tuple[float, bool, int]:
    """(score, sure, weak links): weighted surname / given-name evidence with middle-name and suffix
    adjustments (`judged`: the surname and given-name evidence when already computed). Weak links -- a
    surname or given name one recogniser error away, a nickname, a middle name used as first name, a
    reversed order -- add up: with more than two the voter is not the person named
    (a stranger is too easy to reach through an approximate surname AND a nickname); with none the name
    is sure."""
    (ls, ll), (fs, fl) = judged or (_last_ev(r.last, rec.last), _first_ev(r.first, rec.first, rec.middle, fuzzy_nicks))
    weak = ll + fl + (1 if r.penalty >= 0.05 else 0)
    if other_given and fl == NEAR and fs < 0.95:  # another real given name that merely sounds close
        weak += 1
    score = 0.55 * ls + 0.45 * fs
    if weak > 2:
        score = min(score, NAME_OK - 0.01)
    sure = weak == 0
    if r.middle:
        m = r.middle
        if rec.middle:
            hit = (
                (m[:1] == rec.middle[:1])
                if (len(m) == 1 or len(rec.middle) == 1)
                else name_similarity(m, rec.middle) >= 0.88
            )
            score += 0.03 if hit else -0.12
            sure = sure and hit
        elif len(m) > 1 and clean(m) == clean(rec.first):
            pass  # "John Quincy" said for a voter filed as "QUINCY" with first "JOHN"? keep neutral
        else:
            score -= 0.04
    if suffix:
        if rec.suffix == suffix:
            score += 0.03
        else:
            score -= 0.12
            sure = False
    return score, sure, weak


def _place_score(rec: _Rec, said: sp.Spoken, places: list[PlaceMatch], caller: Voter | None) -> float:
    if said.city or said.county or said.zip:
        s = 0.0
        for p in places:
            if p.kind == "city" and p.name == rec.city and rec.county in p.counties:
                s = max(s, p.score)
            elif p.kind == "county" and rec.county == p.name:
                s = max(s, p.score * 0.95)
            elif rec.county in p.counties:
                s = max(s, 0.5 * p.score)
        return s
    if caller is not None and caller.county:
        return 0.8 if rec.county == caller.county else 0.4
    return 0.5


# --------------------------------------------------------------------------------------------------------
# I/O drivers


class Matcher:
    """Spoken-name matcher on an asyncio Redis client (`decode_responses=True`).

    `await match(text, caller)` -> MatchResult. Usually two round trips: the buckets of the name, then the
    voter hashes of the leading candidates (one more when nobody of that name is in the place). They go
    over the matcher's own connection (`wire.AsyncWire`, shared by the process's concurrent matches), or
    over `r` when the client's settings do not allow one or that connection fails. The roll's vocabularies
    are read on first use and re-read when the index changes (checked at most every 30 s).
    """

    def __init__(self, r: Any) -> None:
        self.r = r
        self.core = MatcherCore()
        self._lock = asyncio.Lock()
        self._reload: asyncio.Task[None] | None = None
        kw = wire_settings(r)
        self._wire = AsyncWire(kw) if kw else None

    async def _exec(self, cmds: list[Cmd]) -> list[Any]:
        pipe = self.r.pipeline(transaction=False)
        for c in cmds:
            pipe.execute_command(*c)
        return await pipe.execute()

    async def _batch(self, cmds: list[Cmd]) -> list[Any]:
        if self._wire is not None:
            try:
                return await self._wire.execute(cmds)
            except OSError:  # connection lost, server restarting: redis-py's retry policy takes over
                log.debug("matcher connection failed; this round trip goes through the client", exc_info=True)
        return await self._exec(cmds)

    async def aclose(self) -> None:
        """Close the matcher's own connection (the client `r` is the caller's to close)."""
        if self._wire is not None:
            self._wire.close()

    async def refresh(self) -> None:
        """Re-read the roll's vocabularies now. They are built in a thread (seconds of CPU at state scale)
        into a new core that replaces the old one when ready, so the event loop keeps serving calls."""
        async with self._lock:
            replies = await self._exec(self.core.load_cmds())
            fresh = MatcherCore()
            await asyncio.to_thread(fresh.load, replies)
            self.core = fresh

    async def match(self, text: str, caller: Voter | None = None) -> MatchResult:
        """Match the spoken `text` ("John Q Doe of Centerville"); `caller` (the calling voter, if known)
        gives the county prior. Never raises on odd text (RedisError propagates). After an import changed
        the roll, matches go on with the previous vocabularies until the new ones are loaded."""
        if self.core.version == (-1, -1, -1):  # never loaded: nothing to match with yet
            await self.refresh()
        core = self.core
        gen = core.run(text or "", caller)
        try:
            cmds = next(gen)
            while True:
                cmds = gen.send(await self._batch(cmds))
        except StopIteration as stop:
            result = stop.value
        if core.needs_load() and self._reload is None:  # this match saw the roll change
            self._reload = asyncio.create_task(self._reload_in_background())
        return result

    async def _reload_in_background(self) -> None:
        try:
            await self.refresh()
        except Exception:  # noqa: BLE001 -- the stale core stays in use and asks again at its next check
            log.warning("matcher reload failed; matching goes on with the previous roll", exc_info=True)
            self.core.checked_at = time.monotonic()
            self.core.stale = False
        finally:
            self._reload = None


class SyncMatcher:
    """`Matcher` for a blocking client (CLI, batch, benchmarks): `match(text, caller) -> MatchResult`."""

    def __init__(self, r: Any) -> None:
        self.r = r
        self.core = MatcherCore()
        kw = wire_settings(r)
        self._wire = SyncWire(kw) if kw else None

    def _exec(self, cmds: list[Cmd]) -> list[Any]:
        pipe = self.r.pipeline(transaction=False)
        for c in cmds:
            pipe.execute_command(*c)
        return pipe.execute()

    def _batch(self, cmds: list[Cmd]) -> list[Any]:
        if self._wire is not None:
            try:
                return self._wire.execute(cmds)
            except OSError:  # see Matcher._batch
                log.debug("matcher connection failed; this round trip goes through the client", exc_info=True)
        return self._exec(cmds)

    def close(self) -> None:
        """Close the matcher's own connection (the client `r` is the caller's to close)."""
        if self._wire is not None:
            self._wire.close()

    def refresh(self) -> None:
        """Re-read the roll's vocabularies now."""
        self.core.load(self._exec(self.core.load_cmds()))

    def match(self, text: str, caller: Voter | None = None) -> MatchResult:
        """See `Matcher.match`."""
        if self.core.needs_load():
            self.refresh()
        gen = self.core.run(text or "", caller)
        try:
            cmds = next(gen)
            while True:
                cmds = gen.send(self._batch(cmds))
        except StopIteration as stop:
            return stop.value


__all__ = ["BUCKET", "Candidate", "MatchResult", "Matcher", "SyncMatcher", "best_question"]
