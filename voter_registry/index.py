"""The spoken-name index: phonetic name buckets and the roll's vocabularies, all under `vr:ix:`.

Layout (see docs/matching.md):
- `vr:ix:n:{last_key}:{first_key}` sorted set, every score 0, members
  `"{COUNTY}|{CITY}|{FIRST}|{MIDDLE}|{LAST}|{SUFFIX}|{regn_num}"`. Keys are `phonetic.sound_key` codes.
  Members sort by county, then city, so `ZRANGEBYLEX` fetches one county's or one town's share of a
  bucket. A voter with a full middle name is also filed under the middle name's key (callers who go by
  their middle name), a hyphenated or two-word surname under each part and the joined form.
- `vr:ix:ln` / `vr:ix:fn` hashes: surname / given-name (first and full middle) spelling -> voter count.
- `vr:ix:pl` hash: `"{CITY}|{COUNTY}|{ZIP}"` -> voter count (places the matcher fuzzy-resolves).
Counts are only priors; they are decremented on unindex and may drift if a voter is indexed twice.
Only active voters are indexed: `index_voter` on an inactive voter removes it instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import fields
from functools import lru_cache
from operator import itemgetter
from typing import Any

from voter_registry.model import Voter
from voter_registry.phonetic import clean, sound_key

PREFIX = "vr:ix:"
BUCKET = PREFIX + "n:"
LAST_NAMES = PREFIX + "ln"
GIVEN_NAMES = PREFIX + "fn"
PLACES = PREFIX + "pl"
SEP = "|"
_AT = {f.name: i for i, f in enumerate(fields(Voter))}  # a field's position in Voter / its to_dict()


def bucket_key(last_key: str, first_key: str) -> str:
    """Redis key of the bucket of a (surname sound key, given-name sound key) pair."""
    return f"{BUCKET}{last_key}:{first_key}"


@lru_cache(maxsize=1 << 17)  # names and places repeat across a roll: an import files millions of voters
def _field(text: str) -> str:
    """Upper-case, single-spaced, without the member separator."""
    return " ".join(text.upper().replace(SEP, " ").split())


def member(voter: Voter) -> str:
    """The bucket member for `voter`: county and city first so that lex ranges select a place."""
    return filing(voter)[1]


@lru_cache(maxsize=1 << 17)
def surname_keys(last: str) -> tuple[str, ...]:
    """Sound keys a surname is filed under: the joined form and, for "SMITH-JONES", each part."""
    words = [w for w in re.split(r"[-\s]+", last.upper()) if clean(w)]
    keys = [sound_key("".join(words))] if words else []
    if len(words) > 1:
        keys += [sound_key(w) for w in words]
    return tuple(dict.fromkeys(k for k in keys if k))


def bucket_keys(voter: Voter) -> list[str]:
    """Every bucket key `voter` is filed under."""
    return list(filing(voter)[0])


# The pieces of a voter's filing, cached per distinct spelling: a state roll repeats its surnames, given
# names and places millions of times, while the combinations of them are nearly all distinct.


@lru_cache(maxsize=1 << 17)
def _surname(last: str) -> tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(member field, bucket key prefixes "vr:ix:n:{key}:", surname counter or ())."""
    f = _field(last)
    return f, tuple(f"{BUCKET}{k}:" for k in surname_keys(last) or ("",)), ((LAST_NAMES, f),) if f else ()


@lru_cache(maxsize=1 << 17)
def _given(name: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(member field, sound key, its given-name counter or (): a full 2+ letter name is counted and files
    a middle name)."""
    f = _field(name)
    return f, sound_key(name), ((GIVEN_NAMES, f),) if len(clean(name)) > 1 else ()


@lru_cache(maxsize=1 << 16)
def _place(city: str, county: str, zip_: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(member prefix "COUNTY|CITY|", place counter or ())."""
    c = _field(city)
    counted = ((PLACES, SEP.join((c, _field(county), zip_[:5]))),) if city or zip_ else ()
    return f"{_field(county)}{SEP}{c}{SEP}", counted


def filing(voter: Voter) -> tuple[tuple[str, ...], str, tuple[tuple[str, str], ...]]:
    """How an active `voter` is filed: (bucket keys, the member added to each, the counters
    `(hash, field)` incremented by one: surname, given names, place). `index_voter` queues exactly this;
    bulk writers (the importer) may aggregate it."""
    v = voter
    return _filing(v.regn_num, v.first, v.middle, v.last, v.suffix, v.city, v.zip, v.county)


_FILED = itemgetter(*(_AT[f] for f in ("regn_num", "first", "middle", "last", "suffix", "city", "zip", "county")))


def filing_values(vals: Sequence[str]) -> tuple[tuple[str, ...], str, tuple[tuple[str, str], ...]]:
    """`filing` of the voter whose `Voter.to_dict()` values, in field order, are `vals` (extra values
    after the last field are ignored): the importer works on those lists, not on `Voter` objects."""
    return _filing(*_FILED(vals))


def _filing(
    regn: str, first_: str, middle_: str, last_: str, suffix: str, city: str, zip_: str, county: str
) -> tuple[tuple[str, ...], str, tuple[tuple[str, str], ...]]:
    last, lkeys, lcount = _surname(last_)
    first, fk, fcount = _given(first_)
    middle, mk, mcount = _given(middle_)
    prefix, pcount = _place(city, county, zip_)
    # Given-name keys: the first name's, and a full middle name's when it differs (never an empty key
    # beside another).
    if not (mcount and mk and mk != fk):
        keys: tuple[str, ...] = tuple([lk + fk for lk in lkeys]) if len(lkeys) > 1 else (lkeys[0] + fk,)
    elif not fk:
        keys = tuple([lk + mk for lk in lkeys])
    elif len(lkeys) == 1:
        keys = (lkeys[0] + fk, lkeys[0] + mk)
    else:
        keys = tuple([k for lk in lkeys for k in (lk + fk, lk + mk)])
    m = f"{prefix}{first}{SEP}{middle}{SEP}{last}{SEP}{_field(suffix)}{SEP}{regn}"
    return keys, m, lcount + fcount + mcount + pcount


def _queue(pipe: Any, voter: Voter, sign: int) -> None:
    keys, m, counters = filing(voter)
    for key in keys:
        if sign > 0:
            pipe.zadd(key, {m: 0})
        else:
            pipe.zrem(key, m)
    if sign == 0:
        return
    for name, key in counters:
        pipe.hincrby(name, key, sign)


def index_voter(pipe: Any, voter: Voter) -> None:
    """Queue on `pipe` (a sync or asyncio redis pipeline; nothing is read) the commands that file `voter`.

    Inactive or pending voters are not filed: for them this queues the removal of their bucket members,
    so calling it after a status change is enough. When a voter's name or place changes, call
    `unindex_voter(pipe, old)` then `index_voter(pipe, new)`.
    """
    if voter.status != "active":
        _queue(pipe, voter, 0)  # remove from the buckets; counts are only priors, left as they are
        return
    _queue(pipe, voter, +1)


def unindex_voter(pipe: Any, voter: Voter) -> None:
    """Queue on `pipe` the commands that remove `voter` (as it was filed) from the index."""
    _queue(pipe, voter, -1)
