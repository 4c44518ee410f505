"""Speed of the sample-roll generator against the CSV-writing floor, measured in the same process.

`python -m bench.generate_sample_bench --voters 2200000 [--seed 1] [--stats]` prints:
- tables: loading the public aggregate tables (once per process);
- iter_voters: voters a second, building Voter objects only;
- generate(iowa): the whole file, and the baseline: writing the same number of fixed 40-column rows
  with csv.writer (the floor any Python generator of this file pays); the ratio is the figure to watch.
  CPU seconds are printed next to wall seconds: on a shared machine the wall time mostly measures the
  neighbours.
- with --stats, the realism figures of the roll (data.sample_stats.roll_stats).
Target: a statewide 2.2 M roll in well under 2 minutes.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path


def _floor(n: int, path: Path) -> float:
    row = ["123456789", "JOHN", "QUINCY", "DOE", "", "01/02/2003", "01/02/2003", "", "5155550123", "123"] + \
        ["X"] * 30
    t0 = time.perf_counter()
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        for _ in range(0, n, 1000):
            w.writerows([row] * 1000)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """CLI: --voters N [--seed S] [--stats]."""
    ap = argparse.ArgumentParser(prog="python -m bench.generate_sample_bench")
    ap.add_argument("--voters", type=int, default=2_200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stats", action="store_true", help="also print the realism figures")
    a = ap.parse_args(argv)
    from data import sample_tables as tables
    from data.generate_sample import generate, iter_voters

    t0 = time.perf_counter()
    tables.places(), tables.surnames(), tables.birth_years(), tables.first_names("F", 1960)
    print(f"tables            {time.perf_counter() - t0:6.1f} s")
    t0, c0 = time.perf_counter(), time.process_time()
    n = sum(1 for _ in iter_voters(a.voters, a.seed))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"iter_voters       {dt:6.1f} s  {n / dt:10,.0f} voters/s  (CPU {cpu:.1f} s)")
    with tempfile.TemporaryDirectory() as d:
        c0 = time.process_time()
        s = generate(a.voters, a.seed, Path(d) / "roll.csv")
        cpu = time.process_time() - c0
        c0 = time.process_time()
        base = _floor(s.rows, Path(d) / "floor.csv")
        base_cpu = time.process_time() - c0
        print(f"generate(iowa)    {s.seconds:6.1f} s  {s.voters / s.seconds:10,.0f} voters/s  (CPU {cpu:.1f} s, "
              f"{s.rows:,} rows)")
        print(f"baseline csv      {base:6.1f} s  {s.rows / base:10,.0f} rows/s  (CPU {base_cpu:.1f} s) -> "
              f"generator/baseline {cpu / base_cpu:.1f}x CPU")
    if a.stats:
        from data.sample_stats import roll_stats

        for k, v in roll_stats(iter_voters(a.voters, a.seed)).items():
            print(f"{k:26} {v:.4f}" if isinstance(v, float) else f"{k:26} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
