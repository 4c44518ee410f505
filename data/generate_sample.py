"""Anonymized, Iowa-shaped sample voter roll, deterministic by seed, built from public aggregate data.

No real voter row is used: names come from Census surname and Social Security first-name frequencies,
places from the ZIP and places tables (see `data.sample_tables` for sources). The shape follows
docs/sample-data.md: households of 1-5 voters at one address (38/44/11/5/2%), 85% of multi-voter
households sharing a surname, a few JR/SR pairs, middle names or initials, about 40% of voters with a
phone (area code from the town; the fictional 555-01XX block first), statuses Active/Inactive/Pending.

Writers (the layouts of design/name_matching.md):
- `iowa`: CSV with a header (`IOWA_COLUMNS`), UTF-8; a few duplicate REGN_NUM rows with an older
  LAST_UPDATED_DATE are included on purpose (real SoS files have them; keep the latest).
- `iowa-headerless`: the same columns without a header, optionally split into several files.
- `ncsbe`: North Carolina SBE `ncvoter` layout (`NCSBE_COLUMNS`), tab-delimited, header, latin-1.

CLI: `./run_delegate_network generate-sample --voters N --seed S [--district D] [--format F] --out FILE`.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import NamedTuple

from data import sample_tables as tables
from voter_registry.model import Voter

FORMATS = ("iowa", "iowa-headerless", "ncsbe")

IOWA_COLUMNS = (
    "REGN_NUM", "FIRST_NAME", "MIDDLE_NAME", "LAST_NAME", "NAME_SUFFIX", "EFF_REGN_DATE",
    "LAST_UPDATED_DATE", "OLD_ID", "PHONENO", "HOUSE_NUM", "HOUSE_SUFFIX", "PRE_DIR", "STREET_NAME",
    "STREET_TYPE", "POST_DIR", "UNIT_TYPE", "UNIT_NUM", "ADDRESS_NON_STD", "CITY", "STATE", "ZIP_CODE",
    "ZIP_PLUS", "MAILING_ADDRESS", "MAILING_CITY", "MAILING_STATE", "MAILING_ZIP_CODE", "MAILING_ZIP_PLUS",
    "VOTERSTATUS", "PARTY", "POLITICAL_ORG", "GENDER", "BIRTHDATE", "COUNTY", "FEDERAL", "CONGRESSIONAL",
    "STATEWIDE", "STATE_SENATE", "STATE_HOUSE", "JUDICIAL", "PRECINCT",
)
"""Iowa SoS voter-list columns in delivery order. The SoS header repeats CITY STATE ZIP_CODE ZIP_PLUS
for the mailing address; here those four are prefixed MAILING_ so that the header names are unique."""

NCSBE_COLUMNS = (
    "county_id", "county_desc", "voter_reg_num", "ncid", "last_name", "first_name", "middle_name",
    "name_suffix_lbl", "status_cd", "voter_status_desc", "reason_cd", "voter_status_reason_desc",
    "res_street_address", "res_city_desc", "state_cd", "zip_code", "mail_addr1", "mail_addr2", "mail_addr3",
    "mail_addr4", "mail_city", "mail_state", "mail_zipcode", "full_phone_number", "confidential_ind",
    "registr_dt", "race_code", "ethnic_code", "party_cd", "gender_code", "birth_year", "age_at_year_end",
    "birth_state", "drivers_lic", "precinct_abbrv", "precinct_desc", "municipality_abbrv",
    "municipality_desc", "ward_abbrv", "ward_desc", "cong_dist_abbrv", "super_court_abbrv",
    "judic_dist_abbrv", "nc_senate_abbrv", "nc_house_abbrv", "county_commiss_abbrv", "county_commiss_desc",
    "township_abbrv", "township_desc", "school_dist_abbrv", "school_dist_desc", "fire_dist_abbrv",
    "fire_dist_desc", "water_dist_abbrv", "water_dist_desc", "sewer_dist_abbrv", "sewer_dist_desc",
    "sanit_dist_abbrv", "sanit_dist_desc", "rescue_dist_abbrv", "rescue_dist_desc", "munic_dist_abbrv",
    "munic_dist_desc", "dist_1_abbrv", "dist_1_desc", "vtd_abbrv", "vtd_desc",
)
"""NC SBE `ncvoter` file columns (layout_ncvoter.txt), in order."""

# --- shape parameters (sources: design/name_matching.md, rounded public figures) ---
HOUSEHOLD_SIZES = ((1, 0.38), (2, 0.44), (3, 0.11), (4, 0.05), (5, 0.02))
SHARED_SURNAME = 0.85
STATUSES = (("Active", 0.87), ("Inactive", 0.115), ("Pending", 0.015))
PARTIES = (("REP", 0.375), ("DEM", 0.30), ("NP", 0.315), ("LIB", 0.008), ("OTH", 0.002))
NC_PARTY = {"REP": "REP", "DEM": "DEM", "NP": "UNA", "LIB": "LIB", "OTH": "GRE"}
SHARED_LINE = 0.30  # multi-voter households with one shared phone number ...
SHARED_LINE_MEMBER = 0.80  # ... given to each member with this probability
OWN_PHONE = 0.26  # otherwise each voter has their own number with this probability
JR_PAIR = 0.02  # family households with a grown son: the son is JR of the father
MIDDLE_FULL, MIDDLE_INITIAL = 0.84, 0.08  # the rest have no middle name
LOCAL_SURNAME = 0.45  # households taking a surname already in their ZIP (related households nearby)
REGISTERED_NICKNAME = 0.02  # registered under the name they go by (ROBERT -> BOB)
VARIANT_SPELLING = 0.01  # first name swapped for another real spelling of its sound (CMUdict)
DUPLICATE_ROWS = 0.002  # share of voters with an older duplicate row in the Iowa files
CHUNK = 20_000  # households generated per batch (bounded memory)

STREET_NAMES = (
    "MAIN", "OAK", "MAPLE", "ELM", "PINE", "CEDAR", "WALNUT", "HICKORY", "LOCUST", "CHESTNUT", "BIRCH",
    "WILLOW", "CHERRY", "ASH", "SPRUCE", "SYCAMORE", "MULBERRY", "POPLAR", "LINDEN", "COTTONWOOD",
    "WASHINGTON", "LINCOLN", "JEFFERSON", "MADISON", "JACKSON", "ADAMS", "MONROE", "GRANT", "HARRISON",
    "VAN BUREN", "GARFIELD", "MCKINLEY", "CLEVELAND", "PIERCE", "TAYLOR", "POLK", "FILLMORE", "TYLER",
    "KENNEDY", "ROOSEVELT", "WILSON", "HOOVER", "CHURCH", "MILL", "SCHOOL", "PARK", "LAKE", "HILL",
    "RIVER", "HIGH", "CENTER", "COLLEGE", "DIVISION", "BROADWAY", "RAILROAD", "PROSPECT", "WOODLAND",
    "SUNSET", "MEADOW", "HIGHLAND", "FOREST", "SPRING", "PLEASANT", "PRAIRIE", "ORCHARD", "RIDGE",
    "VALLEY", "GROVE", "LAUREL", "COUNTRY CLUB", "FAIRVIEW", "GRAND", "UNIVERSITY", "EUCLID", "DOUGLAS",
    "HAWTHORNE", "JUNIPER", "PRIMROSE", "CLOVER", "LIBERTY", "UNION", "FRANKLIN", "HAMILTON", "MARKET",
    "FRONT", "WATER", "BRIDGE", "DEPOT", "HILLCREST", "DEER CREEK", "FOX RUN", "EAGLE", "BLUFF",
    "LINCOLN WAY", "INGERSOLL", "BEAVER", "HICKMAN", "FLEUR", "ARMY POST", "KINGMAN", "CROCKER", "KEO",
    "SHERIDAN", "LOGAN", "SHERMAN", "WARREN", "CLARK", "HAYES", "ARTHUR", "BENTON", "STATE", "WOOD",
    "GREEN", "SUMMIT", "VIEW", "WEST", "EAST", "NORTH", "SOUTH", "FAIRWAY", "CREEKSIDE", "STONEBROOK",
    "TIMBERLINE", "WILDWOOD", "BRIARWOOD", "OAKWOOD", "ELMWOOD", "MAPLEWOOD", "LAKEVIEW", "RIVERVIEW",
    "PARKVIEW", "BELLEVUE", "ROSE", "LILAC", "IRIS", "TULIP", "DAISY", "HEATHER", "AUBURN", "CAMBRIDGE",
    "OXFORD", "PRINCETON", "YALE", "DARTMOUTH", "CORNELL", "DRAKE", "GRINNELL", "LUTHER", "COE", "WARTBURG",
)
STREET_TYPES = (("ST", 40), ("AVE", 25), ("DR", 12), ("RD", 5), ("LN", 5), ("CT", 5), ("PL", 3),
                ("CIR", 2), ("BLVD", 1), ("PKWY", 1), ("WAY", 1))
RURAL_TYPES = (("ST", 50), ("AVE", 45), ("RD", 5))
DIRECTIONS = ("N", "S", "E", "W")
# Letters missing from the rural grid names (Iowa county road grids skip easily confused letters).
RURAL_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
# Spanish spellings written with accents in some rolls (tests the latin-1 path of the NC writer).
ACCENTED = {"MUNOZ": "MUÑOZ", "PENA": "PEÑA", "NUNEZ": "NÚÑEZ", "IBANEZ": "IBÁÑEZ", "JOSE": "JOSÉ",
            "RAMON": "RAMÓN", "ANDRES": "ANDRÉS", "JESUS": "JESÚS"}
ACCENTED_SHARE = 0.3
REFERENCE_DATE = date(tables.REFERENCE_YEAR, 10, 1)  # "today" of the sample: output never depends on clock
_TODAY = REFERENCE_DATE.toordinal()
_EARLIEST_REGN = date(1975, 1, 1).toordinal()  # Iowa's statewide registration law (auditors, 1975)
_JAN1 = {y: date(y, 1, 1).toordinal() for y in range(1900, tables.REFERENCE_YEAR + 1)}


def _pick(w: tables.Weighted, rnd: Callable[[], float]) -> object:
    """One weighted draw (what `random.choices(k=1)` does, without its per-call overhead)."""
    return w.items[bisect_right(w.cum, rnd() * w.cum[-1], 0, len(w.cum) - 1)]


@cache
def _fmt_date(ordinal: int) -> str:
    """Proleptic ordinal -> "MM/DD/YYYY" (the Iowa file's date format); cached, days repeat a lot."""
    return date.fromordinal(ordinal).strftime("%m/%d/%Y")


class Extra(NamedTuple):
    """The voter-file columns a Voter does not carry (address parts, dates, party, districts).
    A NamedTuple: built once per voter, it must be cheap (2.2 M of them in a statewide roll)."""

    pre_dir: str
    street_name: str
    street_type: str
    unit_type: str
    unit_num: str
    party: str
    gender: str
    birthdate: int  # dates as proleptic ordinals (`date.toordinal`)
    eff_date: int
    updated: int
    precinct: str
    state_house: int
    county_id: int
    mail: tuple[str, str, str, str] | None  # (address, city, state, zip) when it differs


@dataclass(slots=True)
class GenerateSummary:
    """What `generate` wrote: voters (distinct registrations), rows (incl. duplicate rows), households,
    voters with a phone, files written, seconds taken, format and district (None = statewide)."""

    voters: int = 0
    rows: int = 0
    households: int = 0
    with_phone: int = 0
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    fmt: str = "iowa"
    district: str | None = None

    def describe(self) -> str:
        """One line for the terminal (no personal data)."""
        where = f"district {self.district}" if self.district else "statewide"
        return (f"{self.voters:,} voters ({self.rows:,} rows, {self.households:,} households, "
                f"{self.with_phone:,} with a phone), {where}, {self.fmt}, {self.seconds:.1f} s -> "
                + ", ".join(str(p) for p in self.files))


class _Phones:
    """Hands out unique 10-digit numbers per area code: 555-0100..0199 (reserved for fiction by the NANP
    administrator) first, then the rest of the 555 exchange (minus the directory-assistance lines), then
    the 958 and 959 test exchanges, then ordinary exchanges from 200 up (only very large rolls get there).
    All pass NANP validation (`voter_registry.phones.valid_nanp`)."""

    _LINES_555 = tuple(f"{x:04d}" for x in (*range(100, 200), *range(0, 100), *range(200, 10_000))
                       if x not in (1212, 4334))
    _EXCHANGES = ("958", "959", *(str(x) for x in range(200, 1000)
                                  if x not in (555, 958, 959) and str(x)[1:] != "11"))

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def take(self, npa: str) -> str:
        """A new 10-digit number in area code `npa`."""
        k = self._next.get(npa, 0)
        self._next[npa] = k + 1
        if k < len(self._LINES_555):
            return f"{npa}555{self._LINES_555[k]}"
        k -= len(self._LINES_555)
        return f"{npa}{self._EXCHANGES[k // 10_000]}{k % 10_000:04d}"




def _streets(place: tables.Place, seed: int) -> list[tuple[str, str, str]]:
    """A town's streets as (pre_dir, name, type); the more people, the more streets. Deterministic."""
    if place.streets:
        return place.streets
    rng = random.Random(f"{seed}:{place.zip}")
    n = int(min(2500, max(12, place.population / 90)))
    types, tw = zip(*STREET_TYPES, strict=True)
    names: set[tuple[str, str, str]] = set()
    town = place.population > tables._RURAL_ZIP_WEIGHT * 1.5
    while len(names) < n:
        u = rng.random()
        if town and u < 0.55:
            name, typ = rng.choice(STREET_NAMES), rng.choices(types, tw)[0]
        elif u < 0.80:
            num = rng.randint(1, 60 if town else 390)
            sfx = "TH" if 10 <= num % 100 <= 20 else {1: "ST", 2: "ND", 3: "RD"}.get(num % 10, "TH")
            name, typ = f"{num}{sfx}", rng.choices(("ST", "AVE"), (55, 45))[0]
        else:
            name = f"{rng.choice(RURAL_LETTERS)}" if not town else rng.choice(STREET_NAMES)
            typ = "AVE" if not town else rng.choices(types, tw)[0]
        pre = rng.choice(DIRECTIONS) if town and rng.random() < 0.18 else ""
        names.add((pre, name, typ))
    place.streets = sorted(names)
    return place.streets


def _iter_households(n: int, seed: int, district: str | None) -> Iterator[list[tuple[Voter, Extra]]]:
    """Yield households (lists of (Voter, Extra)) until exactly n voters have been produced."""
    rng = random.Random(seed)
    pw = tables.place_weights(district)
    sur = tables.surnames()
    years = tables.birth_years()
    phones = _Phones()
    sizes, sw = zip(*HOUSEHOLD_SIZES, strict=True)
    status_w = tables.Weighted.of([(s.lower(), w) for s, w in STATUSES])
    party_w = tables.Weighted.of(list(PARTIES))
    rnd = rng.random
    regn = 100_000_000 + rng.randrange(0, 500_000_000)
    local_names: dict[str, list[str]] = {}
    nick, variants = tables.registered_nickname(), tables.spelling_variants()
    made = 0
    while made < n:
        hh_sizes = rng.choices(sizes, sw, k=CHUNK)
        total = 0
        for i, s in enumerate(hh_sizes):
            total += s
            if made + total >= n:
                hh_sizes = hh_sizes[: i + 1]
                hh_sizes[-1] -= made + total - n
                break
        nh = len(hh_sizes)
        hh_places = rng.choices(pw.items, cum_weights=pw.cum, k=nh)
        hh_last = rng.choices(sur.items, cum_weights=sur.cum, k=nh)
        for h, place in enumerate(hh_places):  # families stay: towns keep their surnames
            seen = local_names.setdefault(place.zip, [])
            if seen and rng.random() < LOCAL_SURNAME:
                hh_last[h] = seen[int(rng.random() * len(seen))]
            elif len(seen) < 400:
                seen.append(hh_last[h])
        # Persons: [sex, birth_year, first, middle, last, suffix, jr_of_index]
        people: list[list] = []
        hh_members: list[list[int]] = []
        for h, size in enumerate(hh_sizes):
            family = size == 1 or rng.random() < SHARED_SURNAME
            head_sex = "M" if rng.random() < 0.5 else "F"
            head_year = _pick(years[head_sex], rnd)
            members = [len(people)]
            people.append([head_sex, head_year, "", "", hh_last[h], "", -1])
            for j in range(1, size):
                if j == 1 and (family or rng.random() < 0.6):  # partner
                    sex = ("F" if head_sex == "M" else "M") if rng.random() < 0.97 else head_sex
                    y = head_year + round(rng.gauss(1.5 if head_sex == "M" else -1.5, 3.5))
                    y = min(max(y, tables.OLDEST_BIRTH_YEAR), tables.YOUNGEST_BIRTH_YEAR)
                else:  # grown child, or another adult
                    sex = "M" if rng.random() < 0.5 else "F"
                    y = head_year + 22 + int(rnd() * 17)
                    if y > tables.YOUNGEST_BIRTH_YEAR or not family:
                        y = _pick(years[sex], rnd)
                last = hh_last[h] if family else ""
                jr = -1
                if family and j >= 2 and sex == "M" and head_sex == "M" and y > head_year + 15 \
                        and rng.random() < JR_PAIR:
                    jr = members[0]
                members.append(len(people))
                people.append([sex, y, "", "", last, "", jr])
            hh_members.append(members)
        # Names in bulk per (sex, cohort).
        groups: dict[tuple[str, int], list[int]] = {}
        for idx, p in enumerate(people):
            groups.setdefault((p[0], tables.cohort_of(p[1])), []).append(idx)
        for (sex, coh), idxs in groups.items():
            w = tables.first_names(sex, coh)
            firsts = rng.choices(w.items, cum_weights=w.cum, k=len(idxs))
            middles = rng.choices(w.items, cum_weights=w.cum, k=len(idxs))
            for idx, f, m in zip(idxs, firsts, middles, strict=True):
                people[idx][2] = f
                u = rng.random()
                people[idx][3] = m if u < MIDDLE_FULL else (m[0] if u < MIDDLE_FULL + MIDDLE_INITIAL else "")
        missing = [p for p in people if not p[4]]
        for p, last in zip(missing, rng.choices(sur.items, cum_weights=sur.cum, k=len(missing)),
                           strict=True):
            p[4] = last
        for p in people:
            if p[6] >= 0:
                father = people[p[6]]
                p[2], p[3], p[5], father[5] = father[2], father[3], "JR", "SR"
            elif p[0] == "M" and rng.random() < 0.012:
                p[5] = rng.choices(("JR", "II", "III", "IV"), (70, 10, 17, 3))[0]
            u = rnd()
            if u < REGISTERED_NICKNAME and p[2] in nick:
                p[2] = nick[p[2]]
            elif u < REGISTERED_NICKNAME + VARIANT_SPELLING and p[2] in variants:
                p[2] = variants[p[2]][int(rnd() * len(variants[p[2]]))]
            if p[4] in ACCENTED and rng.random() < ACCENTED_SHARE:
                p[4] = ACCENTED[p[4]]
            if p[2] in ACCENTED and rng.random() < ACCENTED_SHARE:
                p[2] = ACCENTED[p[2]]
        # Addresses, phones, statuses; emit.
        for h, members in enumerate(hh_members):
            place: tables.Place = hh_places[h]
            streets = _streets(place, seed)
            pre, sname, stype = streets[int(rnd() * len(streets))]
            house = str((1 + int(rnd() * 40)) * 100 + 1 + int(rnd() * 99))
            unit_type = unit_num = ""
            if place.population > 5000 and rnd() < 0.22:
                unit_type, unit_num = "APT", str((1 + int(rnd() * 4)) * 100 + 1 + int(rnd() * 24))
            street = " ".join(x for x in (pre, sname, stype) if x)
            codes = place.area_codes
            npa = codes[0] if len(codes) == 1 or rnd() < 0.8 else codes[1]
            shared = phones.take(npa) if len(members) > 1 and rnd() < SHARED_LINE else None
            mail = None
            if rnd() < 0.03:
                mail = (f"PO BOX {1 + int(rnd() * 2999)}", place.city, "IA", place.zip)
            ward = 1 + int(rnd() * (1 + int(place.population // 2500)))
            precinct = f"{place.city[:4].replace(' ', '')}-{ward:02d}"
            house_district = 1 + (place.county_id * 7 + len(place.city)) % 100
            out = []
            for idx in members:
                sex, y, first, middle, last, suffix, _ = people[idx]
                if shared and rnd() < SHARED_LINE_MEMBER:
                    phone = "+1" + shared
                elif rnd() < OWN_PHONE:
                    phone = "+1" + phones.take(npa)
                else:
                    phone = None
                # Dates as proleptic ordinals (fast); registered at 18 or later, not before 1975.
                bd = _JAN1[y] + int(rnd() * 365)
                eff_start = max(bd + 18 * 365 + 5, _EARLIEST_REGN)
                eff = eff_start + int(rnd() * max(1, _TODAY - eff_start))
                upd = eff + int(rnd() * max(1, _TODAY - eff))
                regn += 1
                v = Voter(str(regn), first, middle, last, suffix, house, street, place.city, place.zip,
                          place.county, y, phone, _pick(status_w, rnd), place.district)
                e = Extra(pre, sname, stype, unit_type, unit_num, _pick(party_w, rnd), sex, bd, eff, upd,
                          precinct, house_district, place.county_id, mail)
                out.append((v, e))
            made += len(out)
            yield out


def iter_voters(n: int, seed: int, district: str | None = None) -> Iterator[Voter]:
    """Yield exactly `n` sample voters, deterministic for (n, seed, district).

    district: Iowa congressional district "1".."4" (only its counties), or None for statewide.
    Raises ValueError for n < 0 or an unknown district.
    """
    households = _iter_rows(n, seed, district)  # validates now, not at the first next()
    return (v for hh in households for v, _ in hh)


def _iter_rows(n: int, seed: int, district: str | None) -> Iterator[list[tuple[Voter, Extra]]]:
    if n < 0:
        raise ValueError(f"number of voters must be >= 0, not {n}")
    if district is not None and str(district) not in {"1", "2", "3", "4"}:
        raise ValueError(f"Iowa has no congressional district {district!r} (1-4)")
    if n == 0:
        return iter(())
    return _iter_households(n, seed, None if district is None else str(district))


def _iowa_row(v: Voter, e: Extra, updated: int | None = None) -> list[str]:
    mail = e.mail or ("", "", "", "")
    return [
        v.regn_num, v.first, v.middle, v.last, v.suffix, _fmt_date(e.eff_date), _fmt_date(updated or e.updated),
        "", v.phone[2:] if v.phone else "", v.house_num, "", e.pre_dir, e.street_name, e.street_type, "",
        e.unit_type, e.unit_num, "", v.city, "IA", v.zip, "", mail[0], mail[1], mail[2], mail[3], "",
        v.status.title(), e.party, "", e.gender, _fmt_date(e.birthdate), v.county, "1", v.district, "1",
        str((e.state_house + 1) // 2), str(e.state_house), str(1 + e.county_id % 8), e.precinct,
    ]


_NC_STATUS = {"active": ("A", "ACTIVE", "AV", "VERIFIED"), "inactive": ("I", "INACTIVE", "IN",
              "CONFIRMATION NOT RETURNED"), "pending": ("I", "INACTIVE", "IU", "CONFIRMATION PENDING")}


def _nc_row(v: Voter, e: Extra) -> list[str]:
    st = _NC_STATUS[v.status]
    addr = " ".join(x for x in (v.house_num, v.street, e.unit_type and f"{e.unit_type} {e.unit_num}") if x)
    mail = e.mail or (addr, v.city, "IA", v.zip)
    age = tables.REFERENCE_YEAR - (v.birth_year or tables.REFERENCE_YEAR)
    row = [str(e.county_id), v.county, v.regn_num, f"AA{int(v.regn_num) % 10_000_000:07d}", v.last, v.first,
           v.middle, v.suffix, st[0], st[1], st[2], st[3], addr, v.city, "IA", v.zip, mail[0], "", "", "",
           mail[1], mail[2], mail[3], v.phone[2:] if v.phone else "", "N",
           _fmt_date(e.eff_date), "U", "UN", NC_PARTY[e.party], e.gender, str(v.birth_year or ""), str(age),
           "", "N", e.precinct, e.precinct, "", "", "", "", v.district]
    return row + [""] * (len(NCSBE_COLUMNS) - len(row) - 2) + [e.precinct, e.precinct]


def _part_paths(out: Path, parts: int) -> list[Path]:
    if parts <= 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i:02d}{out.suffix}") for i in range(1, parts + 1)]


def generate(n: int, seed: int, out: Path, *, fmt: str = "iowa", district: str | None = None,
             parts: int = 1, progress: bool = False) -> GenerateSummary:
    """Write a sample roll of `n` voters to `out` in layout `fmt` (see FORMATS) and return a summary.

    district: "1".."4" (only that congressional district's counties) or None (statewide).
    parts: for "iowa-headerless", split the rows over this many files named <stem>-01<suffix>, ...
    Deterministic: the same (n, seed, district) gives the same voters in every format.
    Raises ValueError for an unknown format or district, n < 0 or parts < 1; OSError when `out` cannot be
    written (a partly written file is removed).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if parts < 1 or (parts > 1 and fmt != "iowa-headerless"):
        raise ValueError("parts > 1 only for iowa-headerless, and parts must be >= 1")
    t0 = time.perf_counter()
    households = _iter_rows(n, seed, district)
    summary = GenerateSummary(fmt=fmt, district=None if district is None else str(district),
                              files=_part_paths(Path(out), parts))
    dup_rng = random.Random(f"dup:{seed}")
    encoding = "latin-1" if fmt == "ncsbe" else "utf-8"
    handles = [p.open("w", newline="", encoding=encoding, errors="replace") for p in summary.files]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, unit="voter", unit_scale=True, file=sys.stderr)
    try:
        writers = [csv.writer(h, delimiter="\t" if fmt == "ncsbe" else ",", lineterminator="\n")
                   for h in handles]
        if fmt == "iowa":
            writers[0].writerow(IOWA_COLUMNS)
        elif fmt == "ncsbe":
            writers[0].writerow(NCSBE_COLUMNS)
        per_part = -(-n // parts) if n else 1
        for hh in households:
            rows = []
            for v, e in hh:
                if fmt == "ncsbe":
                    rows.append(_nc_row(v, e))
                else:
                    if dup_rng.random() < DUPLICATE_ROWS:  # an older version of this registration
                        old = _iowa_row(v, e, e.eff_date)
                        old[27] = "Inactive" if v.status == "active" else "Active"
                        rows.append(old)
                    rows.append(_iowa_row(v, e))
                summary.with_phone += v.phone is not None
            w = writers[min(summary.voters // per_part, parts - 1)]
            w.writerows(rows)
            summary.voters += len(hh)
            summary.rows += len(rows)
            summary.households += 1
            if bar is not None and summary.households % 5000 == 0:
                bar.n = summary.voters
                bar.refresh()
    except BaseException:
        for h in handles:
            h.close()
        for p in summary.files:
            p.unlink(missing_ok=True)
        raise
    finally:
        if bar is not None:
            bar.n = summary.voters
            bar.close()
    for h in handles:
        h.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def main(argv: list[str] | None = None) -> int:
    """CLI: generate-sample --voters N --seed S [--district D] [--format F] [--parts K] --out FILE."""
    ap = argparse.ArgumentParser(prog="generate-sample", description=__doc__.splitlines()[0])
    ap.add_argument("--voters", type=int, required=True, help="number of voters (registrations)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (same seed, same roll)")
    ap.add_argument("--district", choices=("1", "2", "3", "4"), help="congressional district; default statewide")
    ap.add_argument("--format", dest="fmt", choices=FORMATS, default="iowa")
    ap.add_argument("--parts", type=int, default=1, help="split iowa-headerless output into K files")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    try:
        s = generate(a.voters, a.seed, a.out, fmt=a.fmt, district=a.district, parts=a.parts,
                     progress=not a.quiet)
    except (ValueError, OSError) as exc:
        print(f"generate-sample: {exc}", file=sys.stderr)
        return 2
    print(s.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
