"""ASR phrase hints for a call: the roll's place names, the caller's own county first.

Telnyx transcription runs for the whole call and takes its hints once, at `transcription_start` (Google
`hints`, Deepgram nova-3 `keyterms`; shared/design/telnyx.md), so the hints of every prompt are sent
together: the command words of the menus (`ivr.dialogue.COMMAND_HINTS`) and the place names that follow
"of" in a delegate's name. Places are where ASR errs most (shared/design/name_matching.md); a delegate
usually lives near the delegator, so the caller's county's towns come first, then the state's towns by
voter count and the "<Name> County" forms. Never person names: a recogniser echoes its hints.
"""

from __future__ import annotations

import time
from typing import Any

from voter_registry.places import PlaceTable, load_places_async

PLACE_HINTS = 100  # Deepgram keyterm prompting takes up to 100 terms; more also dilutes Google's boost
REFRESH_S = 300.0  # a re-import changes the roll's places rarely; a few minutes' lag is harmless


def place_hints(table: PlaceTable, county: str | None, limit: int = PLACE_HINTS) -> tuple[str, ...]:
    """Up to `limit` place phrases, title case: the towns of `county` (most voters first) and
    "<County> County", then the state's towns by voters, then the other counties.

    table: the roll's places (`voter_registry.places.PlaceTable`); county: the caller's county as on the
    roll ("POLK"), or None for an unregistered caller."""
    county = (county or "").upper()
    by_voters = sorted(table.city_counties, key=lambda c: (-sum(table.city_counties[c].values()), c))
    near = [c for c in by_voters if county and county in table.city_counties[c]]
    counties = sorted(table.county_count)
    ordered = ([t.title() for t in near] + ([f"{county.title()} County"] if county in table.county_count else [])
               + [t.title() for t in by_voters] + [f"{c.title()} County" for c in counties])
    return tuple(dict.fromkeys(ordered))[:limit]


class PlaceHints:
    """Per-process cache of the roll's place table (refreshed every REFRESH_S seconds) and of the hints of
    each county, over an asyncio client. `for_county` never raises: without the table, a call still gets
    its command-word hints."""

    def __init__(self, r: Any) -> None:
        self.r = r
        self._table: PlaceTable | None = None
        self._loaded = 0.0
        self._hints: dict[str | None, tuple[str, ...]] = {}  # by county: sorting the towns is per table

    async def for_county(self, county: str | None) -> tuple[str, ...]:
        """`place_hints` for a caller in `county` (None = unknown)."""
        if self._table is None or time.monotonic() - self._loaded > REFRESH_S:
            try:
                self._table, self._hints = await load_places_async(self.r), {}
            except Exception:  # the roll's places are a nicety: keep the last table, or go on without
                if self._table is None:
                    return ()
            self._loaded = time.monotonic()
        if county not in self._hints:
            self._hints[county] = place_hints(self._table, county)
        return self._hints[county]
