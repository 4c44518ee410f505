"""`./run_delegate_network import-voters FILE [FILE...] [--format iowa|ncsbe] [--district N]`.

Streams a state voter file (see voter_registry.formats) into Redis as an update of the roll in service,
in bounded memory (one batch of rows at a time), and writes a summary and a rejects file under
`var/imports/`. The keys and the crash guarantee are described in docs/voter-import.md:

- every row is upserted into `vr:v:{regn}` together with its spoken-name index entries and its household
  set `vr:phone:{e164}`, the hash written last (a voter whose hash is current is current everywhere);
- the rows of this import are tagged with a generation number; the eligible roll `vr:active` and the
  marking of missing voters as inactive only change at the commit, at the end, in one transaction;
- an import killed at any point leaves the previous roll in service, and running it again completes it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import heapq
import json
import multiprocessing as mp
import os
import pickle
import queue
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any

import hiredis
import numpy as np
import redis
from redis.commands.core import CoreCommands

from voter_registry.formats import (
    FORMATS,
    FormatError,
    Reject,
    Row,
    RowStream,
    Source,
    normalize_district,
    sources,
)
from voter_registry.hashdump import HashDumper
from voter_registry.model import Voter
from voter_registry.native import bulk_restores, packer
from voter_registry.store import ACTIVE, META, PHONE, VOTER

try:  # the matcher's index (voter_registry/index.py); without it the roll is imported unindexed
    from voter_registry.index import filing_values, index_voter, unindex_voter
except ImportError:  # pragma: no cover - only while the matcher package is missing

    def index_voter(pipe: Any, voter: Voter) -> None:  # noqa: D103
        return None

    def unindex_voter(pipe: Any, voter: Voter) -> None:  # noqa: D103
        return None

    def filing_values(vals: Any) -> tuple[tuple[str, ...], str, tuple[tuple[str, str], ...]]:  # noqa: D103
        return (), "", ()


RECHECK = "vr:recheck"  # regns an interrupted import may have written as active: rechecked at the next commit
LOCK = "vr:import:lock"
BATCH_ROWS = 50_000  # rows per round trip: larger batches aggregate more index commands (fewer, longer ZADDs)
SHRINK_FLOOR = 1000  # voters that may always leave the roll in one import, whatever the roll's size
NEW_PHONES_INLINE = 10_000  # up to this many new phones are also returned in ImportSummary.new_phones
NEW_PHONES_TTL_S = 24 * 3600  # a hand-off to the post-import promotion step, not a store
_FIELDS = tuple(f.name for f in fields(Voter))

SEEN = "_i"  # hash field: generation * 100,000 + LAST_UPDATED_DATE as days since 1900 (an int: 5 bytes)
_DAYS = 100_000
_EPOCH = date(1900, 1, 1)


@lru_cache(maxsize=1 << 16)
def _day(yyyymmdd: str) -> int:
    """Days from 1900-01-01 to a "YYYYMMDD" date (0 when empty or earlier)."""
    if not yyyymmdd:
        return 0
    d = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    return max(0, min((d - _EPOCH).days, _DAYS - 1))


def seen_stamp(gen: int, updated: str) -> int:
    """The `_i` value of a row of import `gen` with LAST_UPDATED_DATE `updated` ("YYYYMMDD" or "")."""
    return gen * _DAYS + _day(updated)


class ImportAborted(RuntimeError):
    """The import stopped before its commit; the previous roll is still in service. Subclasses say why."""


class ImportLocked(ImportAborted):
    """Another import of this roll is running (its process is alive)."""


class RollShrinks(ImportAborted):
    """The new roll would drop more voters than `max_shrink` allows (a truncated delivery, a missing part
    file, a wrong --district?); pass `max_shrink=None` (`--allow-shrink`) when that is intended."""


class NothingToImport(ImportAborted):
    """No valid row was read (wrong file, wrong --district?): committing would empty the roll."""


def gen_key(gen: int, what: str) -> str:
    """Working keys of import `gen`: `vr:gen:{gen}:came` / `:left` (voters joining / leaving the roll),
    `:phones` (candidate new phones), `:assoc` (voters with a new phone association)."""
    return f"vr:gen:{gen}:{what}"


def new_phones_key(gen: int) -> str:
    """`vr:new_phones:{gen}`: phones on an active registration after import `gen` that were on none before."""
    return f"vr:new_phones:{gen}"


@dataclass
class ImportSummary:
    """Counts of one import (rows are physical data rows; voters are distinct registration numbers).

    rows: data rows read. imported: voters written or confirmed (new + changed + unchanged).
    superseded: duplicate REGN_NUM rows dropped for a later LAST_UPDATED_DATE. rejected: rows not imported.
    warnings: rows imported with a field dropped (invalid phone, bad birth date). filtered: rows of other
    districts (--district). active / inactive: voters of this file by status. deactivated: voters of the
    previous roll that are no longer active (missing from the file or not active in it).
    new_phones_count / new_phones_key: phones now on an active registration that were on none before;
    `new_phones` holds them too when there are at most 10,000 (else it is empty; read the Redis set).
    """

    generation: int = 0
    files: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)
    district: str | None = None
    rows: int = 0
    imported: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    superseded: int = 0
    rejected: int = 0
    warnings: int = 0
    filtered: int = 0
    active: int = 0
    inactive: int = 0
    deactivated: int = 0
    new_phones_count: int = 0
    new_phones_key: str = ""
    new_phones: set[str] = field(default_factory=set)
    started_at: str = ""
    finished_at: str = ""
    elapsed_s: float = 0.0
    commit_s: float = 0.0
    rows_per_s: float = 0.0
    status: str = "running"
    error: str = ""
    summary_path: str = ""
    rejects_path: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready counts (without the phone numbers themselves)."""
        d = asdict(self)
        d.pop("new_phones")
        return d


# ------------------------------------------------------------------------------------------ Redis wire


class _Wire:
    """A raw connection for the bulk writes: commands packed by hiredis in C, replies parsed by hiredis,
    several batches in flight. redis-py's pipeline spends ~10 us of Python per command, too slow for 20 M.
    """

    def __init__(self, kw: dict[str, Any]) -> None:
        if kw.get("path"):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(kw["path"])
        else:
            self.sock = socket.create_connection((kw.get("host", "localhost"), int(kw.get("port", 6379))))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader(encoding="utf-8", errors="surrogateescape")
        self.pending: list[int] = []  # replies owed, per batch sent
        if kw.get("password"):
            auth = [kw["username"], kw["password"]] if kw.get("username") else [kw["password"]]
            self.call("AUTH", *auth)
        if kw.get("db"):
            self.call("SELECT", kw["db"])

    def send(self, payload: bytes, replies: int, keep: bool = True) -> None:
        """Send packed commands; their `replies` replies are read by a later `wait` (which returns them
        when `keep`, else only checks them for errors: the writes' replies are not needed)."""
        self.sock.sendall(payload)
        self.pending.append((replies, keep))

    def wait(self, leave: int = 0) -> list[list[Any]]:
        """Read the replies of every batch sent so far but the last `leave`, oldest first ([] for a batch
        sent without `keep`). Raises redis.ResponseError for the first error reply."""
        upto = len(self.pending) - leave
        out = [self._read(n, keep) for n, keep in self.pending[:upto]]
        del self.pending[:upto]
        return out

    def call(self, *args: Any) -> Any:
        """One command, synchronously."""
        self.send(hiredis.pack_command(args), 1)
        return self.wait()[-1][0]

    def _read(self, n: int, keep: bool) -> list[Any]:
        gets, feed, recv = self.reader.gets, self.reader.feed, self.sock.recv
        out: list[Any] = []
        while n:
            x = gets()
            if x is False:
                data = recv(1 << 20)
                if not data:
                    raise redis.ConnectionError("server closed the connection")
                feed(data)
                continue
            n -= 1
            if x.__class__ is not int:
                _raise_errors(x)
            if keep:
                out.append(x)
        return out

    def close(self) -> None:
        """Close the socket."""
        with contextlib.suppress(OSError):
            self.sock.close()


def _raise_errors(x: Any) -> None:
    if isinstance(x, Exception):
        raise redis.ResponseError(str(x))
    if isinstance(x, list):
        for y in x:
            if isinstance(y, Exception):
                raise redis.ResponseError(str(y))


class CommandBatch(CoreCommands):
    """Collects the commands of one batch, as packed RESP.

    It quacks like a redis-py pipeline for `voter_registry.index.index_voter` (every redis-py command
    method works). The index's commands are aggregated over the batch, which is the same end state with
    far fewer commands for the server to parse and log: one ZREM and one ZADD per sorted set with all
    their members, and HINCRBY on the same hash field summed. The payload sends every ZREM, then every
    ZADD, then the counters, then the other commands in the order queued. Within a batch each voter
    appears once and its members carry its registration number, so a voter's removals still precede
    its additions, and its index entries precede its hash (see `_Run._write`).
    """

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.incr: Counter[tuple[str, str]] = Counter()
        self.counted: list[tuple[str, str]] = []  # more +1s for `incr`, counted in one C pass by `payload`
        self.more = 0  # commands in `parts` beyond one per part (blocks of commands packed together)
        self.zrems: dict[str, list[Any]] = {}
        self.zadds: dict[str, list[Any]] = {}

    def execute_command(self, *args: Any, **options: Any) -> None:  # type: ignore[override]
        """Queue one command (options such as `keys=` are redis-py hints, not sent)."""
        self.parts.append(hiredis.pack_command(args))

    def zadd(self, name: str, mapping: dict[str, float], **flags: Any) -> None:  # type: ignore[override]
        """ZADD without flags joins the batch's one ZADD of `name`; with flags, redis-py's own, in order."""
        if flags:
            super().zadd(name, mapping, **flags)
            return
        args = self.zadds.get(name)
        if args is None:
            args = self.zadds[name] = ["ZADD", name]
        for member, score in mapping.items():
            args += (score, member)

    def zrem(self, name: str, *values: Any) -> None:  # type: ignore[override]
        """Joins the batch's one ZREM of `name` (sent before every ZADD)."""
        args = self.zrems.get(name)
        if args is None:
            args = self.zrems[name] = ["ZREM", name]
        args += values

    def hincrby(self, name: str, key: str, amount: int = 1) -> None:  # type: ignore[override]
        """Add `amount` to the batch's running total for (name, key)."""
        self.incr[(name, key)] += amount

    def index(self, vals: list[str], sign: int = 1) -> None:
        """What `index_voter(self, voter)` (sign 1) or `unindex_voter(self, voter)` (sign -1) queues for the
        voter whose `Voter.to_dict()` values are `vals` (`_values`), from `index.filing_values` directly:
        the same aggregated commands without a redis-py call per command."""
        keys, m, counters = filing_values(vals)
        if sign > 0 and vals[_STATUS] != "active":
            sign = 0  # index_voter on an inactive voter: only its bucket members are removed
        if sign > 0:
            sets, item = self.zadds, ("0", m)
        else:
            sets, item = self.zrems, (m,)
        for k in keys:
            a = sets.get(k)
            if a is None:
                sets[k] = ["ZADD" if sign > 0 else "ZREM", k, *item]
            else:
                a += item
        if sign > 0:
            self.counted += counters
        elif sign:
            incr = self.incr
            for c in counters:
                incr[c] += sign

    def packed(self, blob: bytes, commands: int) -> None:
        """Queue `commands` commands already packed as RESP in `blob` (in order with the other parts)."""
        if commands:
            self.parts.append(blob)
            self.more += commands - 1

    def __len__(self) -> int:
        return len(self.parts) + self.more + len(self.incr) + len(self.counted) + len(self.zrems) + len(self.zadds)

    def payload(self) -> tuple[bytes, int]:
        """(the commands as one buffer, number of replies the server will send).

        Not a MULTI/EXEC transaction: queueing costs the server a third more CPU, and crash safety
        comes from the order instead (see `_Run._write`)."""
        self.incr.update(self.counted)  # incr[c] += 1 for each, counted in C
        self.counted = []
        index = [*self.zrems.values(), *self.zadds.values()]
        # Counters before the hashes: a kill in between makes the re-run count those voters twice (off by
        # one, as the docs allow), never leaves them uncounted (a place counted 0 could not be resolved).
        index += [("HINCRBY", name, key, str(amount)) for (name, key), amount in self.incr.items() if amount]
        packer = _packer()
        packed = packer.pack(index) if packer is not None else None  # in one C call
        if packed is None:
            pack = hiredis.pack_command
            packed = b"".join([pack(tuple(a)) for a in index])
        return b"".join([packed, *self.parts]), len(index) + len(self.parts) + self.more


_GET_FIELDS = attrgetter(*_FIELDS)
_packer = lru_cache(maxsize=1)(packer)  # built and loaded on first use, not at import


_BIRTH, _PHONE = _FIELDS.index("birth_year"), _FIELDS.index("phone")
_STATUS, _DISTRICT = _FIELDS.index("status"), _FIELDS.index("district")


def _values(v: Voter) -> list[str]:
    """`Voter.to_dict()`'s values in field order ("" for None)."""
    vals = list(_GET_FIELDS(v))
    b = vals[_BIRTH]
    vals[_BIRTH] = str(b) if b else ""
    if vals[_PHONE] is None:
        vals[_PHONE] = ""
    return vals


def _compact(v: Voter) -> dict[str, str]:
    """`Voter.to_dict()` without the empty fields (`Voter.from_dict` reads a missing field as empty)."""
    return {k: x for k, x in zip(_FIELDS, _values(v), strict=True) if x}


def _pairs(flat: list[str]) -> dict[str, str]:
    it = iter(flat)
    return dict(zip(it, it, strict=True))


# ----------------------------------------------------------------------------------------------- import


_WRITTEN_BITS = 1 << 27
_COUNTS = ("rows", "imported", "new", "changed", "unchanged", "superseded", "rejected", "warnings", "filtered")


class _Run:
    """The rows of one partition of an import: batches, counters, the rejects writer."""

    def __init__(self, conn: dict[str, Any], gen: int, district: str | None, rejects: Any, fresh: bool) -> None:
        self.gen = gen
        # With no voter stored before this import (`fresh`), a registration number is only read back when
        # this worker may have written it already: a duplicate row, or a false positive of this bitmap
        # of hashed numbers (16 MiB whatever the file's size; ~1% false positives at 1 M numbers).
        self.written = np.zeros(_WRITTEN_BITS >> 3, np.uint8) if fresh else None
        self.carry: dict[str, Row] = {}  # rows to write with the next batch, their read-back sent
        self.district = district
        self.rejects = rejects
        self.n = dict.fromkeys(_COUNTS, 0)
        self.wire = _Wire(conn)
        self.k_came, self.k_left = gen_key(gen, "came"), gen_key(gen, "left")
        self.k_phones = gen_key(gen, "phones")
        self.k_assoc = gen_key(gen, "assoc")
        # With no roll in service every phone is new: the new-association set is not needed.
        self.track_assoc = bool(self.wire.call("EXISTS", ACTIVE))
        dumper = _hash_dumper(self.wire)
        self.encode = dumper.row_encoder((*_FIELDS, SEEN), _CACHED) if dumper is not None else None
        # New voters' household SADDs and RESTOREs packed in C a batch at a time (the same bytes).
        self.bulk = bulk_restores(dumper, (*_FIELDS, SEEN), VOTER, PHONE, _PHONE) if dumper is not None else None

    def reject(self, source: str, line: int, regn: str, action: str, reason: str) -> None:
        self.rejects.writerow((source, line, regn, action, reason))

    def feed(self, items: Iterable[Row | Reject], tick: Any) -> None:
        batch: list[Row] = []
        n, district, rows = self.n, self.district, 0
        for item in items:
            rows += 1
            if isinstance(item, Reject):
                n["rejected"] += 1
                self.reject(item.source, item.line, item.regn_num, "rejected", item.reason)
                continue
            if item.warning:
                n["warnings"] += 1
                self.reject(item.source, item.line, item.vals[0], "imported", item.warning)
            if district is not None and item.vals[_DISTRICT] != district:
                n["filtered"] += 1
                continue
            batch.append(item)
            if len(batch) >= BATCH_ROWS:
                n["rows"] = rows
                self.apply(batch)
                batch = []
                tick(rows)
        n["rows"] = rows
        if batch:
            self.apply(batch)
        self.flush()
        tick(rows)

    def apply(self, rows: list[Row]) -> None:
        """Write one batch; the server runs the previous batch's commands while this one is parsed."""
        latest = self._latest(rows)
        if self.written is not None:
            self._apply_fresh(latest)
            return
        regns = list(latest)
        pack = hiredis.pack_command
        self.wire.send(
            b"".join([pack(("HGETALL", VOTER + x)) for x in regns] + [pack(("SMISMEMBER", ACTIVE, *regns))]),
            len(regns) + 1,
        )
        *olds, on_roll = self.wire.wait()[-1]
        self._upsert(latest, olds, on_roll)

    def _latest(self, rows: list[Row]) -> dict[str, Row]:
        """Number -> the row that wins (the latest LAST_UPDATED_DATE, on a tie the later row), in the
        order of first appearance; the others are reported superseded."""
        latest: dict[str, Row] = {}
        n = self.n
        for row in rows:
            regn = row.vals[0]
            prev = latest.get(regn)
            if prev is None:
                latest[regn] = row
                continue
            n["superseded"] += 1
            older, newer = (prev, row) if row.updated >= prev.updated else (row, prev)
            latest[regn] = newer
            self.reject(
                older.source,
                older.line,
                regn,
                "superseded",
                f"duplicate REGN_NUM; line {newer.line} has a later or equal LAST_UPDATED_DATE",
            )
        return latest

    def _apply_fresh(self, latest: dict[str, Row]) -> None:
        """`apply` in a first import: the rows whose number this worker has surely not written yet are
        new and written at once, without a round trip; the others (duplicates, bitmap false positives)
        are read back after this batch's writes and written with the next batch. So the worker builds
        batch n+1 while the server still applies batch n, and waits only for what is older."""
        regns = list(latest)
        unsure = self._maybe_written(regns)
        new = latest
        if unsure:
            new = dict(latest)
            for i in unsure:
                del new[regns[i]]
        self._insert(new)
        carried, self.carry = self.carry, {regns[i]: latest[regns[i]] for i in unsure}
        replies = self.wire.wait(leave=1)  # up to the read-back sent with the previous batch
        if carried:
            self._upsert(carried, replies[-1], [0] * len(carried))
        self._send_reads()

    def _send_reads(self) -> None:
        """Send the read-back of the carried rows (after every write sent so far, so it sees them)."""
        if self.carry:
            pack = hiredis.pack_command
            self.wire.send(b"".join([pack(("HGETALL", VOTER + x)) for x in self.carry]), len(self.carry))

    def flush(self) -> None:
        """Write the rows still carried (a first import's read-backs), then wait for every reply."""
        while self.carry:
            carried, self.carry = self.carry, {}
            replies = self.wire.wait()
            self._upsert(carried, replies[-1], [0] * len(carried))
        self.wire.wait()

    def _insert(self, rows: dict[str, Row]) -> None:
        """`_upsert` of voters that have no stored hash and are not on the roll in service (a first
        import's new numbers): the same writes, without the comparisons."""
        b = CommandBatch()
        came: list[str] = []
        phones: list[str] = []
        fresh: list[list[str]] = []
        index, gen, day = b.index, self.gen, _day
        stamps: dict[str, str] = {}  # per LAST_UPDATED_DATE: the `_i` value as text
        for regn, row in rows.items():
            st = stamps.get(row.updated)
            if st is None:
                st = stamps[row.updated] = str(gen * _DAYS + day(row.updated))
            vals = [*row.vals, st]
            if vals[_STATUS] == "active":
                index(vals)
                came.append(regn)
                if vals[_PHONE]:
                    phones.append(regn)
            fresh.append(vals)
        self.n["new"] += len(rows)
        self.n["imported"] += len(rows)
        self._store_new(b, fresh)
        if came:
            b.sadd(self.k_came, *came)
        if phones:  # new phones, maybe: checked against the old roll at the commit
            b.sadd(self.k_phones, *[rows[x].vals[_PHONE] for x in phones])
            if self.track_assoc:
                b.sadd(self.k_assoc, *phones)
        self.wire.send(*b.payload(), keep=False)

    def _upsert(self, latest: dict[str, Row], olds: list[Any], on_roll: list[int]) -> None:
        """Build and send the writes of the voters `latest` (number -> row, at most one row a number),
        given their stored hashes `olds` (flat field/value lists, empty when none) and their membership
        of the roll in service `on_roll`, both in the order of `latest`."""
        n = self.n
        pack = hiredis.pack_command
        regns = list(latest)
        keys = [VOTER + x for x in regns]
        b = CommandBatch()
        came: list[str] = []  # active in the file, not on the roll in service
        left: list[str] = []  # on the roll in service, not active in the file
        uncame: list[str] = []  # a later duplicate row undoes what an earlier batch queued
        unleft: list[str] = []
        add_phones: list[str] = []
        add_assoc: list[str] = []
        gen, day = self.gen, _day
        fresh: list[list[str]] | None = [] if self.bulk is not None else None  # new voters, for self.bulk
        stamps: dict[str, tuple[int, str]] = {}  # per LAST_UPDATED_DATE: the `_i` value, and as text
        for regn, key, flat, was_on in zip(regns, keys, olds, on_roll, strict=True):
            row = latest[regn]
            old = _pairs(flat) if flat else None
            st = stamps.get(row.updated)
            if st is None:
                st = stamps[row.updated] = (gen * _DAYS + day(row.updated), str(gen * _DAYS + day(row.updated)))
            stamp = st[0]
            vals = [*row.vals, st[1]]  # the hash's fields in order, SEEN last
            if old is None:
                replaced = False
                n["new"] += 1
                self._write(b, key, vals, None, fresh)
            else:
                seen = int(x) if (x := old.get(SEEN, "")).isdigit() else 0
                replaced = seen // _DAYS == gen
                if replaced:
                    # The same REGN_NUM in an earlier batch of this import: keep the later LAST_UPDATED_DATE.
                    n["superseded"] += 1
                    if seen > stamp:
                        self.reject(
                            row.source,
                            row.line,
                            regn,
                            "superseded",
                            "duplicate REGN_NUM; an earlier row has a later LAST_UPDATED_DATE",
                        )
                        continue
                    self.reject(
                        row.source,
                        row.line,
                        regn,
                        "replaces",
                        "duplicate REGN_NUM; replaces an earlier row with an older or equal LAST_UPDATED_DATE",
                    )
                    n["imported"] -= 1
                if {k: x for k, x in old.items() if k[0] != "_" and x} == {
                    k: x for k, x in zip(_FIELDS, vals[:-1], strict=True) if x
                }:
                    n["unchanged"] += 1
                    b.parts.append(pack(("HSET", key, SEEN, stamp)))
                else:
                    n["changed"] += 1
                    self._write(b, key, vals, old)
            n["imported"] += 1
            if vals[_STATUS] == "active":
                if not was_on:
                    came.append(regn)
                elif replaced:
                    unleft.append(regn)
                phone = vals[_PHONE]
                if phone and not (was_on and old and old.get("phone") == phone):
                    add_phones.append(phone)  # may be new: checked against the old roll at the commit
                    add_assoc.append(regn)
            elif was_on:
                left.append(regn)
            elif replaced:
                uncame.append(regn)
        if fresh:
            self._store_new(b, fresh)
        for key_, add, drop in ((self.k_came, came, uncame), (self.k_left, left, unleft)):
            if drop:
                b.srem(key_, *drop)
            if add:
                b.sadd(key_, *add)
        if add_phones:
            b.sadd(self.k_phones, *add_phones)
        if add_assoc and self.track_assoc:
            b.sadd(self.k_assoc, *add_assoc)
        self.wire.send(*b.payload(), keep=False)

    def _maybe_written(self, regns: list[str]) -> list[int]:
        """Indexes (ascending) of the numbers (distinct) this worker may have written in an earlier batch
        of this import; marks them all. Vectorized: a bit test and set per number in C."""
        bits = self.written
        assert bits is not None
        # str hashes differ between processes: the bitmap is this worker's own
        h = np.fromiter(map(hash, regns), np.int64, len(regns)) & (_WRITTEN_BITS - 1)
        byte, bit = h >> 3, np.left_shift(1, h & 7).astype(np.uint8)
        hit = np.flatnonzero(bits[byte] & bit)
        np.bitwise_or.at(bits, byte, bit)
        return hit.tolist()

    def _write(
        self, b: CommandBatch, key: str, vals: list[str], old: dict[str, str] | None, fresh: list | None = None
    ) -> None:
        """Replace a voter's index entries, household membership and hash, in that order.

        vals: the voter's `_values` then the `_i` value as text (the hash's fields in order). old: the
        stored hash, None for a new voter; fresh: for a new voter, a list that takes `vals` instead of
        writing the household and hash (`_store_new` does, for the whole batch). The server applies
        a prefix of what was sent when the importer is killed.
        The hash is written last, so a voter whose hash is current has everything else current too; one
        whose hash is not differs from the file and is rewritten by the re-run (ZADD/ZREM/SADD/SREM are
        idempotent; only the index's name counters, which are priors, may drift by one)."""
        if old is not None:
            regn, phone = vals[0], vals[_PHONE]
            before = Voter.from_dict({**old, "regn_num": regn})
            if before.status == "active":
                b.index(_values(before), -1)
            if before.phone and before.phone != phone:
                b.srem(PHONE + before.phone, regn)
        if old is not None or vals[_STATUS] == "active":
            b.index(vals)  # (a new voter who is not active has nothing to file or remove)
        if fresh is not None and old is None:
            fresh.append(vals)
        else:
            self._store(b, key, vals, old)

    def _store(self, b: CommandBatch, key: str, vals: list[str], old: dict[str, str] | None) -> None:
        """The household SADD and the hash of a voter whose index entries are queued (see `_write`)."""
        regn, phone = vals[0], vals[_PHONE]
        if phone:
            b.parts.append(hiredis.pack_command(("SADD", PHONE + phone, regn)))
        # The whole hash in one RESTORE ... REPLACE (a third of HSET's server time), unless the stored
        # hash carries another package's "_" fields, which replacing it would drop.
        encode = self.encode
        if encode is not None and (old is None or all(k[0] != "_" or k == SEEN for k in old)):
            payload = encode(vals)
            if payload is not None:
                b.parts.append(hiredis.pack_command(("RESTORE", key, 0, payload, "REPLACE")))
                return
        new = {k: x for k, x in zip(_FIELDS, vals[:-1], strict=True) if x}
        b.execute_command("HSET", key, *chain.from_iterable(new.items()), SEEN, vals[-1])
        if old is not None:
            emptied = [k for k in old if k not in new and k[0] != "_"]
            if emptied:
                b.execute_command("HDEL", key, *emptied)

    def _store_new(self, b: CommandBatch, rows: list[list[str]]) -> None:
        """`_store` of new voters (`vals` lists), packed by the compiled helper when it can."""
        built = self.bulk.build(rows) if self.bulk is not None else None
        if built is None:
            left: Iterable[int] = range(len(rows))
        else:
            blob, commands, left = built
            b.packed(blob, commands)
        for i in left:  # values too long for a listpack entry: HSET, as `_store` decides
            self._store(b, VOTER + rows[i][0], rows[i], None)


_NUMERIC = ("regn_num", "house_num", "zip", "birth_year", "district", SEEN)  # the Voter fields often integers
# Hash fields whose entries are cached per value (not the nearly unique registration numbers and phones).
_CACHED = frozenset(_FIELDS + (SEEN,)) - {"regn_num", "phone"}


def _hash_dumper(wire: _Wire) -> HashDumper | None:
    """A `HashDumper` for this server when it restores our payloads faithfully (checked on a scratch key),
    else None (the voter hashes are then written with HSET)."""
    if not HashDumper.available:
        return None
    probe = f"vr:import:probe:{os.getpid()}"
    sample = {"regn_num": "1234567", "first": "JOSÉ", "zip": "05010", "birth_year": "1968", SEEN: "144295"}
    try:
        wire.call("HSET", probe, "f", "v")
        dump = wire.call("DUMP", probe).encode("utf-8", "surrogateescape")
        dumper = HashDumper(HashDumper.version_of(dump), _NUMERIC)
        wire.call("RESTORE", probe, 0, dumper.payload(sample.items()), "REPLACE")
        ok = _pairs(wire.call("HGETALL", probe)) == sample
    except redis.RedisError:
        return None
    finally:
        with contextlib.suppress(redis.RedisError):
            wire.call("DEL", probe)
    return dumper if ok else None


def _die_with_parent() -> None:
    """Worker initializer: get SIGKILL when the importing process dies, so that a killed import has no
    orphans still writing (Linux prctl PR_SET_PDEATHSIG; elsewhere workers stop at their next batch)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def _work(
    conn: dict[str, Any],
    srcs: list[Source],
    fmt: str | None,
    part: tuple[int, int],
    gen: int,
    district: str | None,
    rejects_path: str,
    progress: Any,
    parent: int,
    fresh: bool = False,
) -> tuple[dict[str, int], dict]:
    """Import partition `part` of the delivery; returns (counts, formats). Runs in a worker process
    (or inline for one partition)."""
    stream = RowStream(srcs, fmt, part)
    with open(rejects_path, "w", newline="", encoding="utf-8") as fh:
        run = _Run(conn, gen, district, csv.writer(fh), fresh)

        def tick(rows: int) -> None:
            if os.getppid() != parent and parent != os.getpid():
                raise ImportAborted("the importing process died")
            if progress is not None:
                progress[2 * part[0]] = rows
                progress[2 * part[0] + 1] = stream.position()
            gc.collect(1)  # the young generations only: cheap, and whatever a batch left in a cycle

        # Automatic cyclic GC costs ~10 us a row here (its full passes walk every long-lived object, the
        # phonetic caches included) and finds nothing: a batch's rows, voters and commands are freed by
        # reference counting. So it is off while the rows stream, and the young generations are
        # collected once per batch instead.
        gc_was = gc.isenabled()
        gc.disable()
        try:
            run.feed(stream, tick)
        finally:
            if gc_was:
                gc.enable()
            run.wire.close()
    return run.n, stream.formats


def _merge_rejects(parts: list[Path], out: Path, order: dict[str, int]) -> None:
    """Concatenate the workers' rejects files in file order (source, then line)."""
    handles = [open(p, newline="", encoding="utf-8") for p in parts]  # noqa: SIM115 -- closed below
    try:
        readers = [csv.reader(h) for h in handles]
        with open(out, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(("source", "line", "regn_num", "action", "reason"))
            w.writerows(heapq.merge(*readers, key=lambda x: (order.get(x[0], 0), int(x[1]))))
    finally:
        for h in handles:
            h.close()
        for p in parts:
            p.unlink(missing_ok=True)


def _lock(r: redis.Redis) -> str:
    """Take the import lock, or raise ImportLocked when its holder on this host is still alive."""
    me = f"{socket.gethostname()}:{os.getpid()}"
    if r.set(LOCK, me, nx=True):
        return me
    holder = r.get(LOCK) or ""
    host, _, pid = holder.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            r.set(LOCK, me)  # the holder died (kill -9): take over
            return me
        except PermissionError:
            pass
    raise ImportLocked(f"another import is running ({holder}); remove {LOCK} if it is stale")


def _unlock(r: redis.Redis, me: str) -> None:
    if r.get(LOCK) == me:
        r.delete(LOCK)


def _recover(r: redis.Redis) -> None:
    """Finish what an interrupted import left: a commit's cleanup, or working sets of an uncommitted run."""
    pending = r.hget(META, "cleanup")
    if pending:
        _cleanup(r, int(pending))
    for key in [*r.scan_iter(match="vr:left:*", count=1000), *r.scan_iter(match="vr:came:*", count=1000)]:
        r.delete(key)  # voter-status events of a run killed before writing them (the roll itself is fine)
    for key in r.scan_iter(match="vr:gen:*", count=1000):
        if key.endswith(":came"):
            # Voters that run wrote as active were never on the roll in service; recheck them at our commit.
            r.sunionstore(RECHECK, [RECHECK, key])
        r.delete(key)


def _cleanup(r: redis.Redis, gen: int) -> int:
    """Mark inactive the voters that left the roll at commit `gen` (`vr:gone:{gen}`); idempotent."""
    gone = f"vr:gone:{gen}"
    n = 0
    wire = _Wire(_conn(r))
    try:
        chunk: list[str] = []
        for regn in r.sscan_iter(gone, count=1000):
            chunk.append(regn)
            if len(chunk) >= BATCH_ROWS:
                n += _deactivate(r, wire, chunk)
                chunk = []
        if chunk:
            n += _deactivate(r, wire, chunk)
        wire.wait()
    finally:
        wire.close()
    r.delete(gone)
    r.hdel(META, "cleanup")
    return n


def _deactivate(r: redis.Redis, wire: _Wire, regns: list[str]) -> int:
    keys = [VOTER + x for x in regns]
    wire.send(b"".join([hiredis.pack_command(("HGETALL", k)) for k in keys]), len(keys))
    olds = wire.wait()[-1]
    flags = r.smismember(ACTIVE, regns)
    b = CommandBatch()
    n = 0
    for regn, key, flat, on_roll in zip(regns, keys, olds, flags, strict=True):
        old = _pairs(flat) if flat else None
        if on_roll or old is None or old.get("status") != "active":
            continue
        before = Voter.from_dict({**old, "regn_num": regn})
        unindex_voter(b, before)
        index_voter(b, Voter.from_dict({**old, "regn_num": regn, "status": "inactive"}))
        b.hset(key, "status", "inactive")  # last: see _Run._write
        n += 1
    if len(b):
        wire.send(*b.payload(), keep=False)
    return n


def _filter_new_phones(r: redis.Redis, candidates: str, assoc: str) -> None:
    """Keep in `candidates` only the phones that were on no registration of the previous roll.

    Candidates are the phones of active rows whose voter was not on the roll with that phone (`assoc`
    holds those voters), so there are few on a re-import. A candidate is known when one of its
    registrations is on the previous roll (`vr:active`, not yet replaced) and not in `assoc`. A voter
    who had the number and changed it in this import is no longer in the household set, so such a
    number may be reported new although it was not: callers must check `by_phone` anyway.
    On a first import the old roll is empty and nothing is checked.
    """
    if not r.exists(ACTIVE):
        return
    chunk: list[str] = []
    for p in r.sscan_iter(candidates, count=1000):
        chunk.append(p)
        if len(chunk) >= 1000:
            _drop_known(r, candidates, assoc, chunk)
            chunk = []
    if chunk:
        _drop_known(r, candidates, assoc, chunk)


def _drop_known(r: redis.Redis, candidates: str, assoc: str, phones: list[str]) -> None:
    with r.pipeline(transaction=False) as p:
        for x in phones:
            p.smembers(PHONE + x)
        households = p.execute()
    regns = sorted({x for h in households for x in h})
    if not regns:
        return
    on_roll = r.smismember(ACTIVE, regns)
    moved = r.smismember(assoc, regns)
    old = {x for x, a, b in zip(regns, on_roll, moved, strict=True) if a and not b}
    known = [x for x, h in zip(phones, households, strict=True) if old.intersection(h)]
    if known:
        r.srem(candidates, *known)


_RENAME = "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('RENAME', KEYS[1], KEYS[2]) end"

# Apply the changes to the roll in service atomically: KEYS = roll, leaving, joining.
_SWITCH = """
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('SREM', KEYS[1], m) end
for _, m in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('SADD', KEYS[1], m) end
return redis.call('SCARD', KEYS[1])
"""


def _find_missing(r: redis.Redis, gen: int, left: str) -> None:
    """Add to `left` the voters of the roll in service that import `gen` did not see (their hash's `_i`
    is of another generation): rows no longer in the delivery, or in another district."""
    wire = _Wire(_conn(r))
    try:
        chunk: list[str] = []
        for regn in [*r.sscan_iter(ACTIVE, count=2000), None]:
            if regn is not None:
                chunk.append(regn)
            if chunk and (regn is None or len(chunk) >= BATCH_ROWS):
                wire.send(b"".join([hiredis.pack_command(("HGET", VOTER + x, SEEN)) for x in chunk]), len(chunk))
                stamps = wire.wait()[-1]
                missing = [
                    x
                    for x, st in zip(chunk, stamps, strict=True)
                    if not (st and st.isdigit() and int(st) // _DAYS == gen)
                ]
                if missing:
                    r.sadd(left, *missing)
                chunk = []
    finally:
        wire.close()


def _commit(r: redis.Redis, gen: int, s: ImportSummary, max_shrink: float | None, changes: bool) -> None:
    """Switch the roll in service to this generation (one transaction), then mark the leavers inactive.

    The working sets hold only the changes (`vr:gen:{gen}:came` / `:left`), so a re-import needs no
    second copy of the roll. changes: keep them as `vr:came:{gen}` / `vr:left:{gen}` for the audit's
    voter-status events (`_audit_statuses` deletes them); not on a first import.
    """
    k_came, k_left, k_phones = gen_key(gen, "came"), gen_key(gen, "left"), gen_key(gen, "phones")
    gone = f"vr:gone:{gen}"
    old_roll = int(r.scard(ACTIVE))
    if old_roll:
        _find_missing(r, gen, k_left)
    s.deactivated = int(r.scard(k_left))
    if max_shrink is not None and s.deactivated > max(SHRINK_FLOOR, max_shrink * old_roll):
        raise RollShrinks(
            f"{s.deactivated:,} of the {old_roll:,} voters on the roll would no longer be active (more than"
            f" {max_shrink:.0%}); check the delivery, or pass --allow-shrink"
        )
    # To mark inactive after the switch: the leavers, and whatever an interrupted run wrote as active
    # (RECHECK) that does not join now.
    r.sunionstore(gone, [k_left])
    if r.exists(RECHECK):
        r.sdiffstore(gone + ":recheck", [RECHECK, k_came])
        r.sunionstore(gone, [gone, gone + ":recheck"])
        r.delete(gone + ":recheck")
    k_new = new_phones_key(gen)
    _filter_new_phones(r, k_phones, gen_key(gen, "assoc"))
    r.delete(gen_key(gen, "assoc"))
    s.new_phones_key = k_new
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    keep = changes and old_roll > 0
    with r.pipeline(transaction=True) as p:
        if old_roll:
            p.eval(_SWITCH, 3, ACTIVE, k_left, k_came)
            if keep:
                p.eval(_RENAME, 2, k_came, f"vr:came:{gen}")
                p.eval(_RENAME, 2, k_left, f"vr:left:{gen}")
            else:
                p.delete(k_came, k_left)
        else:  # first roll: the joiners are the roll
            p.delete(ACTIVE, k_left)
            p.eval(_RENAME, 2, k_came, ACTIVE)
        p.eval(_RENAME, 2, k_phones, k_new)
        p.delete(RECHECK)
        p.expire(k_new, NEW_PHONES_TTL_S)
        p.hset(
            META,
            mapping={
                "generation": gen,
                "imported_at": now,
                "files": ",".join(s.files),
                "rows": s.rows,
                "voters": s.imported,
                "rejected": s.rejected,
                "cleanup": gen,
                "district": s.district or "",
            },
        )
        p.hdel(META, "importing")
        p.execute()
    s.active = int(r.scard(ACTIVE))
    s.inactive = s.imported - s.active
    r.hset(META, "active", s.active)
    _cleanup(r, gen)
    s.new_phones_count = int(r.scard(k_new))
    if 0 < s.new_phones_count <= NEW_PHONES_INLINE:
        s.new_phones = set(r.smembers(k_new))


def _first_import(r: redis.Redis) -> bool:
    """True when no voter hash is stored and there is no roll in service (a first import, not the re-run
    of an interrupted one): the first sight of each registration number is then a new voter, not on the
    roll, with nothing to read back."""
    return not r.exists(ACTIVE) and next(r.scan_iter(match=VOTER + "*", count=10_000), None) is None


def _conn(r: redis.Redis) -> dict[str, Any]:
    """The connection settings of `r`, to open more connections (in worker processes too)."""
    return dict(r.connection_pool.connection_kwargs)


def default_workers(total_bytes: int | None = None) -> int:
    """Worker processes used when not told: one per CPU, at most 8, and one per 16 MB of input (forking
    is not worth it for a small delivery)."""
    n = max(1, min(8, os.cpu_count() or 1))
    return n if total_bytes is None else max(1, min(n, total_bytes // (16 << 20) + 1))


def _fork_parts(
    conn: dict[str, Any],
    srcs: list[Source],
    fmt: str | None,
    gen: int,
    district: str | None,
    parts: list[Path],
    workers: int,
    show: Any,
    fresh: bool,
) -> list[tuple[dict[str, int], dict]]:
    """One forked process per partition (arguments are inherited, not pickled); results via a queue.
    The first failure kills the others: their partitions would not be committed anyway."""
    ctx = mp.get_context("fork")
    shared = ctx.Array("q", 2 * workers, lock=False)
    results = ctx.Queue()
    parent = os.getpid()

    def child(k: int) -> None:
        _die_with_parent()
        try:
            part = (k, workers)
            results.put((k, _work(conn, srcs, fmt, part, gen, district, str(parts[k]), shared, parent, fresh)))
        except BaseException as e:  # noqa: BLE001 -- reported to the parent, which re-raises it
            results.put((k, e if _picklable(e) else ImportAborted(f"{type(e).__name__}: {e}")))

    procs = [ctx.Process(target=child, args=(k,), daemon=True) for k in range(workers)]
    for proc in procs:
        proc.start()
    got: dict[int, Any] = {}
    try:
        while len(got) < workers:
            try:
                k, res = results.get(timeout=0.25)
            except queue.Empty:
                show(shared)
                if any(not p.is_alive() and p.exitcode != 0 for p in procs):
                    raise ImportAborted("a worker process died") from None
                continue
            if isinstance(res, BaseException):
                raise res
            got[k] = res
        show(shared)
        return [got[k] for k in range(workers)]
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
            proc.join()


def _picklable(e: BaseException) -> bool:
    try:
        pickle.dumps(e)
    except Exception:  # noqa: BLE001
        return False
    return True


def _run_parts(
    conn: dict[str, Any],
    srcs: list[Source],
    fmt: str | None,
    gen: int,
    district: str | None,
    base: Path,
    workers: int,
    progress: bool,
    fresh: bool = False,
) -> tuple[list[dict[str, int]], dict[str, str]]:
    """Run the partitions (inline for one, else in forked worker processes) under a progress bar.
    fresh: no voter hash was stored when the import began (see `_Run`)."""
    from tqdm import tqdm

    total = sum(x.size for x in srcs)
    bar = tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        disable=not progress,
        file=sys.stderr,
        desc="import-voters",
        smoothing=0.1,
    )
    t0 = time.monotonic()
    parts = [base.with_name(f"{base.name}.rejects.part{k}.csv") for k in range(workers)]

    def show(state: Any) -> None:
        rows = sum(state[0::2])
        bar.n = min(sum(state[1::2]) // max(workers, 1) if workers > 1 else state[1], total)
        bar.set_postfix_str(f"{rows:,} rows, {rows / max(time.monotonic() - t0, 1e-6):,.0f} rows/s", refresh=False)
        bar.refresh()

    try:
        if workers == 1:
            state = [0, 0]

            class _Inline:
                def __setitem__(self, i: int, x: int) -> None:
                    state[i] = x
                    if i == 1:
                        show(state)

            rej = str(parts[0])
            results = [_work(conn, srcs, fmt, (0, 1), gen, district, rej, _Inline(), os.getpid(), fresh)]
        else:
            results = _fork_parts(conn, srcs, fmt, gen, district, parts, workers, show, fresh)
        formats: dict[str, str] = {}
        for _, f in results:
            formats.update(f)
        order = {x.name: i for i, x in enumerate(srcs)}
        _merge_rejects(parts, Path(str(base) + ".rejects.csv"), order)
        return [n for n, _ in results], formats
    finally:
        bar.close()
        for p in parts:
            p.unlink(missing_ok=True)


AOF_PCT = "auto-aof-rewrite-percentage"


@contextlib.contextmanager
def _aof_rewrites_paused(r: redis.Redis) -> Iterator[None]:
    """Pause Valkey's automatic AOF rewrites while the import streams: a bulk load doubles the file again
    and again (64 MB, 128 MB, ... 1 GB: five forked rewrites, ~8 s of CPU at 2.2 M voters); one rewrite
    after it is enough. The setting in force is kept in `vr:meta` so that an import killed meanwhile is
    undone by the next one. A server that refuses CONFIG (a managed service) is left as it is."""
    try:
        saved = r.hget(META, "aof_rewrite_pct")
        before = saved if saved is not None else r.config_get(AOF_PCT).get(AOF_PCT)
        r.hset(META, "aof_rewrite_pct", str(before))
        r.config_set(AOF_PCT, 0)
    except redis.ResponseError:
        before = None
    try:
        yield
    finally:
        if before is not None:
            with contextlib.suppress(redis.RedisError):
                r.config_set(AOF_PCT, before)
                r.hdel(META, "aof_rewrite_pct")


def import_voters(
    r: redis.Redis,
    paths: list[Path],
    fmt: str | None = None,
    district: str | None = None,
    *,
    out_dir: Path,
    audit: Any = None,
    progress: bool = True,
    workers: int | None = None,
    max_shrink: float | None = 0.10,
) -> ImportSummary:
    """Import voter files as the new roll; returns the summary (also written to `out_dir`).

    r: blocking client (`decode_responses=True`). paths: files, zip archives or directories, read in
    order as one delivery. fmt: "iowa" | "ncsbe" | None (detected per file). district: keep only that
    Congressional district ("3"). out_dir: gets `<stamp>-g<gen>.summary.json` and `.rejects.csv`
    (source, line, regn_num, action, reason for every row not imported as is). audit: an
    `audit.log.AuditLog`; a `voter-roll-imported` event is appended after the commit. workers: processes
    that each import the voters of one partition of registration numbers (default `default_workers()`).
    max_shrink: refuse to commit (RollShrinks) when more than this share of the roll in service, and more
    than 1,000 voters, would stop being active; None to allow any change.

    Raises FormatError (unreadable file), ImportLocked, NothingToImport, RollShrinks, redis.RedisError: in
    each case nothing was committed and the previous roll is still in service (a re-run picks up cleanly).
    """
    t0 = time.monotonic()
    srcs = sources([Path(p) for p in paths])
    if fmt is not None and fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    dist = normalize_district(district) if district else None
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    s = ImportSummary(
        files=[x.name for x in srcs], district=dist, started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    me = _lock(r)
    gen = 0
    try:
        _recover(r)
        gen = int(r.hincrby(META, "started", 1))
        r.hset(META, "importing", gen)
        s.generation = gen
        base = out_dir / f"{stamp}-g{gen}"
        s.summary_path, s.rejects_path = str(base) + ".summary.json", str(base) + ".rejects.csv"
        n_workers = workers or default_workers(sum(x.size for x in srcs))
        with _aof_rewrites_paused(r):
            fresh = _first_import(r)
            counts, s.formats = _run_parts(_conn(r), srcs, fmt, gen, dist, base, n_workers, progress, fresh)
        for name in _COUNTS:
            setattr(s, name, sum(c[name] for c in counts))
        if s.imported == 0:
            raise NothingToImport(
                f"no valid row to import ({s.rows} rows read, {s.rejected} rejected, {s.filtered} in other"
                " districts); the roll in service is unchanged"
            )
        t_commit = time.monotonic()
        _commit(r, gen, s, max_shrink, changes=audit is not None)
        s.commit_s = round(time.monotonic() - t_commit, 3)
        s.status = "committed"
    except BaseException as e:  # noqa: BLE001 -- recorded in the summary, then re-raised
        s.status, s.error = "aborted", str(e) or type(e).__name__
        raise
    finally:
        s.elapsed_s = round(time.monotonic() - t0, 3)
        s.rows_per_s = round(s.rows / s.elapsed_s, 1) if s.elapsed_s else 0.0
        s.finished_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if s.summary_path:
            Path(s.summary_path).write_text(json.dumps(s.to_json(), indent=2) + "\n", encoding="utf-8")
        with contextlib.suppress(redis.RedisError):
            if gen and s.status != "committed":
                r.hdel(META, "importing")
            _unlock(r, me)
    if audit is not None:
        _audit(audit, s)
        _audit_statuses(r, audit, gen)
    return s


def _audit(audit: Any, s: ImportSummary) -> None:
    data = {
        "file": ", ".join(s.files),
        "rows": s.rows,
        "active": s.active,
        "inactive": s.inactive + s.deactivated,
        "rejected": s.rejected,
    }
    if hasattr(audit, "append_sync"):
        audit.append_sync("voter-roll-imported", None, None, data)
    else:
        import asyncio

        asyncio.run(audit.append("voter-roll-imported", None, None, data))


def _audit_statuses(r: redis.Redis, audit: Any, gen: int) -> None:
    """`voter-status` events for the voters who left the roll ("inactive") or joined it ("active") at
    commit `gen`, so that the audit replay knows who may act (audit/replay.py). Not on a first import."""
    from voter_registry.store import SyncVoterStore

    store = SyncVoterStore(r)
    for key, status in ((f"vr:left:{gen}", "inactive"), (f"vr:came:{gen}", "active")):
        chunk: list[str] = []
        for regn in [*r.sscan_iter(key, count=1000), None]:
            if regn is not None:
                chunk.append(regn)
            if chunk and (regn is None or len(chunk) >= 1000):
                voters = store.get_many(sorted(chunk))
                events = [
                    (
                        "voter-status",
                        None,
                        {"regn_num": x, "name": voters[x].public_name if x in voters else ""},
                        {"status": status},
                    )
                    for x in sorted(chunk)
                ]
                if hasattr(audit, "append_many_sync"):
                    audit.append_many_sync(events)
                else:
                    for e in events:
                        audit.append_sync(*e)
                chunk = []
        r.delete(key)


def _print_summary(s: ImportSummary, out: Any = sys.stdout) -> None:
    lines = [
        f"import generation {s.generation}: {s.status} in {s.elapsed_s:.1f} s ({s.rows_per_s:,.0f} rows/s)",
        f"  rows read    {s.rows:>12,}   rejected {s.rejected:,}   imported with warnings {s.warnings:,}",
        f"  voters       {s.imported:>12,}   new {s.new:,}   changed {s.changed:,}   unchanged {s.unchanged:,}",
        f"  duplicates   {s.superseded:>12,}   other districts {s.filtered:,}",
        f"  active       {s.active:>12,}   inactive on file {s.inactive:,}   left the roll {s.deactivated:,}",
        f"  new phones   {s.new_phones_count:>12,}   (Redis set {s.new_phones_key})",
        f"  summary      {s.summary_path}",
        f"  rejects      {s.rejects_path}",
    ]
    print("\n".join(lines), file=out)


def _parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="import-voters", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", type=Path, help="voter files, zip archives or directories")
    p.add_argument("--format", choices=FORMATS, default=None, help="layout (default: detected per file)")
    p.add_argument("--district", default=None, help="keep only this Congressional district")
    p.add_argument("--out-dir", type=Path, default=None, help="summary and rejects (default var/imports)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: one per CPU, max 8, one per 16 MB)"
    )
    p.add_argument(
        "--allow-shrink",
        action="store_true",
        help="commit even when more than 10%% of the roll would stop being active",
    )
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    """CLI entry point; exit status 0 committed, 1 aborted (roll unchanged), 2 usage."""
    args = _parse_args(argv)
    from audit.log import AuditLog
    from infra.redis_client import redis_url, sync_client
    from infra.settings import get_settings
    from voter_registry.tentative import promote

    settings = get_settings()
    audit = AuditLog(settings.audit_log_path)
    r = sync_client(settings)
    out_dir = args.out_dir or settings.var_dir / "imports"
    try:
        s = import_voters(
            r,
            args.files,
            args.format,
            args.district,
            out_dir=out_dir,
            audit=audit,
            progress=not args.no_progress,
            workers=args.workers,
            max_shrink=None if args.allow_shrink else 0.10,
        )
        promoted = promote(redis_url(settings), audit)  # tentative callers whose phone is now registered
    except (ImportAborted, FormatError, redis.RedisError, OSError) as e:
        print(f"import-voters: {e}\nthe roll in service is unchanged", file=sys.stderr)
        return 1
    finally:
        audit.close()
    _print_summary(s)
    print(f"tentative callers promoted: {promoted}")
    return 0


def iter_rows(paths: list[Path], fmt: str | None = None) -> Iterator[Row | Reject]:
    """Parse without importing (benchmarks, dry runs): every Row or Reject of the delivery, in order."""
    return iter(RowStream(sources([Path(p) for p in paths]), fmt))
