"""Streaming parsers for state voter files: each physical row becomes a `Row` (a Voter) or a `Reject`.

Layouts (see ../shared/design/name_matching.md):
- "iowa": Iowa Secretary of State voter list, comma-separated, either with a header line (naming
  REGN_NUM and LAST_NAME; columns are then found by name) or headerless in the documented column order
  (`IOWA_COLUMNS`). The residence CITY / STATE / ZIP_CODE / ZIP_PLUS come before the mailing ones of the
  same name. Text is UTF-8; stray Latin-1 bytes are decoded as Latin-1 rather than rejected.
- "ncsbe": North Carolina State Board of Elections `ncvoter` file: tab-delimited, header, Latin-1,
  status codes A (active), I (inactive), R (removed), D (denied), S (temporary).

Several files, and zip archives of them, are read in the order given (zip members by name). Nothing is
loaded whole: rows are parsed one at a time from a buffered stream.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from voter_registry.model import Voter
from voter_registry.phones import to_e164

FORMATS = ("iowa", "ncsbe")

# fmt: off
IOWA_COLUMNS: tuple[str, ...] = (
    "REGN_NUM", "FIRST_NAME", "MIDDLE_NAME", "LAST_NAME", "NAME_SUFFIX", "EFF_REGN_DATE",
    "LAST_UPDATED_DATE", "OLD_ID", "PHONENO", "HOUSE_NUM", "HOUSE_SUFFIX", "PRE_DIR", "STREET_NAME",
    "STREET_TYPE", "POST_DIR", "UNIT_TYPE", "UNIT_NUM", "ADDRESS_NON_STD", "CITY", "STATE", "ZIP_CODE",
    "ZIP_PLUS", "MAILING_ADDRESS", "CITY", "STATE", "ZIP_CODE", "ZIP_PLUS", "VOTERSTATUS", "PARTY",
    "POLITICAL_ORG", "GENDER", "BIRTHDATE", "COUNTY", "FEDERAL", "CONGRESSIONAL", "STATEWIDE",
    "STATE_SENATE", "STATE_HOUSE", "JUDICIAL", "PRECINCT",
)
# fmt: on
"""Iowa SoS columns in delivery order; election-history columns may follow PRECINCT."""

NC_REQUIRED = ("county_id", "voter_reg_num", "ncid", "last_name", "first_name", "status_cd")
IOWA_REQUIRED = ("REGN_NUM", "FIRST_NAME", "LAST_NAME", "VOTERSTATUS")

_IOWA_STATUS = {"A": "active", "I": "inactive", "P": "pending"}
# NC SBE status_cd: removed and denied registrations cannot act; temporary (S) ones await confirmation.
_NC_STATUS = {"A": "active", "I": "inactive", "R": "inactive", "D": "inactive", "S": "pending"}


class FormatError(ValueError):
    """A whole file cannot be read in the requested layout (unknown header, not a voter file, bad zip).

    The import stops before changing the roll in service: a half-read delivery must not mark the
    voters of the unreadable file inactive.
    """


class Row(NamedTuple):
    """A parsed registration: `vals`, the voter's fields as stored (`Voter` field order, text, "" when
    empty: what `Voter.to_dict()` gives; `voter` builds the `Voter`), `updated` (LAST_UPDATED_DATE as
    "YYYYMMDD", "" when absent), where it came from (`source` file or "archive.zip:member", physical
    `line`, 1-based) and `warning` (non-empty when a field was dropped, e.g. an invalid phone number;
    the voter is still imported)."""

    vals: list[str]
    updated: str
    source: str
    line: int
    warning: str = ""

    @property
    def voter(self) -> Voter:
        """The registration as a `Voter` (built on each access: the importer works on `vals`)."""
        v = self.vals
        return Voter(*v[:10], int(v[10]) if v[10] else None, v[11] or None, v[12], v[13])


_new_row = tuple.__new__


class Reject(NamedTuple):
    """A row that was not imported: `source`, physical `line` (1-based), `reason`, and `regn_num` if known."""

    source: str
    line: int
    reason: str
    regn_num: str = ""


# Invalid UTF-8 bytes in an Iowa file are most likely Latin-1 names ("PEÑA"): decode those bytes as Latin-1.
def _latin1_fallback(err: UnicodeError) -> tuple[str, int]:
    assert isinstance(err, UnicodeDecodeError)
    return err.object[err.start : err.end].decode("latin-1"), err.end


codecs.register_error("voter_latin1_fallback", _latin1_fallback)

_DATE_ISO = re.compile(r"^(\d{4})-?(\d{1,2})-?(\d{1,2})(?:[ T].*)?$")
_DATE_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?: .*)?$")


@lru_cache(maxsize=1 << 16)
def parse_date(text: str) -> str | None:
    """ "2024-03-01", "20240301", "3/1/2024", "03/01/2024 00:00:00" -> "20240301"; "" -> ""; bad -> None."""
    t = text.strip()
    if not t:
        return ""
    if len(t) == 10 and t[2] == "/" and t[5] == "/" and (t[:2] + t[3:5] + t[6:]).isdigit():
        y, mo, d = int(t[6:]), int(t[:2]), int(t[3:5])  # the usual MM/DD/YYYY, without a regex
    elif m := _DATE_ISO.match(t):
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    elif m := _DATE_US.match(t):
        mo, d, y = int(m[1]), int(m[2]), int(m[3])
    else:
        return None
    try:
        date(y, mo, d)
    except ValueError:
        return None
    return f"{y:04d}{mo:02d}{d:02d}"


@lru_cache(maxsize=1 << 16)
def _birth_year(text: str) -> tuple[str, bool]:
    """(year as text, ok) from a BIRTHDATE or birth_year cell ("" when missing or unusable); ok is False
    when the cell is present but unusable."""
    t = text.strip()
    if not t:
        return "", True
    if t.isdigit() and len(t) == 4:
        y = int(t)
    else:
        d = parse_date(t)
        if not d:
            return "", False
        y = int(d[:4])
    return (str(y), True) if 1880 <= y <= date.today().year else ("", False)


@lru_cache(maxsize=1024)
def normalize_district(text: str) -> str:
    """Congressional district as a bare number: "03", "3", "CD 3", "Congressional District 3" -> "3"."""
    digits = "".join(c for c in text if c.isdigit())
    return str(int(digits)) if digits else text.strip().upper()


def _zip5(text: str) -> str:
    if len(text) == 5 and text.isdigit():
        return text
    digits = "".join(c for c in text if c.isdigit())
    return digits[:5] if len(digits) >= 5 else digits.zfill(5) if digits else ""


def _phone(text: str) -> str | None:
    # Fast path for the usual bare 10 digits; everything else goes through the full rules.
    if len(text) == 10 and text.isdigit() and text[0] > "1" and text[3] > "1" and text[1:3] != "11":
        return "+1" + text
    return to_e164(text)


def _join(*parts: str) -> str:
    return " ".join(p for p in (x.strip() for x in parts) if p).upper()


# ---------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class Source:
    """One file of a delivery: a plain file or a zip member; `size` in bytes (uncompressed)."""

    name: str
    path: Path
    member: str | None
    size: int

    def open(self) -> BinaryIO:
        """The raw bytes, streamed (zip members are decompressed on the fly)."""
        if self.member is None:
            return open(self.path, "rb")  # noqa: SIM115 -- the caller closes it
        zf = zipfile.ZipFile(self.path)
        return zf.open(self.member)  # type: ignore[return-value]


def sources(paths: list[Path]) -> list[Source]:
    """Expand the paths given on the command line (files, zip archives, directories) into `Source`s.

    Raises FormatError for a missing path or a damaged zip.
    """
    out: list[Source] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sources(sorted(c for c in p.iterdir() if c.is_file() and not c.name.startswith("."))))
        elif not p.exists():
            raise FormatError(f"{p}: no such file")
        elif zipfile.is_zipfile(p):
            try:
                with zipfile.ZipFile(p) as zf:
                    members = sorted(
                        (i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX")),
                        key=lambda i: i.filename,
                    )
                    out.extend(Source(f"{p.name}:{i.filename}", p, i.filename, i.file_size) for i in members)
            except zipfile.BadZipFile as e:
                raise FormatError(f"{p}: damaged zip archive ({e})") from e
        else:
            out.append(Source(p.name, p, None, p.stat().st_size))
    return out


def _first_line(src: Source) -> bytes:
    with src.open() as f:
        return f.readline(1 << 16)


def detect_format(src: Source) -> str:
    """ "ncsbe" for a tab-delimited header naming ncid / voter_reg_num, otherwise "iowa"."""
    head = _first_line(src).lower()
    if b"\t" in head and (b"ncid" in head or b"voter_reg_num" in head):
        return "ncsbe"
    return "iowa"


# ---------------------------------------------------------------------------------------------- parsers


class RowStream:
    """Iterate `Row | Reject` over all sources in order; `bytes_done` / `bytes_total` give progress.

    fmt: "iowa", "ncsbe", or None to detect each file's layout from its first line.
    part: (k, n) to yield only the rows whose registration number falls in partition k of n
    (`partition_of`), for n parallel importers that never touch the same voter; None for all rows.
    Raises FormatError (while iterating) when a file's header lacks the required columns.
    """

    def __init__(self, srcs: list[Source], fmt: str | None = None, part: tuple[int, int] | None = None) -> None:
        if fmt is not None and fmt not in FORMATS:
            raise FormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        self.srcs = srcs
        self.fmt = fmt
        self.bytes_total = sum(s.size for s in srcs)
        self.bytes_done = 0
        self.formats: dict[str, str] = {}
        self.part = part if part and part[1] > 1 else None
        self._base = 0
        self._raw: BinaryIO | None = None

    def position(self) -> int:
        """Bytes consumed so far across all sources (approximate within the read buffer)."""
        try:
            return self._base + (self._raw.tell() if self._raw is not None else 0)
        except (OSError, ValueError):
            return self._base

    def __iter__(self) -> Iterator[Row | Reject]:
        for src in self.srcs:
            fmt = self.fmt or detect_format(src)
            self.formats[src.name] = fmt
            with src.open() as raw:
                self._raw = raw
                if fmt == "ncsbe":
                    feed = _LineFeed(io.TextIOWrapper(raw, encoding="latin-1", newline=""))
                    yield from _parse_ncsbe(src.name, csv.reader(feed, delimiter="\t"), self.part, feed)
                else:
                    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="voter_latin1_fallback", newline="")
                    feed = _LineFeed(text)
                    yield from _parse_iowa(src.name, csv.reader(feed), self.part, feed)
                self._raw = None
            self._base += src.size
            self.bytes_done = self._base


def partition_of(key: str, n: int) -> int:
    """Partition (0..n-1) of a registration-number cell: a stable hash (CRC-32), the same in every process."""
    return zlib.crc32(key.strip().encode("utf-8", "surrogateescape")) % n


class _LineFeed:
    """The physical lines of a text stream, for csv.reader, numbered (`start`..`end` of the last record).

    With `skip` set (a partition of the delivery), a line that starts a record and cannot be more than
    one record (no quote, no NUL, not huge) is dropped without CSV parsing when `skip(first cell)` says
    it belongs to another partition: each worker then pays the csv module only for its own share. Lines
    of quoted records are always fed, so every worker sees the same record boundaries."""

    __slots__ = ("lines", "end", "start", "boundary", "skip", "owned")

    def __init__(self, text: Any) -> None:
        self.lines = iter(text)
        self.end = 0  # physical line number (1-based) of the last line read
        self.start = 0  # physical line where the record being read started
        self.boundary = True  # the next line fed starts a record (set by `_records`)
        self.skip: Callable[[str], bool] | None = None
        self.owned = False  # the current record's first cell was checked by `skip` and kept

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        skip = self.skip
        while True:
            line = next(self.lines)
            self.end += 1
            if self.boundary:
                owned = False
                if skip is not None and '"' not in line and "\0" not in line and len(line) < 65536:
                    comma = line.find(",")
                    if skip(line[:comma] if comma >= 0 else line.rstrip("\r\n")):
                        continue
                    owned = True
                self.owned = owned
                self.start = self.end
                self.boundary = False
            return line


def _head(
    name: str, reader: Any, feed: _LineFeed, part: tuple[int, int] | None
) -> tuple[list[Reject], tuple[int, list[str]] | None]:
    """The unreadable records before the first readable one (this partition's share) and that record
    as (line, cells)."""
    skipped = []
    for rec in _rows(name, reader, feed, part, None, 0, False, _located):
        if not isinstance(rec, Reject):
            return skipped, rec  # type: ignore[return-value]
        skipped.append(rec)
    return skipped, None


def _located(name: str, line: int, row: list[str]) -> tuple[int, list[str]]:
    return line, row


def _parse_iowa(name: str, reader: Any, part: tuple[int, int] | None, feed: _LineFeed) -> Iterator[Row | Reject]:
    skipped, head = _head(name, reader, feed, part)
    yield from skipped
    if head is None:
        return
    first_line, first = head
    cells = [c.strip().upper() for c in first]
    has_header = "REGN_NUM" in cells and "LAST_NAME" in cells
    if has_header:
        cols = cells
        idx: dict[str, int] = {}
        for i, c in enumerate(cols):
            key = c if c not in idx else f"MAILING_{c}"  # second CITY/STATE/ZIP_* are the mailing ones
            idx.setdefault(key, i)
        missing = [c for c in IOWA_REQUIRED if c not in idx]
        if missing:
            raise FormatError(f"{name}: header lacks {', '.join(missing)}; not an Iowa voter list")
        ncols = len(cols)
        exact = True
    else:
        idx = {}
        for i, c in enumerate(IOWA_COLUMNS):
            idx.setdefault(c, i)
        ncols = len(IOWA_COLUMNS)
        exact = False  # election-history columns may follow PRECINCT
    conv = _iowa_converter(idx)
    i_regn = idx["REGN_NUM"]
    if part is not None and i_regn == 0:  # other partitions' plain lines are dropped unparsed
        k, n = part
        feed.skip = lambda cell: partition_of(cell, n) != k
    def key_of(row: list[str]) -> str:
        return row[i_regn] if i_regn < len(row) else ""

    if not has_header and (part is None or partition_of(key_of(first), part[1]) == part[0]):
        yield _checked(name, first_line, first, ncols, exact, conv)
    yield from _rows(name, reader, feed, part, key_of, ncols, exact, conv)


def _rows(
    name: str,
    reader: Any,
    feed: _LineFeed,
    part: tuple[int, int] | None,
    key_of: Callable[[list[str]], str] | None,
    ncols: int,
    exact: bool,
    conv: Callable[[str, int, list[str]], Any],
) -> Iterator[Any]:
    """`conv(name, line, cells)` of each CSV record of this partition (`_checked` first when the column
    count is off), or a Reject: a record the csv module cannot read, or one that spans several physical
    lines (an unbalanced quote swallows the lines after it), naming the lines. One loop, so that a row
    passes through one generator. key_of(cells): the registration number's cell, for the partition
    (None: every record); rejects go to the partition of their line number."""
    k, n = part if part is not None else (0, 1)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            feed.boundary = True
            if feed.end % n == k:
                yield Reject(name, feed.end, f"unreadable CSV record ({e})")
            continue
        feed.boundary = True
        if not row:
            continue
        line = feed.end
        if line > feed.start:
            if line % n == k:
                yield Reject(name, line, f"record spans lines {feed.start}-{line} (unbalanced quote?); not imported")
            continue
        if n > 1 and key_of is not None and not feed.owned and partition_of(key_of(row), n) != k:
            continue
        cells = len(row)
        if cells == ncols or (cells > ncols and not exact):
            yield conv(name, line, row)
        else:
            yield _checked(name, line, row, ncols, exact, conv)


def _checked(
    name: str,
    line: int,
    row: list[str],
    ncols: int,
    exact: bool,
    conv: Callable[[str, int, list[str]], Row | Reject],
) -> Row | Reject:
    n = len(row)
    if n != ncols if exact else n < ncols:
        if n == 1 and not row[0].strip():
            return Reject(name, line, "blank line")
        want = f"{ncols}" if exact else f"at least {ncols}"
        return Reject(name, line, f"expected {want} columns, got {n}", row[0].strip() if n else "")
    return conv(name, line, row)


@dataclass(frozen=True, slots=True)
class _Labels:
    """Column names of one layout, used in reject reasons, and its status-code table."""

    regn: str
    last: str
    status: str
    updated: str
    phone: str
    birth: str
    statuses: dict[str, str]


_IOWA_LABELS = _Labels(
    "REGN_NUM", "LAST_NAME", "VOTERSTATUS", "LAST_UPDATED_DATE", "PHONENO", "BIRTHDATE", _IOWA_STATUS
)
_NC_LABELS = _Labels(
    "voter_reg_num and ncid", "last_name", "status_cd", "registr_dt", "full_phone_number", "birth_year", _NC_STATUS
)


def _finish(lb: _Labels, name: str, line: int, c: list[str]) -> Row | Reject:
    """Validate the cells common to every layout and build the Row (or the Reject saying why not).

    c: stripped cells in this order: regn, first, middle, last, suffix, house, street, city, zip, county,
    birth, phone, status, updated, district."""
    regn = c[0]
    if not regn:
        return Reject(name, line, f"missing {lb.regn}")
    if not c[3]:
        return Reject(name, line, f"missing {lb.last}", regn)
    status = lb.statuses.get(c[12][:1].upper())
    if status is None:
        return Reject(name, line, f"unknown {lb.status} {c[12][:20]!r}", regn)
    updated = parse_date(c[13])
    if updated is None:
        return Reject(name, line, f"bad {lb.updated} {c[13][:20]!r}", regn)
    warning = ""
    phone = c[11]
    if phone:
        phone = _phone(phone)
        if phone is None:
            phone = ""
            warning = f"invalid {lb.phone}, imported without phone"  # the number itself is not echoed
    birth, ok = _birth_year(c[10])
    if not ok:
        warning = (
            f"{warning}; bad {lb.birth}, imported without birth year"
            if warning
            else f"bad {lb.birth}, imported without birth year"
        )
    city, zip_, county, district = _place(c[7], c[8], c[9], c[14])
    suffix = c[4]
    vals = [
        regn,
        c[1].upper(),
        c[2].upper(),
        c[3].upper(),
        suffix.upper().rstrip(".") if suffix else "",
        c[5],
        c[6],
        city,
        zip_,
        county,
        birth,
        phone,
        status,
        district,
    ]  # the field order of Voter
    return _new_row(Row, (vals, updated, name, line, warning))  # Row(...) without its Python __new__


@lru_cache(maxsize=1 << 16)  # a roll has a few thousand places: one lookup instead of four conversions
def _place(city: str, zip_: str, county: str, district: str) -> tuple[str, str, str, str]:
    """(CITY, 5-digit ZIP, COUNTY, bare district number) as stored."""
    return city.upper(), _zip5(zip_), county.upper(), normalize_district(district)


def _iowa_converter(idx: dict[str, int]) -> Callable[[str, int, list[str]], Row | Reject]:
    # fmt: off
    names = ("REGN_NUM", "FIRST_NAME", "MIDDLE_NAME", "LAST_NAME", "NAME_SUFFIX", "HOUSE_NUM", "HOUSE_SUFFIX",
             "PRE_DIR", "STREET_NAME", "STREET_TYPE", "POST_DIR", "ADDRESS_NON_STD", "CITY", "ZIP_CODE",
             "COUNTY", "BIRTHDATE", "PHONENO", "VOTERSTATUS", "LAST_UPDATED_DATE", "CONGRESSIONAL")
    # fmt: on
    # A column missing from a header reads as the empty cell appended at index -1.
    pad = any(c not in idx for c in names)
    pick = itemgetter(*(idx.get(c, -1) for c in names))

    def convert(name: str, line: int, row: list[str]) -> Row | Reject:
        if pad:
            row = [*row, ""]
        c = list(map(str.strip, pick(row)))  # the cells of `names`, in that order
        street = " ".join(filter(None, c[7:11])).upper()  # PRE_DIR STREET_NAME STREET_TYPE POST_DIR
        house = f"{c[5]} {c[6]}".upper() if c[6] else c[5].upper()
        if not street and not house:
            street = c[11].upper()  # ADDRESS_NON_STD
        c[5:12] = (house, street)
        return _finish(_IOWA_LABELS, name, line, c)

    return convert


_HOUSE = re.compile(r"^(\d+[A-Z]?(?:\s+\d/\d)?|\d+-\d+)\s+(.*)$")


def _parse_ncsbe(name: str, reader: Any, part: tuple[int, int] | None, feed: _LineFeed) -> Iterator[Row | Reject]:
    skipped, head = _head(name, reader, feed, part)
    yield from skipped
    if head is None:
        return
    cols = [c.strip().lower() for c in head[1]]
    idx = {c: i for i, c in reversed(list(enumerate(cols)))}
    missing = [c for c in NC_REQUIRED if c not in idx]
    if missing:
        raise FormatError(f"{name}: header lacks {', '.join(missing)}; not an NC SBE ncvoter file")
    g = idx.get
    i_cid, i_reg, i_ncid = g("county_id"), g("voter_reg_num"), g("ncid")
    i_last, i_first, i_mid, i_suf = g("last_name"), g("first_name"), g("middle_name"), g("name_suffix_lbl")
    i_status, i_street, i_city, i_zip = g("status_cd"), g("res_street_address"), g("res_city_desc"), g("zip_code")
    i_county, i_phone, i_reg_dt, i_birth = g("county_desc"), g("full_phone_number"), g("registr_dt"), g("birth_year")
    i_cd = g("cong_dist_abbrv")
    ncols = len(cols)

    def cell(row: list[str], i: int | None) -> str:
        return row[i].strip() if i is not None else ""

    def convert(_name: str, line: int, row: list[str]) -> Row | Reject:
        cid, reg = cell(row, i_cid), cell(row, i_reg)
        addr = " ".join(cell(row, i_street).upper().split())
        m = _HOUSE.match(addr)
        house, street = (m[1], m[2]) if m else ("", addr)
        return _finish(
            _NC_LABELS,
            name,
            line,
            [
                f"{cid}-{reg}" if cid and reg else cell(row, i_ncid),
                cell(row, i_first),
                cell(row, i_mid),
                cell(row, i_last),
                cell(row, i_suf),
                house,
                street,
                cell(row, i_city),
                cell(row, i_zip),
                cell(row, i_county),
                cell(row, i_birth),
                cell(row, i_phone),
                cell(row, i_status),
                cell(row, i_reg_dt),
                cell(row, i_cd),
            ],
        )

    def key_of(row: list[str]) -> str:
        return row[i_cid].strip() + "-" + row[i_reg].strip() if len(row) == ncols else row[0]

    yield from _rows(name, reader, feed, part, key_of, ncols, True, convert)
