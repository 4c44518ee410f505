"""Bills before Congress: the `Bill` record, spoken bill numbers, and the Redis `BillStore`.

A bill is keyed by congress, type and number: "119-hr-1234" (H.R. 12, H.Res. 12 and S. 12 are different
bills). Types are congress.gov's lower-case bill types: hr, hres, hjres, hconres, s, sres, sjres, sconres.
Redis keys (owned by this package): `bill:{key}` hash of `Bill.to_dict()`; `bill:keys` sorted set of keys
scored by latest-action date (epoch seconds, for `recent`); `bill:open` set of open keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime

import redis.asyncio as aioredis

from delegation.errors import UnknownBill

CURRENT_CONGRESS = 119

BILL_TYPES = ("hr", "hres", "hjres", "hconres", "s", "sres", "sjres", "sconres")
# printed form (congress.gov citation style) and the form read by text-to-speech
PRINTED = {"hr": "H.R.", "hres": "H.Res.", "hjres": "H.J.Res.", "hconres": "H.Con.Res.",
           "s": "S.", "sres": "S.Res.", "sjres": "S.J.Res.", "sconres": "S.Con.Res."}
SPOKEN = {"hr": "H R", "hres": "H Res", "hjres": "H J Res", "hconres": "H Con Res",
          "s": "S", "sres": "S Res", "sjres": "S J Res", "sconres": "S Con Res"}


@dataclass(frozen=True, slots=True)
class Bill:
    """One bill or resolution.

    congress: 119; type: one of BILL_TYPES; number: 1234; title: the official title; short_title: the
    short title ("" when it has none); introduced / latest_action_date: "YYYY-MM-DD";
    latest_action: text of the latest action; floor_vote_at: UTC ISO-8601 time of the House floor vote
    when scheduled, else None; closed_at: UTC ISO-8601 when the bill closed (R9), None while open.
    """

    congress: int
    type: str
    number: int
    title: str
    short_title: str = ""
    introduced: str = ""
    latest_action_date: str = ""
    latest_action: str = ""
    floor_vote_at: str | None = None
    closed_at: str | None = None

    @property
    def key(self) -> str:
        """ "119-hr-1234"."""
        return bill_key(self.congress, self.type, self.number)

    @property
    def spoken_number(self) -> str:
        """ "H.R. 1234" (printed citation form)."""
        return f"{PRINTED[self.type]} {self.number}"

    @property
    def spoken_number_tts(self) -> str:
        """ "H R 1234": the form handed to text-to-speech so it reads letters, not "hr"."""
        return f"{SPOKEN[self.type]} {self.number}"

    @property
    def name(self) -> str:
        """The short title, or the official title when there is none."""
        return self.short_title or self.title

    @property
    def is_open(self) -> bool:
        """Open until it closes at its floor vote (R9)."""
        return self.closed_at is None

    def to_dict(self) -> dict[str, str]:
        """Flat str->str mapping for a Redis hash (None -> "")."""
        return {f.name: "" if (v := getattr(self, f.name)) is None else str(v) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> Bill:
        """Inverse of `to_dict`."""
        return cls(congress=int(d["congress"]), type=d["type"], number=int(d["number"]), title=d.get("title", ""),
                   short_title=d.get("short_title", ""), introduced=d.get("introduced", ""),
                   latest_action_date=d.get("latest_action_date", ""), latest_action=d.get("latest_action", ""),
                   floor_vote_at=d.get("floor_vote_at") or None, closed_at=d.get("closed_at") or None)

    def public(self) -> dict[str, object]:
        """JSON-ready public description."""
        return {"bill": self.key, "number": self.spoken_number, "title": self.title,
                "short_title": self.short_title, "introduced": self.introduced,
                "latest_action_date": self.latest_action_date, "closed_at": self.closed_at}


def bill_key(congress: int, type_: str, number: int) -> str:
    """ "119-hr-1234" from (119, "hr", 1234)."""
    return f"{congress}-{type_}-{number}"


# --- spoken bill numbers ----------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    return text.split()


_UNITS = {w: i for i, w in enumerate(_words("zero one two three four five six seven eight nine"))}
_UNITS.update({"oh": 0, "o": 0, "won": 1, "to": 2, "too": 2, "for": 4, "ate": 8})
_TEENS = {w: i + 10 for i, w in enumerate(
    _words("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"))}
_TENS = {w: 10 * (i + 2) for i, w in enumerate(_words("twenty thirty forty fifty sixty seventy eighty ninety"))}
_TENS["fourty"] = 40
_FILLER = {"number", "num", "no", "numbered", "the", "a", "an", "bill", "measure", "dot", "and"}
# words that may only be numbers right after a bill type, never start a number on their own
_WEAK_UNITS = {"oh", "o", "won", "to", "too", "for", "ate"}


def _type_aliases() -> dict[str, str]:
    """Joined type words -> bill type: "hr", "house", "hjres", "housejointresolution", "senate", ..."""
    out: dict[str, str] = {}
    for chamber, prefixes in (("h", ("h", "house", "houseofrepresentatives")), ("s", ("s", "senate", "sen"))):
        for p in prefixes:
            for mid, t in (("", ""), ("j", "j"), ("joint", "j"), ("con", "con"), ("concurrent", "con"),
                           ("c", "con")):
                for suffix in ("res", "resolution", "r"):
                    if mid == "" and suffix == "r":
                        continue
                    out[p + mid + suffix] = f"{chamber}{t}res"
    out.update({"h": "hr", "hr": "hr", "house": "hr", "houseofrepresentatives": "hr", "hrs": "hr",
                "s": "s", "senate": "s", "sen": "s"})
    # "h r" is H.R., not H.Res.; "h j r" is H.J.Res.
    out["hr"] = "hr"
    out["sr"] = "sres"
    return out


_TYPES = _type_aliases()
_MAX_TYPE_TOKENS = 5


def _tokens(text: str) -> list[str]:
    t = text.lower().replace("'", "")
    t = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", t)
    return re.findall(r"[a-z]+|\d+", t)


def parse_number_words(tokens: list[str]) -> tuple[int, int] | None:
    """Read a number at the start of `tokens`: digits ("1234"), words ("twelve thirty four", "one two three
    four", "one thousand two hundred thirty four", "seven"). Returns (number, tokens used) or None.

    Groups that cannot combine ("twelve" then "thirty") are read digit-string after digit-string, the way
    people say long numbers.
    """
    groups: list[str] = []
    i = 0
    cur: int | None = None  # value of the group being built
    last = ""  # kind of last token in the group: unit, teen, tens, hundred, thousand
    total = 0  # completed thousands inside the group

    def close() -> None:
        nonlocal cur, last, total
        if cur is not None or total:
            groups.append(str(total + (cur or 0)))
        cur, last, total = None, "", 0

    while i < len(tokens):
        w = tokens[i]
        if w.isdigit():
            close()
            groups.append(w)
            i += 1
            continue
        if w in _UNITS and not (w in _WEAK_UNITS and not groups and cur is None):
            n = _UNITS[w]
            if last == "tens" and n > 0 and w not in ("oh", "o") or last in ("hundred", "thousand"):
                cur = (cur or 0) + n
                last = "unit"
            else:
                close()
                cur, last = n, "unit"
        elif w in _TEENS:
            if last in ("hundred", "thousand"):
                cur = (cur or 0) + _TEENS[w]
            else:
                close()
                cur = _TEENS[w]
            last = "teen"
        elif w in _TENS:
            if last in ("hundred", "thousand"):
                cur = (cur or 0) + _TENS[w]
            else:
                close()
                cur = _TENS[w]
            last = "tens"
        elif w == "hundred" and cur is not None and last in ("unit", "teen", "tens"):
            cur *= 100
            last = "hundred"
        elif w == "thousand" and (cur is not None) and last != "thousand":
            total, cur, last = total + cur * 1000, None, "thousand"
        elif w == "and" and last in ("hundred", "thousand"):
            pass
        else:
            break
        i += 1
    close()
    if not groups:
        return None
    try:
        return int("".join(groups)), i
    except ValueError:
        return None


def parse_bill_number(text: str) -> tuple[str, int] | None:
    """Find a bill type and number in spoken or printed text: "H.R. 1234" -> ("hr", 1234); "h r twelve
    thirty four" -> ("hr", 1234); "house resolution twelve" -> ("hres", 12); "H.J.Res. 7" / "house joint
    resolution seven" -> ("hjres", 7); "senate bill 5" -> ("s", 5). None when no type and number are found.
    """
    toks = [t for t in _tokens(text) if t != "dot"]
    for start in range(len(toks)):
        best: tuple[str, int] | None = None
        for end in range(min(len(toks), start + _MAX_TYPE_TOKENS), start, -1):
            words = [t for t in toks[start:end] if t not in _FILLER]
            joined = "".join(words)
            if joined in _TYPES and toks[start] not in _FILLER:
                best = (_TYPES[joined], end)
                break
        if best is None:
            continue
        type_, j = best
        while j < len(toks) and toks[j] in _FILLER:
            j += 1
        parsed = parse_number_words(toks[j:])
        if parsed and parsed[0] > 0:
            return type_, parsed[0]
    return None


# --- title search -----------------------------------------------------------------------------------

STOP_WORDS = frozenset(_words("""a an and are as at be by for from in into is it its of on or the to with
act bill resolution other purposes purpose amend provide certain united states this that which vote about
want like please i id would house senate congress"""))


def _title_words(text: str) -> set[str]:
    return {w.rstrip("s") if len(w) > 3 else w for w in re.findall(r"[a-z0-9]+", text.lower())
            if w not in STOP_WORDS}


def _epoch(date: str) -> float:
    try:
        return datetime.fromisoformat(date.replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


class BillStore:
    """Bills in Redis. `r`: asyncio client with decode_responses=True."""

    def __init__(self, r: aioredis.Redis) -> None:
        self.r = r

    async def add(self, bill: Bill) -> bool:
        """Insert or update a bill; an already closed bill stays closed. Returns True when it was new."""
        old = await self.get(bill.key)
        if old is not None and old.closed_at and not bill.closed_at:
            bill = replace(bill, closed_at=old.closed_at)
        async with self.r.pipeline(transaction=True) as p:
            p.hset(f"bill:{bill.key}", mapping=bill.to_dict())
            p.zadd("bill:keys", {bill.key: _epoch(bill.latest_action_date or bill.introduced)})
            if bill.closed_at:
                p.srem("bill:open", bill.key)
            else:
                p.sadd("bill:open", bill.key)
            await p.execute()
        return old is None

    async def get(self, key: str) -> Bill | None:
        """The bill with this key ("119-hr-1234"), or None."""
        d = await self.r.hgetall(f"bill:{key}")
        return Bill.from_dict(d) if d else None

    async def require(self, key: str) -> Bill:
        """Like `get`; raises UnknownBill."""
        bill = await self.get(key)
        if bill is None:
            raise UnknownBill(key)
        return bill

    async def all(self) -> list[Bill]:
        """Every bill, most recent latest action first."""
        keys = await self.r.zrevrange("bill:keys", 0, -1)
        async with self.r.pipeline(transaction=False) as p:
            for k in keys:
                p.hgetall(f"bill:{k}")
            rows = await p.execute()
        return [Bill.from_dict(d) for d in rows if d]

    async def recent(self, n: int = 5, *, open_only: bool = True) -> list[Bill]:
        """The `n` bills with the most recent latest action (open ones only by default)."""
        bills = await self.all()
        return [b for b in bills if b.is_open or not open_only][:n]

    async def open_bills(self) -> list[Bill]:
        """All open bills, most recent first."""
        return [b for b in await self.all() if b.is_open]

    async def close(self, key: str, at: str) -> Bill:
        """Close a bill at `at` (UTC ISO-8601); idempotent (keeps the first close time). Raises UnknownBill.
        Freezing the graph and votes is `DelegationStore.close_bill`'s job; call that instead."""
        bill = await self.require(key)
        if bill.closed_at:
            return bill
        bill = replace(bill, closed_at=at)
        async with self.r.pipeline(transaction=True) as p:
            p.hset(f"bill:{key}", "closed_at", at)
            p.srem("bill:open", key)
            await p.execute()
        return bill

    async def find(self, text: str, *, limit: int = 5) -> list[Bill]:
        """Bills matching spoken text, best first: by number in any spoken form ("H.R. 1234", "house
        resolution twelve", a bare "twelve thirty four"), else by words of the title (stop words ignored;
        ranked by words matched, then open before closed, then most recent)."""
        bills = await self.all()
        parsed = parse_bill_number(text)
        if parsed:
            type_, number = parsed
            hits = [b for b in bills if b.type == type_ and b.number == number]
            return sorted(hits, key=lambda b: (b.congress != CURRENT_CONGRESS, -b.congress))[:limit]
        toks = _tokens(text)
        words = _title_words(text)
        num = parse_number_words([t for t in toks if t not in _FILLER]) if toks else None
        if num and num[1] == len([t for t in toks if t not in _FILLER]):
            hits = [b for b in bills if b.number == num[0]]
            return sorted(hits, key=lambda b: (not b.is_open, b.type != "hr"))[:limit]
        if not words:
            return []
        scored = []
        for i, b in enumerate(bills):
            bw = _title_words(f"{b.title} {b.short_title}")
            score = len(words & bw)
            if score:
                scored.append((-score, not b.is_open, i, b))
        scored.sort(key=lambda t: t[:3])
        return [t[3] for t in scored[:limit]]
