"""Exactly once, within a worker, for the actions a caller confirms (delegate, vote, recall, pay, ...).

The commit order is audit first, then the store (`ivr.effects`). Two failures could break "nothing is
applied twice, nothing acknowledged is lost" when Valkey restarts in between:
- the store write after the audit append fails: the event is on disk, so the write must still happen
  (`Effects._after_log` waits the outage out);
- the action completed but saving the call state failed, and the runner re-runs the webhook: the same
  (call, state version, request) returns the first result (`Effects.run` keeps it), and an action that
  failed after its append appends nothing the second time (`OnceAudit`).
A worker killed between the two steps is not covered here: its webhook is redelivered to another
worker and the event may be appended again (the replay then shows the same action twice, which for
delegate, vote and recall changes no tally; payments are deduplicated by their ledger ref).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any

_OP: ContextVar[tuple | None] = ContextVar("ivr_once_op", default=None)
REMEMBERED = 10_000  # operations kept per worker (each a few hundred bytes); a re-run comes within seconds


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


def operation(op: tuple | None) -> Any:
    """Context token: appends made until `_OP.reset(token)` belong to operation `op` (None = not an action)."""
    return _OP.set(op)


def end_operation(token: Any) -> None:
    """Leave the operation entered by `operation`."""
    _OP.reset(token)


class OnceAudit:
    """Wraps an `audit.log.AuditLog`: inside an operation, appending the same event (type, actor, subject,
    data) again returns the first sequence number without writing it twice. Other attributes pass through."""

    def __init__(self, audit: Any) -> None:
        self.audit = audit
        self._seqs = Recent()

    async def append(self, event_type: str, actor: dict | None, subject: dict | None, data: dict) -> int:
        """`AuditLog.append`, at most once per operation and event. Same errors."""
        op = _OP.get()
        if op is None:
            return await self.audit.append(event_type, actor, subject, data)
        key = (op, event_type, json.dumps([actor, subject, data], sort_keys=True, default=str))
        if (seq := self._seqs.get(key)) is not None:
            return seq
        seq = await self.audit.append(event_type, actor, subject, data)
        self._seqs.put(key, seq)
        return seq

    def __getattr__(self, name: str) -> Any:
        return getattr(self.audit, name)
