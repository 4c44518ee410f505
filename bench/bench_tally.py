"""Tally benchmark: a generated district with a realistic delegation graph (issue 4 targets).

    .venv/bin/python -m bench.bench_tally [--voters 1000000] [--bills 3] [--updates 2000] [--seed 1]

Graph: ~30% of voters delegate, mostly to a few popular delegates (Zipf-like), delegates delegate on
(chains), a few hundred explicit loops, 5% of delegators name backups, 1-5% vote directly (popular
delegates more often). Measured in one process, on the in-memory engine (the Redis round trips of a live
system are not included):
- full tally of one bill: `delegation.engine.BillTally.rebuild` (target <= 0.25 s at 1 M voters), against the
  baseline, a straightforward pure-Python LiquidFeedback-style reverse search from every direct voter
  (first choices only, as LiquidFeedback has no backups; checked equal to the engine with max_rank 1);
- incremental update after one vote or one delegation change: p50 / p99 (target p99 <= 1 ms);
- memory: the shared graph once, plus per open bill (measured for --bills bills, stated for 100).
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import time
import tracemalloc

from delegation.engine import BillTally, Graph
from delegation.tally import CHOICES


def regn(i: int) -> str:
    """Registration number of the i-th generated voter."""
    return f"R{i:08d}"


def generate(n: int, seed: int) -> tuple[Graph, dict[int, int], list[int]]:
    """(graph, votes {id: choice index}, popular delegates' ids) for n voters (all active)."""
    rnd = random.Random(seed)
    g = Graph()
    g.set_eligible(regn(i) for i in range(n))
    popular = [g.id(regn(i)) for i in rnd.sample(range(n), max(10, n // 200))]
    weights = [1 / (k + 1) for k in range(len(popular))]
    for i in rnd.sample(range(n), int(n * 0.30)):
        u = g.id(regn(i))
        # mostly a popular delegate; else a friend, who may delegate on (chains) or be a dead end
        ts = [g.names[rnd.choices(popular, weights)[0]]] if rnd.random() < 0.7 else [regn(rnd.randrange(n))]
        if rnd.random() < 0.05:
            ts += [g.names[p] for p in rnd.sample(popular, rnd.randint(1, 2))]
        g.set_standing(u, g.clean(u, ts))
    for _ in range(max(1, n // 5000)):  # explicit loops of 2-4 voters
        ring = [g.id(regn(i)) for i in rnd.sample(range(n), rnd.randint(2, 4))]
        for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
            g.set_standing(a, (b,))
    votes: dict[int, int] = {}
    for p in popular:
        if rnd.random() < 0.5:
            votes[p] = rnd.randrange(3)
    for i in rnd.sample(range(n), int(n * 0.02)):
        votes[g.id(regn(i))] = rnd.randrange(3)
    return g, votes, popular


def baseline_liquidfeedback(g: Graph, votes: dict[int, int], rev1: dict[int, list[int]]) -> list[int]:
    """Pure-Python reverse search (LiquidFeedback core's weight computation): from each direct voter, walk
    the first-choice delegations backwards, skipping direct voters, and count. Returns [yes, no, abstain]."""
    totals = [0, 0, 0]
    elig = g.elig
    for v, c in votes.items():
        if not elig[v]:
            continue
        weight = 1
        stack = [v]
        while stack:
            x = stack.pop()
            for u in rev1.get(x, ()):
                if u not in votes and elig[u]:
                    weight += 1
                    stack.append(u)
        totals[c] += weight
    return totals


def first_choice_reverse(g: Graph) -> dict[int, list[int]]:
    rev: dict[int, list[int]] = {}
    for u, ds in enumerate(g.std):
        if ds and ds[0] != u:
            rev.setdefault(ds[0], []).append(u)
    return rev


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voters", type=int, default=1_000_000)
    ap.add_argument("--bills", type=int, default=3, help="open bills actually built for the memory figure")
    ap.add_argument("--updates", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    g, votes, popular = generate(args.voters, args.seed)
    graph_mem = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) * 1024  # peak RSS growth
    gc.freeze()  # the graph is long-lived: keep the cyclic collector from rescanning it (as LiveTallies does)
    delegating = sum(1 for ds in g.std if ds)
    print(f"district: {args.voters:,} voters ({len(g):,} in the delegation graph), "
          f"{delegating:,} delegating ({delegating / args.voters:.0%}), "
          f"{len(votes):,} direct voters ({len(votes) / args.voters:.1%}), {len(g.multi):,} with backups; "
          f"generated in {time.perf_counter() - t0:.1f} s")

    # correctness of the comparison: engine restricted to first choices == baseline
    rev1 = first_choice_reverse(g)
    base_counts = baseline_liquidfeedback(g, votes, rev1)
    multi, g.multi, g.max_rank = g.multi, set(), 1
    bt1 = BillTally(g, "first-choices")
    bt1.votes = dict(votes)
    bt1.rebuild()
    c1 = bt1.counts()
    assert [c1["yes"], c1["no"], c1["abstain"]] == base_counts, (c1, base_counts)
    g.multi, g.max_rank = multi, 3
    del bt1

    bt = BillTally(g, "bill")
    bt.votes = dict(votes)
    t_engine = timed(bt.rebuild)
    t_base = timed(lambda: baseline_liquidfeedback(g, votes, rev1), repeat=2)
    c = bt.counts()
    print(f"full tally of one bill: engine {t_engine * 1000:.0f} ms (target <= 250 ms); "
          f"baseline pure-Python LiquidFeedback reverse search {t_base * 1000:.0f} ms "
          f"(first choices only); speed-up x{t_base / t_engine:.1f}")
    print(f"  tally: yes {c['yes']:,} no {c['no']:,} abstain {c['abstain']:,} not cast {c['not_cast']:,}")

    rnd = random.Random(args.seed + 1)
    n = args.voters
    vote_t: list[float] = []
    dl_t: list[float] = []
    for i in range(args.updates):
        if i % 2 == 0:
            # about one direct vote in ten comes from a popular delegate (they vote far more often)
            u = rnd.choice(popular) if rnd.random() < 0.1 else g.id(regn(rnd.randrange(n)))
            choice = rnd.choice([*CHOICES, None])
            t1 = time.perf_counter()
            bt.set_vote(u, choice)
            vote_t.append(time.perf_counter() - t1)
        else:
            u = g.id(regn(rnd.randrange(n)))
            new = () if rnd.random() < 0.2 else g.clean(u, [g.names[rnd.choice(popular)]])
            t1 = time.perf_counter()
            tok = bt.before_standing_change(u)
            g.set_standing(u, new)
            bt.after_standing_change(tok)
            dl_t.append(time.perf_counter() - t1)
    both = vote_t + dl_t
    print(f"incremental update (one bill), {len(both):,} random changes: p50 {pct(both, 50) * 1e3:.3f} ms, "
          f"p99 {pct(both, 99) * 1e3:.3f} ms (target p99 <= 1 ms); votes p99 {pct(vote_t, 99) * 1e3:.3f} ms, "
          f"delegations p99 {pct(dl_t, 99) * 1e3:.3f} ms, max {max(both) * 1e3:.1f} ms")
    check = BillTally(g, "check")
    check.votes = dict(bt.votes)
    check.rebuild()
    assert check.counts() == bt.counts(), "incremental drifted from the full recompute"
    print("  after the updates the incremental tally equals a full recompute")
    del check

    tracemalloc.start()
    bills = []
    for k in range(args.bills):
        b = BillTally(g, f"b{k}")
        b.votes = {g.id(regn(i)): rnd.randrange(3) for i in rnd.sample(range(n), int(n * 0.03))}
        b.rebuild()
        bills.append(b)
    per_bill = tracemalloc.get_traced_memory()[0] / max(1, args.bills)
    tracemalloc.stop()
    print(f"memory: graph {graph_mem / 2**20:.0f} MiB once (peak RSS growth while generating); "
          f"{per_bill / 2**20:.1f} MiB per open bill "
          f"(measured over {args.bills}); 100 open bills = {100 * per_bill / 2**20:.0f} MiB "
          f"+ graph = {(graph_mem + 100 * per_bill) / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
