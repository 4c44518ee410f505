"""Build and load the verifier's compiled line checker (audit/_scan.c), or say why it is not available.

The library is built once per source version with the system C compiler (`cc`, `gcc` or `$CC`) into a
cache directory (`$DN_NATIVE_CACHE`, else `$XDG_CACHE_HOME/delegate-network`, else
`~/.cache/delegate-network`, else a temporary directory), linked against the OpenSSL libcrypto that
Python's hashlib already uses (found in this process's memory map: no OpenSSL headers needed). The file
name carries a hash of the source and the flags, so an edited source is rebuilt and a stale build is
never loaded. Without a compiler or libcrypto, `load()` returns None and the verifier proves every line
in Python (the same checks, slower). `./run_delegate_network`'s install step builds it ahead
(`python -m audit.native`).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("_scan.c")
FLAGS = ("-O2", "-shared", "-fPIC", "-fvisibility=default")

_lib: ctypes.CDLL | None = None
_why: str | None = None  # why the library is not available (after a failed load)


def _cache_dir() -> Path:
    if d := os.environ.get("DN_NATIVE_CACHE"):
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "delegate-network"


def _libcrypto() -> str | None:
    """Path of the libcrypto this process loaded for hashlib (Linux /proc/self/maps), or None."""
    import _hashlib  # noqa: F401 -- loads libcrypto into this process

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        if "/libcrypto.so" in path and os.path.exists(path):
            return path
    return None


def _compiler() -> str | None:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    return None


def build() -> Path:
    """Compile the library into the cache (if not already there); returns its path.

    Raises RuntimeError with the reason (no compiler, no libcrypto, compiler errors)."""
    cc, crypto = _compiler(), _libcrypto()
    if cc is None:
        raise RuntimeError("no C compiler (cc, gcc, clang or $CC)")
    if crypto is None:
        raise RuntimeError("libcrypto not found in this process (hashlib without OpenSSL?)")
    src = SOURCE.read_bytes()
    key = hashlib.sha256(src + repr((FLAGS, crypto, sys.platform)).encode()).hexdigest()[:16]
    for d in (_cache_dir(), Path(tempfile.gettempdir()) / f"delegate-network-{os.getuid()}"):
        out = d / f"_scan-{key}.so"
        if out.exists():
            return out
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=d, suffix=".so.tmp")
            os.close(fd)
        except OSError:
            continue  # not writable: the next place
        try:
            run = subprocess.run([cc, *FLAGS, "-o", tmp, str(SOURCE), crypto], capture_output=True, text=True)
            if run.returncode != 0:
                raise RuntimeError(f"{cc} failed: {run.stderr.strip()[-2000:]}")
            os.replace(tmp, out)  # atomic: a concurrent build or load never sees half a file
            return out
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise RuntimeError("no writable cache directory")


def load() -> ctypes.CDLL | None:
    """The loaded library (built first if needed), or None when it cannot be built (`why()` says why).
    Set DN_NATIVE=0 to never use it."""
    global _lib, _why
    if _lib is not None or _why is not None:
        return _lib
    if os.environ.get("DN_NATIVE", "1") == "0":
        _why = "disabled by DN_NATIVE=0"
        return None
    try:
        lib = ctypes.CDLL(str(build()))
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        _why = str(e)
        return None
    p, i, L = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_long
    lib.dn_new.argtypes, lib.dn_new.restype = [L, ctypes.c_uint64], p
    lib.dn_free.argtypes, lib.dn_free.restype = [p], None
    lib.dn_scan.argtypes = [p, i, L, L, L, L, p, p, p, p, p, p]
    lib.dn_scan.restype = L
    lib.dn_nodes.argtypes, lib.dn_nodes.restype = [p, L, p], None
    _lib = lib
    return lib


def new_state(lib: ctypes.CDLL) -> int:
    """A checker state (dn_new; free it with lib.dn_free): Python's int digit limit, a random table seed."""
    state = lib.dn_new(sys.get_int_max_str_digits(), int.from_bytes(os.urandom(8), "little"))
    if not state:
        raise MemoryError("dn_new")
    return int(state)


def why() -> str | None:
    """Why `load()` returned None (None when it has not failed)."""
    return _why


if __name__ == "__main__":  # the install step: build ahead, say whether it worked
    if load() is None:
        print(f"audit verifier: compiled checker not built ({why()}); verify-audit will use Python", file=sys.stderr)
    else:
        print("audit verifier: compiled checker ready", file=sys.stderr)
