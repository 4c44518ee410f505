"""Exactly once, across worker processes, for the actions a caller confirms (delegate, vote, recall, ...).

The commit order is audit first, then the store (`ivr.effects`). A re-run of the same (call, state
version, request) -- the runner re-running a webhook after a storage failure, or another worker taking
over the call of a worker killed between the audit append and the store write, the caller repeating the
"yes" nobody answered -- must neither append the event again nor answer differently:
- every event appended inside an action carries an idempotency key in its data (`"op"`: 40 hex digits,
  sha-256 of call, state version, request and the event's own content; docs/audit-log.md). Before the
  append the key is claimed in Valkey (`ivr:once:{op}` = "pending:<log byte offset>"), after it the
  key holds the event's seq. A re-run finding the seq returns it without appending; finding "pending"
  (the appender died between the two steps) it looks for the key in the log after that offset, so an
  event on disk is found even when its worker never recorded the seq;
- the action's result is kept in Valkey (`ivr:op:{op}`, `Effects.run`), so the re-run answers as the
  first run did even when its store writes were done (a recall is not refused as "no delegate").
Keys expire after `ONCE_TTL_S`; a re-run comes within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import OrderedDict
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

_OP: ContextVar[str | None] = ContextVar("ivr_once_op", default=None)
REMEMBERED = 10_000  # operations kept per worker (each a few hundred bytes): the fast path of a re-run
ONCE_TTL_S = 24 * 3600
_CHUNK = 1 << 20


class Recent(OrderedDict):
    """A bounded mapping: the oldest entries are forgotten beyond `size`."""

    def __init__(self, size: int = REMEMBERED) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def _digest(text: str) -> str:
    # 40 hex digits: the audit log's phone-number filter passes whole hex digests (audit/phones.py)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def op_key(call_id: str, version: int, request: Any) -> str:
    """The idempotency key of one action: (call, state version, request), as `ivr.runner.command_id`
    derives command ids. `request` is a frozen dataclass of `ivr.messages` (its repr is its content)."""
    return _digest(f"{call_id}|{version}|{request!r}")


def operation(op: str | None) -> Any:
    """Context token: appends made until `end_operation(token)` belong to operation `op` (None = not an action)."""
    return _OP.set(op)


def end_operation(token: Any) -> None:
    """Leave the operation entered by `operation`."""
    _OP.reset(token)


def find_op(path: Path, offset: int, key: str) -> int | None:
    """Seq of the event whose data carries `"op": key` in the log at `path` from byte `offset` on, or None.
    Blocking (run it in a thread); reads at most the log's growth since `offset`."""
    needle = b'"op":"' + key.encode() + b'"'
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as f:
        f.seek(offset)
        carry = b""
        while chunk := f.read(_CHUNK):
            buf = carry + chunk
            at = buf.find(needle)
            if at >= 0:
                start = buf.rfind(b"\n", 0, at) + 1
                end = buf.find(b"\n", at)
                while end < 0 and (more := f.read(_CHUNK)):
                    buf += more
                    end = buf.find(b"\n", at)
                if end < 0:
                    return None  # a torn last line: never acknowledged, and the next writer cuts it
                return int(json.loads(buf[start:end])["seq"])
            cut = buf.rfind(b"\n")
            carry = buf[cut + 1:] if cut >= 0 else buf
    return None


class OnceAudit:
    """Wraps an `audit.log.AuditLog`: inside an operation, an event (type, actor, subject, data) is
    appended at most once across processes, with `data["op"]` its idempotency key; a repeat returns the
    first seq. Outside an operation appends pass through unchanged, as do other attributes."""

    def __init__(self, audit: Any, r: aioredis.Redis | None = None) -> None:
        self.audit, self.r = audit, r
        self._seqs = Recent()

    async def append(self, event_type: str, actor: dict | None, subject: dict | None, data: dict) -> int:
        """`AuditLog.append`, at most once per operation and event. Same errors, and Redis errors raised
        before the append (then nothing was written)."""
        op = _OP.get()
        if op is None:
            return await self.audit.append(event_type, actor, subject, data)
        key = _digest(op + "|" + event_type + "|" + json.dumps([actor, subject, data], sort_keys=True, default=str))
        if (seq := self._seqs.get(key)) is not None:
            return seq
        if self.r is not None and (seq := await self._claimed(key)) is not None:
            self._seqs.put(key, seq)
            return seq
        seq = await self.audit.append(event_type, actor, subject, {**data, "op": key})
        self._seqs.put(key, seq)
        if self.r is not None:
            # lost with a Valkey outage or a kill: the claim then stays "pending" and a re-run reads the log
            with contextlib.suppress(Exception):
                await self.r.set(f"ivr:once:{key}", seq, ex=ONCE_TTL_S)
        return seq

    async def _claimed(self, key: str) -> int | None:
        """Claim `key` before appending; the seq of an earlier append of it, if one is known or on disk."""
        assert self.r is not None
        rkey = f"ivr:once:{key}"
        prior = await self.r.set(rkey, f"pending:{self.audit.byte_size()}", nx=True, get=True, ex=ONCE_TTL_S)
        if prior is None:
            return None
        if prior.isdigit():
            return int(prior)
        offset = int(prior.removeprefix("pending:") or 0)
        seq = await asyncio.to_thread(find_op, Path(self.audit.path), offset, key)
        if seq is not None:
            await self.r.set(rkey, seq, ex=ONCE_TTL_S)
        return seq

    def __getattr__(self, name: str) -> Any:
        return getattr(self.audit, name)

