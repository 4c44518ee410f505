"""The verifier's compiled line checker (audit/_scan.c): built and loaded by infra.native, or not available.

infra.native compiles it once per source version with the system C compiler into a cache (see there),
here linked against the OpenSSL libcrypto that Python's hashlib already uses (found in this process's
memory map: no OpenSSL headers needed). Without a compiler or libcrypto, `load()` returns None and the
verifier proves every line in Python (the same checks, slower); `DN_NATIVE=0` disables it.
`./run_delegate_network`'s install step builds it ahead (`python -m audit.native`).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

from infra.native import Native

SOURCE = Path(__file__).with_name("_scan.c")
FLAGS = ("-O2", "-shared", "-fPIC")


def _libcrypto() -> list[str]:
    """[path of the libcrypto this process loaded for hashlib] (Linux /proc/self/maps); RuntimeError
    when there is none."""
    import _hashlib  # noqa: F401 -- loads libcrypto into this process

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError as e:
        raise RuntimeError(f"cannot find libcrypto: {e}") from e
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        if "/libcrypto.so" in path and os.path.exists(path):
            return [path]
    raise RuntimeError("libcrypto not found in this process (hashlib without OpenSSL?)")


def _declare(lib: ctypes.CDLL) -> None:
    p, i, L = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_long
    lib.dn_new.argtypes, lib.dn_new.restype = [L, ctypes.c_uint64], p
    lib.dn_free.argtypes, lib.dn_free.restype = [p], None
    lib.dn_scan.argtypes = [p, i, L, L, L, L, p, p, p, p, L, p, p, p]
    lib.dn_scan.restype = L
    lib.dn_hash.argtypes, lib.dn_hash.restype = [i, L, L, L, p, p, p], L
    lib.dn_nodes.argtypes, lib.dn_nodes.restype = [p, L, p], None


LIBRARY = Native(SOURCE, FLAGS, _declare, _libcrypto)
load, why, build = LIBRARY.load, LIBRARY.why, LIBRARY.build


def new_state(lib: ctypes.CDLL) -> int:
    """A checker state (dn_new; free it with lib.dn_free): Python's int digit limit, a random table seed."""
    state = lib.dn_new(sys.get_int_max_str_digits(), int.from_bytes(os.urandom(8), "little"))
    if not state:
        raise MemoryError("dn_new")
    return int(state)


if __name__ == "__main__":  # the install step
    LIBRARY.install_step("audit verifier: compiled checker", "verify-audit will use Python")
