"""Property tests (hypothesis): for random event sequences the incremental tally, a full recompute and the
recomputation from the published snapshot agree (R1: only the final state matters)."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delegation.bills import Bill
from delegation.engine import BillTally, Graph
from delegation.live import LiveTallies, TallyConfig
from delegation.store import DelegationStore
from delegation.tally import apply_scopes, compute
from delegation.tally_cli import main as tally_main

VOTERS = [f"v{i}" for i in range(9)]
voter = st.sampled_from(VOTERS + ["x"])  # "x" is not on the active roll
event = st.one_of(
    st.tuples(st.just("standing"), voter, st.lists(voter, max_size=3)),
    st.tuples(st.just("per_bill"), voter, st.one_of(st.none(), st.lists(voter, max_size=2))),
    st.tuples(st.just("vote"), voter, st.sampled_from(["yes", "no", "abstain", None])),
)


@settings(max_examples=300, deadline=None)
@given(events=st.lists(event, max_size=40), cap=st.sampled_from([None, 0.2, 0.5]))
def test_incremental_equals_recompute(events, cap):
    g = Graph()
    g.set_eligible(VOTERS)
    bt = BillTally(g, "b", cap=cap)
    bt.rebuild()
    standing: dict[str, list[str]] = {}
    per_bill: dict[str, list[str]] = {}
    votes: dict[str, str] = {}
    ref = compute(VOTERS, {}, {}, cap=cap).counts()
    for kind, v, arg in events:
        u = g.id(v)
        if kind == "standing":
            tok = bt.before_standing_change(u)
            g.set_standing(u, g.clean(u, arg))
            bt.after_standing_change(tok)
            standing[v] = arg
        elif kind == "per_bill":
            bt.set_override(u, None if arg is None else g.clean(u, arg))
            if arg is None:
                per_bill.pop(v, None)
            else:
                per_bill[v] = arg
        else:
            bt.set_vote(u, arg)
            if arg is None:
                votes.pop(v, None)
            else:
                votes[v] = arg
        ref = compute(VOTERS, apply_scopes(standing, per_bill), votes, cap=cap).counts()
        assert {**bt.counts(), "weights": bt.weights()} == ref
    fresh = BillTally(g, "b", cap=cap)
    fresh.votes, fresh.over = dict(bt.votes), dict(bt.over)
    fresh.rev_over = {k: list(v) for k, v in bt.rev_over.items()}
    fresh.rebuild()
    n = len(g)  # the incremental state is the full recompute's state, voter by voter
    assert (fresh.guru[:n] == bt.guru[:n]).all() and (fresh.pos[:n] == bt.pos[:n]).all()
    assert {**fresh.counts(), "weights": fresh.weights()} == ref


first_choice_event = st.one_of(
    st.tuples(st.just("standing"), voter, st.lists(voter, max_size=1)),
    st.tuples(st.just("vote"), voter, st.sampled_from(["yes", "no", "abstain", None])),
)


@settings(max_examples=200, deadline=None)
@given(events=st.lists(first_choice_event, max_size=50))
def test_first_choice_fast_path_equals_recompute(events):
    """First choices only (the fast path for votes): counts and per-voter state equal a full recompute."""
    test_incremental_equals_recompute.hypothesis.inner_test(events=events, cap=None)


@settings(max_examples=300, deadline=None)
@given(standing=st.dictionaries(voter, st.lists(voter, max_size=3)), votes=st.dictionaries(voter,
       st.sampled_from(["yes", "no", "abstain"])), cap=st.sampled_from([None, 0.3]))
def test_tally_invariants(standing, votes, cap):
    res = compute(VOTERS, standing, votes, cap=cap)
    assert res.yes + res.no + res.abstain + res.not_cast == len(VOTERS)
    assert set(res.weights) == {v for v in votes if v in VOTERS}  # direct_vote_overrides_delegation
    for v in VOTERS:  # the explanation agrees with the count
        path = res.resolution(v)
        assert (path.guru is not None) == (res.guru_of(v) is not None)
        if path.guru is not None:
            assert path.chain[-1] == path.guru and path.choice == votes[path.guru]


store_event = st.one_of(
    st.tuples(st.just("delegate"), st.sampled_from(VOTERS), st.sampled_from(VOTERS), st.sampled_from(
        ["standing", "standing", "119-hr-1"]), st.integers(1, 3)),
    st.tuples(st.just("recall"), st.sampled_from(VOTERS), st.sampled_from(["standing", "119-hr-1"])),
    st.tuples(st.just("none"), st.sampled_from(VOTERS)),
    st.tuples(st.just("vote"), st.sampled_from(VOTERS), st.sampled_from(["yes", "no", "abstain"])),
    st.tuples(st.just("retract"), st.sampled_from(VOTERS)),
)


async def _run_store(url: str, events: list[tuple], snap_path) -> tuple[dict, dict, dict]:
    r = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        await r.flushdb()
        for v in VOTERS:
            await r.hset(f"vr:v:{v}", mapping={"regn_num": v, "first": v})
            await r.sadd("vr:active", v)
        b = Bill(119, "hr", 1, "To provide for reconciliation.", "One Big Beautiful Bill Act")
        await r.hset(f"bill:{b.key}", mapping=b.to_dict())
        await r.sadd("bill:open", b.key)
        store = DelegationStore(r)
        live = LiveTallies(TallyConfig())
        await live.refresh(r)  # built before the events: everything after is incremental
        for e in events:
            kind = e[0]
            try:
                if kind == "delegate":
                    await store.delegate(e[1], e[2], scope=e[3], rank=e[4])
                elif kind == "recall":
                    await store.recall(e[1], e[2])
                elif kind == "none":
                    await store.no_delegation(e[1], b.key)
                elif kind == "vote":
                    await store.vote(e[1], b.key, e[2])
                else:
                    await store.retract_vote(e[1], b.key)
            except Exception as exc:  # refusals (self-delegation) must leave no trace
                assert type(exc).__name__ == "SelfDelegation"
        got = await live.result(r, b.key)
        full_res = await store.tally(b.key)
        full = full_res.counts()
        for v in VOTERS:  # the audit path read from the voter's own neighbourhood equals the full one
            path, want = await store.audit_path(v, b.key), full_res.resolution(v)
            assert (path.chain, path.guru, path.reason) == (list(want.chain), want.guru, want.reason)
        snap = await store.snapshot(b.key)
        snap_path.write_text(json.dumps(snap))
        return {k: got[k] for k in ("yes", "no", "abstain", "not_cast", "weights")}, full, snap
    finally:
        await r.aclose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(store_event, max_size=25))
def test_live_equals_store_recompute_equals_snapshot_cli(events, redis_url, tmp_path, capsys):
    f = tmp_path / "snap.json"
    live, full, _ = asyncio.run(_run_store(redis_url, events, f))
    assert live == full
    capsys.readouterr()
    assert tally_main(["--snapshot", str(f)]) == 0
    assert json.loads(capsys.readouterr().out) == full
