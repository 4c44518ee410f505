"""The matcher's own lean connection to Redis: commands packed and replies parsed by hiredis (C), no
per-command Python machinery.

redis-py's command path (connection pool, retry wrapper, observability hooks, a task per socket write)
cost a match about 75 us a round trip in asyncio and 30 us blocking, a third of a match's client time;
this path costs about 20 us. `AsyncWire` shares one connection between all the matches of a process:
each round trip's commands are written at once and the replies, which Redis sends in order, are handed
back first in, first out (no pool, no lock). Both wires are built from a redis-py client's connection
settings (TCP or unix socket, username/password, db); `wire_settings` returns None for anything else (TLS,
a credential provider), and the callers then use the redis-py client itself, which also serves every
round trip a wire could not (server restarting, connection lost: its retry policy applies).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import deque
from typing import Any

import hiredis
import redis

Cmd = tuple[Any, ...]
TIMEOUT_S = 5.0  # a round trip that takes longer: the connection is dropped and the command fails
WATCH_S = 1.0  # how often an asyncio connection checks for a round trip older than TIMEOUT_S
CLIENT_NAME = "dn-matcher"  # as `CLIENT LIST` shows the wires


def wire_settings(client: Any) -> dict[str, Any] | None:
    """Connection settings of a redis-py client (sync or asyncio) that a wire can use: {"host", "port"} or
    {"path"}, plus "username", "password", "db"; None for TLS, a credential provider or a non-decoding
    client (the matcher works on str replies)."""
    pool = getattr(client, "connection_pool", None)
    kw = getattr(pool, "connection_kwargs", None)
    if not isinstance(kw, dict) or not kw.get("decode_responses") or kw.get("credential_provider"):
        return None
    if "ssl" in getattr(pool, "connection_class", type).__name__.lower():
        return None
    out = {k: kw.get(k) for k in ("host", "port", "path", "username", "password", "db")}
    if not out["path"] and not out["port"]:
        return None
    return out


def _pack(cmds: list[Cmd]) -> bytes:
    return b"".join(hiredis.pack_command(c) for c in cmds)


def _hello(kw: dict[str, Any]) -> list[Cmd]:
    cmds: list[Cmd] = []
    if kw.get("password"):
        cmds.append(("AUTH", kw["username"], kw["password"]) if kw.get("username") else ("AUTH", kw["password"]))
    if kw.get("db"):
        cmds.append(("SELECT", int(kw["db"])))
    cmds.append(("CLIENT", "SETNAME", CLIENT_NAME))
    return cmds


def _checked(replies: list[Any]) -> list[Any]:
    """The replies, with an error reply raised as redis.ResponseError (as redis-py's pipeline would)."""
    for x in replies:
        if isinstance(x, hiredis.ReplyError):
            raise redis.ResponseError(str(x))
    return replies


class SyncWire:
    """A blocking wire: `execute(cmds) -> replies` in one round trip. Not thread-safe (one per matcher)."""

    def __init__(self, kw: dict[str, Any]) -> None:
        self.kw = kw
        self.sock: socket.socket | None = None
        self.reader = hiredis.Reader(encoding="utf-8")

    def _connect(self) -> socket.socket:
        if self.kw.get("path"):
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(TIMEOUT_S)
            sock.connect(self.kw["path"])
        else:
            sock = socket.create_connection((self.kw.get("host") or "localhost", int(self.kw["port"])), TIMEOUT_S)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.reader = sock, hiredis.Reader(encoding="utf-8")
        _checked(self._round_trip(sock, _hello(self.kw)))
        return sock

    def _round_trip(self, sock: socket.socket, cmds: list[Cmd]) -> list[Any]:
        sock.sendall(_pack(cmds))
        gets, feed, out = self.reader.gets, self.reader.feed, []
        while len(out) < len(cmds):
            x = gets()
            if x is False:
                data = sock.recv(1 << 20)
                if not data:
                    raise ConnectionError("server closed the connection")
                feed(data)
            else:
                out.append(x)
        return out

    def execute(self, cmds: list[Cmd]) -> list[Any]:
        """Send `cmds` (tuples of str/int) at once and return their replies in order. Raises OSError /
        ConnectionError when the connection fails (it is closed and made again on the next call),
        redis.ResponseError for an error reply."""
        try:
            return _checked(self._round_trip(self.sock or self._connect(), cmds))
        except OSError:
            self.close()
            raise

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the next `execute` opens a new one)."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(encoding="utf-8")
        # (future, replies owed, replies got, monotonic time sent), oldest first
        self.pending: deque[tuple[asyncio.Future[list[Any]], int, list[Any], float]] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._watch: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()
        self._watch = self._loop.call_later(WATCH_S, self._check)

    def _check(self) -> None:
        """Every WATCH_S: a round trip unanswered for TIMEOUT_S drops the connection (its callers get
        ConnectionError). One timer per connection instead of one per round trip (`asyncio.timeout` cost
        a round trip about 5 us)."""
        if self.closed:
            return
        if self.pending and time.monotonic() - self.pending[0][3] > TIMEOUT_S:
            while self.pending:  # the replies owed are out of step now
                fut = self.pending.popleft()[0]
                if not fut.done():
                    fut.set_exception(ConnectionError("round trip timed out"))
            self.abort()
            return
        self._watch = self._loop.call_later(WATCH_S, self._check)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        pending, gets = self.pending, self.reader.gets
        while pending:
            x = gets()
            if x is False:
                return
            fut, n, got, _ = pending[0]
            got.append(x)
            if len(got) == n:
                pending.popleft()
                if not fut.done():  # a caller that timed out is gone; its replies are dropped
                    fut.set_result(got)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._watch is not None:
            self._watch.cancel()
        while self.pending:
            fut = self.pending.popleft()[0]
            if not fut.done():
                fut.set_exception(ConnectionError(f"connection lost: {exc}"))

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class AsyncWire:
    """One connection multiplexed between the concurrent matches of an event loop: `await execute(cmds)`."""

    def __init__(self, kw: dict[str, Any]) -> None:
        self.kw = kw
        self._proto: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self._connecting is not None and self._loop is loop:  # another match is connecting: share it
            return await asyncio.shield(self._connecting)
        self._loop, self._connecting = loop, loop.create_future()
        try:
            async with asyncio.timeout(TIMEOUT_S):
                if self.kw.get("path"):
                    _, proto = await loop.create_unix_connection(_Protocol, self.kw["path"])
                else:  # asyncio sets TCP_NODELAY on its TCP transports
                    _, proto = await loop.create_connection(
                        _Protocol, self.kw.get("host") or "localhost", int(self.kw["port"])
                    )
                _checked(await self._send(proto, _hello(self.kw)))
        except BaseException as exc:
            self._connecting.set_exception(ConnectionError(f"cannot connect: {exc!r}"))
            self._connecting.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            self._connecting = None
            raise
        self._proto = proto
        self._connecting.set_result(proto)
        self._connecting = None
        return proto

    @staticmethod
    def _send(proto: _Protocol, cmds: list[Cmd]) -> asyncio.Future[list[Any]]:
        assert proto.transport is not None
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        proto.pending.append((fut, len(cmds), [], time.monotonic()))
        proto.transport.write(_pack(cmds))
        return fut

    async def execute(self, cmds: list[Cmd]) -> list[Any]:
        """Send `cmds` at once and return their replies in order. Raises ConnectionError / OSError when the
        connection fails or the round trip takes over TIMEOUT_S (the connection is dropped; the next call
        makes a new one), redis.ResponseError for an error reply."""
        proto = self._proto
        if proto is None or proto.closed or self._loop is not asyncio.get_running_loop():
            proto = await self._connect()
        # a round trip unanswered for TIMEOUT_S: the connection's watchdog (`_Protocol._check`) drops it
        return _checked(await self._send(proto, cmds))

    def close(self) -> None:
        """Drop the connection (the next `execute` opens a new one)."""
        if self._proto is not None:
            self._proto.abort()
            self._proto = None
