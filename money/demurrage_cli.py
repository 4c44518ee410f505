"""`./run_delegate_network demurrage [--period ID] [--rate PPM] [--chunk N] [--quiet]`

Applies one demurrage period exactly once (money/demurrage.py) and prints its figures (no phone numbers:
only counts and cents). Default period: the latest completed one by the UTC clock and
DEMURRAGE_PERIOD_S (the period still running is not applied, so that voters acting later in it are not
left out); `--period current` applies the running period now. Default rate: DEMURRAGE_RATE_PPM.
Exit status 0 on success, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from money.amounts import format_amount
from money.demurrage import ASSESS_CHUNK, PeriodResult, run_period
from money.errors import PeriodError
from money.participation import check_period_id, last_completed_period_id, period_id


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_delegate_network demurrage", description=__doc__.split("\n\n")[1])
    p.add_argument("--period", help="period id (default: latest completed; 'current': the running one)")
    p.add_argument("--rate", type=int, help="fee in parts per million per period (default DEMURRAGE_RATE_PPM)")
    p.add_argument("--chunk", type=int, default=ASSESS_CHUNK, help="accounts per Redis script")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


async def _run(pid: str, rate: int, chunk: int, quiet: bool) -> PeriodResult:
    from tqdm import tqdm

    from audit.log import AuditLog
    from infra.redis_client import async_client
    from infra.settings import get_settings

    settings = get_settings()
    r = async_client(settings)
    audit = AuditLog(settings.audit_log_path)
    bars: dict[str, tqdm] = {}

    def progress(phase: str, n: int) -> None:
        if quiet:
            return
        if phase not in bars:
            bars[phase] = tqdm(desc=f"demurrage {phase}", unit=" accounts" if phase != "audit" else " events",
                               file=sys.stderr)
        bars[phase].update(n)

    try:
        return await run_period(r, pid, rate, audit, chunk=chunk, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
        audit.close()
        await r.aclose()


def main(argv: list[str]) -> int:
    """CLI entry point (infra/cli.py: `demurrage`)."""
    from infra.settings import get_settings

    args = _parser().parse_args(argv)
    settings = get_settings()
    now = datetime.now(UTC)
    if args.period in (None, ""):
        pid = last_completed_period_id(now, settings.demurrage_period_s)
    elif args.period == "current":
        pid = period_id(now, settings.demurrage_period_s)
    else:
        pid = args.period
    rate = settings.demurrage_rate_ppm if args.rate is None else args.rate
    try:
        check_period_id(pid)
        if not 0 <= rate <= 1_000_000 or args.chunk < 1 or args.chunk > 7000:
            raise ValueError("--rate must be 0..1000000 and --chunk 1..7000")
    except (PeriodError, ValueError) as e:
        print(f"demurrage: {e}", file=sys.stderr)
        return 2
    res = asyncio.run(_run(pid, rate, args.chunk, args.quiet))
    again = " (already applied; nothing changed)" if res.rerun else ""
    print(f"period {res.period}{again}: rate {res.rate_ppm} ppm; {res.accounts} accounts charged "
          f"{format_amount(res.fees_cents)}; {res.participants} participants received "
          f"{format_amount(res.share_cents)} each; pool carried: {format_amount(res.pool_cents)}")
    return 0
