"""Benchmark the audit log (issue 6 targets), with baselines measured in the same run on the same disk.

    .venv/bin/python bench/bench_audit.py [--appends 20000] [--writers 128] [--events 300000] [--dir DIR]
        [--compiled-only] [--keep]

1. baseline: raw `write + fsync` of one line at a time in DIR (the disk's synchronous write rate);
2. durable appends: `--writers` concurrent asyncio tasks calling `AuditLog.append` (group commit),
   target >= 5,000 events/s; plus `append_sync` one at a time for comparison;
3. baseline: `hashlib.sha256` over the same log bytes, one call per line (the floor of any chain check:
   verifying needs two per line, the event hash and the Merkle leaf) and over the whole buffer at once;
4. verify + replay of a `--events` log written by AuditLog the way the service writes it (voter roll
   import, bills opened and some closed, delegations standing/per bill/ranked, votes, recalls,
   no-delegate, tentative callers and their promotion, payments, mints, awards, demurrage periods;
   SHAKEN/STIR identity on phone actions; a signed head every 50,000 events): the real command
   `./run_delegate_network verify-audit FILE --quiet` timed whole (start, read, every check, heads,
   replay, tallies, printing) with the compiled checker and with the Python path (DN_NATIVE=0),
   `--repeat` times each, alternately; then its parts; target >= 500,000 events/s.
DIR defaults to var/bench-audit (the disk the log lives on); it is removed afterwards (`--keep`: kept,
to time the command again on the same log). `--compiled-only` leaves out the Python path's runs and
parts (for state-scale logs, e.g. `--events 3000000`, where they take minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audit.checks import check_heads, check_lines, load_heads  # noqa: E402
from audit.forks import spare_cpus  # noqa: E402
from audit.log import AuditLog  # noqa: E402
from audit.replay import Replay  # noqa: E402
from delegation.tally import compute  # noqa: E402


def raw_fsync_rate(d: Path, seconds: float) -> float:
    """fsyncs per second writing one ~300-byte line each time (what one-fsync-per-event would reach)."""
    path = d / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    line = b"x" * 299 + b"\n"
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        os.write(fd, line)
        os.fsync(fd)
        n += 1
    el = time.perf_counter() - t0
    os.close(fd)
    path.unlink()
    return n / el


FIRST = ("Ann", "Bob", "Cal", "Dee", "Ed", "Fay", "Gus", "Hal", "Ida", "Jo", "Kim", "Lou", "María", "Ngozi")
LAST = ("Cole", "Lee", "Diaz", "Fox", "King", "Moore", "Park", "Reed", "Stone", "West", "Nguyen", "O'Neil")
CITY = ("Ames", "Nevada", "Boone", "Story City", "Huxley")


def voter(i: int) -> dict[str, str]:
    """A voter's public reference as the service writes it: 9-digit regn_num and public name."""
    return {
        "regn_num": str(100_000_000 + i),
        "name": f"{FIRST[i % 14]} {chr(65 + i % 26)} {LAST[i // 14 % 12]} of {CITY[i // 168 % 5]}",
    }


def identity(rng: random.Random) -> dict[str, object]:
    """SHAKEN/STIR facts recorded with a phone action (ivr.effects._identity)."""
    att = rng.choice("AAAB C")
    return {
        "shaken_stir": {
            "attestation": att if att != " " else "A",
            "validated": att == "A",
            "callback_verified": att != "A",
        }
    }


class Workload:
    """A mixed stream of (type, actor, subject, data) as the service appends them (see module doc)."""

    def __init__(self, rng: random.Random, voters: int, bills: int) -> None:
        self.rng, self.voters = rng, voters
        self.bills = [f"119-hr-{100 + b}" for b in range(bills)]
        self.open = list(self.bills)
        self.k = 0  # activation awards given
        self.period = 0

    def opening(self) -> list[tuple]:
        """The roll import and every bill opened."""
        evs: list[tuple] = [
            (
                "voter-roll-imported",
                None,
                None,
                {"file": "iowa-story.csv", "rows": self.voters, "active": self.voters, "inactive": 0, "rejected": 0},
            )
        ]
        evs += [("bill-opened", None, None, {"bill": b, "title": f"A bill {b}", "closed_at": None}) for b in self.bills]
        return evs

    def demurrage(self) -> list[tuple]:
        """One demurrage period: summary, fees, shares, close (money.events)."""
        rng, self.period = self.rng, self.period + 1
        period = f"2026-W{self.period:02d}"
        payers = rng.sample(range(self.voters), min(600, self.voters))
        fees = [rng.randrange(1, 40) for _ in payers]
        evs: list[tuple] = [
            (
                "demurrage",
                None,
                None,
                {"period": period, "rate_ppm": 1917, "fees_cents": sum(fees), "accounts": len(payers)},
            )
        ]
        evs += [
            ("demurrage-fee", None, voter(v), {"period": period, "amount_cents": c})
            for v, c in zip(payers, fees, strict=True)
        ]
        share, n = divmod(sum(fees), 300)
        evs += [
            ("demurrage-share", None, voter(v), {"period": period, "amount_cents": share})
            for v in rng.sample(range(self.voters), min(300, self.voters))
        ]
        evs.append(("demurrage-closed", None, None, {"period": period, "pool_cents": n}))
        return evs

    def close_bill(self) -> tuple:
        """A bill closes (R9: its tally is frozen here)."""
        b = self.open.pop(0)
        return ("bill-closed", None, None, {"bill": b, "title": f"A bill {b}", "closed_at": "2026-11-21T12:00:00Z"})

    def event(self) -> tuple:
        """One caller's action or money movement."""
        rng = self.rng
        k = rng.random()
        a, b = voter(rng.randrange(self.voters)), voter(rng.randrange(self.voters))
        bill = rng.choice(self.open)
        if k < 0.30:
            scope = "standing" if k < 0.26 else bill
            rank = 1 if rng.random() < 0.95 else rng.choice((2, 3))
            return ("delegate", a, b, {"scope": scope, "rank": rank, "tentative": False, **identity(rng)})
        if k < 0.70:
            return (
                "vote",
                a,
                None,
                {"bill": bill, "choice": rng.choice(("yes", "no", "abstain")), "tentative": False, **identity(rng)},
            )
        if k < 0.74:
            return ("recall", a, b, {"scope": "standing", **identity(rng)})
        if k < 0.76:
            return ("no-delegate", a, None, {"bill": bill, **identity(rng)})
        if k < 0.78:  # an unregistered caller (pseudonym) acts tentatively
            t = {"regn_num": f"T-{rng.getrandbits(40):010x}", "name": "tentative caller"}
            if k < 0.77:
                return ("vote", t, None, {"bill": bill, "choice": "yes", "tentative": True, **identity(rng)})
            return ("delegate", t, b, {"scope": "standing", "rank": 1, "tentative": True, **identity(rng)})
        if k < 0.782:
            return (
                "tentative-promoted",
                {"regn_num": f"T-{rng.getrandbits(40):010x}", "name": "tentative caller"},
                a,
                {"actions": 1, "dropped": 0},
            )
        if k < 0.90:
            return ("payment", a, b, {"amount_cents": rng.randrange(1, 500)})
        if k < 0.95:
            return ("mint", voter(0), b, {"amount_cents": rng.randrange(100, 10_000)})
        self.k += 1
        return ("award", None, a, {"amount_cents": 500, "k": self.k})


def random_event(rng: random.Random, voters: int, bills: int) -> tuple:
    """One action of the mixed workload (for the append benchmark)."""
    return Workload(rng, voters, bills).event()


async def concurrent_appends(lg: AuditLog, total: int, writers: int) -> float:
    """Seconds for `writers` tasks to append `total` events between them, each awaiting its fsync."""
    rng = random.Random(1)
    evs = [random_event(rng, 10_000, 20) for _ in range(total)]
    per = total // writers

    async def writer(w: int) -> None:
        for e in evs[w * per : (w + 1) * per]:
            await lg.append(*e)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print one line per figure; returns 0."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--appends", type=int, default=20_000, help="events for the durable-append benchmark")
    ap.add_argument("--writers", type=int, default=128, help="concurrent async writers (calls in flight)")
    ap.add_argument("--events", type=int, default=300_000, help="events in the verify/replay log")
    ap.add_argument("--voters", type=int, default=50_000)
    ap.add_argument("--bills", type=int, default=20, help="bills opened at the start")
    ap.add_argument("--closes", type=int, default=2, help="bills closed along the way (a tally each)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the whole verify-audit command, each path")
    ap.add_argument("--dir", type=Path, default=ROOT / "var" / "bench-audit")
    ap.add_argument("--compiled-only", action="store_true", help="leave out the Python path (large logs)")
    ap.add_argument("--keep", action="store_true", help="keep DIR (the log, its heads and key) afterwards")
    ap.add_argument("--parts", type=Path, help=argparse.SUPPRESS)  # internal: time the parts of one log
    args = ap.parse_args(argv)
    if args.parts:
        parts(args.parts, args.voters, args.compiled_only)
        return 0
    d: Path = args.dir
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    try:
        fs = raw_fsync_rate(d, 2.0)
        print(f"baseline  raw write+fsync, one line each      {fs:>12,.0f} fsyncs/s   (disk of {d})")

        lg = AuditLog(d / "append.log", heads_every_s=None)
        el = asyncio.run(concurrent_appends(lg, args.appends, args.writers))
        n = args.appends // args.writers * args.writers
        print(
            f"appends   {args.writers} concurrent writers, group commit {n / el:>12,.0f} events/s   "
            f"({lg.fsyncs} fsyncs, {n / max(lg.fsyncs, 1):.0f} events per fsync; target 5,000)"
        )
        k = min(1000, args.appends)
        t0 = time.perf_counter()
        for i in range(k):
            lg.append_sync("vote", voter(i), None, {"bill": "119-hr-1", "choice": "yes", "tentative": False})
        el = time.perf_counter() - t0
        print(f"appends   append_sync one at a time            {k / el:>12,.0f} events/s")
        lg.close()

        print(f"generating a {args.events:,}-event log ...", flush=True)
        path = d / "verify.log"
        lg = AuditLog(path, heads_every_s=None)
        work = Workload(random.Random(2), args.voters, args.bills)
        evs = work.opening()
        # where bills close; ">=" since a demurrage period can step past the exact count
        closes = [args.events * (c + 1) // (args.closes + 1) for c in range(args.closes)]
        while len(evs) < args.events:
            if closes and len(evs) >= closes[0]:
                closes.pop(0)
                evs.append(work.close_bill())
            else:
                evs.append(work.event())
            if len(evs) % 50_000 == 0:
                evs += work.demurrage()
        for start in range(0, len(evs), 50_000):
            lg.append_many_sync(evs[start : start + 50_000])
            lg.publish_head()
        lg.close()
        del evs
        data = path.read_bytes()
        heads = load_heads((d / "verify.heads").read_bytes())
        lines = data.split(b"\n")[:-1]
        mb = len(data) / 1e6

        sha = hashlib.sha256
        t0 = time.perf_counter()
        for ln in lines:
            sha(ln).digest()
        el = time.perf_counter() - t0
        print(
            f"baseline  hashlib.sha256, one call per line    {len(lines) / el:>12,.0f} lines/s    "
            f"({mb / el:,.0f} MB/s, {mb:,.0f} MB, {len(data) / len(lines):.0f} B/line)"
        )
        t0 = time.perf_counter()
        sha(data).digest()
        el = time.perf_counter() - t0
        print(f"baseline  hashlib.sha256, whole buffer         {mb / el:>12,.0f} MB/s")
        del lines

        n = len(data.split(b"\n")) - 1
        del data
        # The command as an auditor runs it: a fresh process (interpreter start and imports included).
        launcher = str(ROOT / "run_delegate_network")
        subprocess.run([launcher, "help"], capture_output=True, check=True)  # a first-run install, untimed
        subprocess.run([sys.executable, "-m", "audit.native"], cwd=ROOT, check=True)  # its build step, untimed
        cmd = [launcher, "verify-audit", str(path), "--quiet"]
        # each run alternately, --repeat times: the box is shared, so the best and the median are printed
        paths: tuple[tuple[str, dict[str, str]], ...] = (("compiled checker", {}),)
        if not args.compiled_only:
            paths += (("Python path, DN_NATIVE=0", {"DN_NATIVE": "0"}),)
        times: dict[str, list[float]] = {label: [] for label, _ in paths}
        for _ in range(args.repeat):
            for label, env in paths:
                t0 = time.perf_counter()
                run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False,
                                     env={**os.environ, **env})
                times[label].append(time.perf_counter() - t0)
                assert run.returncode == 0 and f"verified {n} events" in run.stdout, run.stdout + run.stderr
        for label, els in times.items():
            best, median = min(els), sorted(els)[len(els) // 2]
            print(
                f"verify    ./run_delegate_network verify-audit FILE --quiet, {label}: best {n / best:,.0f} "
                f"events/s ({best:.2f} s), median {n / median:,.0f} ({median:.2f} s) of {len(els)} runs (start, "
                f"read, checks, {len(heads)} heads, replay, {args.bills} tallies, output; target 500,000)",
                flush=True,
            )
        only = ["--compiled-only"] if args.compiled_only else []
        subprocess.run([sys.executable, __file__, "--parts", str(path), "--voters", str(args.voters), *only],
                       check=True)
    finally:
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)
    return 0


def parts(path: Path, voters: int, compiled_only: bool = False) -> None:
    """The command's parts, timed one by one in this (fresh) process: the line checks alone, the line
    checks with the replay fed (compiled checker; unless `compiled_only`, Python with the default workers
    and in one process, and the reference check with the reference tally of the closed bills), heads,
    the bills' tallies."""
    heads = load_heads(path.with_suffix(".heads").read_bytes())
    pub = (path.parent / "audit_operator.pub").read_text().strip()
    for label, kw in (
        ("checks only (no replay), compiled checker", {"replay": None}),
        ("checks + replay feed, compiled checker", {}),
        (f"the same in Python, {spare_cpus()} worker(s)", {"native": False}),
        ("the same in Python, one process", {"native": False, "workers": 0}),
        ("--reference (LINE_RE + json per line)", {"strict": True}),
    ):
        if compiled_only and (kw.get("native") is False or kw.get("strict")):
            continue
        replay = Replay(tally=compute if kw.get("strict") else None)  # as verify-audit --reference
        kw.setdefault("replay", replay)
        t0 = time.perf_counter()
        check = check_lines(path.read_bytes(), **kw)

        t1 = time.perf_counter()
        nh = check_heads(check, heads, pub)
        t2 = time.perf_counter()
        print(
            f"verify    {label:38} {check.count / (t1 - t0):>10,.0f} events/s   (read included; proven by "
            f"{check.proven_by}; + Merkle roots and signatures of {nh} heads {t2 - t1:.2f} s)",
            flush=True,
        )
    replay = Replay()
    check_lines(path.read_bytes(), replay)
    t0 = time.perf_counter()
    tallies = replay.tallies()
    print(
        f"replay    {len(tallies) - len(replay.closed)} open bills' tallies by delegation.engine over {voters:,} "
        f"voters: {time.perf_counter() - t0:.2f} s (one graph, two processes; numpy import included; the "
        f"{len(replay.closed)} closed bills counted from their inputs at close, in a forked process meanwhile)"
    )


if __name__ == "__main__":
    sys.exit(main())
