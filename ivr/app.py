"""The FastAPI app: Telnyx webhooks in, public pages and audit endpoints out.

`POST /webhooks/telnyx` verifies the Ed25519 signature on the raw body (401 and no state change when
missing, bad or older than `WEBHOOK_TOLERANCE_S`), parses the event tolerantly (unknown types: 200,
ignored), queues it for its call and answers at once; the call's worker does the rest (`ivr.runner`).

`PUBLIC_ONLY=true` (the public instance on a read-only replica, docs/operations.md): only the read
routes are mounted, nothing runs in the background, and the audit log is read as a copy
(`ivr.public_only.ReadOnlyAuditLog`): nothing is ever written to Redis or to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import redis
import redis.asyncio as aioredis
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from infra.redis_client import async_client_for
from infra.settings import Settings
from ivr import metrics
from ivr.effects import Effects
from ivr.runner import CallQueues, CallRunner
from ivr.signature import BadSignature, verify
from ivr.telnyx_adapter import parse_webhook
from ivr.telnyx_client import CallCommands, make_client

log = logging.getLogger(__name__)
MAX_WEBHOOK_BYTES = 64 * 1024


@dataclass
class Wiring:
    """What the app is built from; every part is real (Redis server, SDK over HTTP)."""

    settings: Settings
    redis_url: str
    telnyx_base_url: str
    telnyx_api_key: str
    telnyx_public_key: str
    http_client: httpx.AsyncClient | None = None
    background: bool = True  # tree heads, bill closing, demurrage scheduler


def build_effects(r: aioredis.Redis, settings: Settings, audit: Any, commands: CallCommands | None = None) -> Effects:
    """Our stores behind the dialogue."""
    from delegation.bills import BillStore
    from delegation.store import DelegationStore
    from ivr.guards import Guards
    from money.ledger import Ledger
    from voter_registry.matcher import Matcher
    from voter_registry.store import VoterStore

    return Effects(r=r, voters=VoterStore(r), matcher=Matcher(r), delegations=DelegationStore(r),
                   bills=BillStore(r), audit=audit, ledger=Ledger(r, audit),
                   activations_to_reward=settings.number_of_activations_to_reward,
                   sovereigns=settings.sovereigns, require_attestation=settings.require_attestation,
                   period_s=settings.demurrage_period_s, captcha_digits=settings.captcha_digits,
                   dial=commands.dial if commands else None, connection_id=settings.telnyx_connection_id,
                   verified_for_s=settings.verified_for_s, verify_dial_delay_s=settings.verify_dial_delay_s,
                   guards=Guards.from_settings(r, settings))


def create_app(w: Wiring) -> FastAPI:
    """Build the app. Routers of the other packages (pages, audit, money) are mounted here; with
    `settings.public_only` only those reads (no webhook route, no background writers)."""

    public_only = w.settings.public_only

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from audit.log import AuditLog

        r = async_client_for(w.redis_url)
        if public_only:  # reads only: no Telnyx client, no call queues, no background writers
            from ivr.public_only import ReadOnlyAuditLog

            app.state.redis, app.state.settings = r, w.settings
            app.state.audit = ReadOnlyAuditLog(w.settings.audit_log_path)
            try:
                yield
            finally:
                await r.aclose()
            return
        audit = AuditLog(w.settings.audit_log_path)
        client = make_client(w.telnyx_base_url, w.telnyx_api_key, http_client=w.http_client or _telnyx_http())
        commands = CallCommands(client, voice=w.settings.telnyx_voice, engine=w.settings.transcription_engine)
        effects = build_effects(r, w.settings, audit, commands)
        runner = CallRunner(r, effects, commands.send)
        app.state.redis, app.state.audit, app.state.settings = r, audit, w.settings
        app.state.queues = CallQueues(runner.handle)
        await _warm_up(effects)
        tasks = await _start_background(r, w, audit) if w.background else []
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await app.state.queues.drain()
            await client.close()
            await audit.aclose()
            await r.aclose()

    app = FastAPI(title="The Delegate Network", lifespan=lifespan)
    if not public_only:
        _webhook_route(app, w)  # first: routes are matched in order, and webhooks are the hot path
    _public_routes(app)

    @app.exception_handler(redis.ConnectionError)
    @app.exception_handler(redis.TimeoutError)
    async def storage_unavailable(request: Request, exc: Exception) -> Response:
        # Valkey restarted or restarting: a temporary outage, not a fault of the request. Idle pooled
        # connections to the old server are dead too: drop them so the next requests reconnect.
        log.warning("%s %s: storage unavailable (%s)", request.method, request.url.path, exc)
        with contextlib.suppress(Exception):
            await request.app.state.redis.connection_pool.disconnect(inuse_connections=False)
        return JSONResponse({"error": "storage unavailable, try again shortly"}, status_code=503,
                            headers={"Retry-After": "1"})

    if public_only:
        from ivr.public_only import NoSignedHead

        @app.exception_handler(NoSignedHead)
        async def no_head(request: Request, exc: NoSignedHead) -> Response:
            return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "60"})

    return app


def _webhook_route(app: FastAPI, w: Wiring) -> None:
    """`POST /webhooks/telnyx` (the primary instance only)."""

    @app.post("/webhooks/telnyx", include_in_schema=False)
    async def telnyx_webhook(request: Request) -> Response:
        started = time.perf_counter()
        try:
            resp = await _webhook(request)
        finally:
            metrics.WEBHOOK_SECONDS.observe(time.perf_counter() - started)
        metrics.WEBHOOKS.labels(str(resp.status_code)).inc()
        return resp

    async def _webhook(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:  # refuse before reading it
            return JSONResponse({"error": "body too large"}, status_code=413)
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_WEBHOOK_BYTES:
                break
        if len(raw) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            verify(raw, request.headers, w.telnyx_public_key, tolerance_s=w.settings.webhook_tolerance_s)
        except BadSignature as exc:
            log.warning("webhook rejected: %s", exc)
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            body = json.loads(raw)
        except ValueError:
            log.warning("webhook with malformed JSON ignored")
            return JSONResponse({"error": "malformed JSON"}, status_code=400)
        inbound = parse_webhook(body)
        if inbound is None:
            return JSONResponse({"status": "ignored"})
        request.app.state.queues.submit(inbound)
        return JSONResponse({"status": "ok"})


def _public_routes(app: FastAPI) -> None:
    """Pages, `/public/*`, audit log and proofs, money views, `/metrics`, `/healthz`, `/readyz`: reads only."""

    @app.get("/public/tentative.json")
    async def tentative(request: Request) -> dict[str, Any]:
        """What unregistered callers would do (tentative; in no tally until their phone is registered):
        {"callers": n, "delegations": n, "votes": {bill: {"yes": n, "no": n, "abstain": n}}}."""
        from voter_registry.tentative import tentative_counts

        return await tentative_counts(request.app.state.redis)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        try:
            await request.app.state.redis.ping()
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            return JSONResponse({"status": "not ready", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready"})

    from audit.api import router as audit_router
    from delegation.pages import router as pages_router
    from money.api import router as money_router

    for router in (pages_router, audit_router, money_router, metrics.router):
        app.include_router(router)


TELNYX_CONNECTIONS = 32


def _telnyx_http() -> httpx.AsyncClient:
    """The SDK's HTTP client: 32 connections, all kept alive. The SDK's default (100, 20 kept) opens and
    closes a connection (a TLS handshake with Telnyx) for each command past 20 in flight, and httpcore
    scans the whole pool for every request, so 100 live connections cost more than they save (profiled:
    a third of a worker's CPU at 100 concurrent calls). 32 in flight = 640 commands/s at a 50 ms RTT."""
    from telnyx import DefaultAsyncHttpxClient

    n = TELNYX_CONNECTIONS
    return DefaultAsyncHttpxClient(limits=httpx.Limits(max_connections=n, max_keepalive_connections=n))


async def _warm_up(effects: Effects) -> None:
    """Load the matcher (pronunciations, nickname index, the roll's vocabularies) before serving: done on
    the first call instead, it blocks this worker's event loop for seconds (every webhook waits)."""
    try:
        await effects.matcher.refresh()
    except Exception:  # noqa: BLE001 - the first match loads it then; readiness reports Redis itself
        log.warning("matcher warm-up failed; it loads on the first call", exc_info=True)


async def _start_background(r: aioredis.Redis, w: Wiring, audit: Any) -> list[asyncio.Task[None]]:
    """Tree heads every minute, bills closing at their floor vote, demurrage periods; and the audit events
    of ledger movements committed just before a crash (the ledger's outbox)."""
    from money.demurrage import demurrage_scheduler
    from money.ledger import Ledger

    with contextlib.suppress(Exception):
        await Ledger(r, audit).flush_outbox()
    audit.ensure_publisher()
    return [asyncio.create_task(demurrage_scheduler(r, w.settings, audit)),
            asyncio.create_task(_bill_closer(w.redis_url, audit))]


async def _bill_closer(url: str, audit: Any, every_s: float = 30.0) -> None:
    """Close each bill when its House floor vote time has passed (R9), then sign a tree head over the log."""
    import redis

    from delegation.bills_import import close_due

    r = redis.Redis.from_url(url, decode_responses=True)
    while True:
        try:
            if await asyncio.to_thread(close_due, r, None, audit):
                await asyncio.to_thread(audit.publish_head)
        except Exception:
            log.exception("closing due bills failed")
        await asyncio.sleep(every_s)
