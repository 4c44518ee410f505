"""Replay the audit log: recompute every bill's tally and every account's balance from the events alone.

Pure (no Redis): fed by the verifier in log order (`feed_all` of (seq, type, actor_regn, subject_regn,
data) tuples, or `feed` one at a time). Event types and data are the contract in docs/architecture.md.

Delegation state (liquid_democracy.md R2, R6, R7):
- `delegate` {scope, rank, tentative}: actor -> subject at (scope, rank); replaces that rank's delegate.
  scope "standing" or a bill key. A per-bill delegation overrides the standing one on that bill.
- `no-delegate` {bill}: actor has explicitly no delegation on that bill (overrides standing).
- `recall` {scope}: removes the actor's delegation in that scope (the rank held by subject when given,
  else every rank); a per-bill recall falls back to the standing delegation.
- `vote` {bill, choice}: the actor's direct vote on the bill (last one wins).
- Tentative actions (`"tentative": true`) do not count until a `tentative-promoted` event for their
  actor (subject of that event); then every tentative action the voter has standing counts.
- Eligible voters (our documented choice): every voter named as actor (of a non-tentative action) or
  subject of any event, minus
  those whose latest `voter-status` is not "active"; plus, when a `voter-roll-imported` event's data
  lists `"voters": [regn_num, ...]`, those voters. Voters never named cannot hold a delegation or a vote,
  so yes/no/abstain are exact without the roll. `not_cast` counts the voters the replay knows of; when
  the roll is not listed, `eligible_hint` carries the latest import's `active` count and `not_cast` is
  then reported as `eligible_hint - cast` (exact as long as the roll has not changed since).
- A bill's tally is the state when its `bill-closed` event is read (R9); open bills use the final state.
Balances (money.md): mint, award, demurrage-share credit the subject; payment debits the actor and
credits the subject; demurrage-fee debits the subject. Fees go to the pool, shares come out of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from audit import forks

TallyFn = Callable[..., Any]

_CHOICES = frozenset(("yes", "no", "abstain"))
_SETTLED = {c: (c, False) for c in _CHOICES}  # a vote that counts: (choice, not tentative)


def _default_tally() -> TallyFn:
    from delegation.tally import compute  # pure; written by the delegation engineer

    return compute


class Replay:
    """Accumulates state from events; `tallies()` and `balances` give the results."""

    def __init__(self, tally: TallyFn | None = None) -> None:
        self._tally = tally
        self.reset()

    def reset(self) -> None:
        """Forget every event fed so far (the tally function is kept)."""
        self.named: set[str] = set()
        self.inactive: set[str] = set()
        self.roll: set[str] = set()
        self.eligible_hint: int | None = None
        # (voter, scope) -> {rank: (delegate, tentative)}; {} for an explicit no-delegate on a bill
        self.delegations: dict[tuple[str, str], dict[int, tuple[str, bool]]] = {}
        self.standing: dict[str, dict[int, tuple[str, bool]]] = {}
        self.votes: dict[str, dict[str, tuple[str, bool]]] = {}  # bill -> voter -> (choice, tentative)
        self.promoted: set[str] = set()
        # voter -> where they hold a tentative action: ("vote", bill), ("standing", "") or ("bill", scope)
        self.tentative_at: dict[str, set[tuple[str, str]]] = {}
        self.bills: dict[str, dict[str, Any]] = {}  # bill -> {"title", "closed_at", "seq"}
        self._closed: dict[str, dict[str, int]] = {}  # tally frozen at close
        self._pending: dict[str, tuple[Any, ...]] = {}  # bill -> its count's inputs at close (see closed)
        self.balances: dict[str, int] = {}
        self.pool = 0
        self.events = 0
        self._tallies: tuple[int, dict[str, dict[str, int]]] | None = None  # (events, tallies) of tallies()

    # -- feeding -------------------------------------------------------------------------------
    def feed(self, seq: int, etype: str, actor: str | None, subject: str | None, data: dict[str, Any]) -> None:
        """Apply one event. Unknown types only register the voters they name. Never raises on odd data."""
        self.feed_all(((seq, etype, actor, subject, data),))

    def feed_all(self, events: Iterable[tuple[int, str, str | None, str | None, dict[str, Any]]]) -> None:
        """Apply events in log order, each (seq, type, actor regn_num, subject regn_num, data) as `feed`
        takes them: the verifier's loop (the rules for the two commonest types, vote and delegate, are
        written out in it; `data` dicts may be shared between events and are only read)."""
        named_add = self.named.add
        handlers = _HANDLERS
        votes, standing, delegations = self.votes, self.standing, self.delegations
        bills, promoted, tentative_at = self.bills, self.promoted, self.tentative_at
        choices = _CHOICES
        settled = _SETTLED
        odd = (KeyError, TypeError, ValueError, AttributeError)
        n = 0
        for seq, etype, actor, subject, data in events:
            n += 1
            tentative = data.get("tentative")
            if actor and not tentative and etype != "tentative-promoted":  # a tentative caller is no voter
                named_add(actor)
            if subject:
                named_add(subject)
            try:  # a malformed event changes nothing; the chain check already vouched for the bytes
                if etype == "vote":  # {bill, choice}: the actor's direct vote, the last one wins
                    choice, bill = data["choice"], data["bill"]
                    if actor and choice in choices:
                        bv = votes.get(bill)
                        if bv is None:
                            bv = votes[bill] = {}
                            bills.setdefault(bill, {})
                        if tentative and actor not in promoted:
                            bv[actor] = (choice, True)
                            tentative_at.setdefault(actor, set()).add(("vote", bill))
                        else:
                            bv[actor] = settled[choice]  # (choice, False), one tuple per choice
                elif etype == "delegate":  # {scope, rank}: actor -> subject, replacing that rank
                    if actor and subject:
                        scope, rank = data.get("scope", "standing"), int(data.get("rank", 1))
                        tent = bool(tentative) and actor not in promoted
                        if scope == "standing":
                            ranks = standing.get(actor)
                            if ranks is None:
                                ranks = standing[actor] = {}
                            ranks[rank] = (subject, tent)
                        else:
                            delegations.setdefault((actor, scope), {})[rank] = (subject, tent)
                            bills.setdefault(scope, {})
                        if tent:
                            where = ("standing", "") if scope == "standing" else ("bill", scope)
                            tentative_at.setdefault(actor, set()).add(where)
                elif (handler := handlers.get(etype)) is not None:
                    self.events += n  # what a handler sees (a tally at a bill's close) includes this event
                    n = 0
                    handler(self, seq, actor, subject, data)
            except odd:
                pass
        self.events += n

    def _no_delegate(self, seq: int, actor: str | None, subject: str | None, d: dict) -> None:
        if actor:
            self.delegations[(actor, d["bill"])] = {}
            self.bills.setdefault(d["bill"], {})

    def _recall(self, seq: int, actor: str | None, subject: str | None, d: dict) -> None:
        if not actor:
            return
        scope = d.get("scope", "standing")
        ranks = self.standing.get(actor) if scope == "standing" else self.delegations.get((actor, scope))
        if ranks is None:
            return
        if subject:
            for k in [k for k, (who, _) in ranks.items() if who == subject]:
                del ranks[k]
        else:
            ranks.clear()
        if scope != "standing" and not ranks:
            del self.delegations[(actor, scope)]  # back to the standing delegation

    def _promoted(self, seq: int, actor: str | None, subject: str | None, d: dict) -> None:
        who = subject or actor
        if not who:
            return
        self.promoted.add(who)
        # only where `who` holds a tentative action (tentative_at), not every delegation and vote
        for kind, key in self.tentative_at.pop(who, ()):
            if kind == "vote":
                bv = self.votes.get(key)
                if bv is not None and who in bv:
                    bv[who] = (bv[who][0], False)
                continue
            ranks = self.standing.get(who) if kind == "standing" else self.delegations.get((who, key))
            for k, (t, _) in list((ranks or {}).items()):
                ranks[k] = (t, False)  # type: ignore[index]

    def _status(self, seq: int, actor: str | None, subject: str | None, d: dict) -> None:
        if subject:
            if d.get("status") == "active":
                self.inactive.discard(subject)
            else:
                self.inactive.add(subject)

    def _roll(self, seq: int, actor: str | None, subject: str | None, d: dict) -> None:
        if isinstance(d.get("voters"), list):
            self.roll.update(str(v) for v in d["voters"])
        if isinstance(d.get("active"), int):
            self.eligible_hint = d["active"]

    def _bill_opened(self, seq: int, actor: str | None, subject: str | None, d: dict) -> None:
        self.bills.setdefault(d["bill"], {}).update({"title": d.get("title"), "opened": seq})

    def _bill_closed(self, seq: int, actor: str | None, subject: str | None, d: dict) -> None:
        bill = d["bill"]
        self.bills.setdefault(bill, {}).update({"closed": seq})
        if self._tally is None:  # the count's inputs now; counted later, beside the open bills (tallies)
            self._pending[bill] = self._engine_inputs([bill])
        else:
            self._closed[bill] = self.tally(bill)

    def _credit(self, seq: int, actor: str | None, subject: str | None, d: dict) -> None:
        if subject:
            self.balances[subject] = self.balances.get(subject, 0) + int(d["amount_cents"])

    def _payment(self, seq: int, actor: str | None, subject: str | None, d: dict) -> None:
        cents = int(d["amount_cents"])
        if actor and subject:
            self.balances[actor] = self.balances.get(actor, 0) - cents
            self.balances[subject] = self.balances.get(subject, 0) + cents

    def _fee(self, seq: int, actor: str | None, subject: str | None, d: dict) -> None:
        if subject:
            cents = int(d["amount_cents"])
            self.balances[subject] = self.balances.get(subject, 0) - cents
            self.pool += cents

    def _share(self, seq: int, actor: str | None, subject: str | None, d: dict) -> None:
        if subject:
            cents = int(d["amount_cents"])
            self.balances[subject] = self.balances.get(subject, 0) + cents
            self.pool -= cents

    # -- results -------------------------------------------------------------------------------
    def eligible(self) -> set[str]:
        """The eligible voter set as documented above."""
        return (self.named | self.roll) - self.inactive

    def _standing_lists(self) -> dict[str, list[str]]:
        """voter -> ranked standing delegates that count (not tentative); shared by every bill's inputs."""
        out: dict[str, list[str]] = {}
        for voter, ranks in self.standing.items():
            if len(ranks) == 1:  # the common case: one rank
                ((t, tent),) = ranks.values()
                if not tent:
                    out[voter] = [t]
                continue
            chosen = [t for _, (t, tent) in sorted(ranks.items()) if not tent]
            if chosen:
                out[voter] = chosen
        return out

    def inputs(
        self, bill: str, standing: dict[str, list[str]] | None = None, eligible: set[str] | None = None
    ) -> tuple[set[str], dict[str, list[str]], dict[str, str]]:
        """(voters, delegations after scopes, votes) for `bill`: the shapes of delegation.tally.compute."""
        dls = dict(self._standing_lists() if standing is None else standing)
        for (voter, scope), ranks in self.delegations.items():
            if scope == bill:
                chosen = [t for _, (t, tent) in sorted(ranks.items()) if not tent]
                if chosen:
                    dls[voter] = chosen
                else:
                    dls.pop(voter, None)
        votes = {v: c for v, (c, tent) in self.votes.get(bill, {}).items() if not tent}
        return (self.eligible() if eligible is None else eligible), dls, votes

    def tally(
        self, bill: str, standing: dict[str, list[str]] | None = None, eligible: set[str] | None = None
    ) -> dict[str, int]:
        """{"yes", "no", "abstain", "not_cast"} for `bill` from the current state."""
        if self._tally is None:
            return self._count_engine([bill], eligible)[bill]
        voters, dls, votes = self.inputs(bill, standing, eligible)
        if votes:
            res = self._tally(voters, dls, votes)
            out = {"yes": res.yes, "no": res.no, "abstain": res.abstain, "not_cast": res.not_cast}
        else:  # no direct voter: nothing can be cast (R4), no need to walk the graph
            out = {"yes": 0, "no": 0, "abstain": 0, "not_cast": len(voters)}
        return self._hinted(out)

    def _hinted(self, out: dict[str, int]) -> dict[str, int]:
        """`not_cast` from the latest import's active count when the roll itself is not listed."""
        if self.eligible_hint is not None and not self.roll:
            out["not_cast"] = max(0, self.eligible_hint - out["yes"] - out["no"] - out["abstain"])
        return out

    @property
    def closed(self) -> dict[str, dict[str, int]]:
        """bill -> its tally frozen when its `bill-closed` event was read. With the default count the
        inputs are taken at the close and counted on first use (tallies() counts them in a forked
        process beside the open bills)."""
        self._settle(None)
        return self._closed

    def _settle(self, kid: tuple[int, int] | None) -> None:
        """Count the closed bills still pending: take the forked child's result `kid`, else here."""
        pending, self._pending = self._pending, {}
        if pending:
            got = forks.result(kid) if kid is not None else None
            self._closed.update(got if got is not None else _count_pending(pending))

    def tallies(self, workers: int | None = None) -> dict[str, dict[str, int]]:
        """Every bill seen: frozen at close, or from the final state when still open; sorted by key.

        Default counting (delegation.engine): one graph of the final state shared by every open bill,
        while a forked process (`workers` 0: none) counts the bills closed along the way from the inputs
        taken at their close. With a `tally` function given to the constructor (e.g.
        delegation.tally.compute, the reference), the open bills are independent: `workers` forked
        processes (None: one per spare CPU; 0: none) count some of them while this one counts the rest.
        Kept until the next event is fed.
        """
        if self._tallies is not None and self._tallies[0] == self.events:
            return dict(self._tallies[1])
        todo = [b for b in sorted(self.bills) if b not in self._closed and b not in self._pending]
        if self._tally is None:
            import delegation.engine  # noqa: F401 -- numpy and the engine imported once, before the fork

            k = forks.spare_cpus() if workers is None else workers
            fork = bool(k) and forks.can_fork()
            kid = forks.start(_count_pending, self._pending) if self._pending and fork else None
            counted = _engine_counts(*self._engine_inputs(todo), fork=fork)  # the open bills in two processes
            self._settle(kid)
        else:
            counted = self._count_forked(todo, workers)
        out = {b: self._closed[b] if b in self._closed else counted[b] for b in sorted(self.bills)}
        self._tallies = (self.events, out)
        return dict(out)

    def _count_forked(self, todo: list[str], workers: int | None) -> dict[str, dict[str, int]]:
        standing, eligible = self._standing_lists(), self.eligible()
        k = forks.spare_cpus() if workers is None else workers
        k = min(k, len(todo) - 1) if forks.can_fork() else 0
        counted: dict[str, dict[str, int]] = {}
        kids = [
            (todo[w + 1 :: k + 1], forks.start(self._count, todo[w + 1 :: k + 1], standing, eligible))
            for w in range(max(k, 0))
        ]
        counted.update(self._count(todo[:: k + 1] if k > 0 else todo, standing, eligible))
        for bills, kid in kids:
            got = forks.result(kid)
            counted.update(got if got is not None else self._count(bills, standing, eligible))
        return counted

    def _count(self, bills: list[str], standing: dict[str, list[str]], eligible: set[str]) -> dict[str, dict[str, int]]:
        return {b: self.tally(b, standing, eligible) for b in bills}

    def _count_engine(self, bills: list[str], eligible: set[str] | None = None) -> dict[str, dict[str, int]]:
        """Tallies of `bills` by delegation.engine's vectorised full count (held equal to
        delegation.tally.compute by delegation's property and scenario tests) over one graph of the
        current state: the standing delegations are cleaned and indexed once, not once per bill."""
        return _engine_counts(*self._engine_inputs(bills, eligible))

    def _engine_inputs(self, bills: list[str], eligible: set[str] | None = None) -> tuple[Any, ...]:
        """What _engine_counts needs for `bills`, copied out of the current state (later events do not
        change it): (eligible, standing lists, per-bill delegations, per-bill votes, not_cast hint)."""
        over: dict[str, dict[str, list[str]]] = {b: {} for b in bills}
        for (voter, scope), ranks in self.delegations.items():
            if scope in over:  # [] is an explicit "no delegation on this bill" (R6)
                over[scope][voter] = [t for _, (t, tent) in sorted(ranks.items()) if not tent]
        votes = {b: dict(self.votes.get(b, {})) for b in bills}
        hint = self.eligible_hint if not self.roll else None
        return (self.eligible() if eligible is None else eligible), self._standing_lists(), over, votes, hint


def _engine_counts(
    eligible: set[str],
    standing: dict[str, list[str]],
    over: dict[str, dict[str, list[str]]],
    votes: dict[str, dict[str, tuple[str, bool]]],
    hint: int | None,
    fork: bool = False,
) -> dict[str, dict[str, int]]:
    """Every bill of `over`'s tally by delegation.engine over one graph (Replay._engine_inputs' shapes);
    `not_cast` from `hint` (the latest import's active count) when given (see Replay._hinted).
    fork: a forked process counts every other bill over the same graph (inherited, not rebuilt)."""
    # every voter of the graph gets its id up front (in a stable order): then an id is one dict lookup
    names: dict[str, None] = {}
    for voter, chosen in standing.items():
        names[voter] = None
        names.update(dict.fromkeys(chosen))
    for bill in over:
        for voter, chosen in over[bill].items():
            names[voter] = None
            names.update(dict.fromkeys(chosen))
        names.update(dict.fromkeys(votes[bill]))
    g = _full_count_graph(eligible, list(names), standing)
    bills = list(over)
    kid = forks.start(_count_bills, g, bills[1::2], over, votes, hint) if fork and len(bills) > 1 else None
    out = _count_bills(g, bills[::2] if kid else bills, over, votes, hint)
    if kid is not None:
        got = forks.result(kid)
        out.update(got if got is not None else _count_bills(g, bills[1::2], over, votes, hint))
    return out


def _count_bills(
    g: Any,
    bills: list[str],
    over: dict[str, dict[str, list[str]]],
    votes: dict[str, dict[str, tuple[str, bool]]],
    hint: int | None,
) -> dict[str, dict[str, int]]:
    """`bills`' tallies over the graph `g` (_full_count_graph; see _engine_counts)."""
    from delegation.engine import BillTally
    from delegation.tally import CHOICES

    ids, clean = g.ids, g.clean
    index = {c: k for k, c in enumerate(CHOICES)}.__getitem__
    out: dict[str, dict[str, int]] = {}
    for bill in bills:
        bt = BillTally(g, bill)
        bt.over = {ids[v]: clean(ids[v], chosen) for v, chosen in over[bill].items()}
        bt.votes = {ids[v]: index(c) for v, (c, tent) in votes[bill].items() if not tent}
        bt.rebuild()
        out[bill] = c = bt.counts()
        if hint is not None:
            c["not_cast"] = max(0, hint - c["yes"] - c["no"] - c["abstain"])
    return out


def _count_pending(pending: dict[str, tuple[Any, ...]]) -> dict[str, dict[str, int]]:
    """The closed bills' tallies from the inputs taken at each close (Replay._engine_inputs)."""
    out: dict[str, dict[str, int]] = {}
    for inputs in pending.values():
        out.update(_engine_counts(*inputs))
    return out


def _full_count_graph(eligible: set[str], names: list[str], standing: dict[str, list[str]]) -> Any:
    """A delegation.engine.Graph for full counts (`BillTally.rebuild`), filled in bulk: ids in the order
    of `names` (every voter the counts will name), eligibility, and the standing delegations (voter ->
    ranked trustees) cleaned as Graph.clean does, in `std` and the rank arrays that rebuild reads.
    The reverse index that incremental updates need is not built: this graph is counted once, not updated.
    (Graph.id and set_standing one voter at a time cost most of a count: numpy scalar writes per voter.)"""
    import numpy as np

    from delegation.engine import NONE, Graph

    g = Graph()
    g.set_eligible(eligible)  # on the empty graph: just the set
    n = len(names)
    ids = dict(zip(names, range(n), strict=True))
    g.ids, g.names, g.std = ids, names, [()] * n
    g.elig = np.fromiter(map(g.eligible.__contains__, names), dtype=bool, count=n)
    g.rank = [np.full(n, NONE, dtype=np.int32) for _ in range(g.max_rank)]
    std, us, ts = g.std, [], []
    for voter, chosen in standing.items():
        u = ids[voter]
        if len(chosen) == 1:  # the common case of Graph.clean: one trustee, dropped if oneself
            t = ids[chosen[0]]
            if t != u:
                std[u] = (t,)
                us.append(u)
                ts.append(t)
        else:
            std[u] = c = g.clean(u, chosen)
            for k, t in enumerate(c):
                g.rank[k][u] = t
    g.rank[0][us] = ts
    return g


# The other types' rules (vote and delegate are written out in Replay.feed_all).
_HANDLERS: dict[str, Callable[[Replay, int, str | None, str | None, dict], None]] = {
    "no-delegate": Replay._no_delegate,
    "recall": Replay._recall,
    "tentative-promoted": Replay._promoted,
    "voter-status": Replay._status,
    "voter-roll-imported": Replay._roll,
    "bill-opened": Replay._bill_opened,
    "bill-closed": Replay._bill_closed,
    "mint": Replay._credit,
    "award": Replay._credit,
    "demurrage-share": Replay._share,
    "demurrage-fee": Replay._fee,
    "payment": Replay._payment,
}
