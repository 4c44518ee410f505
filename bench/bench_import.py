"""Benchmark of import-voters on a generated Iowa-shaped roll, with baselines in the same run.

    .venv/bin/python -m bench.bench_import [--rows 2200000] [--seed 1] [--file PATH] [--naive-rows 5000]
                                           [--workers N] [--breakdown]

Target (issue 3): 2.2 M rows into a ready-to-match registry (hashes, households, active roll and the
spoken-name index) in <= 60 s end to end, Redis used_memory <= 1 GB.
Prints: generation time (not counted), baseline A = plain `csv` read of the same file (the floor for any
importer in Python), baseline B = naive import (one redis-py round trip per row: HSET, SADDs and the index
commands) on a sample, extrapolated; then the real import: wall time, rows/s, used_memory and its peak.
A fresh embedded Valkey (same settings as production: append-only, fsync always) is started in a
temporary directory, so the service's own data are never touched.
With --breakdown it also prints where the time goes: single-process CPU of each client stage on the
same file (csv, Voter building, the spoken-name index's keys, the commands of a first import), and the
server's time per command from INFO commandstats, its protocol/AOF share and its AOF rewrites.
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import tempfile
import time
from itertools import islice
from pathlib import Path

import redis

from infra.redis_server import ensure_redis, stop_embedded
from voter_registry.formats import IOWA_COLUMNS, Row
from voter_registry.hashdump import HashDumper
from voter_registry.importer import (
    _CACHED,
    _FIELDS,
    BATCH_ROWS,
    _hash_dumper,
    _Wire,
    import_voters,
    iter_rows,
)

ROOT = Path(__file__).resolve().parent.parent


def make_file(rows: int, seed: int, path: Path) -> float:
    """Write the roll with data.generate_sample (or a quick writer of its own); seconds taken."""
    t0 = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        from data.generate_sample import generate
    except ImportError:
        _quick_writer(rows, seed, path)
    else:
        generate(rows, seed, path, progress=True)
    return time.perf_counter() - t0


def _quick_writer(rows: int, seed: int, path: Path) -> None:
    import random

    rng = random.Random(seed)
    firsts = ["JOHN", "MARY", "JAMES", "LINDA", "ROBERT", "SUSAN", "MICHAEL", "KAREN", "DAVID", "LISA"]
    lasts = ["SMITH", "JOHNSON", "MILLER", "BROWN", "DAVIS", "WILSON", "ANDERSON", "TAYLOR", "MOORE", "JACKSON"]
    towns = [
        ("AMES", "50010", "STORY", "4"),
        ("DES MOINES", "50309", "POLK", "3"),
        ("OTTUMWA", "52501", "WAPELLO", "1"),
        ("SIOUX CITY", "51106", "WOODBURY", "4"),
        ("CENTERVILLE", "52544", "APPANOOSE", "3"),
    ]
    cols = {c: i for i, c in reversed(list(enumerate(IOWA_COLUMNS)))}
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(IOWA_COLUMNS)
        for n in range(rows):
            town = rng.choice(towns)
            row = [""] * len(IOWA_COLUMNS)
            for c, v in (
                ("REGN_NUM", str(100_000_000 + n)),
                ("FIRST_NAME", rng.choice(firsts)),
                ("LAST_NAME", rng.choice(lasts) + str(rng.randrange(2000))),
                ("LAST_UPDATED_DATE", "01/15/2024"),
                ("HOUSE_NUM", str(rng.randrange(1, 9999))),
                ("STREET_NAME", "MAPLE"),
                ("STREET_TYPE", "ST"),
                ("CITY", town[0]),
                ("ZIP_CODE", town[1]),
                ("COUNTY", town[2]),
                ("CONGRESSIONAL", town[3]),
                ("VOTERSTATUS", "Active"),
                ("BIRTHDATE", f"01/01/{rng.randrange(1930, 2006)}"),
                ("PHONENO", f"515555{rng.randrange(10000):04d}" if rng.random() < 0.4 else ""),
            ):
                row[cols[c]] = v
            w.writerow(row)


def baseline_csv(path: Path) -> tuple[int, float]:
    """(rows, seconds) for a bare csv.reader pass."""
    t0 = time.perf_counter()
    with open(path, newline="", encoding="utf-8") as f:
        n = sum(1 for _ in csv.reader(f)) - 1
    return n, time.perf_counter() - t0


def baseline_naive(r: redis.Redis, path: Path, sample: int) -> float:
    """Seconds per row of a naive importer: one pipeline round trip per row through redis-py."""
    from voter_registry.store import file_voter

    rows = [x for x in islice(iter_rows([path]), sample) if isinstance(x, Row)]
    t0 = time.perf_counter()
    for row in rows:
        v = row.voter
        p = r.pipeline(transaction=False)
        file_voter(p, v)
        p.execute()
    return (time.perf_counter() - t0) / max(len(rows), 1)


def ready_to_match(r: redis.Redis, sample: int = 20) -> tuple[float, int, int]:
    """(ms for the first match after the import, sampled voters found, sampled) with the matcher."""
    try:
        from voter_registry.matcher import SyncMatcher
    except ImportError:
        return 0.0, 0, 0
    from voter_registry.store import SyncVoterStore

    voters = list(SyncVoterStore(r).get_many(r.srandmember("vr:active", sample)).values())
    m = SyncMatcher(r)
    t0 = time.perf_counter()
    found = 0
    first_ms = 0.0
    for i, v in enumerate(voters):
        res = m.match(f"{v.first} {v.last} of {v.city}")
        if i == 0:
            first_ms = (time.perf_counter() - t0) * 1000
        found += any(c.regn_num == v.regn_num for c in res.candidates)
    return first_ms, found, len(voters)


def breakdown(path: Path, dumper: HashDumper | None) -> list[tuple[str, float, int]]:
    """(stage, CPU seconds in this process, rows) for each client stage of a first import of `path`,
    cumulative: each stage includes the ones before it. Cyclic GC is off, as in the importer's workers
    (here it would walk the whole parsed roll again and again)."""
    import gc

    gc.disable()
    try:
        return _stages(path, dumper)
    finally:
        gc.enable()


def _stages(path: Path, dumper: HashDumper | None) -> list[tuple[str, float, int]]:
    from voter_registry.importer import _PHONE, SEEN, CommandBatch, _Run
    from voter_registry.index import filing_values
    from voter_registry.native import bulk_restores
    from voter_registry.store import PHONE, VOTER

    out = []
    t0 = time.process_time()
    with open(path, newline="", encoding="utf-8") as f:
        n = sum(1 for _ in csv.reader(f))
    out.append(("csv.reader", time.process_time() - t0, n))
    t0 = time.process_time()
    rows = [x for x in iter_rows([path]) if isinstance(x, Row)]
    out.append(("+ parsed rows (formats)", time.process_time() - t0, len(rows)))
    t1 = time.process_time()
    for x in rows:
        filing_values(x.vals)
    out.append(("+ index keys (index.filing_values)", time.process_time() - t0, len(rows)))
    run = _Run.__new__(_Run)  # only its command building: no connection
    run.encode = dumper.row_encoder((*_FIELDS, SEEN), _CACHED) if dumper is not None else None
    run.bulk = bulk_restores(dumper, (*_FIELDS, SEEN), VOTER, PHONE, _PHONE) if dumper is not None else None
    t1 = time.process_time()
    for i in range(0, len(rows), BATCH_ROWS):
        b, fresh = CommandBatch(), []
        for x in rows[i : i + BATCH_ROWS]:
            run._write(b, VOTER + x.vals[0], [*x.vals, "100000"], None, fresh)
        run._store_new(b, fresh)
        b.payload()
    out.append(("+ commands of a first import (packed)", time.process_time() - t1 + out[1][1], len(rows)))
    return out


def _client_cpu() -> float:
    """CPU seconds of this process and its finished children (the import's worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _server_cpu(r: redis.Redis) -> float:
    c = r.info("cpu")
    return float(c["used_cpu_user"]) + float(c["used_cpu_sys"])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_200_000, help="voters to generate (default 2.2 M)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--file", type=Path, default=None, help="import this file instead of generating one")
    ap.add_argument("--naive-rows", type=int, default=5000, help="sample size of the naive baseline")
    ap.add_argument("--workers", type=int, default=None, help="importer worker processes (default: CPUs)")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--breakdown", action="store_true", help="also time each stage (client CPU, server commands)")
    args = ap.parse_args(argv)

    path = args.file or ROOT / "var" / "bench" / f"ia-{args.rows}-s{args.seed}.csv"
    if not path.exists():
        print(f"generating {args.rows:,} voters -> {path} ...")
        print(f"  generated in {make_file(args.rows, args.seed, path):.1f} s (not counted)")
    size_mb = path.stat().st_size / 1e6
    n, t_csv = baseline_csv(path)
    print(f"file {path.name}: {n:,} rows, {size_mb:,.0f} MB")

    var = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        r = redis.Redis.from_url(ensure_redis(var), decode_responses=True)
        naive_s = baseline_naive(r, path, args.naive_rows)
        r.flushall()
        stages = []
        if args.breakdown:
            wire = _Wire(dict(r.connection_pool.connection_kwargs))
            stages = breakdown(path, _hash_dumper(wire))
            wire.close()
        mem0 = int(r.info("memory")["used_memory"])
        r.config_resetstat()
        cpu0, srv0 = _client_cpu(), _server_cpu(r)
        t0 = time.perf_counter()
        s = import_voters(
            r, [path], None, None, out_dir=var / "imports", progress=not args.no_progress, workers=args.workers
        )
        wall = time.perf_counter() - t0
        cpu, srv = _client_cpu() - cpu0, _server_cpu(r) - srv0
        cmdstats, persist, cpuinfo = r.info("commandstats"), r.info("persistence"), r.info("cpu")
        mem = r.info("memory")
        used, peak = int(mem["used_memory"]) - mem0, int(mem["used_memory_peak"]) - mem0
        active = r.scard("vr:active")
        ready_ms, found, tried = ready_to_match(r)
    finally:
        stop_embedded(var)
        shutil.rmtree(var, ignore_errors=True)

    print()
    print(f"{'':34}{'seconds':>10}{'rows/s':>12}   notes")
    print(f"{'A. csv.reader only (floor)':34}{t_csv:>10.1f}{n / t_csv:>12,.0f}")
    print(
        f"{'B. naive, 1 round trip per row':34}{naive_s * n:>10.1f}{1 / naive_s:>12,.0f}"
        f"   extrapolated from {args.naive_rows:,} rows"
    )
    print(
        f"{'import-voters':34}{wall:>10.1f}{s.rows / wall:>12,.0f}"
        f"   {wall / (naive_s * n):.2f}x of B, {wall / t_csv:.1f}x of A"
    )
    print()
    if tried:
        print(
            f"ready to match: first match {ready_ms:.0f} ms after the import (loads the vocabularies);"
            f" {found}/{tried} sampled voters found by 'FIRST LAST of CITY'"
        )
    print(f"voters {s.imported:,}  active {active:,}  rejected {s.rejected:,}  duplicates {s.superseded:,}")
    print(
        f"Redis used_memory {used / 2**20:,.0f} MiB (peak {peak / 2**20:,.0f} MiB);"
        f" {used / max(s.imported, 1):.0f} bytes per voter"
    )
    print(
        f"CPU per row: importer processes {cpu / s.rows * 1e6:.1f} us, Redis server {srv / s.rows * 1e6:.1f} us"
        f" (the server is single-threaded: {srv / s.rows * 2.2e6:.0f} s of server time for 2.2 M rows)"
    )
    if args.breakdown:
        print("\nclient stages (one process, CPU, cumulative):")
        for label, sec, rows in stages:
            print(f"  {label:44}{sec:8.1f} s {sec / max(rows, 1) * 1e6:8.1f} us/row")
        total = sum(v["usec"] for v in cmdstats.values()) / 1e6
        print(
            f"server: {srv:.1f} s CPU, of which {total:.1f} s executing commands; the rest is protocol parsing,"
            f" replies and the append-only file ({persist['aof_rewrites']} AOF rewrites, in child processes:"
            f" {float(cpuinfo['used_cpu_user_children']) + float(cpuinfo['used_cpu_sys_children']):.1f} s)"
        )
        for name, v in sorted(cmdstats.items(), key=lambda kv: -kv[1]["usec"])[:8]:
            print(
                f"  {name.removeprefix('cmdstat_'):14}{v['calls']:>11,} calls {v['usec'] / 1e6:7.2f} s"
                f" {v['usec_per_call']:7.2f} us/call"
            )
        print(f"commit (after the workers): {s.commit_s:.1f} s")
    scale = 2_200_000 / max(s.rows, 1)
    print(
        f"target: <= 60 s and <= 1024 MiB for 2.2 M rows; this run scaled to 2.2 M:"
        f" {wall * scale:.0f} s, {used * scale / 2**20:,.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
