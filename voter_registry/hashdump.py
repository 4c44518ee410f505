"""Serialized small hashes for `RESTORE`: one voter hash written by one command with one payload argument.

Writing a 14-field hash with `HSET key f1 v1 ... f14 v14` costs the Redis server ~12 us (29 arguments
parsed, stored and re-encoded into the append-only file); `RESTORE key 0 payload REPLACE` with the
same hash already serialized costs ~5 us, the same memory. The payload is what `DUMP` returns for a
listpack-encoded hash:

    0x10 (RDB_TYPE_HASH_LISTPACK) | RDB length | listpack | RDB version (2 bytes LE) | CRC-64 (8 bytes LE)

Listpack layout (Redis `listpack.c`, stable since Redis 7 / all Valkey): total bytes (u32 LE), element
count (u16 LE), entries, 0xFF. An entry is an encoding byte(s) + data + "backlen" (the entry's length,
7 bits per byte, written backwards). Values that are canonical 64-bit integers are stored as integers,
exactly as HSET would store them, so the hash is byte-for-byte what HSET builds and takes the same memory.
The CRC is CRC-64/Jones as in Redis (`anycrc` model CRC64-REDIS, C). `HashDumper.probe` checks the
format against the server once (a server that rejects it gets plain HSET from the caller).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection, Iterable, Sequence

try:
    import anycrc

    _crc64 = anycrc.Model("CRC64-REDIS").calc
except ImportError:  # pragma: no cover - the importer falls back to HSET
    _crc64 = None

_HASH_LISTPACK = b"\x10"
_MAX_LISTPACK_VALUE = 64  # hash-max-listpack-value default: longer values make the server convert (still fine)
_I64 = (-(1 << 63), (1 << 63) - 1)


def _backlen(n: int) -> bytes:
    """The entry length, 7 bits a byte, most significant first, every byte but the first flagged 128."""
    if n <= 127:
        return bytes((n,))
    groups = []
    while n:
        groups.append(n & 127)
        n >>= 7
    groups.reverse()
    return bytes([groups[0], *(g | 128 for g in groups[1:])])


def _int_value(s: str) -> int | None:
    """The integer a listpack stores `s` as (Redis `string2ll`: canonical decimal, no sign +, no leading
    zero, fits int64), or None to store it as a string."""
    n = len(s)
    if n == 0 or n > 20:
        return None
    if s == "0":
        return 0
    neg = s[0] == "-"
    d = s[1:] if neg else s
    if not d or not d.isascii() or not d.isdigit() or d[0] == "0":
        return None
    v = -int(d) if neg else int(d)
    return v if _I64[0] <= v <= _I64[1] else None


def entry(s: str) -> bytes:
    """One listpack entry for the field or value `s` (integer or string encoding, with its backlen)."""
    v = _int_value(s)
    if v is not None:
        if 0 <= v <= 127:
            enc = bytes((v,))
        elif -4096 <= v <= 4095:
            u = v & 0x1FFF
            enc = bytes((0xC0 | (u >> 8), u & 0xFF))
        elif -32768 <= v <= 32767:
            enc = b"\xf1" + struct.pack("<h", v)
        elif -(1 << 23) <= v < (1 << 23):
            enc = b"\xf2" + (v & 0xFFFFFF).to_bytes(3, "little")
        elif -(1 << 31) <= v < (1 << 31):
            enc = b"\xf3" + struct.pack("<i", v)
        else:
            enc = b"\xf4" + struct.pack("<q", v)
    else:
        b = s.encode("utf-8", "surrogateescape")
        n = len(b)
        if n < 64:
            enc = bytes((0x80 | n,)) + b
        elif n < 4096:
            enc = bytes((0xE0 | (n >> 8), n & 0xFF)) + b
        else:
            enc = b"\xf0" + struct.pack("<I", n) + b
    return enc + _backlen(len(enc))


def _rdb_len(n: int) -> bytes:
    if n < 64:
        return bytes((n,))
    if n < 16384:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    return b"\x80" + struct.pack(">I", n)


_SHORT_HEAD = [chr(0x80 | n) for n in range(64)]  # 6-bit string length encodings, as latin-1 characters
_SHORT_BACK = [chr(n + 1) for n in range(64)]  # their backlens (header byte + n <= 64 < 128: one byte)
_CACHE_MAX = 1 << 16
_LP_HEAD = struct.Struct("<IH").pack  # listpack total bytes, element count
_CRC = struct.Struct("<Q").pack
_RDB_LENS = [_rdb_len(n) for n in range(1024)]


def _int_entry(n: int) -> str:
    """The listpack entry of a non-negative integer < 2**31, as latin-1 characters."""
    if n < 128:
        return chr(n) + "\x01"
    if n < 4096:
        return chr(0xC0 | n >> 8) + chr(n & 255) + "\x02"
    if n < 32768:
        return "\xf1" + chr(n & 255) + chr(n >> 8) + "\x03"
    if n < 8388608:
        return "\xf2" + chr(n & 255) + chr(n >> 8 & 255) + chr(n >> 16) + "\x04"
    return "\xf3" + struct.pack("<I", n).decode("latin-1") + "\x05"


_SHORT_HEAD_B = [bytes((0x80 | n,)) for n in range(64)]
_SHORT_BACK_B = [bytes((n + 1,)) for n in range(64)]
_F3, _B5 = b"\xf3", b"\x05"


def _int_entry_b(n: int) -> bytes:
    """`_int_entry(n)` as bytes, with the 32-bit form (8- to 10-digit numbers: registration numbers)
    first."""
    if n >= 8388608:
        return _F3 + n.to_bytes(4, "little") + _B5
    return _int_entry(n).encode("latin-1")


class HashDumper:
    """Builds `RESTORE` payloads of small hashes for one server (its RDB version, from a `DUMP`).

    `available` is False without the CRC library; then callers write with HSET. The entries are built
    as latin-1 text (one character a byte) and encoded once.
    """

    available = _crc64 is not None

    def __init__(self, rdb_version: bytes, numeric: Iterable[str] = ()) -> None:
        """rdb_version: 2 bytes, little-endian, as found in a DUMP payload of this server (`version_of`).
        numeric: the fields whose values may be integers; they get the integer encoding HSET would give
        them. Other fields are always stored as strings (a valid listpack that reads back the same; a
        digits-only name merely takes a few bytes more), which skips the check for most values."""
        self.footer = rdb_version
        self.numeric = frozenset(numeric)
        self._fields: dict[str, str] = {}
        self._ints: dict[str, str] = {}  # entries of integer values seen (ZIP codes, years, districts...)

    @staticmethod
    def version_of(dump: bytes) -> bytes:
        """The RDB version bytes of a `DUMP` payload (its last 10 bytes are version + CRC-64)."""
        return dump[-10:-8]

    def payload(self, items: Iterable[tuple[str, str]]) -> bytes | None:
        """The DUMP-format payload of a hash with these (field, value) pairs, in this order; None when a
        value is longer than 64 bytes (the server would keep such a hash in its table encoding, which
        only HSET builds)."""
        fields = self._fields
        parts: list[str] = []
        for f, v in items:
            e = fields.get(f)
            if e is None:
                e = fields[f] = entry(f).decode("latin-1")
            ve = self._value(f, v)
            if ve is None:
                return None
            parts += (e, ve)
        return self._frame("".join(parts), len(parts))

    def _value(self, f: str, v: str) -> str | None:
        """The listpack entry of value `v` of field `f` as latin-1 text; None when it is too long."""
        if not v.isascii():
            v = v.encode("utf-8", "surrogateescape").decode("latin-1")
        elif f in self.numeric:
            ints = self._ints
            e = ints.get(v)
            if e is None:
                if v.isdigit() and (v[0] != "0" or v == "0") and len(v) < 10:
                    e = _int_entry(int(v))
                else:
                    e = entry(v).decode("latin-1")  # other integers, or a string
                if len(v) < 7 and len(ints) < _CACHE_MAX:  # small domains; not the unique numbers
                    ints[v] = e
            return e
        n = len(v)
        return None if n >= 64 else _SHORT_HEAD[n] + v + _SHORT_BACK[n]

    def _frame(self, body: str, count: int) -> bytes:
        """The payload around a listpack body of `count` entries (latin-1 text, one character a byte)."""
        raw = body.encode("latin-1")
        size = len(raw) + 7
        head = _HASH_LISTPACK + _rdb_len(size) + _LP_HEAD(size, min(count, 65535)) + raw + b"\xff" + self.footer
        return head + _CRC(_crc64(head))  # type: ignore[misc]

    def row_encoder(
        self, names: Sequence[str], cached: Collection[str] = ()
    ) -> Callable[[Sequence[str]], bytes | None]:
        """A faster `payload` for hashes of a fixed field list: `encode(values)` with `values` aligned with
        `names` ("" = field left out) returns the same bytes as `payload` of the non-empty pairs, in order.

        The entries (field + value) of the fields in `cached` are kept per distinct value, up to 2**17
        each: names, places and dates repeat across a voter roll, so most rows are a join of cached
        bytes (registration numbers and phones, nearly all distinct, are better left out of `cached`)."""
        value, footer, crc = self._value, self.footer, _crc64
        heads = [entry(f) for f in names]
        caches: list[dict[str, bytes]] = [{"": b""} for _ in names]  # an empty value: the field left out
        keep = [f in cached for f in names]
        # Encoded every time (nearly unique values): (index, field entry, integer encoding possible).
        fresh = [(i, heads[i], f in self.numeric) for i, f in enumerate(names) if f not in cached]
        limit = _CACHE_MAX * 2
        get = dict.get

        def miss(i: int, v: str) -> bytes | None:
            ve = value(names[i], v)
            if ve is None:
                return None
            e = heads[i] + ve.encode("latin-1")
            if keep[i] and len(caches[i]) < limit:
                caches[i][v] = e
            return e

        def encode(values: Sequence[str]) -> bytes | None:
            parts = list(map(get, caches, values))
            for i, head, numeric in fresh:
                v = values[i]
                if not v:
                    continue
                n = len(v)
                if not v.isascii() or n > 63:
                    e = miss(i, v)
                    if e is None:
                        return None
                elif not numeric:
                    e = head + _SHORT_HEAD_B[n] + v.encode() + _SHORT_BACK_B[n]
                elif n < 10 and v.isdigit() and v[0] != "0":
                    e = head + _int_entry_b(int(v))  # a canonical integer below 2**31
                else:
                    e = miss(i, v)
                parts[i] = e
            try:
                raw = b"".join(parts)  # type: ignore[arg-type]
            except TypeError:  # a value not seen before (None in parts): rare once the caches are warm
                for i, e in enumerate(parts):
                    if e is None:
                        e = parts[i] = miss(i, values[i])
                        if e is None:
                            return None
                raw = b"".join(parts)  # type: ignore[arg-type]
            size = len(raw) + 7
            head = b"".join(
                (_HASH_LISTPACK, _RDB_LENS[size] if size < 1024 else _rdb_len(size),
                 _LP_HEAD(size, 2 * (len(values) - values.count(""))), raw, b"\xff", footer)
            )
            return head + _CRC(crc(head))  # type: ignore[misc]

        return encode
