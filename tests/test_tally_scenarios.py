"""Scenario files (tests/scenarios/*.json): voters, delegations, votes -> expected tally, weights and audit
paths, one file per rule (named after it). Each is checked three ways: the pure `tally.compute`, the
engine's full rebuild, and the engine fed event by event (incremental)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from delegation.engine import BillTally, Graph
from delegation.tally import apply_scopes, compute

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def engine_incremental(s: dict) -> BillTally:
    g = Graph(s.get("max_rank", 3))
    g.set_eligible(s["voters"])
    bt = BillTally(g, "bill", cap=s.get("cap"))
    bt.rebuild()
    for v, ts in s["standing"].items():
        u = g.id(v)
        tok = bt.before_standing_change(u)
        g.set_standing(u, g.clean(u, ts))
        bt.after_standing_change(tok)
    for v, ts in s["per_bill"].items():
        bt.set_override(g.id(v), g.clean(g.id(v), ts))
    for v, c in s["votes"].items():
        bt.set_vote(g.id(v), c)
    return bt


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path):
    s = load(path)
    res = compute(s["voters"], apply_scopes(s["standing"], s["per_bill"]), s["votes"],
                  cap=s.get("cap"), max_rank=s.get("max_rank", 3))
    assert res.counts() == s["expect"], s["desc"]
    for voter, want in s.get("paths", {}).items():
        got = res.resolution(voter)
        for field, value in want.items():
            actual = list(got.chain) if field == "chain" else getattr(got, field)
            assert actual == value, f"{voter}.{field}: {s['desc']}"
    bt = engine_incremental(s)
    counts = {k: v for k, v in s["expect"].items() if k != "weights"}
    assert bt.counts() == counts and bt.weights() == s["expect"]["weights"], "incremental"
    bt.rebuild()
    assert bt.counts() == counts and bt.weights() == s["expect"]["weights"], "rebuild"


def test_every_rule_has_a_scenario():
    names = " ".join(p.stem for p in SCENARIOS)
    for rule in ("r2-", "r3-", "r4-dead", "r4-loop-with", "r4-loop-without", "r5-", "r6-", "r7-", "r8-", "long-chain"):
        assert rule in names
