"""Stratified evaluation set for the spoken-name matcher, built from a generated roll.

Each item is what a caller said and who they meant:
`{"id", "text", "caller", "caller_regn", "expect", "expect_any", "stratum", "answers", "noise"}`
- text: the transcript ("i want to delegate to bob smith of ames"); caller: E.164 of another voter with
  a phone in the target's county (the person delegating), or None (unknown number); caller_regn: that
  voter's regn_num (the first registered on the line when a household shares it);
- expect: the regn_num meant, None for negatives (the matcher must answer not_found);
- expect_any: every regn_num that is an acceptable answer (the group sharing name and place for
  "ambiguous", the household sharing a phone for "phone"); [] for negatives;
- answers: what the caller answers to a follow-up question ({"middle", "street", "birth_year"});
- noise: the recogniser errors applied (docs/asr-noise-model.md).
Strata: clean, homophones, nicknames, misheard_place, ambiguous, negatives, rare_surnames, phone, street.

CLI: `python -m bench.name_eval --voters N [--seed S] [--district D] [--per-stratum K] [--clean]
--out FILE.jsonl` writes one item per line (the batch-input format {"id", "text", "caller"} plus the
expectations). No hints for the recogniser are produced here, and no name is written into any hint.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import asr_noise as asr
from voter_registry.model import Voter

STRATA = ("clean", "homophones", "nicknames", "misheard_place", "ambiguous", "negatives", "rare_surnames",
          "phone", "street")
CARRIERS = ("{}", "{}", "my name is {}", "this is {}", "i want to delegate to {}", "it's {}",
            "i'd like to delegate to {}", "um {}")
PLACE_WORDS = ("of", "of", "from", "in")
STREET_TYPES = {"ST": "street", "AVE": "avenue", "DR": "drive", "RD": "road", "LN": "lane", "CT": "court",
                "PL": "place", "CIR": "circle", "BLVD": "boulevard", "PKWY": "parkway", "WAY": "way"}
DIRECTIONS = {"N": "north", "S": "south", "E": "east", "W": "west"}
SUFFIX_WORDS = {"JR": "junior", "SR": "senior", "II": "the second", "III": "the third", "IV": "the fourth"}
NOISE_RATE = 0.25  # share of name words a noisy recogniser gets wrong
PLACE_NOISE_RATE = 0.1  # share of places misheard outside the misheard_place stratum
SPELL_RATE = 0.05  # callers spelling their surname after saying it


class _Roll:
    """Indexes over the roll used to pick targets and to keep expectations exact."""

    def __init__(self, voters: Sequence[Voter]) -> None:
        self.voters = [v for v in voters if v.status == "active"]
        self.by_name_city: dict[tuple[str, str, str], list[Voter]] = defaultdict(list)
        self.by_phone: dict[str, list[Voter]] = defaultdict(list)
        self.by_county_phone: dict[str, list[str]] = defaultdict(list)
        self.by_name_street: dict[tuple[str, str, str, str], list[Voter]] = defaultdict(list)
        self.last_count: Counter[str] = Counter()
        self.first_count: Counter[str] = Counter()
        self.city_lasts: dict[str, set[str]] = defaultdict(set)
        for v in self.voters:
            self.by_name_city[(v.first, v.last, v.city)].append(v)
            self.by_name_street[(v.first, v.last, v.street, v.county)].append(v)
            self.last_count[v.last] += 1
            self.first_count[v.first] += 1
            self.city_lasts[v.city].add(v.last)
            if v.phone:
                self.by_phone[v.phone].append(v)
        for phone, vs in self.by_phone.items():
            self.by_county_phone[vs[0].county].append(phone)
        self.cities = sorted({v.city for v in self.voters})
        self._codes: dict[str, set[str]] = {}

    def freq(self, word: str) -> float:
        """How common a spelling is as a name (the recogniser's language model prefers common ones)."""
        return self.last_count.get(word, 0) + self.first_count.get(word, 0) + _census().get(word, 0) / 1000

    def sounds_local(self, last: str, city: str) -> bool:
        """True when `last` has the Metaphone code of a surname on the roll in `city`."""
        import jellyfish

        if city not in self._codes:
            self._codes[city] = {jellyfish.metaphone(x) for x in self.city_lasts[city]}
        return jellyfish.metaphone(last) in self._codes[city]

    def unique(self, v: Voter) -> bool:
        return len(self.by_name_city[(v.first, v.last, v.city)]) == 1


def _census() -> dict[str, float]:
    from data.sample_tables import surnames

    if not hasattr(_census, "cache"):
        w = surnames()
        prev = 0.0
        counts: dict[str, float] = {}
        for name, c in zip(w.items, w.cum, strict=True):
            counts[name] = c - prev
            prev = c
        _census.cache = counts  # type: ignore[attr-defined]
    return _census.cache  # type: ignore[attr-defined]


def _nicknames() -> Callable[[str], list[str]]:
    from nicknames import NickNamer

    nn = NickNamer()
    return lambda first: sorted(n.upper() for n in nn.nicknames_of(first) if len(n) > 1)


def _spoken_street(street: str) -> str:
    words = street.split()
    out = [DIRECTIONS.get(words[0], words[0].lower())] if len(words) > 2 and words[0] in DIRECTIONS \
        else [words[0].lower()] if len(words) > 2 else []
    body = words[1:] if out else words
    if body and body[-1] in STREET_TYPES:
        body = [w.lower() for w in body[:-1]] + [STREET_TYPES[body[-1]]]
    return " ".join(out + [w.lower() for w in body])


class _Builder:
    def __init__(self, roll: _Roll, rng: random.Random, noisy: bool) -> None:
        self.roll, self.rng, self.noisy = roll, rng, noisy
        self.nick = _nicknames()

    def caller_for(self, v: Voter) -> str | None:
        """Another voter's phone in the same county (70%), else None."""
        phones = self.roll.by_county_phone.get(v.county, [])
        if not phones or self.rng.random() < 0.3:
            return None
        for _ in range(5):
            p = self.rng.choice(phones)
            if p != v.phone:
                return p
        return None

    def _word(self, word: str, noise: list[str], city: str, other: str, first: bool) -> str:
        """A name word as recognised; noisy variants that name another real voter are not used."""
        if not self.noisy or self.rng.random() >= NOISE_RATE:
            return word
        for _ in range(4):
            new, op = asr.noisy_word(word, self.rng, self.roll.freq)
            key = (new, other, city) if first else (other, new, city)
            if op and new != word and key not in self.roll.by_name_city:
                noise.append(op)
                return new
        return word

    def place(self, city: str, noise: list[str], force: bool = False) -> str:
        """The city as recognised: misheard (letter/sound errors, or a similar real town) when forced
        or, for noisy sets, now and then."""
        if not force and not (self.noisy and self.rng.random() < PLACE_NOISE_RATE):
            return city.title()
        import jellyfish

        if self.rng.random() < 0.5:
            near = sorted((jellyfish.levenshtein_distance(city, c), c) for c in self.roll.cities if c != city)
            close = [c for d, c in near[:3] if d <= max(2, len(city) // 3)]
            if close:
                noise.append("place-other-town")
                return self.rng.choice(close).title()
        words = city.split()
        i = max(range(len(words)), key=lambda k: len(words[k]))
        for _ in range(4):
            new, op = asr.noisy_word(words[i], self.rng, lambda w: 0.0)
            if op and new != words[i]:
                noise.append(f"place-{op}")
                return " ".join(words[:i] + [new] + words[i + 1:]).title()
        return city.title()

    def name(self, v: Voter, noise: list[str], first: str | None = None, last: str | None = None,
             middle: bool = True) -> str:
        first = self._word(first or v.first, noise, v.city, last or v.last, True)
        last = self._word(last or v.last, noise, v.city, first, False)
        parts = [first.lower()]
        u = self.rng.random()
        if middle and v.middle and u < 0.15:
            parts.append(v.middle[0].lower())
        elif middle and len(v.middle) > 1 and u < 0.22:
            parts.append(v.middle.lower())
        parts.append(last.lower())
        if v.suffix and self.rng.random() < 0.6:
            parts.append(SUFFIX_WORDS.get(v.suffix, v.suffix.lower()))
        if self.noisy and self.rng.random() < SPELL_RATE:
            parts.append(asr.spell_out(v.last))
            noise.append("spelled-out")
        return " ".join(parts)

    def say(self, who: str, where: str = "") -> str:
        text = self.rng.choice(CARRIERS).format(who)
        return f"{text} {where}".strip()

    def answers(self, v: Voter) -> dict[str, object]:
        return {"middle": v.middle, "street": _spoken_street(v.street), "birth_year": v.birth_year}


def _item(stratum: str, i: int, text: str, caller: Voter | None, expect: Voter | None,
          expect_any: Sequence[Voter], answers: dict[str, object], noise: list[str]) -> dict[str, object]:
    return {"id": f"{stratum}-{i:04d}", "text": text, "caller": caller.phone if caller else None,
            "caller_regn": caller.regn_num if caller else None,
            "expect": expect.regn_num if expect else None,
            "expect_any": sorted({v.regn_num for v in expect_any}), "stratum": stratum,
            "answers": answers, "noise": noise}


def _targets(pool: list[Voter], k: int, rng: random.Random) -> list[Voter]:
    return rng.sample(pool, min(k, len(pool)))


def make_eval_set(voters: Sequence[Voter], n_per_stratum: int, seed: int, noisy: bool) -> list[dict]:
    """Build up to `n_per_stratum` items per stratum (fewer when the roll has too few candidates).

    voters: the roll (only active voters are used as targets); seed makes the set reproducible;
    noisy applies the recogniser error model on top of each stratum's own change (nickname, homophone,
    misheard place...). Returns the items in stratum order (see module docstring). Raises ValueError
    when n_per_stratum < 1 or the roll has no active voter.
    """
    if n_per_stratum < 1:
        raise ValueError("n_per_stratum must be >= 1")
    roll = _Roll(voters)
    if not roll.voters:
        raise ValueError("the roll has no active voter")
    rng = random.Random(seed)
    b = _Builder(roll, rng, noisy)
    items: list[dict] = []
    unique = [v for v in roll.voters if roll.unique(v)]
    sample = _targets(unique, 20 * n_per_stratum, rng)

    def emit(stratum: str, made: list[tuple[str, Voter | None, Sequence[Voter], str | None, list[str]]]):
        for i, (text, target, ok, caller, noise) in enumerate(made[:n_per_stratum]):
            ans = b.answers(target) if target else {}
            who = roll.by_phone[caller][0] if caller else None
            items.append(_item(stratum, i, text, who, target, ok, ans, noise))

    def simple(v: Voter, **kw: object) -> tuple[str, Voter, list[Voter], str | None, list[str]]:
        noise: list[str] = []
        text = b.say(b.name(v, noise, **kw), f"{rng.choice(PLACE_WORDS)} {b.place(v.city, noise)}")
        return text, v, [v], b.caller_for(v), noise

    emit("clean", [simple(v) for v in sample[:n_per_stratum]])

    made = []
    for v in sample:  # the recogniser writes another spelling of the same sound
        if len(made) >= n_per_stratum:
            break
        alts = [h for h in asr.homophones(v.last) if h.isalpha() and (v.first, h, v.city) not in roll.by_name_city]
        if alts:
            noise = ["homophone"]
            alt = max(alts, key=lambda w: (roll.freq(w), w))
            text = b.say(b.name(v, noise, last=alt), f"of {b.place(v.city, noise)}")
            made.append((text, v, [v], b.caller_for(v), noise))
    emit("homophones", made)

    made = []
    for v in sample:
        if len(made) >= n_per_stratum:
            break
        nicks = [n for n in b.nick(v.first) if (n, v.last, v.city) not in roll.by_name_city]
        if nicks:
            nick = max(nicks, key=lambda n: (roll.first_count.get(n, 0), n))
            noise = ["nickname"]
            text = b.say(b.name(v, noise, first=nick), f"of {b.place(v.city, noise)}")
            made.append((text, v, [v], b.caller_for(v), noise))
    emit("nicknames", made)

    made = []
    for v in sample[n_per_stratum:]:
        if len(made) >= n_per_stratum:
            break
        noise: list[str] = []
        place = b.place(v.city, noise, force=True)
        if place.upper() != v.city:
            made.append((b.say(b.name(v, noise), f"of {place}"), v, [v], b.caller_for(v), noise))
    emit("misheard_place", made)

    groups = [g for g in roll.by_name_city.values() if len(g) > 1]
    made = []
    for g in _targets(groups, n_per_stratum, rng):
        v = rng.choice(g)
        noise = []
        text = b.say(b.name(v, noise, middle=False), f"of {b.place(v.city, noise)}")
        made.append((text, v, g, b.caller_for(v), noise))
    emit("ambiguous", made)

    made = []
    census = list(_census())
    firsts = [f for f, _ in roll.first_count.most_common(300)]
    for _ in range(200 * n_per_stratum):  # surnames absent from the roll and not sounding like a local one
        if len(made) >= n_per_stratum:
            break
        last = census[rng.randrange(500, len(census))]
        v = rng.choice(roll.voters)  # gives a real place and a caller in that county
        if roll.last_count.get(last) or roll.sounds_local(last, v.city):
            continue
        noise = []
        text = b.say(f"{rng.choice(firsts).lower()} {last.lower()}", f"of {b.place(v.city, noise)}")
        made.append((text, None, [], b.caller_for(v), noise))
    emit("negatives", made)

    rare = [v for v in unique if roll.last_count[v.last] <= 2 and len(v.last) > 3]
    emit("rare_surnames", [simple(v) for v in _targets(rare, n_per_stratum, rng)])

    made = []
    with_phone = [v for v in unique if v.phone]
    for v in _targets(with_phone, n_per_stratum, rng):
        noise = ["phone-words"]
        digits = asr.say_digits(v.phone or "", rng)
        household = roll.by_phone[v.phone or ""]
        if rng.random() < 0.5:
            text, ok = f"{b.name(v, noise)} my number is {digits}", [v]
        else:
            text, ok = f"my phone number is {digits}", household
        made.append((text, v, ok, None, noise))
    emit("phone", made)

    made = []
    for v in sample[3 * n_per_stratum:]:
        if len(made) >= n_per_stratum:
            break
        same = roll.by_name_street[(v.first, v.last, v.street, v.county)]
        noise = []
        street = _spoken_street(v.street)
        where = f"who lives on {street}" if rng.random() < 0.5 else f"of {b.place(v.city, noise)} on {street}"
        made.append((b.say(b.name(v, noise), where), v, same, b.caller_for(v) or _any_phone(roll, v), noise))
    emit("street", made)
    return items


def _any_phone(roll: _Roll, v: Voter) -> str | None:
    """Street-only items need the caller's county as the place prior: always give a caller."""
    phones = roll.by_county_phone.get(v.county) or []
    return next((p for p in phones if p != v.phone), None)


def main(argv: list[str] | None = None) -> int:
    """CLI: --voters N [--seed S] [--district D] [--per-stratum K] [--clean] --out FILE.jsonl."""
    from data.generate_sample import iter_voters

    ap = argparse.ArgumentParser(prog="python -m bench.name_eval", description=__doc__.splitlines()[0])
    ap.add_argument("--voters", type=int, required=True, help="size of the generated roll")
    ap.add_argument("--seed", type=int, default=1, help="roll seed (the same as the one loaded)")
    ap.add_argument("--district", choices=("1", "2", "3", "4"))
    ap.add_argument("--per-stratum", type=int, default=200)
    ap.add_argument("--eval-seed", type=int, default=7)
    ap.add_argument("--clean", action="store_true", help="no recogniser errors beyond each stratum's own")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    try:
        items = make_eval_set(list(iter_voters(a.voters, a.seed, a.district)), a.per_stratum, a.eval_seed,
                              noisy=not a.clean)
        tmp = a.out.with_name(a.out.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for it in items:
                f.write(json.dumps(it) + "\n")
        tmp.replace(a.out)
    except (ValueError, OSError) as exc:
        print(f"name_eval: {exc}", file=sys.stderr)
        return 2
    counts = Counter(it["stratum"] for it in items)
    print(f"{len(items)} items -> {a.out}: " + ", ".join(f"{s} {counts[s]}" for s in STRATA))
    return 0


if __name__ == "__main__":
    sys.exit(main())
