"""The roll's own places (towns, counties, ZIPs) and fuzzy resolution of place names the ASR misheard.

Built from the index's `vr:ix:pl` hash (`"{CITY}|{COUNTY}|{ZIP}"` -> voter count, see voter_registry.index),
so only places that have registered voters are ever suggested. Also the ASR hints for the transcription
engine: place names and command words, never person names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jellyfish
from rapidfuzz import process as rf_process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from voter_registry.index import PLACES, SEP
from voter_registry.phonetic import clean, sound_key

COMMAND_WORDS = [
    "yes",
    "no",
    "delegate",
    "vote",
    "recall",
    "audit",
    "help",
    "repeat",
    "menu",
    "cancel",
    "county",
    "street",
    "avenue",
    "road",
    "drive",
    "lane",
    "junior",
    "senior",
    "the third",
    "zip code",
    "who lives on",
    "of",
    "from",
]
SURE = 0.93  # a place resolved with this similarity or more is taken as said


@dataclass(frozen=True, slots=True)
class PlaceMatch:
    """A roll place the spoken text may mean: `kind` "city" | "county" | "zip", `name` upper-case,
    `counties` it lies in, `score` in [0, 1] (1.0 = said exactly)."""

    kind: str
    name: str
    counties: tuple[str, ...]
    score: float


@dataclass(frozen=True, slots=True)
class _Form:
    """A place name prepared for comparison: letters, sound keys word by word and joined."""

    name: str
    letters: str
    words: str
    joined: str

    @classmethod
    def of(cls, name: str) -> _Form:
        return cls(name, clean(name), " ".join(sound_key(w) for w in name.split()), sound_key(name))


def _similarity(a: _Form, b: _Form) -> float:
    """Place-name similarity: letters (Jaro-Winkler), raised when the words sound alike."""
    if not a.letters or not b.letters:
        return 0.0
    if a.letters == b.letters:
        return 1.0
    jw = jellyfish.jaro_winkler_similarity(a.letters, b.letters)
    if a.words == b.words:
        return max(jw, 0.9 + 0.05 * jw)
    # ASR often splits or joins words ("des moines" / "demoins"): compare the joined keys too
    if a.joined == b.joined and abs(len(a.letters) - len(b.letters)) <= 3:
        return max(jw, 0.85 + 0.05 * jw)
    return jw


@dataclass
class PlaceTable:
    """Towns -> counties and ZIPs, counties, ZIP -> towns, with voter counts (priors)."""

    city_counties: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    county_count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    zip_places: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    version: int = -1
    _cache: dict[str, tuple[PlaceMatch, ...]] = field(default_factory=dict)
    _forms: list[_Form] = field(default_factory=list)
    _county_forms: list[_Form] = field(default_factory=list)
    _letters: list[str] = field(default_factory=list)
    _by_words: dict[str, list[int]] = field(default_factory=dict)
    _by_joined: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> PlaceTable:
        """Build from the `vr:ix:pl` hash contents; entries with a count <= 0 are ignored."""
        t = cls()
        for k, v in raw.items():
            try:
                n = int(v)
            except ValueError:
                continue
            if n <= 0:
                continue
            parts = k.split(SEP)
            if len(parts) != 3:
                continue
            city, county, zip_ = parts
            if city:
                t.city_counties[city][county] = t.city_counties[city].get(county, 0) + n
            if county:
                t.county_count[county] += n
            if zip_:
                t.zip_places[zip_].add((city, county))
        t.version = len(raw)
        t._forms = [_Form.of(c) for c in t.city_counties]
        t._letters = [f.letters for f in t._forms]
        for i, f in enumerate(t._forms):
            t._by_words.setdefault(f.words, []).append(i)
            t._by_joined.setdefault(f.joined, []).append(i)
        t._county_forms = [_Form.of(c) for c in t.county_count]
        return t

    def resolve_city(self, said: str) -> tuple[PlaceMatch, ...]:
        """Towns (then counties) the spoken `said` may mean, best first, with similarity >= 0.75."""
        said = " ".join(said.upper().split())
        hit = self._cache.get(said)
        if hit is None:
            if len(self._cache) > 20_000:
                self._cache.clear()
            hit = self._cache[said] = self._resolve_city(said)
        return hit

    def _resolve_city(self, said: str) -> tuple[PlaceMatch, ...]:
        if not said:
            return ()
        if said in self.city_counties:
            return (PlaceMatch("city", said, tuple(self.city_counties[said]), 1.0),)
        out: list[PlaceMatch] = []
        f = _Form.of(said)
        head = f.joined[:1]
        # letters first (one C++ pass over every town), then the sound-aware score on the few nearest,
        # plus the towns whose words sound the same
        near = {
            i
            for _, _, i in rf_process.extract(
                f.letters, self._letters, scorer=JaroWinkler.normalized_similarity, score_cutoff=0.7, limit=12
            )
        }
        near |= set(self._by_words.get(f.words, ())) | set(self._by_joined.get(f.joined, ()))
        for i in near:
            c = self._forms[i]
            if c.letters[:1] != f.letters[:1] and c.joined[:1] != head and c.words != f.words:
                continue  # a recogniser keeps the leading sound of a town name nearly always
            s = _similarity(f, c)
            if s >= 0.75:
                out.append(PlaceMatch("city", c.name, tuple(self.city_counties[c.name]), s))
        for c in self._county_forms:
            s = _similarity(f, c)
            if s >= 0.85:  # people name their county as their place, too
                out.append(PlaceMatch("county", c.name, (c.name,), s - 0.02))
        out.sort(key=lambda m: -m.score)
        return tuple(out[:8])

    def resolve_county(self, said: str) -> tuple[PlaceMatch, ...]:
        """Counties the spoken `said` (without the word "county") may mean, best first."""
        said = " ".join(said.upper().split())
        if said in self.county_count:
            return (PlaceMatch("county", said, (said,), 1.0),)
        f = _Form.of(said)
        out = [
            PlaceMatch("county", c.name, (c.name,), s) for c in self._county_forms if (s := _similarity(f, c)) >= 0.8
        ]
        return tuple(sorted(out, key=lambda m: -m.score)[:4])

    def resolve_zip(self, zip_: str) -> tuple[PlaceMatch, ...]:
        """Towns of a ZIP code on the roll."""
        return tuple(PlaceMatch("city", city, (county,), 1.0) for city, county in sorted(self.zip_places.get(zip_, ())))

    def close_towns(self, said: str, close: Callable[[str, str], bool]) -> tuple[tuple[str, str], ...]:
        """(county, town) of every roll town for which `close(said, town)` holds (a town the recogniser may
        have misheard as `said`), cached per `said`. Only towns a few edits or alike in letters are tried
        (two C++ passes over the town names), so `close` must imply one of those."""
        said = " ".join(said.upper().split())
        key = "\x00close:" + said
        hit = self._cache.get(key)
        if hit is None:
            letters = clean(said)
            near = {
                i
                for _, _, i in rf_process.extract(
                    letters,
                    self._letters,
                    scorer=Levenshtein.distance,
                    score_cutoff=max(2, len(letters) // 2),
                    limit=None,
                )
            }
            near |= {
                i
                for _, _, i in rf_process.extract(
                    letters, self._letters, scorer=JaroWinkler.normalized_similarity, score_cutoff=0.75, limit=None
                )
            }
            towns = [self._forms[i].name for i in sorted(near) if close(said, self._forms[i].name)]
            hit = tuple(PlaceMatch("city", t, tuple(self.city_counties[t]), 0.0) for t in towns)
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[key] = hit
        return tuple((c, p.name) for p in hit for c in p.counties)

    def counties_of_city(self, city: str) -> tuple[str, ...]:
        """Counties a town lies in (a few towns straddle a county line)."""
        return tuple(self.city_counties.get(city, ()))

    def hints(self) -> list[str]:
        """Place names (towns by voter count, then counties as "X county") and command words."""
        towns = sorted(self.city_counties, key=lambda c: -sum(self.city_counties[c].values()))
        counties = [f"{c.title()} County" for c in sorted(self.county_count)]
        return [t.title() for t in towns] + counties + COMMAND_WORDS


def load_places(r: Any) -> PlaceTable:
    """Read the place table with a blocking client."""
    return PlaceTable.from_hash(r.hgetall(PLACES))


async def load_places_async(r: Any) -> PlaceTable:
    """Read the place table with an asyncio client."""
    return PlaceTable.from_hash(await r.hgetall(PLACES))


def asr_hints(r: Any) -> list[str]:
    """ASR hints for the transcription engine from a blocking client: the roll's town names (most voters
    first), "<Name> County" for each county, then command words. Never person names."""
    return load_places(r).hints()


async def asr_hints_async(r: Any) -> list[str]:
    """`asr_hints` for an asyncio client."""
    return (await load_places_async(r)).hints()
