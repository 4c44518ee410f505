"""Given names that stand for each other (Bill <-> William, Liz <-> Elizabeth), both ways.

Source: the `nicknames` package (Carlton Northern's names.csv, Apache-2.0), built from genealogy tables.
"""

from __future__ import annotations

from functools import lru_cache

from nicknames import NickNamer

_NN: NickNamer | None = None


def _namer() -> NickNamer:
    global _NN
    if _NN is None:
        _NN = NickNamer()
    return _NN


@lru_cache(maxsize=50_000)
def related_names(name: str) -> frozenset[str]:
    """Upper-case names that may be the same person's given name as `name` (not including `name`).

    "BILL" -> {"WILLIAM", "WILL", "BILLY", ...}; "WILLIAM" -> {"BILL", "WILL", ...}; unknown -> empty.
    Nicknames of a nickname's formal names are included ("BILLY" -> "WILLIAM" -> "BILL").
    """
    n = name.strip().lower()
    if len(n) < 2:
        return frozenset()
    nn = _namer()
    formal = set(nn.canonicals_of(n))
    out = set(formal) | set(nn.nicknames_of(n))
    for f in formal:
        out |= nn.nicknames_of(f)
    out.discard(n)
    return frozenset(x.upper() for x in out)
