"""Run a function in a forked child process and take back its pickled result (the verifier's spare CPUs).

Used by audit.checks (byte ranges of the log checked beside the replay) and audit.replay (tallies of
several bills at once). Fork only: the child inherits the caller's memory (the log bytes, the replay
state) without copying it, so nothing but the result crosses the pipe.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable
from typing import Any


def can_fork() -> bool:
    """True where forking is safe: a POSIX system and no other thread in this process (a thread
    holding a lock at fork time would leave the child stuck)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def spare_cpus() -> int:
    """Processes to fork beside this one: one per spare CPU (at most 7), 0 on a single CPU."""
    return max(0, min(7, (os.cpu_count() or 1) - 1))


def start(fn: Callable[..., Any], *args: Any) -> tuple[int, int]:
    """Run fn(*args) in a forked child; (pid, read end of the pipe its pickled result comes through).
    Pass the handle to `result` exactly once."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        status = 0
        try:
            os.close(r)
            try:
                blob = pickle.dumps(fn(*args), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # noqa: BLE001 -- the parent sees None and does the work itself
                blob = pickle.dumps(None)
            view = memoryview(blob)
            while view:
                view = view[os.write(w, view) :]
        except BaseException:  # noqa: BLE001
            status = 1
        finally:
            os._exit(status)
    os.close(w)
    return pid, r


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
