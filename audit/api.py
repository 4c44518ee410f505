"""Public audit endpoints (issue 6). The AuditLog is `request.app.state.audit`.

- `GET /public/audit.log`: the log as JSON Lines, streamed; `Range: bytes=a-b` (one range, RFC 9110)
  gets 206 with `Content-Range` so that auditors download only what is new. Only complete lines
  are served (never a batch half-written by another process).
- `GET /public/audit/head`: `{"head": {"tree_size", "root_hash", "timestamp", "signature"} | null,
  "public_key": <base64>}`; a head is signed on the spot if none exists yet.
- `GET /public/audit/proof?seq=N[&tree_size=M]`: inclusion proof of event N in the tree of size M
  (default: the latest signed head, re-signed first if it does not cover N): `{"seq", "leaf_index",
  "tree_size", "leaf_hash", "proof": [hex], "root_hash", "event", "head"}`.
- `GET /public/audit/consistency?first=M&second=N`: `{"first", "second", "first_root", "second_root",
  "proof": [hex]}` (RFC 9162 2.1.4).
- `GET /public/audit/heads`: every signed tree head so far, oldest first, JSON Lines.
- `GET /public/audit/pubkey`: the operator's Ed25519 public key, base64 of the raw 32 bytes, text/plain.
Errors: 400 for parameters out of range (with the reason), 416 for an unsatisfiable range.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from audit.errors import ProofError
from audit.log import AuditLog
from audit.treehead import latest_head

router = APIRouter()

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CHUNK = 1 << 16


def _log(request: Request) -> AuditLog:
    audit: AuditLog = request.app.state.audit
    audit.ensure_publisher()  # heads every minute from the first public request on, even before any append
    return audit


def _stream(path: os.PathLike[str], start: int, end: int) -> Iterator[bytes]:
    """Bytes [start, end) of the file; the file only grows, so the range stays valid."""
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


@router.get("/public/audit.log")
async def audit_log_file(request: Request) -> Response:
    """The log, whole or one byte range (206 + Content-Range; 416 when out of range)."""
    audit = _log(request)
    await asyncio.to_thread(audit.refresh)
    total = audit.byte_size()
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-cache"}
    media = "application/x-ndjson"
    spec = request.headers.get("range")
    if spec is None:
        headers["Content-Length"] = str(total)
        return StreamingResponse(_stream(audit.path, 0, total), media_type=media, headers=headers)
    m = _RANGE.fullmatch(spec.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return Response(status_code=416, headers={"Content-Range": f"bytes */{total}"})
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)) + 1, total) if m.group(2) else total
    else:  # suffix range: the last N bytes
        start, end = max(0, total - int(m.group(2))), total
    if start >= total or end <= start:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{total}"})
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{total}"
    headers["Content-Length"] = str(end - start)
    return StreamingResponse(_stream(audit.path, start, end), status_code=206, media_type=media,
                             headers=headers)


def _current_head(audit: AuditLog, need: int = 0) -> dict[str, Any]:
    """The latest signed head, signing a new one when there is none or it covers fewer than `need`."""
    head = latest_head(audit.heads_path)
    if head is None or int(head["tree_size"]) < need:
        head = audit.publish_head()
    return head


@router.get("/public/audit/head")
async def audit_head(request: Request) -> dict[str, Any]:
    """The latest signed tree head and the operator's public key."""
    audit = _log(request)
    head = await asyncio.to_thread(_current_head, audit)
    return {"head": head, "public_key": audit.signer.public_key_b64}


@router.get("/public/audit/heads")
async def audit_heads(request: Request) -> Response:
    """Every signed tree head so far, oldest first, as JSON Lines (for consistency checking)."""
    audit = _log(request)
    try:
        body = await asyncio.to_thread(audit.heads_path.read_bytes)
    except FileNotFoundError:
        body = b""
    cut = body.rfind(b"\n") + 1  # complete lines only
    return Response(body[:cut], media_type="application/x-ndjson", headers={"Cache-Control": "no-cache"})


@router.get("/public/audit/pubkey", response_class=PlainTextResponse)
async def audit_pubkey(request: Request) -> str:
    """The operator's Ed25519 public key (base64 of the raw 32 bytes)."""
    return _log(request).signer.public_key_b64 + "\n"


def _proof(audit: AuditLog, seq: int, tree_size: int | None) -> dict[str, Any]:
    size = audit.refresh()
    if not 1 <= seq <= size:
        raise ProofError(f"seq must be 1..{size}")
    head = None
    if tree_size is None:
        head = _current_head(audit, seq)
        tree_size = int(head["tree_size"])
    proof = audit.tree.inclusion_proof(seq - 1, tree_size)
    line = audit.read_event(seq)
    return {"seq": seq, "leaf_index": seq - 1, "tree_size": tree_size, "leaf_hash": audit.leaf(seq - 1).hex(),
            "proof": [p.hex() for p in proof], "root_hash": audit.tree.root(tree_size).hex(),
            "event": json.loads(line) if line else None, "head": head}


@router.get("/public/audit/proof")
async def audit_proof(request: Request, seq: int = Query(..., ge=1),
                      tree_size: int | None = Query(None, ge=1)) -> Response:
    """Inclusion proof of event `seq` in the tree of `tree_size` events (default: latest signed head)."""
    try:
        body = await asyncio.to_thread(_proof, _log(request), seq, tree_size)
    except ProofError as e:
        return JSONResponse({"error": str(e)}, status_code=400)
    return JSONResponse(body)


def _consistency(audit: AuditLog, first: int, second: int) -> dict[str, Any]:
    audit.refresh()
    proof = audit.tree.consistency_proof(first, second)
    return {"first": first, "second": second, "first_root": audit.tree.root(first).hex(),
            "second_root": audit.tree.root(second).hex(), "proof": [p.hex() for p in proof]}


@router.get("/public/audit/consistency")
async def audit_consistency(request: Request, first: int = Query(..., ge=1),
                            second: int = Query(..., ge=1)) -> Response:
    """Consistency proof between the trees of `first` and `second` events (first <= second)."""
    try:
        body = await asyncio.to_thread(_consistency, _log(request), first, second)
    except ProofError as e:
        return JSONResponse({"error": str(e)}, status_code=400)
    return JSONResponse(body)
