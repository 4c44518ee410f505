"""Realism figures of a voter roll (the ones design/name_matching.md quotes for a real Iowa-sized roll).

`python -m data.sample_stats --voters 2200000 --seed 1` generates a roll and prints them; the figures
contain counts and shares only, never a name or a phone number.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterable

from voter_registry.model import Voter


def roll_stats(voters: Iterable[Voter]) -> dict[str, float]:
    """Shares (0-1) and counts describing `voters`.

    shared_first_last_city: share of voters whose (first, last, city) is also another voter's;
    shared_with_middle: the same with the full middle name added; largest_group: size of the largest
    (first, last, city) group; household_1..5: share of addresses with that many voters (5 = 5+);
    household_same_surname: share of multi-voter addresses where all voters share the surname;
    with_phone: share of voters with a phone; phones_shared: share of phones used by 2+ voters;
    jr_sr_pairs: addresses with both a JR and a SR of the same first name; active/inactive/pending shares.
    """
    names: Counter[tuple[str, str, str]] = Counter()
    with_middle: Counter[tuple[str, str, str, str]] = Counter()
    homes: dict[tuple[str, str, str], list[Voter]] = {}
    phones: Counter[str] = Counter()
    status: Counter[str] = Counter()
    n = 0
    for v in voters:
        n += 1
        names[(v.first, v.last, v.city)] += 1
        with_middle[(v.first, v.middle, v.last, v.city)] += 1
        homes.setdefault((v.house_num, v.street, v.zip), []).append(v)
        status[v.status] += 1
        if v.phone:
            phones[v.phone] += 1
    if not n:
        return {"voters": 0}
    sizes = Counter(min(len(h), 5) for h in homes.values())
    multi = [h for h in homes.values() if len(h) > 1]
    jr_sr = sum(1 for h in homes.values()
                if {v.first for v in h if v.suffix == "JR"} & {v.first for v in h if v.suffix == "SR"})
    return {
        "voters": n,
        "shared_first_last_city": sum(c for c in names.values() if c > 1) / n,
        "shared_with_middle": sum(c for c in with_middle.values() if c > 1) / n,
        "largest_group": max(names.values()),
        **{f"household_{k}": sizes[k] / len(homes) for k in range(1, 6)},
        "household_same_surname": sum(1 for h in multi if len({v.last for v in h}) == 1) / max(1, len(multi)),
        "with_phone": sum(phones.values()) / n,
        "phones_shared": sum(1 for c in phones.values() if c > 1) / max(1, len(phones)),
        "jr_sr_pairs": jr_sr,
        **{s: status[s] / n for s in ("active", "inactive", "pending")},
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: --voters N --seed S [--district D]; prints the figures of a generated roll."""
    from data.generate_sample import iter_voters

    ap = argparse.ArgumentParser(prog="python -m data.sample_stats")
    ap.add_argument("--voters", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--district", choices=("1", "2", "3", "4"))
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    stats = roll_stats(iter_voters(a.voters, a.seed, a.district))
    for k, v in stats.items():
        print(f"{k:26} {v:.4f}" if isinstance(v, float) else f"{k:26} {v}")
    print(f"{'seconds':26} {time.perf_counter() - t0:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
