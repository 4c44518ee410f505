"""The importer's compiled helper (voter_registry/_restores.c): the RESP of new voters' household SADDs and
hash RESTOREs for a whole batch in one C call, byte for byte what `HashDumper.row_encoder` and
hiredis.pack_command build one row at a time in Python (~4 us a row of Python, ~0.3 us of C).

Built and loaded by infra.native (the system C compiler, a cache named by the source; no Python headers).
Without a compiler, `bulk_restores()` returns None and the importer encodes every row in Python (same
bytes). DN_NATIVE=0 disables it. `python -m voter_registry.native` builds it ahead (the install step).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path

from infra.native import Native
from voter_registry.hashdump import HashDumper, entry

ROW_SEP, FIELD_SEP = "\x1e", "\x1f"  # ASCII record / unit separators: never inside a UTF-8 multibyte character


def _declare(lib: ctypes.CDLL) -> None:
    c, n, i = ctypes.c_char_p, ctypes.c_long, ctypes.c_int
    ns = ctypes.POINTER(ctypes.c_long)
    lib.dn_restores.argtypes = [c, n, n, i, c, ns, c, c, c, n, c, n, i, ctypes.c_void_p, n, ns, ns, ns]
    lib.dn_restores.restype = n
    lib.dn_pack.argtypes = [c, n, ctypes.c_void_p, n, ns]
    lib.dn_pack.restype = n


LIBRARY = Native(Path(__file__).with_name("_restores.c"), ("-O2", "-shared", "-fPIC"), _declare)
load, why = LIBRARY.load, LIBRARY.why


class BulkRestores:
    """`build(rows)` packs, for each row (the hash's values in `names` order, "" = left out), the
    household `SADD {phone_key}{phone} {regn}` when it has a phone, then `RESTORE {voter_key}{regn} 0
    {payload} REPLACE` with the payload of `dumper.row_encoder(names)`. The registration number is value
    0, the phone value `phone_at`."""

    def __init__(
        self, lib: ctypes.CDLL, dumper: HashDumper, names: Sequence[str], voter_key: str, phone_key: str, phone_at: int
    ) -> None:
        heads = [entry(f) for f in names]
        self.lib = lib
        self.nf = len(names)
        self.heads = b"".join(heads)
        self.headlen = (ctypes.c_long * len(heads))(*map(len, heads))
        self.numeric = bytes(f in dumper.numeric for f in names)
        self.footer = bytes(dumper.footer)
        self.vkey, self.pkey = voter_key.encode(), phone_key.encode()
        self.phone_at = phone_at
        self.buf = bytearray(0)

    def build(self, rows: list[list[str]]) -> tuple[bytes, int, list[int]] | None:
        """(the packed commands, how many, indexes of the rows left out: a value of 64 bytes or more, to
        be written by the caller), or None when the batch cannot be packed here (a separator character in
        a value): the caller then writes every row itself."""
        n = len(rows)
        if not n:
            return b"", 0, []
        data = ROW_SEP.join([FIELD_SEP.join(v) for v in rows]).encode("utf-8", "surrogateescape")
        if data.count(b"\x1f") != (self.nf - 1) * n or data.count(b"\x1e") != n - 1:
            return None
        cap = 2 * len(data) + 512 * n + 4096
        if len(self.buf) < cap:
            self.buf = bytearray(cap)
        out = (ctypes.c_char * len(self.buf)).from_buffer(self.buf)
        skipped = (ctypes.c_long * n)()
        nskipped, ncmds = ctypes.c_long(), ctypes.c_long()
        k = self.lib.dn_restores(
            data, len(data), n, self.nf, self.heads, self.headlen, self.numeric, self.footer,
            self.vkey, len(self.vkey), self.pkey, len(self.pkey), self.phone_at,
            out, len(self.buf), skipped, ctypes.byref(nskipped), ctypes.byref(ncmds),
        )  # fmt: skip
        del out  # release the export of self.buf
        if k < 0:
            return None
        return bytes(memoryview(self.buf)[:k]), ncmds.value, list(skipped[: nskipped.value])


class Packer:
    """`pack(commands)`: commands (sequences of str arguments) as RESP, what `hiredis.pack_command` gives
    each of them, joined; in one C call for the whole list."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        self.buf = bytearray(0)

    def pack(self, commands: list[Sequence[str]]) -> bytes | None:
        """The packed commands, or None when they cannot be packed here (an argument that is not text,
        holds a separator character or is not valid UTF-8): the caller packs them itself."""
        if not commands:
            return b""
        try:
            data = ROW_SEP.join(map(FIELD_SEP.join, commands)).encode()
        except (TypeError, UnicodeEncodeError):
            return None
        n = len(commands)
        args = sum(map(len, commands))
        if data.count(b"\x1f") != args - n or data.count(b"\x1e") != n - 1:
            return None
        cap = len(data) + 16 * args + 24 * n + 64
        if len(self.buf) < cap:
            self.buf = bytearray(2 * cap)
        out = (ctypes.c_char * len(self.buf)).from_buffer(self.buf)
        done = ctypes.c_long()
        k = self.lib.dn_pack(data, len(data), out, len(self.buf), ctypes.byref(done))
        del out
        if k < 0 or done.value != n:
            return None
        return bytes(memoryview(self.buf)[:k])


def packer() -> Packer | None:
    """A `Packer`, or None without the compiled library."""
    lib = load()
    return None if lib is None else Packer(lib)


def bulk_restores(
    dumper: HashDumper, names: Sequence[str], voter_key: str, phone_key: str, phone_at: int
) -> BulkRestores | None:
    """A `BulkRestores` for this dumper's server, or None without the compiled library."""
    lib = load()
    return None if lib is None else BulkRestores(lib, dumper, names, voter_key, phone_key, phone_at)


if __name__ == "__main__":  # the install step
    LIBRARY.install_step("import-voters: compiled packer", "imports will use Python")
