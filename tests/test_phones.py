"""Phone numbers from voter files become E.164 or are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voter_registry.phones import mask, to_e164, valid_nanp


@pytest.mark.parametrize(
    "text",
    ["5155550123", "(515) 555-0123", "515.555.0123", "515-555-0123", "1-515-555-0123", "15155550123",
     "+1 515 555 0123", "+15155550123", " 515 555 0123 ", "515/555-0123", "515-555-0123 ext. 12",
     "515-555-0123 x7"],
)
def test_us_spellings_normalise_to_one_e164(text: str) -> None:
    assert to_e164(text) == "+15155550123"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "555-0123", "0155550123", "1155550123", "5150550123", "5151550123", "9115550123",
     "+1 015 555 0123", "515555012", "515555012345", "515-555-CALL", "call 5155550123", "51+55550123",
     "25155550123", "+1515555012"],
)
def test_invalid_numbers_are_refused(text: str) -> None:
    assert to_e164(text) is None


def test_other_country_code_kept_when_explicit() -> None:
    assert to_e164("+44 20 7946 0958") == "+442079460958"
    assert to_e164("+0 12345678") is None


def test_none_is_refused() -> None:
    assert to_e164(None) is None


@given(
    st.from_regex(r"[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True),
    st.sampled_from(["{}-{}-{}", "({}) {}-{}", "{}.{}.{}", "1 {} {} {}"]),
)
def test_any_valid_nanp_number_round_trips(ten: str, pattern: str) -> None:
    text = pattern.format(ten[:3], ten[3:6], ten[6:])
    expected = "+1" + ten if ten[1:3] != "11" else None
    assert to_e164(text) == expected
    assert valid_nanp(ten) == (expected is not None)


@given(st.text(max_size=30))
def test_never_raises(text: str) -> None:
    out = to_e164(text)
    assert out is None or (out.startswith("+") and out[1:].isdigit())


def test_mask_hides_the_middle() -> None:
    assert mask("+15155550123") == "+1515***0123"
    assert "555" not in mask("+15155550123")[4:]
