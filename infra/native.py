"""Build and load the project's small C libraries (audit/_scan.c, voter_registry/_restores.c) with ctypes.

A library is compiled once per source version with the system C compiler (`$CC`, `cc`, `gcc` or `clang`; no
Python headers: ctypes loads it) into `$DN_NATIVE_CACHE`, else `$XDG_CACHE_HOME/delegate-network`, else
`~/.cache/delegate-network`, else a temporary directory. The file name carries a hash of the source, the
flags and the libraries linked, so an edited source is rebuilt and a stale build is never loaded. The build
writes a temporary file and renames it: a concurrent build or load never sees half a file. Callers keep a
Python path that gives the same results; `DN_NATIVE=0` makes every `Native.load()` say no.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path


def _places() -> list[Path]:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    own = os.environ.get("DN_NATIVE_CACHE")
    first = Path(own) if own else Path(base) / "delegate-network"
    return [first, Path(tempfile.gettempdir()) / f"delegate-network-{os.getuid()}"]


def _compiler() -> str | None:
    return next((c for c in (os.environ.get("CC"), "cc", "gcc", "clang") if c and shutil.which(c)), None)


def build(source: Path, flags: Sequence[str], link: Sequence[str] = ()) -> Path:
    """Compile `source` with `flags` (and `link`: shared libraries by path) into the cache unless it is
    there; returns the library's path. Raises RuntimeError (no compiler, compiler errors, no writable
    directory)."""
    cc = _compiler()
    if cc is None:
        raise RuntimeError("no C compiler (cc, gcc, clang or $CC)")
    key = hashlib.sha256(source.read_bytes() + repr((tuple(flags), tuple(link), sys.platform)).encode())
    name = f"{source.stem}-{key.hexdigest()[:16]}.so"
    for d in _places():
        target = d / name
        with contextlib.suppress(OSError):  # not writable: the next place
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                    so = Path(tmp) / name
                    cmd = [cc, *flags, "-o", str(so), str(source), *link]
                    res = subprocess.run(cmd, capture_output=True, text=True)
                    if res.returncode != 0:
                        raise RuntimeError(f"{cc} failed: {res.stderr.strip()[-2000:]}")
                    os.replace(so, target)
            return target
    raise RuntimeError("no writable cache directory")


class Native:
    """One compiled library, loaded on first use: `load()` gives the ctypes.CDLL with its prototypes set by
    `declare(lib)`, or None when it cannot be had (`why()` says why: DN_NATIVE=0, no compiler, ...).
    `link()` returns the shared libraries to link against (RuntimeError when one is missing)."""

    def __init__(self, source: Path, flags: Sequence[str], declare: Callable[[ctypes.CDLL], None],
                 link: Callable[[], Sequence[str]] = tuple) -> None:
        self.source, self.flags, self.declare, self.link = source, tuple(flags), declare, link
        self._state: ctypes.CDLL | str | None = None

    def build(self) -> Path:
        """Compile into the cache if needed; the library's path. Raises RuntimeError."""
        return build(self.source, self.flags, self.link())

    def load(self) -> ctypes.CDLL | None:
        """The library (built first if needed), or None."""
        if self._state is None:
            self._state = self._open()
        return self._state if isinstance(self._state, ctypes.CDLL) else None

    def _open(self) -> ctypes.CDLL | str:
        if os.environ.get("DN_NATIVE", "1") == "0":
            return "disabled by DN_NATIVE=0"
        try:
            lib = ctypes.CDLL(str(self.build()))
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            return str(e)
        self.declare(lib)
        return lib

    def why(self) -> str | None:
        """Why `load()` returned None (None when it has not failed)."""
        return self._state if isinstance(self._state, str) else None

    def install_step(self, what: str, fallback: str) -> None:
        """Build ahead (`python -m <module>` in the install step) and say on stderr whether it worked."""
        if self.load() is None:
            print(f"{what} not built ({self.why()}); {fallback}", file=sys.stderr)
        else:
            print(f"{what} ready", file=sys.stderr)
