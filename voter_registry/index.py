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
from functools import lru_cache
from typing import Any

from voter_registry.model import Voter
from voter_registry.phonetic import clean, sound_key

PREFIX = "vr:ix:"
BUCKET = PREFIX + "n:"
LAST_NAMES = PREFIX + "ln"
GIVEN_NAMES = PREFIX + "fn"
PLACES = PREFIX + "pl"
SEP = "|"


def bucket_key(last_key: str, first_key: str) -> str:
    """Redis key of the bucket of a (surname sound key, given-name sound key) pair."""
    return f"{BUCKET}{last_key}:{first_key}"


@lru_cache(maxsize=1 << 17)  # names and places repeat across a roll: an import files millions of voters
def _field(text: str) -> str:
    """Upper-case, single-spaced, without the member separator."""
    return " ".join(text.upper().replace(SEP, " ").split())


def member(voter: Voter) -> str:
    """The bucket member for `voter`: county and city first so that lex ranges select a place."""
    parts = (voter.county, voter.city, voter.first, voter.middle, voter.last, voter.suffix)
    return SEP.join(_field(p) for p in parts) + SEP + voter.regn_num


@lru_cache(maxsize=1 << 17)
def surname_keys(last: str) -> tuple[str, ...]:
    """Sound keys a surname is filed under: the joined form and, for "SMITH-JONES", each part."""
    words = [w for w in re.split(r"[-\s]+", last.upper()) if clean(w)]
    keys = [sound_key("".join(words))] if words else []
    if len(words) > 1:
        keys += [sound_key(w) for w in words]
    return tuple(dict.fromkeys(k for k in keys if k))


@lru_cache(maxsize=1 << 17)
def given_keys(first: str, middle: str) -> tuple[str, ...]:
    """Sound keys given names are filed under: the first name and a full (2+ letter) middle name."""
    keys = [sound_key(first)]
    if len(clean(middle)) > 1:
        keys.append(sound_key(middle))
    return tuple(dict.fromkeys(k for k in keys if k)) or ("",)


def bucket_keys(voter: Voter) -> list[str]:
    """Every bucket key `voter` is filed under."""
    return list(_bucket_keys(voter.last, voter.first, voter.middle))


@lru_cache(maxsize=1 << 17)
def _bucket_keys(last: str, first: str, middle: str) -> tuple[str, ...]:
    return tuple(bucket_key(lk, fk) for lk in surname_keys(last) or ("",) for fk in given_keys(first, middle))


def _queue(pipe: Any, voter: Voter, sign: int) -> None:
    m = member(voter)
    for key in _bucket_keys(voter.last, voter.first, voter.middle):
        if sign > 0:
            pipe.zadd(key, {m: 0})
        else:
            pipe.zrem(key, m)
    if sign == 0:
        return
    if _field(voter.last):
        pipe.hincrby(LAST_NAMES, _field(voter.last), sign)
    for given in (voter.first, voter.middle):
        if len(clean(given)) > 1:
            pipe.hincrby(GIVEN_NAMES, _field(given), sign)
    if voter.city or voter.zip:
        pipe.hincrby(PLACES, SEP.join((_field(voter.city), _field(voter.county), voter.zip[:5])), sign)


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
