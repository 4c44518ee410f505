"""Run a function in a forked child process and take back its pickled result (the verifier's spare CPUs).

Used by audit.checks (byte ranges of the log checked beside the replay; `stream` sends each checked
chunk's events back while the child goes on) and audit.replay (tallies of several bills at once, with a
reference tally function). Fork only: the child inherits the caller's memory (the log bytes, the replay
state) without copying it, so nothing but the results crosses the pipe.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


def can_fork() -> bool:
    """True where forking is safe: a POSIX system and no other thread in this process (a thread
    holding a lock at fork time would leave the child stuck)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def spare_cpus() -> int:
    """Processes to fork beside this one: one per spare CPU (at most 7), 0 on a single CPU."""
    return max(0, min(7, (os.cpu_count() or 1) - 1))


def _fork(body: Callable[[int], None]) -> tuple[int, int]:
    """Fork; the child runs body(write end of a pipe) and exits (status 1 if body raised), never
    returning into the caller's code. -> (child pid, read end of the pipe)."""
    r, w = os.pipe()
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        with contextlib.suppress(OSError):  # a bigger pipe: the child waits less for the reader
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            os.close(r)
            body(w)
        except BaseException:  # noqa: BLE001 -- the parent sees the failure and does the work itself
            status = 1
        finally:
            os._exit(status)
    os.close(w)
    return pid, r


def _write(w: int, blob: bytes) -> None:
    view = memoryview(blob)
    while view:
        view = view[os.write(w, view) :]


def start(fn: Callable[..., Any], *args: Any) -> tuple[int, int]:
    """Run fn(*args) in a forked child; (pid, read end of the pipe its pickled result comes through).
    Pass the handle to `result` exactly once."""

    def body(w: int) -> None:
        try:
            blob = pickle.dumps(fn(*args), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:  # noqa: BLE001 -- the parent sees None and does the work itself
            blob = pickle.dumps(None)
        _write(w, blob)

    return _fork(body)


def result(child: tuple[int, int]) -> Any:
    """What the child's function returned, once it exited; None if it raised or died."""
    pid, r = child
    chunks = []
    try:
        while chunk := os.read(r, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    try:
        return pickle.loads(b"".join(chunks))
    except Exception:  # noqa: BLE001 -- a child that died mid-write
        return None


class ChildFailed(RuntimeError):
    """A streaming child raised, or died before it finished."""


def stream(fn: Callable[..., Iterator[Any]], *args: Any) -> Stream:
    """Run the generator fn(*args) in a forked child; iterate the returned Stream for what it yields, in
    order, while the child is still running. Fork every child first, then `begin` each: from then on a
    thread drains the pipe, so the child never waits for the caller (forking needs a single thread)."""

    def body(w: int) -> None:
        for item in fn(*args):
            _send(w, (True, item))
        _send(w, (False, None))  # the end; a child that raised sends none

    return Stream(*_fork(body))


def _send(w: int, frame: Any) -> None:
    blob = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    _write(w, len(blob).to_bytes(8, "little") + blob)


class Stream:
    """The items a `stream` child yields. Iterate once; `close` (idempotent) waits for the child."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid, self._file = pid, os.fdopen(fd, "rb")
        self._frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def _drain(self) -> None:
        f, put = self._file, self._frames.put
        try:
            while len(head := f.read(8)) == 8:
                put(f.read(int.from_bytes(head, "little")))
        finally:
            put(None)

    def begin(self) -> None:
        """Start draining the child's pipe in a thread (idempotent; iterating begins too)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, daemon=True)
            self._thread.start()

    def __iter__(self) -> Iterator[Any]:
        self.begin()
        get = self._frames.get
        while (blob := get()) is not None:
            try:
                more, item = pickle.loads(blob)
            except Exception as e:  # a frame cut short: the child died mid-write
                raise ChildFailed("torn frame") from e
            if not more:
                return
            yield item
        raise ChildFailed("the child stopped before its end")

    def close(self) -> None:
        """Stop reading, wait for the child (killed if it is still running) and the draining thread."""
        if self._pid:
            with contextlib.suppress(OSError):
                if os.waitpid(self._pid, os.WNOHANG) == (0, 0):
                    os.kill(self._pid, signal.SIGKILL)
                    os.waitpid(self._pid, 0)
            self._pid = 0
        if self._thread is not None:
            self._thread.join()
        self._file.close()
