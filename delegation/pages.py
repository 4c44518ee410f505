"""Public tally pages and JSON endpoints (FastAPI router; mounted by ivr.app). No phone numbers anywhere:
voters appear by registration number and public name ("John Q Doe of Centerville"), R10.

HTML: `/` bills with live tallies; `/bills/{bill}` tally, participation, top influencers, snapshot download;
`/voters/{regn_num}` a delegate's public record (their votes, the weight they carry).
JSON: `/public/bills.json` [{bill, title, yes, no, abstain, not_cast, closed_at}];
`/public/bills/{bill}/tally.json`; `/public/bills/{bill}/snapshot.json` (the issue's snapshot shape).
Redis comes from `request.app.state.redis`; optional `app.state.tally_config` (delegation.live.TallyConfig),
else `app.state.settings.active_days`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from delegation.bills import Bill, BillStore
from delegation.live import LiveTallies, TallyConfig, outcome
from delegation.store import DelegationStore, sync_snapshot_async

router = APIRouter()
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
PUBLIC_VOTER_FIELDS = ("first", "middle", "last", "suffix", "city")


def _live(request: Request) -> LiveTallies:
    state = request.app.state
    live = getattr(state, "delegation_live", None)
    if live is None:
        config = getattr(state, "tally_config", None)
        if config is None:
            settings = getattr(state, "settings", None)
            config = TallyConfig(active_days=getattr(settings, "active_days", 30))
        live = state.delegation_live = LiveTallies(config)
    return live


async def _bill(request: Request, key: str) -> Bill:
    bill = await BillStore(request.app.state.redis).get(key)
    if bill is None:
        raise HTTPException(404, f"unknown bill {key}")
    return bill


async def public_names(r: Any, regns: list[str]) -> dict[str, str]:
    """{regn_num: "John Q Doe of Centerville"} read field by field (never the phone)."""
    from voter_registry.model import Voter

    async with r.pipeline(transaction=False) as p:
        for v in regns:
            p.hmget(f"vr:v:{v}", *PUBLIC_VOTER_FIELDS)
        rows = await p.execute()
    out = {}
    for v, row in zip(regns, rows, strict=True):
        if any(row):
            out[v] = Voter(v, **{k: x or "" for k, x in zip(PUBLIC_VOTER_FIELDS, row, strict=True)}).public_name
    return out


async def bill_tally(request: Request, bill: Bill) -> dict[str, Any]:
    """The tally.json document of one bill."""
    r = request.app.state.redis
    live = _live(request)
    res = await live.result(r, bill.key)
    assert res is not None
    cast = res["yes"] + res["no"] + res["abstain"]
    part = await live.participation(r, cast)
    names = await public_names(r, [v for v, _, _ in res["top"]])
    return {
        "bill": bill.key, "number": bill.spoken_number, "title": bill.title, "short_title": bill.short_title,
        "closed_at": bill.closed_at,
        "yes": res["yes"], "no": res["no"], "abstain": res["abstain"], "not_cast": res["not_cast"],
        "eligible": res["eligible"], "participation": part,
        "outcome": outcome(res["yes"], res["no"], part["quorum_met"]),
        "top": [{"regn_num": v, "name": names.get(v, v), "weight": w, "choice": c} for v, w, c in res["top"]],
    }


# --- JSON ---------------------------------------------------------------------------------------------

@router.get("/public/bills.json")
async def bills_json(request: Request) -> JSONResponse:
    """Every bill with its live (open) or frozen (closed) tally, most recent first."""
    r = request.app.state.redis
    live = _live(request)
    await live.refresh(r)
    out = []
    for b in await BillStore(r).all():
        res = await live.result(r, b.key, refresh=False, detail=False) or {}
        out.append({"bill": b.key, "title": b.name, "yes": res.get("yes", 0), "no": res.get("no", 0),
                    "abstain": res.get("abstain", 0), "not_cast": res.get("not_cast", 0),
                    "closed_at": b.closed_at})
    return JSONResponse(out)


@router.get("/public/bills/{key}/tally.json")
async def tally_json(request: Request, key: str) -> JSONResponse:
    """Tally, participation, quorum, outcome and top influencers of one bill."""
    return JSONResponse(await bill_tally(request, await _bill(request, key)))


@router.get("/public/bills/{key}/snapshot.json")
async def snapshot_json(request: Request, key: str) -> JSONResponse:
    """{"bill", "closed_at", "voters", "delegations", "votes"}: recompute with `tally --snapshot FILE`."""
    await _bill(request, key)
    snap = await sync_snapshot_async(request.app.state.redis, key)
    return JSONResponse(snap, headers={"Content-Disposition": f'attachment; filename="{key}-snapshot.json"'})


# --- HTML ---------------------------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    """Bills with live tallies."""
    r = request.app.state.redis
    live = _live(request)
    await live.refresh(r)
    rows = []
    for b in await BillStore(r).all():
        res = await live.result(r, b.key, refresh=False, detail=False) or {}
        rows.append({"bill": b, **{k: res.get(k, 0) for k in ("yes", "no", "abstain", "not_cast")}})
    return templates.TemplateResponse(request, "index.html", {"rows": rows})


@router.get("/bills/{key}", response_class=HTMLResponse)
async def bill_page(request: Request, key: str) -> HTMLResponse:
    """One bill: tally, participation, outcome, top influencers, snapshot download."""
    bill = await _bill(request, key)
    return templates.TemplateResponse(request, "bill.html", {"bill": bill, "t": await bill_tally(request, bill)})


@router.get("/voters/{regn}", response_class=HTMLResponse)
async def voter_page(request: Request, regn: str) -> HTMLResponse:
    """A voter's public record (R10 golden rule): their direct votes and the weight they carry per bill."""
    r = request.app.state.redis
    name = (await public_names(r, [regn])).get(regn)
    if name is None:
        raise HTTPException(404, "unknown voter")
    live = _live(request)
    await live.refresh(r)
    bills = {b.key: b for b in await BillStore(r).all()}
    votes = await DelegationStore(r).votes_of(regn)
    rows = []
    for key, b in bills.items():
        res = await live.result(r, key, refresh=False) or {}
        weight = res.get("weights", {}).get(regn) if "weights" in res else None
        if key in votes or weight:
            rows.append({"bill": b, "choice": votes.get(key), "weight": weight or (1 if key in votes else 0)})
    g = live.graph
    trusters = len(g.rev.get(g.ids[regn], ())) if g is not None and regn in g.ids else 0
    return templates.TemplateResponse(request, "voter.html",
                                      {"regn": regn, "name": name, "rows": rows, "trusters": trusters})
