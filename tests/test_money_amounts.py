"""Spoken and written amounts: what callers say must become the right number of cents."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from money.amounts import MAX_CENTS, number_words, parse_amount, say_amount, split_payment


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("ten dollars and twenty-five cents", 1025),
        ("$10.25", 1025),
        ("10.25", 1025),
        ("10.5 dollars", 1050),
        ("1,000 dollars", 100_000),
        ("$1,000,000", 100_000_000),
        ("one thousand dollars", 100_000),
        ("a thousand dollars", 100_000),
        ("twelve fifty", 1250),
        ("twelve oh five", 1205),
        ("a hundred and five dollars", 10_500),
        ("two thousand and five dollars", 200_500),
        ("5 cents", 5),
        ("one cent", 1),
        ("sixty five thousand five hundred thirty five dollars", 6_553_500),
        ("one million two hundred thousand dollars", 120_000_000),
        ("twenty five hundred dollars", 250_000),
        ("ten dollars twenty five", 1025),
        ("ten point two five", 1025),
        ("a dollar fifty", 150),
        ("one dollar and one cent", 101),
        ("five", 500),
        ("um, ten dollars please", 1000),
        ("Ten Dollars.", 1000),
        ("zero dollars", 0),
    ],
)
def test_spoken_and_written_forms(text: str, cents: int) -> None:
    assert parse_amount(text) == cents


@pytest.mark.parametrize(
    "text",
    ["", "   ", "John Doe of Adel", "minus five dollars", "-5", "$-5", "negative ten", "10.255",
     "thousand thousand", "one hundred hundred", "ten dollars and a hundred cents", "yes", "pay",
     "five dollars to John", "0.5 cents", "1" * 30],
)
def test_not_an_amount(text: str) -> None:
    assert parse_amount(text) is None


@pytest.mark.parametrize(
    ("cents", "spoken"),
    [(0, "zero dollars"), (1, "one cent"), (25, "twenty-five cents"), (100, "one dollar"),
     (101, "one dollar and one cent"), (1025, "ten dollars and twenty-five cents"),
     (6_553_500, "sixty-five thousand five hundred thirty-five dollars"), (-500, "minus five dollars")],
)
def test_say_amount(cents: int, spoken: str) -> None:
    assert say_amount(cents) == spoken


@given(st.integers(min_value=0, max_value=MAX_CENTS))
def test_words_round_trip(cents: int) -> None:
    assert parse_amount(say_amount(cents)) == cents


@given(st.integers(min_value=0, max_value=(MAX_CENTS - 99) // 100), st.integers(min_value=0, max_value=99))
def test_digit_forms(dollars: int, rest: int) -> None:
    cents = dollars * 100 + rest
    assert parse_amount(f"${dollars}.{rest:02d}") == cents
    assert parse_amount(f"{dollars:,}.{rest:02d} dollars") == cents
    assert parse_amount(f"{dollars} dollars and {rest} cents") == cents
    assert parse_amount(f"{number_words(dollars)} dollars and {number_words(rest)} cents") == cents


@given(st.text(max_size=60))
def test_never_raises_never_negative(text: str) -> None:
    cents = parse_amount(text)
    assert cents is None or 0 <= cents <= MAX_CENTS


@pytest.mark.parametrize(
    ("text", "amount", "payee"),
    [
        ("pay ten dollars and twenty-five cents to John Doe of Adel", 1025, "John Doe of Adel"),
        ("send $10.25 to 515 555 0123", 1025, "515 555 0123"),
        ("give 1,000 dollars to Mary Smith", 100_000, "Mary Smith"),
        ("Pay twelve fifty to Tom Jones.", 1250, "Tom Jones"),
        ("give John Doe five dollars", 500, "John Doe"),
        ("pay John Doe", None, "John Doe"),
        ("pay ten dollars", 1000, None),
        ("I'd like to send twenty dollars to Ann Lee of Ames", 2000, "Ann Lee of Ames"),
        ("", None, None),
        ("pay " + "la " * 300, None, None),
    ],
)
def test_split_payment(text: str, amount: int | None, payee: str | None) -> None:
    assert split_payment(text) == (amount, payee)
