"""`./run_delegate_network [serve]`: start Valkey, the Telnyx emulator (when no TELNYX_API_KEY) and the app.

On first start (empty roll) it generates the anonymized sample district, imports it and the bills, so a
newcomer can place a simulated call at once; it then prints an example `call` line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import redis
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from infra.redis_client import redis_url
from infra.settings import ROOT, Settings, get_settings
from ivr.app import Wiring, create_app

log = logging.getLogger(__name__)
BILLS_FILE = ROOT / "data" / "bills.json"
# The HTTP protocol for `uvicorn --http ivr.server:NoDelayHTTP` (see NoDelayHTTP).
HTTP_PROTOCOL = "ivr.server:NoDelayHTTP"


class NoDelayHTTP(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol (httptools, else h11) with TCP_NODELAY on every connection.

    `uvicorn --workers N` binds the listening socket itself with `proto` 0, accepted sockets inherit
    it and asyncio then leaves Nagle's algorithm on (uvicorn issue #3149): a response written as headers
    then body waits for the peer's delayed ACK, ~40 ms per keep-alive request on Linux. Measured here:
    webhook delivery p50 44 ms with 2 workers vs 2 ms with 1 (bench/load_calls.py)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


@dataclass
class Stack:
    """What `start_stack` brought up: the app and (in emulator mode) the emulator, as uvicorn servers."""

    app_server: uvicorn.Server
    emulator_server: uvicorn.Server | None
    wiring: Wiring

    async def serve(self) -> None:
        servers = [self.app_server] + ([self.emulator_server] if self.emulator_server else [])
        await asyncio.gather(*(s.serve() for s in servers))


def wiring_for(settings: Settings, url: str) -> Wiring:
    """Telnyx itself when TELNYX_API_KEY is set; otherwise the local emulator on EMULATOR_PORT, whose
    webhooks are signed with a locally generated Ed25519 key (`var/emulator_ed25519.key`). A PUBLIC_ONLY
    instance talks to neither and reads no key (it must not create one in its read-only VAR_DIR)."""
    if settings.public_only:
        return Wiring(settings, url, "", "", "", background=False)
    if settings.telnyx_api_key:
        base_url = settings.telnyx_base_url or "https://api.telnyx.com/v2"
        return Wiring(settings, url, base_url, settings.telnyx_api_key, settings.telnyx_public_key)
    from ivr.signature import load_or_create_keypair

    _, public = load_or_create_keypair(settings.var_dir / "emulator_ed25519.key")
    return Wiring(settings, url, f"http://127.0.0.1:{settings.emulator_port}/v2", "emulator-key", public)


def app_factory() -> FastAPI:
    """The app for `uvicorn --factory ivr.server:app_factory --workers N` (several worker processes);
    settings from the environment and `.env`. In emulator mode start the emulator separately
    (`python -m ivr.emulator`)."""
    from infra.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return create_app(wiring_for(settings, redis_url(settings)))


def build_stack(settings: Settings, url: str) -> Stack:
    """App + emulator (when there is no TELNYX_API_KEY) as uvicorn servers in one process."""
    wiring = wiring_for(settings, url)
    emulator_server = None
    if not settings.telnyx_api_key and not settings.public_only:  # a public instance places no calls
        from ivr.emulator import create_emulator
        from ivr.signature import load_or_create_keypair

        private, _ = load_or_create_keypair(settings.var_dir / "emulator_ed25519.key")
        emulator = create_emulator(f"http://{settings.host}:{settings.port}/webhooks/telnyx", private)
        emulator_server = uvicorn.Server(uvicorn.Config(emulator, host="127.0.0.1", port=settings.emulator_port,
                                                        log_level="warning"))
    app_server = uvicorn.Server(uvicorn.Config(create_app(wiring), host=settings.host, port=settings.port,
                                               log_level=settings.log_level.lower(), http=NoDelayHTTP))
    return Stack(app_server, emulator_server, wiring)


def load_sample_if_empty(settings: Settings, r: redis.Redis) -> None:
    """First start: generate and import the sample district and the bills (idempotent)."""
    from audit.log import AuditLog

    audit = AuditLog(settings.audit_log_path)
    if not r.scard("vr:active"):
        from data.generate_sample import generate
        from voter_registry.importer import import_voters

        sample = settings.var_dir / "sample" / f"iowa-district-{settings.sample_district}.csv"
        sample.parent.mkdir(parents=True, exist_ok=True)
        print(f"Generating a sample district of {settings.sample_voters:,} voters ...", flush=True)
        generate(settings.sample_voters, settings.sample_seed, sample, fmt="iowa", district=settings.sample_district)
        import_voters(r, [sample], "iowa", None, out_dir=settings.var_dir / "imports", audit=audit)
    if not r.exists("bill:keys") and BILLS_FILE.exists():
        from delegation.bills_import import import_bills_file

        import_bills_file(r, BILLS_FILE, audit=audit)
    audit.close()


def example_caller(r: redis.Redis) -> tuple[str, str] | None:
    """(E.164 of a sample voter with a phone, public name of another voter to delegate to)."""
    from voter_registry.model import Voter

    for key in r.scan_iter("vr:phone:*", count=1000):
        regns = list(r.smembers(key))
        if len(regns) != 1:
            continue
        caller = Voter.from_dict(r.hgetall(f"vr:v:{regns[0]}"))
        for other in r.srandmember("vr:active", 50):
            v = Voter.from_dict(r.hgetall(f"vr:v:{other}"))
            if v.regn_num != caller.regn_num and v.city:
                return key.split(":", 2)[2], f"{v.first.title()} {v.last.title()} of {v.city.title()}"
    return None


def _shown(path: Path) -> str:
    """A path relative to the project when it lies inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _serve_public(settings: Settings, url: str) -> int:
    """PUBLIC_ONLY: the read-only public pages on HOST:PORT; no sample loading, no emulator, no writes."""
    stack = build_stack(settings, url)
    print(f"\nThe Delegate Network public pages (PUBLIC_ONLY, read-only) on http://{settings.host}:{settings.port}/ "
          f"reading {_shown(settings.audit_log_path)} and Redis at {url.rsplit('@', 1)[-1]}.", flush=True)
    asyncio.run(stack.serve())
    return 0


def main(argv: list[str]) -> int:
    """Entry point of `serve`. With PUBLIC_ONLY=true (environment or .env) only the read-only public
    pages are served (no sample loading, no emulator, no webhook route)."""
    parser = argparse.ArgumentParser(prog="run_delegate_network serve")
    parser.add_argument("--no-sample", action="store_true", help="do not load the sample district")
    args = parser.parse_args(argv)
    settings = get_settings()
    from infra.logging import configure_logging

    configure_logging(settings.log_level, json=settings.log_json)
    url = redis_url(settings)
    if settings.public_only:
        return _serve_public(settings, url)
    r = redis.Redis.from_url(url, decode_responses=True)
    if not args.no_sample:
        load_sample_if_empty(settings, r)
    stack = build_stack(settings, url)
    ex = example_caller(r)
    print(f"\nThe Delegate Network is listening on http://{settings.host}:{settings.port}/ "
          f"(public tallies at /, audit log at /public/audit.log).")
    if stack.emulator_server:
        print(f"Telnyx emulator on http://127.0.0.1:{settings.emulator_port}/v2 (no TELNYX_API_KEY set).")
    if ex:
        phone, name = ex
        print("\nIn a second terminal, place a call as a sample voter:\n"
              f'  ./run_delegate_network call --from {phone} --say "delegate" --say "{name}" --say "yes" '
              '--say "vote" --say "list" --say "h r 1" --say "yes" --say "yes" --say "goodbye"\n'
              f"Then read the audit log: tail {_shown(settings.audit_log_path)}\n", flush=True)
    asyncio.run(stack.serve())
    return 0
