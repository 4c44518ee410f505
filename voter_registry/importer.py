"""`./run_delegate_network import-voters FILE [FILE...] [--format iowa|ncsbe] [--district N]`.

Streams a state voter file (see voter_registry.formats) into Redis as an update of the roll in service,
in bounded memory (one batch of rows at a time), and writes a summary and a rejects file under
`var/imports/`. The keys and the crash guarantee are described in docs/voter-import.md:

- every row is upserted into `vr:v:{regn}` together with its spoken-name index entries and its household
  set `vr:phone:{e164}`, one MULTI/EXEC transaction per batch (a batch is applied whole or not at all);
- the rows of this import are tagged with a generation number; the eligible roll `vr:active` and the
  marking of missing voters as inactive only change at the commit, at the end, with one atomic RENAME;
- an import killed at any point leaves the previous roll in service, and running it again completes it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import socket
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

import hiredis
import redis
from redis.commands.core import CoreCommands

from voter_registry.formats import FORMATS, FormatError, Reject, Row, RowStream, normalize_district, sources
from voter_registry.model import Voter
from voter_registry.store import ACTIVE, META, PHONE, VOTER

try:  # the matcher's index (voter_registry/index.py); without it the roll is imported unindexed
    from voter_registry.index import index_voter, unindex_voter
except ImportError:  # pragma: no cover - only while the matcher package is missing

    def index_voter(pipe: Any, voter: Voter) -> None:  # noqa: D103
        return None

    def unindex_voter(pipe: Any, voter: Voter) -> None:  # noqa: D103
        return None


ACTIVE_PHONES = "vr:active_phones"  # phones of the voters in vr:active: "new phone" = not in here
RECHECK = "vr:recheck"  # regns an interrupted import may have written as active: rechecked at the next commit
LOCK = "vr:import:lock"
BATCH_ROWS = 2000
NEW_PHONES_INLINE = 10_000  # up to this many new phones are also returned in ImportSummary.new_phones
NEW_PHONES_TTL_S = 30 * 24 * 3600
_FIELDS = tuple(f.name for f in fields(Voter))

# Fetch the stored hashes of a batch of voters in one command (one round trip, one reply to parse).
_READ_SCRIPT = "local out = {} for i, k in ipairs(KEYS) do out[i] = redis.call('HGETALL', k) end return out"


class ImportAborted(RuntimeError):
    """The import stopped before its commit; the previous roll is still in service. Subclasses say why."""


class ImportLocked(ImportAborted):
    """Another import of this roll is running (its process is alive)."""


class NothingToImport(ImportAborted):
    """No valid row was read (wrong file, wrong --district?): committing would empty the roll."""


def gen_key(gen: int, what: str) -> str:
    """Working keys of generation `gen`: `vr:gen:{gen}:active` and `vr:gen:{gen}:phones`."""
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

    def __init__(self, r: redis.Redis) -> None:
        kw = r.connection_pool.connection_kwargs
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

    def send(self, payload: bytes, replies: int) -> None:
        """Send packed commands; their `replies` replies are read by a later `wait`."""
        self.sock.sendall(payload)
        self.pending.append(replies)

    def wait(self) -> list[list[Any]]:
        """Read the replies of every batch sent so far, oldest first. Raises redis.ResponseError."""
        out = []
        for n in self.pending:
            replies = [self._one() for _ in range(n)]
            for x in replies:
                _raise_errors(x)
            out.append(replies)
        self.pending = []
        return out

    def call(self, *args: Any) -> Any:
        """One command, synchronously."""
        self.send(hiredis.pack_command(args), 1)
        return self.wait()[-1][0]

    def _one(self) -> Any:
        while (x := self.reader.gets()) is False:
            data = self.sock.recv(1 << 20)
            if not data:
                raise redis.ConnectionError("server closed the connection")
            self.reader.feed(data)
        return x

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
    """Collects commands for one MULTI/EXEC transaction, as packed RESP.

    It quacks like a redis-py pipeline for `voter_registry.index.index_voter` (every redis-py command
    method works). HINCRBY on the same hash field is summed over the batch (the index's name and place
    counters repeat a lot), which is the same end state with far fewer commands.
    """

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.incr: dict[tuple[str, str], int] = defaultdict(int)

    def execute_command(self, *args: Any, **options: Any) -> None:  # type: ignore[override]
        """Queue one command (options such as `keys=` are redis-py hints, not sent)."""
        self.parts.append(hiredis.pack_command(args))

    def hincrby(self, name: str, key: str, amount: int = 1) -> None:  # type: ignore[override]
        """Add `amount` to the batch's running total for (name, key)."""
        self.incr[(name, key)] += amount

    def __len__(self) -> int:
        return len(self.parts) + len(self.incr)

    def payload(self) -> tuple[bytes, int]:
        """(MULTI ... EXEC bytes, number of replies the server will send)."""
        for (name, key), amount in self.incr.items():
            if amount:
                self.parts.append(hiredis.pack_command(("HINCRBY", name, key, amount)))
        n = len(self.parts)
        return b"".join([b"*1\r\n$5\r\nMULTI\r\n", *self.parts, b"*1\r\n$4\r\nEXEC\r\n"]), n + 2


def _compact(v: Voter) -> dict[str, str]:
    """`Voter.to_dict()` without the empty fields (`Voter.from_dict` reads a missing field as empty)."""
    out = {}
    for name in _FIELDS:
        x = getattr(v, name)
        if x is not None and x != "":
            out[name] = x if isinstance(x, str) else str(x)
    return out


def _pairs(flat: list[str]) -> dict[str, str]:
    it = iter(flat)
    return dict(zip(it, it, strict=True))


# ----------------------------------------------------------------------------------------------- import


class _Run:
    """One import: state of the batches, counters, the rejects writer."""

    def __init__(self, r: redis.Redis, gen: int, district: str | None, rejects: Any, summary: ImportSummary):
        self.r = r
        self.gen = gen
        self.sgen = str(gen)
        self.district = district
        self.rejects = rejects
        self.s = summary
        self.wire = _Wire(r)
        self.k_active = gen_key(gen, "active")
        self.k_phones = gen_key(gen, "phones")

    def reject(self, source: str, line: int, regn: str, action: str, reason: str) -> None:
        self.rejects.writerow((source, line, regn, action, reason))

    def feed(self, items: Iterable[Row | Reject], tick: Any) -> None:
        batch: list[Row] = []
        for item in items:
            self.s.rows += 1
            if isinstance(item, Reject):
                self.s.rejected += 1
                self.reject(item.source, item.line, item.regn_num, "rejected", item.reason)
                continue
            if item.warning:
                self.s.warnings += 1
                self.reject(item.source, item.line, item.voter.regn_num, "imported", item.warning)
            if self.district is not None and item.voter.district != self.district:
                self.s.filtered += 1
                continue
            batch.append(item)
            if len(batch) >= BATCH_ROWS:
                self.apply(batch)
                batch = []
                tick()
        if batch:
            self.apply(batch)
        self.wire.wait()
        tick()

    def apply(self, rows: list[Row]) -> None:
        """Write one batch; the previous batch's transaction runs on the server meanwhile."""
        latest: dict[str, Row] = {}
        for row in rows:
            regn = row.voter.regn_num
            prev = latest.get(regn)
            if prev is None:
                latest[regn] = row
                continue
            self.s.superseded += 1
            older, newer = (prev, row) if row.updated >= prev.updated else (row, prev)
            latest[regn] = newer
            self.reject(older.source, older.line, regn, "superseded",
                        f"duplicate REGN_NUM; line {newer.line} has a later or equal LAST_UPDATED_DATE")
        regns = list(latest)
        keys = [VOTER + x for x in regns]
        self.wire.send(hiredis.pack_command(("EVAL", _READ_SCRIPT, len(keys), *keys)), 1)
        olds = self.wire.wait()[-1][0]
        b = CommandBatch()
        add_active: list[str] = []
        drop_active: list[str] = []
        add_phones: list[str] = []
        s = self.s
        for regn, key, flat in zip(regns, keys, olds, strict=True):
            row = latest[regn]
            v = row.voter
            new = _compact(v)
            old = _pairs(flat) if flat else None
            if old is not None and old.get("_gen") == self.sgen:
                # The same REGN_NUM in an earlier batch of this import: keep the later LAST_UPDATED_DATE.
                s.superseded += 1
                if old.get("_upd", "") > row.updated:
                    self.reject(row.source, row.line, regn, "superseded",
                                "duplicate REGN_NUM; an earlier row has a later LAST_UPDATED_DATE")
                    continue
                self.reject(row.source, row.line, regn, "replaces",
                            "duplicate REGN_NUM; replaces an earlier row with an older or equal LAST_UPDATED_DATE")
                if old.get("status") == "active" and v.status != "active":
                    drop_active.append(regn)
                s.imported -= 1
            if old is None:
                s.new += 1
                self._write(b, key, v, new, row.updated, None)
            elif {k: x for k, x in old.items() if k[0] != "_" and x} == new:
                s.unchanged += 1
                b.hset(key, mapping={"_gen": self.sgen, "_upd": row.updated})
            else:
                s.changed += 1
                self._write(b, key, v, new, row.updated, old)
            s.imported += 1
            if v.status == "active":
                add_active.append(regn)
                if v.phone:
                    add_phones.append(v.phone)
        if drop_active:
            b.srem(self.k_active, *drop_active)
        if add_active:
            b.sadd(self.k_active, *add_active)
        if add_phones:
            b.sadd(self.k_phones, *add_phones)
        self.wire.send(*b.payload())

    def _write(self, b: CommandBatch, key: str, v: Voter, new: dict[str, str], upd: str,
               old: dict[str, str] | None) -> None:
        """Replace a voter's hash, index entries and household membership."""
        regn = v.regn_num
        if old is not None:
            before = Voter.from_dict({**old, "regn_num": regn})
            if before.status == "active":
                unindex_voter(b, before)
            if before.phone and before.phone != v.phone:
                b.srem(PHONE + before.phone, regn)
            b.delete(key)
        b.execute_command("HSET", key, *chain.from_iterable(new.items()), "_upd", upd, "_gen", self.sgen)
        index_voter(b, v)
        if v.phone:
            b.sadd(PHONE + v.phone, regn)


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
    for key in r.scan_iter(match="vr:gen:*", count=1000):
        if key.endswith(":active"):
            # Voters that run wrote as active were never on the roll in service; recheck them at our commit.
            r.sunionstore(RECHECK, [RECHECK, key])
        r.delete(key)


def _cleanup(r: redis.Redis, gen: int) -> int:
    """Mark inactive the voters that left the roll at commit `gen` (`vr:gone:{gen}`); idempotent."""
    gone = f"vr:gone:{gen}"
    n = 0
    wire = _Wire(r)
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
    wire.send(hiredis.pack_command(("EVAL", _READ_SCRIPT, len(keys), *keys)), 1)
    olds = wire.wait()[-1][0]
    flags = r.smismember(ACTIVE, regns)
    b = CommandBatch()
    n = 0
    for regn, key, flat, on_roll in zip(regns, keys, olds, flags, strict=True):
        old = _pairs(flat) if flat else None
        if on_roll or old is None or old.get("status") != "active":
            continue
        before = Voter.from_dict({**old, "regn_num": regn})
        unindex_voter(b, before)
        b.hset(key, "status", "inactive")
        index_voter(b, Voter.from_dict({**old, "regn_num": regn, "status": "inactive"}))
        n += 1
    if len(b):
        wire.send(*b.payload())
    return n


def _commit(r: redis.Redis, run: _Run, s: ImportSummary) -> None:
    """Switch the roll in service to this generation (one transaction), then mark the leavers inactive."""
    gen = run.gen
    gone = f"vr:gone:{gen}"
    s.active = int(r.scard(run.k_active))
    s.inactive = s.imported - s.active
    # Leaving the roll: on it now and not in this generation; plus anything an interrupted run wrote as
    # active (RECHECK) that this generation does not confirm.
    s.deactivated = int(r.sdiffstore(gone, [ACTIVE, run.k_active]))
    if r.exists(RECHECK):
        r.sdiffstore(gone + ":recheck", [RECHECK, run.k_active])
        r.sunionstore(gone, [gone, gone + ":recheck"])
        r.delete(gone + ":recheck")
    k_new = new_phones_key(gen)
    s.new_phones_count = int(r.sdiffstore(k_new, [run.k_phones, ACTIVE_PHONES]))
    s.new_phones_key = k_new
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with r.pipeline(transaction=True) as p:
        for src, dst in ((run.k_active, ACTIVE), (run.k_phones, ACTIVE_PHONES)):
            p.delete(dst)
            p.eval("if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('RENAME', KEYS[1], KEYS[2]) end",
                   2, src, dst)
        p.delete(RECHECK)
        p.expire(k_new, NEW_PHONES_TTL_S)
        p.hset(META, mapping={
            "generation": gen, "imported_at": now, "files": ",".join(s.files), "rows": s.rows,
            "voters": s.imported, "active": s.active, "rejected": s.rejected, "cleanup": gen,
            "district": s.district or "",
        })
        p.hdel(META, "importing")
        p.execute()
    _cleanup(r, gen)
    if 0 < s.new_phones_count <= NEW_PHONES_INLINE:
        s.new_phones = set(r.smembers(k_new))


def _progress(stream: RowStream, s: ImportSummary, enabled: bool) -> tuple[Any, Any]:
    from tqdm import tqdm

    bar = tqdm(total=stream.bytes_total, unit="B", unit_scale=True, disable=not enabled, file=sys.stderr,
               desc="import-voters", smoothing=0.1)
    t0 = time.monotonic()

    def tick() -> None:
        bar.n = min(stream.position(), stream.bytes_total)
        rate = s.rows / max(time.monotonic() - t0, 1e-6)
        bar.set_postfix_str(f"{s.rows:,} rows, {rate:,.0f} rows/s", refresh=False)
        bar.refresh()

    return bar, tick


def import_voters(
    r: redis.Redis,
    paths: list[Path],
    fmt: str | None = None,
    district: str | None = None,
    *,
    out_dir: Path,
    audit: Any = None,
    progress: bool = True,
) -> ImportSummary:
    """Import voter files as the new roll; returns the summary (also written to `out_dir`).

    r: blocking client (`decode_responses=True`). paths: files, zip archives or directories, read in
    order as one delivery. fmt: "iowa" | "ncsbe" | None (detected per file). district: keep only that
    Congressional district ("3"). out_dir: gets `<stamp>.summary.json` and `<stamp>.rejects.csv`
    (source, line, regn_num, action, reason for every row not imported as is). audit: an
    `audit.log.AuditLog`; a `voter-roll-imported` event is appended after the commit.

    Raises FormatError (unreadable file), ImportLocked, NothingToImport, redis.RedisError: in each case
    nothing was committed and the previous roll is still in service (a re-run picks up cleanly).
    """
    t0 = time.monotonic()
    srcs = sources([Path(p) for p in paths])
    stream = RowStream(srcs, fmt)
    dist = normalize_district(district) if district else None
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    s = ImportSummary(files=[x.name for x in srcs], district=dist,
                      started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    me = _lock(r)
    gen = 0
    try:
        _recover(r)
        gen = int(r.hincrby(META, "started", 1))
        r.hset(META, "importing", gen)
        s.generation = gen
        base = out_dir / f"{stamp}-g{gen}"
        s.summary_path, s.rejects_path = str(base) + ".summary.json", str(base) + ".rejects.csv"
        with open(s.rejects_path, "w", newline="", encoding="utf-8") as fh:
            rejects = csv.writer(fh)
            rejects.writerow(("source", "line", "regn_num", "action", "reason"))
            run = _Run(r, gen, dist, rejects, s)
            bar, tick = _progress(stream, s, progress)
            try:
                run.feed(stream, tick)
            finally:
                bar.close()
                run.wire.close()
        s.formats = dict(stream.formats)
        if s.imported == 0:
            raise NothingToImport(
                f"no valid row to import ({s.rows} rows read, {s.rejected} rejected, {s.filtered} in other"
                " districts); the roll in service is unchanged"
            )
        _commit(r, run, s)
        s.status = "committed"
    except (ImportAborted, FormatError, redis.RedisError, OSError) as e:
        s.status, s.error = "aborted", str(e)
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
    return s


def _audit(audit: Any, s: ImportSummary) -> None:
    data = {"file": ", ".join(s.files), "rows": s.rows, "active": s.active,
            "inactive": s.inactive + s.deactivated, "rejected": s.rejected}
    if hasattr(audit, "append_sync"):
        audit.append_sync("voter-roll-imported", None, None, data)
    else:
        import asyncio

        asyncio.run(audit.append("voter-roll-imported", None, None, data))


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
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    """CLI entry point; exit status 0 committed, 1 aborted (roll unchanged), 2 usage."""
    args = _parse_args(argv)
    from infra.redis_client import sync_client
    from infra.settings import get_settings

    settings = get_settings()
    audit = None
    try:
        from audit.log import AuditLog

        audit = AuditLog(settings.audit_log_path)
    except ImportError:
        audit = None
    r = sync_client(settings)
    out_dir = args.out_dir or settings.var_dir / "imports"
    try:
        s = import_voters(r, args.files, args.format, args.district, out_dir=out_dir, audit=audit,
                          progress=not args.no_progress)
    except (ImportAborted, FormatError, redis.RedisError, OSError) as e:
        print(f"import-voters: {e}\nthe roll in service is unchanged", file=sys.stderr)
        return 1
    finally:
        if audit is not None and hasattr(audit, "close"):
            audit.close()
    _print_summary(s)
    return 0


def iter_rows(paths: list[Path], fmt: str | None = None) -> Iterator[Row | Reject]:
    """Parse without importing (benchmarks, dry runs): every Row or Reject of the delivery, in order."""
    return iter(RowStream(sources([Path(p) for p in paths]), fmt))
