"""The tally: one pure function from a bill's final state to its counts (rules R1-R8, R11).

Vocabulary (LiquidFeedback): a *truster* delegates to a *trustee*; a *direct voter* voted on the bill;
a *delegating voter* did not and follows its delegation to the first direct voter, its *guru*. The guru's
*weight* is 1 plus every voter resolved to them. Everything here is a function of the final state (R1):
the order of events never matters.

Resolution, breadth-first (R7), in rounds r = 1..max_rank:
- round r may use the delegates of rank <= r of every voter still unresolved;
- within a round, a multi-source breadth-first search starts from everyone already resolved (direct voters
  in round 1) at layer 0; an unresolved voter reached at layer L takes the lowest-ranked usable delegate
  at layer L-1 (or resolved in an earlier round) as its next hop.
With first choices only, this is exactly LiquidFeedback's reverse search. A voter inside a loop that
contains a direct voter is collected by that voter; a loop without one is not cast (R4). A delegate who is
not an eligible voter (not active) ends the chain (reason "inactive").

`compute` counts; `TallyResult.resolution` only explains (R11) and is kept apart from the counting code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

CHOICES = ("yes", "no", "abstain")
MAX_RANK = 3
REASONS = ("voted", "delegated", "no_delegation", "dead_end", "loop", "capped", "inactive")


# --- named invariants -------------------------------------------------------------------------------

def cannot_delegate_to_self(truster: str, trustee: str) -> bool:
    """LiquidFeedback `cant_delegate_to_yourself`: True when the delegation is allowed."""
    return truster != trustee


def direct_vote_overrides_delegation(voter: str, votes: Mapping[str, str]) -> bool:
    """R2: a direct vote (yes, no or abstain) on this bill replaces the voter's delegation for this bill
    only; the delegation itself is kept. True when the voter's delegation is ignored on this bill."""
    return votes.get(voter) in CHOICES


def abstain_is_a_vote(choice: str | None) -> bool:
    """R5: abstain counts toward participation and delegators inherit it; it is not "not cast"."""
    return choice in CHOICES


def cap_weight(cap: float | None, eligible: int) -> int | None:
    """R8: the most weight one guru may hold, floor(cap x eligible voters) and at least 1; None = no cap."""
    if cap is None:
        return None
    return max(1, math.floor(cap * eligible))


def effective_delegates(truster: str, trustees: Sequence[str] | str, max_rank: int = MAX_RANK) -> list[str]:
    """Ranked trustees after the invariants: self and repeats dropped, at most `max_rank` kept."""
    if isinstance(trustees, str):
        trustees = [trustees]
    out: list[str] = []
    for t in trustees:
        if t and cannot_delegate_to_self(truster, t) and t not in out:
            out.append(t)
    return out[:max_rank]


def apply_scopes(standing: Mapping[str, Sequence[str]],
                 per_bill: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """R6, most specific wins: a per-bill delegation replaces the standing one on that bill; an empty
    per-bill list is an explicit "no delegation on this bill". Returns truster -> trustees (non-empty)."""
    eff = {v: list(ts) for v, ts in standing.items()}
    eff.update({v: list(ts) for v, ts in per_bill.items()})
    return {v: ts for v, ts in eff.items() if ts}


# --- result -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Resolution:
    """How one voter's power is used on one bill (explanation only, R11).

    chain: regn_nums from the voter along the delegations actually followed, ending at the guru; for a lost
    vote, ending where it was lost (the dead end, the inactive delegate, or the first repeated member).
    guru: the direct voter who casts the power, or None. choice: the guru's choice, or None.
    reason: one of REASONS. loops_back_to_voter: the voter's first-choice chain (ignoring votes) returns to
    them ("your delegation currently loops back to you", R4).
    """

    voter: str
    chain: tuple[str, ...]
    guru: str | None
    choice: str | None
    reason: str
    loops_back_to_voter: bool = False


@dataclass(slots=True)
class TallyResult:
    """Counts of one bill. yes/no/abstain: weight cast each way; not_cast = eligible - cast (R4, R8);
    weights: {direct voter: weight}; capped: {guru: weight not cast because of the cap};
    eligible: number of voters."""

    yes: int
    no: int
    abstain: int
    not_cast: int
    weights: dict[str, int]
    eligible: int
    capped: dict[str, int] = field(default_factory=dict)
    # per delegating voter: (next hop, round, layer); the explanation reads these back
    _via: dict[str, tuple[str, int, int]] = field(default_factory=dict, repr=False)
    _guru: dict[str, str] = field(default_factory=dict, repr=False)
    _capped_voters: set[str] = field(default_factory=set, repr=False)
    _delegations: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _votes: dict[str, str] = field(default_factory=dict, repr=False)
    _voters: frozenset[str] = field(default_factory=frozenset, repr=False)

    def counts(self) -> dict[str, object]:
        """The published shape: {"yes", "no", "abstain", "not_cast", "weights"} (weights sorted by regn)."""
        return {"yes": self.yes, "no": self.no, "abstain": self.abstain, "not_cast": self.not_cast,
                "weights": dict(sorted(self.weights.items()))}

    def guru_of(self, voter: str) -> str | None:
        """The direct voter who casts `voter`'s power (themselves when they voted), None if not cast."""
        if voter in self._capped_voters:
            return None
        return voter if voter in self.weights else self._guru.get(voter)

    def resolution(self, voter: str) -> Resolution:
        """Explain `voter`'s power on this bill (R11). Explains, does not count."""
        loops = _loops_back(voter, self._delegations)
        if voter not in self._voters:
            return Resolution(voter, (voter,), None, None, "inactive", loops)
        if voter in self.weights:
            return Resolution(voter, (voter,), voter, self._votes[voter], "voted", loops)
        if voter in self._guru:
            chain = [voter]
            while chain[-1] in self._via:
                chain.append(self._via[chain[-1]][0])
            guru = self._guru[voter]
            if voter in self._capped_voters:
                return Resolution(voter, tuple(chain), None, None, "capped", loops)
            return Resolution(voter, tuple(chain), guru, self._votes[guru], "delegated", loops)
        return _explain_lost(voter, self._delegations, self._voters, loops)


def _loops_back(voter: str, delegations: Mapping[str, Sequence[str]]) -> bool:
    """Does the first-choice chain from `voter` (ignoring every vote) come back to `voter`?"""
    seen = {voter}
    cur = voter
    while True:
        ds = delegations.get(cur)
        if not ds:
            return False
        cur = ds[0]
        if cur == voter:
            return True
        if cur in seen:
            return False
        seen.add(cur)


def _explain_lost(voter: str, delegations: Mapping[str, Sequence[str]], voters: frozenset[str],
                  loops: bool) -> Resolution:
    """Why a vote is not cast: follow first choices to the dead end, the inactive delegate or the loop."""
    chain = [voter]
    cur = voter
    while True:
        ds = delegations.get(cur)
        if not ds:
            return Resolution(voter, tuple(chain), None, None,
                              "no_delegation" if cur == voter else "dead_end", loops)
        nxt = ds[0]
        if nxt in chain:
            chain.append(nxt)
            return Resolution(voter, tuple(chain), None, None, "loop", loops)
        chain.append(nxt)
        if nxt not in voters:
            return Resolution(voter, tuple(chain), None, None, "inactive", loops)
        cur = nxt


# --- counting ---------------------------------------------------------------------------------------

def compute(voters: Iterable[str], delegations: Mapping[str, Sequence[str] | str], votes: Mapping[str, str],
            *, cap: float | None = None, max_rank: int = MAX_RANK) -> TallyResult:
    """Tally one bill from its final state (the snapshot's shapes; see docs/liquid-democracy.md).

    voters: regn_nums of the eligible (active) voters; only they count and carry power.
    delegations: regn_num -> ranked trustees [first choice, backup 1, backup 2] after scopes (R6); a bare
      str is one trustee. Self-delegations and repeats are dropped; trustees past `max_rank` ignored.
    votes: regn_num -> "yes" | "no" | "abstain"; other values and non-eligible voters are ignored.
    cap: R8 weight cap as a fraction of eligible voters (e.g. 0.05), None = off. The excess of a capped
      guru is not cast; the delegators furthest from the guru (by round, layer, regn_num) lose it.
    Never raises on odd input; pure (reads its arguments only).
    """
    elig = frozenset(voters)
    votes_e = {v: c for v, c in votes.items() if v in elig and abstain_is_a_vote(c)}
    dl = {v: effective_delegates(v, ts, max_rank) for v, ts in delegations.items()}
    dl = {v: ts for v, ts in dl.items() if ts}
    # usable edges: from an eligible delegating voter without a direct vote, to an eligible trustee
    rev: dict[str, list[tuple[str, int]]] = {}
    for v, ts in dl.items():
        if v not in elig or direct_vote_overrides_delegation(v, votes_e):
            continue
        for k, t in enumerate(ts, 1):
            if t in elig:
                rev.setdefault(t, []).append((v, k))
    pos: dict[str, tuple[int, int]] = {v: (0, 0) for v in votes_e}  # (round, layer) of resolved voters
    via: dict[str, tuple[str, int, int]] = {}
    rounds = max((len(ts) for ts in dl.values()), default=1)
    for r in range(1, min(rounds, max_rank) + 1):
        layer_nodes = list(pos)  # layer 0 of this round: everyone resolved so far
        layer = 0
        prev = set(layer_nodes)
        while prev:
            layer += 1
            nxt: set[str] = set()
            for t in prev:
                for u, k in rev.get(t, ()):
                    if k <= r and u not in pos:
                        nxt.add(u)
            for u in nxt:
                hop = next(t for t in dl[u][:r] if t in prev)
                pos[u] = (r, layer)
                via[u] = (hop, r, layer)
            prev = nxt
    guru: dict[str, str] = {}
    for u in sorted(via, key=lambda x: pos[x]):
        hop = via[u][0]
        guru[u] = hop if hop in votes_e else guru[hop]
    members: dict[str, list[str]] = {}
    for u, g in guru.items():
        members.setdefault(g, []).append(u)
    weights = {v: 1 + len(members.get(v, ())) for v in votes_e}
    capw = cap_weight(cap, len(elig))
    capped: dict[str, int] = {}
    capped_voters: set[str] = set()
    if capw is not None:
        for g, w in weights.items():
            if w > capw:
                order = sorted(members[g], key=lambda x: (pos[x], x))
                capped_voters.update(order[capw - 1:])
                capped[g] = w - capw
                weights[g] = capw
    totals = dict.fromkeys(CHOICES, 0)
    for v, w in weights.items():
        totals[votes_e[v]] += w
    cast = sum(totals.values())
    return TallyResult(totals["yes"], totals["no"], totals["abstain"], len(elig) - cast, weights, len(elig),
                       capped, via, guru, capped_voters, dl, votes_e, elig)
