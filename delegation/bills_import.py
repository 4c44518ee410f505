"""`./run_delegate_network import-bills FILE... [--close KEY [--at ISO]] [--close-due] [--close-voted]`

Reads bills into Redis (`bill:*`, see delegation.bills) from
- the congress.gov API v3 bill-list JSON (`{"bills": [{"congress", "type", "number", "title", "latestAction",
  "updateDate", "url", ...}]}`); short titles come from our added `shortTitle` or from a `titles` list in the
  shape of the /titles endpoint (`[{"titleType": "Short Title(s) ...", "title": ...}]`); an optional
  `floorVoteAt` (UTC ISO-8601, our addition) is the House floor vote time;
- the House "Bills This Week" XML feed of docs.house.gov (`<floorschedule congress-num=..><category><floor-items>
  <floor-item><legis-num>H.R. 1234</legis-num><floor-text>title</floor-text>...`): bills scheduled for the floor.
A bill closes (R9) by command (`--close KEY`), when its floor vote time has passed (`--close-due`, also run
after every import), or with `--close-voted` when its latest action is a House floor vote (at that date).
Appends `bill-opened` for each new bill and `bill-closed` for each close to the audit log (AUDIT_LOG).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from delegation.bills import BILL_TYPES, Bill, _epoch, parse_bill_number

FLOOR_VOTE = re.compile(r"passed/agreed to in house|failed of passage in house|on passage|roll no\.", re.I)


class ImportError_(ValueError):
    """The file is neither congress.gov bill-list JSON nor a House floor XML feed."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short_title(row: dict[str, Any]) -> str:
    if row.get("shortTitle"):
        return str(row["shortTitle"])
    for t in row.get("titles") or []:
        if isinstance(t, dict) and "short" in str(t.get("titleType", "")).lower() and t.get("title"):
            return str(t["title"])
    return ""


def bills_from_json(doc: dict[str, Any], *, close_voted: bool = False) -> tuple[list[Bill], list[str]]:
    """Bills from a congress.gov bill-list document; returns (bills, problems) -- bad rows are reported."""
    bills, problems = [], []
    for i, row in enumerate(doc.get("bills") or []):
        try:
            type_ = str(row["type"]).lower()
            if type_ not in BILL_TYPES:
                raise ValueError(f"unknown bill type {row['type']!r}")
            number = int(row["number"])
            latest = row.get("latestAction") or {}
            vote_at = row.get("floorVoteAt")
            if close_voted and not vote_at and FLOOR_VOTE.search(str(latest.get("text", ""))):
                vote_at = f"{latest['actionDate']}T00:00:00Z" if latest.get("actionDate") else None
            bills.append(Bill(congress=int(row["congress"]), type=type_, number=number,
                              title=str(row.get("title") or ""), short_title=_short_title(row),
                              introduced=str(row.get("introducedDate") or ""),
                              latest_action_date=str(latest.get("actionDate") or row.get("updateDate") or "")[:10],
                              latest_action=str(latest.get("text") or ""), floor_vote_at=vote_at or None))
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"bills[{i}]: {exc}")
    return bills, problems


def bills_from_house_xml(text: str) -> tuple[list[Bill], list[str]]:
    """Bills scheduled in a docs.house.gov "Bills This Week" feed (floor items that are numbered bills)."""
    root = ET.fromstring(text)
    sched = root if root.tag == "floorschedule" else root.find(".//floorschedule")
    if sched is None:
        raise ImportError_("no <floorschedule> element")
    congress = int(sched.get("congress-num") or 0)
    week = (sched.get("legislative-day") or "")[:10]
    bills, problems = [], []
    for item in sched.iter("floor-item"):
        num = "".join(item.findtext("legis-num") or "").strip()
        title = " ".join("".join((item.find("floor-text") or ET.Element("x")).itertext()).split())
        parsed = parse_bill_number(re.sub(r"\(.*", "", num))
        if not parsed or not congress:
            problems.append(f"floor item {item.get('id', '?')}: not a numbered bill: {num!r}")
            continue
        type_, number = parsed
        bills.append(Bill(congress, type_, number, title, "", "", week, "Scheduled for House floor consideration"))
    return bills, problems


def _open_or_update(r: redis.Redis, bill: Bill, audit: Any) -> bool:
    """Insert a bill or refresh its titles/actions (keeping close time and floor vote time). True if new."""
    key = f"bill:{bill.key}"
    old = r.hgetall(key)
    if old:
        prev = Bill.from_dict(old)
        bill = replace(bill, title=bill.title or prev.title, short_title=bill.short_title or prev.short_title,
                       introduced=bill.introduced or prev.introduced, closed_at=prev.closed_at,
                       floor_vote_at=bill.floor_vote_at or prev.floor_vote_at)
    pipe = r.pipeline(transaction=True)
    pipe.hset(key, mapping=bill.to_dict())
    pipe.zadd("bill:keys", {bill.key: _epoch(bill.latest_action_date or bill.introduced)})
    if bill.closed_at:
        pipe.srem("bill:open", bill.key)
    else:
        pipe.sadd("bill:open", bill.key)
    pipe.execute()
    if not old and audit is not None:
        audit.append_sync("bill-opened", None, None, {"bill": bill.key, "title": bill.name, "closed_at": None})
    return not old


def close_bill_sync(r: redis.Redis, key: str, at: str | None = None, audit: Any = None) -> str | None:
    """Close bill `key` at `at` (UTC ISO-8601, default now) and freeze its snapshot (R9); idempotent.
    Returns the close time, or None when the bill is unknown."""
    from delegation.store import LOG, LOG_MAXLEN, sync_snapshot  # the same freezing as close_bill

    d = r.hgetall(f"bill:{key}")
    if not d:
        return None
    if d.get("closed_at"):
        return d["closed_at"]
    at = at or _now()
    pipe = r.pipeline(transaction=True)
    pipe.hset(f"bill:{key}", "closed_at", at)
    pipe.srem("bill:open", key)
    pipe.execute()
    snap = sync_snapshot(r, key)
    snap["closed_at"] = at
    r.set(f"dl:frozen:{key}", json.dumps(snap, separators=(",", ":")), nx=True)
    r.xadd(LOG, {"op": "c", "voter": "", "scope": key, "value": at}, maxlen=LOG_MAXLEN, approximate=True)
    if audit is not None:
        audit.append_sync("bill-closed", None, None,
                          {"bill": key, "title": d.get("short_title") or d.get("title"), "closed_at": at})
    return at


def close_due(r: redis.Redis, now: str | None = None, audit: Any = None) -> list[str]:
    """Close every open bill whose floor vote time has passed; returns the keys closed."""
    now_ts = _epoch(now or _now())
    closed = []
    for key in sorted(r.smembers("bill:open")):
        at = r.hget(f"bill:{key}", "floor_vote_at")
        if at and _epoch(at) <= now_ts:
            close_bill_sync(r, key, at, audit)
            closed.append(key)
    return closed


def import_bills_file(r: redis.Redis, path: Path | str, *, audit: Any = None,
                      close_voted: bool = False) -> dict[str, Any]:
    """Import one JSON or XML file (blocking client). Returns {"file", "bills", "new", "problems", "closed"}.
    Raises ImportError_ for a file of neither kind; bad rows are skipped and listed in "problems"."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("<"):
        try:
            bills, problems = bills_from_house_xml(text)
        except ET.ParseError as exc:
            raise ImportError_(f"{path.name}: bad XML: {exc}") from exc
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportError_(f"{path.name}: bad JSON: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("bills"), list):
            raise ImportError_(f"{path.name}: expected a congress.gov bill list {{\"bills\": [...]}}")
        bills, problems = bills_from_json(doc, close_voted=close_voted)
    new = sum(_open_or_update(r, b, audit) for b in bills)
    closed = close_due(r, audit=audit)
    return {"file": path.name, "bills": len(bills), "new": new, "problems": problems, "closed": closed}


def main(argv: Iterable[str] | None = None) -> int:
    """CLI entry point (see module docstring). Exit 0, or 2 on a bad file or unknown bill."""
    p = argparse.ArgumentParser(prog="import-bills", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", type=Path, help="congress.gov bill-list JSON or House floor XML")
    p.add_argument("--close", metavar="KEY", action="append", default=[], help="close a bill, e.g. 119-hr-22")
    p.add_argument("--at", help="close time (UTC ISO-8601; default now)")
    p.add_argument("--close-due", action="store_true", help="close bills whose floor vote time has passed")
    p.add_argument("--close-voted", action="store_true",
                   help="treat a House floor vote in latestAction as the floor vote time")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    from audit.log import AuditLog
    from infra.redis_client import sync_client
    from infra.settings import get_settings

    settings = get_settings()
    r = sync_client(settings)
    audit = AuditLog(settings.audit_log_path)
    status = 0
    try:
        for f in args.files:
            try:
                res = import_bills_file(r, f, audit=audit, close_voted=args.close_voted)
            except (OSError, ImportError_) as exc:
                print(f"import-bills: {exc}", file=sys.stderr)
                status = 2
                continue
            print(f"{res['file']}: {res['bills']} bills, {res['new']} new, {len(res['closed'])} closed")
            for prob in res["problems"]:
                print(f"  skipped {prob}", file=sys.stderr)
        for key in args.close:
            at = close_bill_sync(r, key, args.at, audit)
            if at is None:
                print(f"import-bills: unknown bill {key}", file=sys.stderr)
                status = 2
            else:
                print(f"{key} closed at {at}")
        if args.close_due:
            for key in close_due(r, audit=audit):
                print(f"{key} closed (floor vote time passed)")
    finally:
        close = getattr(audit, "close", None)
        if close:
            close()
    return status
