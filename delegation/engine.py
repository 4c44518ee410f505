"""The counting engine for live tallies: integer ids, numpy arrays, and incremental updates (R1-R8).

It computes exactly what `delegation.tally.compute` computes (the reference; the property tests hold them
equal), but keeps the result so that one change costs one region instead of the whole district.

State per bill (`BillTally`), over the ids of a shared `Graph`:
- `guru[u]`: id of the direct voter who casts u's power, -1 when not cast;
- `pos[u]`: (round << 20) | layer of u's resolution (see delegation.tally: rounds of ranked backups,
  breadth-first layers inside a round); direct voters 0; -1 when not cast;
- `weight[g]`: raw weight of each guru (1 + its delegating voters); `cast[choice]`: weight after the cap.

Locality: u's resolution depends only on the voters reachable from u along delegations. A change at v (a
vote, a delegation, a recall) therefore touches only `upstream(v)`, the voters with a delegation path to
v (v's own new trustees do not change who reaches v). `update` clears that region, re-resolves it with the
nodes outside as fixed boundary (their round and layer are kept for this), and moves the weights.

The full tally (`BillTally.rebuild`) is vectorised: first choices by numpy pointer jumping (each voter's
pointer doubles its reach per step), then each backup round as a layer-by-layer breadth-first search over
arrays of ranked trustees.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

import numpy as np

from delegation.tally import CHOICES, MAX_RANK, cap_weight

LAYER_BITS = 20
LAYER_MASK = (1 << LAYER_BITS) - 1
NONE = -1


class Graph:
    """Voters (regn_num <-> id), eligibility, standing ranked delegations and their reverse index."""

    def __init__(self, max_rank: int = MAX_RANK) -> None:
        self.max_rank = max_rank
        self.ids: dict[str, int] = {}
        self.names: list[str] = []
        self.std: list[tuple[int, ...]] = []
        self.rev: dict[int, list[int]] = {}  # trustee -> trusters (any rank) of standing delegations
        self.multi: set[int] = set()  # voters with standing backups (rank >= 2)
        # rank[k][u]: standing trustee of rank k+1 of u, -1 for none (numpy, for the full tally)
        self.rank = [np.zeros(0, dtype=np.int32) for _ in range(max_rank)]
        self.elig = np.zeros(0, dtype=bool)
        self.eligible: frozenset[str] = frozenset()
        self.eligible_count = 0

    def __len__(self) -> int:
        return len(self.names)

    def id(self, regn: str) -> int:
        """The id of `regn`, allocated on first sight. Only voters who delegate, are delegated to or vote
        get an id, so the per-bill arrays cover the delegation graph, not the whole roll."""
        i = self.ids.get(regn)
        if i is None:
            i = self.ids[regn] = len(self.names)
            self.names.append(regn)
            self.std.append(())
            if i >= len(self.elig):
                extra = max(1024, len(self.elig))
                self.elig = np.concatenate([self.elig, np.zeros(extra, dtype=bool)])
                self.rank = [np.concatenate([a, np.full(extra, NONE, dtype=np.int32)]) for a in self.rank]
            self.elig[i] = regn in self.eligible
        return i

    def set_eligible(self, regns: Iterable[str]) -> None:
        """Replace the eligible set (the registry's `vr:active`)."""
        self.eligible = frozenset(regns)
        self.eligible_count = len(self.eligible)
        self.elig[:] = False
        for regn, i in self.ids.items():
            self.elig[i] = regn in self.eligible

    def clean(self, truster: int, trustees: Sequence[str]) -> tuple[int, ...]:
        """Ranked trustee ids after `cannot_delegate_to_self`, repeats dropped, at most max_rank."""
        out: list[int] = []
        for t in trustees:
            j = self.id(t)
            if j != truster and j not in out:
                out.append(j)
        return tuple(out[: self.max_rank])

    def set_standing(self, truster: int, trustees: tuple[int, ...]) -> None:
        """Replace a standing delegation and keep the reverse index in step."""
        for t in self.std[truster]:
            lst = self.rev.get(t)
            if lst is not None:
                lst.remove(truster)
                if not lst:
                    del self.rev[t]
        self.std[truster] = trustees
        for k, arr in enumerate(self.rank):
            arr[truster] = trustees[k] if k < len(trustees) else NONE
        if len(trustees) > 1:
            self.multi.add(truster)
        else:
            self.multi.discard(truster)
        for t in trustees:
            self.rev.setdefault(t, []).append(truster)


class BillTally:
    """Live tally of one bill over a shared `Graph`.

    votes: {id: choice index into CHOICES}; over: per-bill delegations {id: trustees} where () is an explicit
    "no delegation on this bill" (R6). cap: R8 weight cap as a fraction of eligible voters.
    """

    def __init__(self, graph: Graph, key: str, *, cap: float | None = None) -> None:
        self.g = graph
        self.key = key
        self.cap = cap
        self.votes: dict[int, int] = {}
        self.over: dict[int, tuple[int, ...]] = {}
        self.rev_over: dict[int, list[int]] = {}
        n = len(graph)
        self.guru = np.full(n, NONE, dtype=np.int32)
        self.pos = np.full(n, NONE, dtype=np.int32)
        self.weight = np.zeros(n, dtype=np.int32)
        self.cast = [0, 0, 0]
        self.capw: int | None = None

    # --- graph access --------------------------------------------------------------------------------

    def _grow(self) -> None:
        n = len(self.g)
        if n > len(self.guru):
            extra = max(n - len(self.guru), len(self.guru) // 2, 1024)
            self.guru = np.concatenate([self.guru, np.full(extra, NONE, dtype=np.int32)])
            self.pos = np.concatenate([self.pos, np.full(extra, NONE, dtype=np.int32)])
            self.weight = np.concatenate([self.weight, np.zeros(extra, dtype=np.int32)])

    def delegates(self, u: int) -> tuple[int, ...]:
        """Effective ranked trustees of u on this bill (R6: per-bill, else standing)."""
        d = self.over.get(u)
        return self.g.std[u] if d is None else d

    def trusters(self, x: int) -> Sequence[int]:
        """Voters whose effective delegation on this bill names x at any rank."""
        if not self.over:
            return self.g.rev.get(x, ())
        out = [u for u in self.g.rev.get(x, ()) if u not in self.over]
        out.extend(self.rev_over.get(x, ()))
        return out

    def upstream(self, v: int) -> list[int]:
        """v and every voter with a delegation path to v on this bill (the region a change at v touches)."""
        seen = {v}
        stack = [v]
        while stack:
            x = stack.pop()
            for u in self.trusters(x):
                if u not in seen:
                    seen.add(u)
                    stack.append(u)
        return list(seen)

    # --- changes -------------------------------------------------------------------------------------

    def set_vote(self, v: int, choice: str | None) -> None:
        """Record or withdraw v's direct vote and update incrementally."""
        self._grow()
        if self._vote_first_choices(v, choice):
            return
        region = self.upstream(v)
        old = self._take(region)
        if choice is None:
            self.votes.pop(v, None)
        else:
            self.votes[v] = CHOICES.index(choice)
        self._give(region, old)

    def _members(self, v: int) -> tuple[list[int], list[int]] | None:
        """Voters whose power reaches v along first choices without passing a direct voter, with their
        distance to v (v itself at 0), when that region uses first choices only: nobody in it has a backup
        or is named as someone's backup, and nobody in it was resolved in a backup round. Else None."""
        elig, votes, pos = self.g.elig, self.votes, self.pos
        round2 = 2 << LAYER_BITS
        members, dist = [v], [0]
        i = 0
        while i < len(members):
            x, d = members[i], dist[i]
            i += 1
            for w in self.trusters(x):
                ds = self.delegates(w)
                if len(ds) != 1:
                    return None  # x is someone's backup, or w has backups
                if not elig[w] or (w in votes and w != v):
                    continue
                if pos[w] >= round2 or w == v:
                    return None  # a backup round, or a loop back to v: the general path handles it
                members.append(w)
                dist.append(d + 1)
        return members, dist

    def _vote_first_choices(self, v: int, choice: str | None) -> bool:
        """Fast path of `set_vote` when v's region uses first choices only (see `_members`): the region moves
        as a whole, so the per-voter arrays are updated with numpy and the weights by count. False when
        the general path must run (nothing changed then)."""
        g, votes = self.g, self.votes
        was = votes.get(v)
        new = None if choice is None else CHOICES.index(choice)
        if not g.elig[v] or len(self.delegates(v)) > 1 or int(self.pos[v]) >= 2 << LAYER_BITS:
            return False
        if was is not None and new is not None:  # a changed choice moves no weight
            self.cast[was] -= self._contrib(v)
            votes[v] = new
            self.cast[new] += self._contrib(v)
            return True
        if was is None and new is None:
            return True
        found = self._members(v)
        if found is None:
            return False
        members, dist = found
        ids = np.asarray(members, dtype=np.int64)
        layers = np.asarray(dist, dtype=np.int32)
        if new is not None:  # v starts voting: its members leave their old guru for v
            old_guru = int(self.guru[v])
            new_guru, base = v, 0
        else:  # v stops voting: its members follow v's own first choice
            old_guru = v
            ds = self.delegates(v)
            t = ds[0] if ds else NONE
            new_guru, base = NONE, 0
            if t != NONE and g.elig[t] and t not in set(members):  # a trustee among them: a voter-less loop
                pt = int(self.pos[t])
                if pt >= 2 << LAYER_BITS:
                    return False  # v would resolve in a backup round
                if pt >= 0:
                    new_guru, base = int(self.guru[t]), (pt & LAYER_MASK) + 1
        gurus = {x for x in (old_guru, new_guru) if x >= 0}
        for x in gurus:
            if x in votes:
                self.cast[votes[x]] -= self._contrib(x)
        if old_guru >= 0:
            self.weight[old_guru] -= len(members)
        if new is None:
            del votes[v]
        else:
            votes[v] = new
        if new_guru >= 0:
            self.weight[new_guru] += len(members)
            self.guru[ids] = new_guru
            self.pos[ids] = (1 << LAYER_BITS) | (layers + base) if new is None else np.where(
                layers == 0, 0, (1 << LAYER_BITS) | layers)
        else:
            self.guru[ids] = NONE
            self.pos[ids] = NONE
        for x in gurus:
            if x in votes and self.weight[x] > 0:
                self.cast[votes[x]] += self._contrib(x)
        return True

    def set_override(self, v: int, trustees: tuple[int, ...] | None) -> None:
        """Per-bill delegation of v (None removes it: the standing delegation applies again)."""
        self._grow()
        region = self.upstream(v)
        old = self._take(region)
        for t in self.over.get(v, ()):
            lst = self.rev_over.get(t)
            if lst is not None:
                lst.remove(v)
                if not lst:
                    del self.rev_over[t]
        if trustees is None:
            self.over.pop(v, None)
        else:
            self.over[v] = trustees
            for t in trustees:
                self.rev_over.setdefault(t, []).append(v)
        self._give(region, old)

    def before_standing_change(self, v: int) -> tuple[list[int], dict[int, int]] | None:
        """First half of a standing delegation change of v (None when a per-bill delegation hides it)."""
        if v in self.over:
            return None
        self._grow()
        region = self.upstream(v)
        return region, self._take(region)

    def after_standing_change(self, token: tuple[list[int], dict[int, int]] | None) -> None:
        """Second half, once the graph holds v's new standing delegation."""
        if token is not None:
            self._grow()
            self._give(*token)

    def _contrib(self, g: int) -> int:
        w = int(self.weight[g])
        return w if self.capw is None else min(w, self.capw)

    def _take(self, region: list[int]) -> dict[int, int]:
        """Remove the region's weight from its gurus and those gurus' cast weight; returns {guru: choice}."""
        gurus: dict[int, int] = {}
        guru, weight = self.guru, self.weight
        for u in region:
            gu = int(guru[u])
            if gu >= 0:
                if gu not in gurus:
                    gurus[gu] = self.votes[gu]
                    self.cast[gurus[gu]] -= self._contrib(gu)
                weight[gu] -= 1
        return gurus

    def _give(self, region: list[int], old: dict[int, int]) -> None:
        """Re-resolve the region, add its weight back and recount the touched gurus' cast weight."""
        self._resolve(region)
        guru, weight = self.guru, self.weight
        new = {int(guru[u]) for u in region if guru[u] >= 0}
        for gu in new - old.keys():  # a guru outside the region gaining members: take its old count out
            self.cast[self.votes[gu]] -= self._contrib(gu)
        for u in region:
            gu = int(guru[u])
            if gu >= 0:
                weight[gu] += 1
        for gu in new | old.keys():
            if gu in self.votes and weight[gu] > 0:
                self.cast[self.votes[gu]] += self._contrib(gu)

    # --- resolution ----------------------------------------------------------------------------------

    def _resolve(self, region: list[int]) -> None:
        """Breadth-first resolution of `region` (R7), nodes outside it fixed. See delegation.tally."""
        guru, pos, elig, votes = self.guru, self.pos, self.g.elig, self.votes
        todo = set()
        for u in region:
            if elig[u] and u in votes:
                guru[u], pos[u] = u, 0
            else:
                guru[u], pos[u] = NONE, NONE
                if elig[u]:
                    ds = self.delegates(u)
                    if ds:
                        todo.add(u)
        # every round, even past the region's own ranks: its first choices may meet a later-round voter
        for r in range(1, self.g.max_rank + 1):
            if not todo or (r == 2 and not self._may_resolve_later(todo)):
                break
            self._round(r, todo)

    def _may_resolve_later(self, todo: set[int]) -> bool:
        """After round 1: can a backup round resolve anyone left? Only through a backup, or through a
        first choice that is itself resolved in a backup round (outside the region)."""
        pos = self.pos
        for u in todo:
            ds = self.delegates(u)
            if len(ds) > 1 or (ds[0] not in todo and pos[ds[0]] >> LAYER_BITS >= 2):
                return True
        return False

    def _round(self, r: int, todo: set[int]) -> None:
        guru, pos, elig = self.guru, self.pos, self.g.elig
        base = r << LAYER_BITS
        heap: list[tuple[int, int]] = []
        for u in todo:
            best = 0
            for t in self.delegates(u)[:r]:
                if not elig[t]:
                    continue
                p = int(pos[t])
                if p < 0 or t in todo or p >> LAYER_BITS > r:  # not resolved before or in this round
                    continue
                d = 1 if p < base else (p & LAYER_MASK) + 1
                if best == 0 or d < best:
                    best = d
            if best:
                heapq.heappush(heap, (best, u))
        while heap:
            d, u = heapq.heappop(heap)
            if u not in todo:
                continue
            hop = NONE
            for t in self.delegates(u)[:r]:
                if not elig[t] or t in todo:
                    continue
                p = int(pos[t])
                if p >= 0 and (p < base if d == 1 else p == base | (d - 1)):
                    hop = t
                    break
            todo.discard(u)
            pos[u] = base | d
            guru[u] = guru[hop]
            for w in self.trusters(u):
                if w in todo and u in self.delegates(w)[:r]:
                    heapq.heappush(heap, (d + 1, w))

    # --- full tally ----------------------------------------------------------------------------------

    def _rank_arrays(self, n: int) -> list[np.ndarray]:
        """Effective trustees by rank on this bill as arrays of length n (-1 none), per-bill scopes applied."""
        out = []
        for k, arr in enumerate(self.g.rank):
            a = np.full(n, NONE, dtype=np.int32)
            m = min(n, len(arr))
            a[:m] = arr[:m]
            for u, ds in self.over.items():
                if u < n:
                    a[u] = ds[k] if k < len(ds) else NONE
            out.append(a)
        return out

    def rebuild(self) -> None:
        """Full tally from the current graph and votes, vectorised: numpy pointer jumping resolves first
        choices (round 1); each backup round is a layer-by-layer breadth-first search over edge arrays."""
        self._grow()
        n = len(self.guru)
        g = self.g
        elig = np.zeros(n + 1, dtype=bool)
        elig[: min(n, len(g.elig))] = g.elig[: min(n, len(g.elig))]
        voter = np.zeros(n + 1, dtype=bool)
        voter[np.fromiter(self.votes.keys(), dtype=np.int64, count=len(self.votes))] = True
        voter &= elig
        ranks = self._rank_arrays(n)
        sentinel = n
        # round 1: first choices between eligible voters; direct voters point to themselves
        first = np.append(ranks[0], NONE)
        first = np.where((first >= 0) & elig, first, sentinel)
        first = np.where(elig[first], first, sentinel).astype(np.int32)
        vpos = np.nonzero(voter)[0].astype(np.int32)
        first[vpos] = vpos
        first[sentinel] = sentinel
        ptr = first.copy()
        dist = (~voter & (first != sentinel)).astype(np.int32)
        live = np.nonzero(dist[:n])[0]
        bound = len(live) + 1  # no chain is longer than the number of delegating voters
        steps = 0
        while len(live) and (1 << steps) <= bound:
            nxt = ptr[live]
            dist[live] += dist[nxt]
            ptr[live] = ptr[nxt]
            end = ptr[live]
            live = live[~(voter[end] | (end == sentinel))]
            steps += 1
        resolved = voter[ptr[:n]]
        guru = np.where(resolved, ptr[:n], NONE).astype(np.int32)
        pos = np.where(resolved, np.where(voter[:n], 0, (1 << LAYER_BITS) | dist[:n]), NONE).astype(np.int32)
        # rounds 2..max_rank: only unresolved eligible voters with some trustee take part
        cand = np.nonzero(~resolved & elig[:n] & (ranks[0] >= 0))[0].astype(np.int32)
        for r in range(2, g.max_rank + 1):
            if not len(cand) or not any((ranks[k][cand] >= 0).any() for k in range(1, r)):
                break
            self._backup_round(r, cand, ranks, elig, guru, pos)
            cand = cand[guru[cand] < 0]
        self.guru, self.pos = guru, pos
        self.weight = np.bincount(guru[guru >= 0], minlength=n).astype(np.int32)
        self.capw = cap_weight(self.cap, g.eligible_count)
        choice = np.fromiter(self.votes.values(), dtype=np.int32, count=len(self.votes))
        ids = np.fromiter(self.votes.keys(), dtype=np.int64, count=len(self.votes))
        w = self.weight[ids].astype(np.int64)
        if self.capw is not None:
            w = np.minimum(w, self.capw)
        self.cast = [int(x) for x in np.bincount(choice, weights=w, minlength=3)[:3]]

    def _backup_round(self, r: int, cand: np.ndarray, ranks: list[np.ndarray], elig: np.ndarray,
                      guru: np.ndarray, pos: np.ndarray) -> None:
        """Round r over the unresolved voters `cand`: breadth-first from everyone resolved (layer 0) along
        reversed edges of rank <= r; a voter reached at layer L takes its lowest-ranked trustee at L-1."""
        n = len(guru)
        src = np.concatenate([cand] * r)
        dst = np.concatenate([ranks[k][cand] for k in range(r)])
        rk = np.repeat(np.arange(r, dtype=np.int8), len(cand))
        ok = dst >= 0
        ok[ok] = elig[dst[ok]]
        src, dst, rk = src[ok], dst[ok], rk[ok]
        order = np.argsort(dst, kind="stable")
        src, dst, rk = src[order], dst[order], rk[order]
        done = np.zeros(n, dtype=bool)
        edges = np.nonzero(guru[dst] >= 0)[0]  # layer 1: trustees resolved before this round
        layer = 0
        while len(edges):
            layer += 1
            e_src = src[edges]
            keep = ~done[e_src] & (guru[e_src] < 0)
            edges, e_src = edges[keep], e_src[keep]
            if not len(edges):
                break
            pick = np.lexsort((rk[edges], e_src))  # per voter, the lowest rank first
            e_src, first_of = np.unique(e_src[pick], return_index=True)
            hop = dst[edges[pick][first_of]]
            guru[e_src] = guru[hop]
            pos[e_src] = (r << LAYER_BITS) | layer
            done[e_src] = True
            # next layer: edges whose trustee was reached in this layer
            starts = np.searchsorted(dst, e_src, "left")
            lens = np.searchsorted(dst, e_src, "right") - starts
            total = int(lens.sum())
            offsets = np.repeat(np.cumsum(lens) - lens, lens)
            edges = np.arange(total) - offsets + np.repeat(starts, lens)

    # --- results -------------------------------------------------------------------------------------

    def set_cap_base(self) -> None:
        """Recount after the eligible count changed (the cap is a fraction of it)."""
        self.rebuild()

    def counts(self) -> dict[str, int]:
        """{"yes", "no", "abstain", "not_cast"} (not cast = eligible - cast)."""
        yes, no, abstain = self.cast
        return {"yes": yes, "no": no, "abstain": abstain, "not_cast": self.g.eligible_count - yes - no - abstain}

    def weights(self) -> dict[str, int]:
        """{regn_num of each direct voter: weight after the cap}, sorted by regn_num."""
        names = self.g.names
        out = {names[v]: self._contrib(v) for v in self.votes if v < len(self.weight) and self.weight[v] > 0}
        return dict(sorted(out.items()))

    def top(self, n: int = 10) -> list[tuple[str, int, str]]:
        """The `n` largest weights: [(regn_num, weight, choice)], heaviest first."""
        rows = [(self._contrib(v), self.g.names[v], CHOICES[c]) for v, c in self.votes.items()
                if v < len(self.weight) and self.weight[v] > 0]
        rows.sort(key=lambda t: (-t[0], t[1]))
        return [(name, w, c) for w, name, c in rows[:n]]

    def guru_of(self, regn: str) -> str | None:
        """The direct voter casting `regn`'s power on this bill, or None."""
        i = self.g.ids.get(regn)
        if i is None or i >= len(self.guru) or self.guru[i] < 0:
            return None
        return self.g.names[int(self.guru[i])]

