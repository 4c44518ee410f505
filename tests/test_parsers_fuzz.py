"""Property tests on every parser of outside input: never raise on arbitrary text, answer only in their
documented shapes, and round-trip where a printer exists (amounts, bill numbers, phone numbers)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from delegation.bills import BILL_TYPES, PRINTED, SPOKEN, parse_bill_number
from ivr import understanding as nlu
from ivr.messages import Inbound
from ivr.telnyx_adapter import parse_webhook
from money.amounts import MAX_CENTS, format_amount, parse_amount, say_amount, split_payment
from voter_registry import spoken
from voter_registry.formats import IOWA_COLUMNS, NC_REQUIRED, Reject, Row, RowStream, Source
from voter_registry.matcher import answer_identifies, answer_matches
from voter_registry.phones import to_e164

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
E164 = re.compile(r"\+[1-9]\d{7,14}")
# Text as callers, ASR and files produce it: any unicode, plus words and digits the parsers look for.
WORDS = st.sampled_from(["pay", "to", "dollars", "dollar", "cents", "and", "point", "oh", "a", "hundred",
                         "thousand", "million", "twelve", "fifty", "one", "h", "r", "res", "joint", "house",
                         "senate", "bill", "number", "$", "1,000", "10.25", "-", "+1", "515", "555", "0101",
                         "ext", "x", "(", ")", "of", "jane", "roe", "ames", "yes", "no", "abstain", "vote",
                         "me", "recent", "goodbye", "nine", "zero", "double", "triple", "b", "as", "in", "boy"])
TEXT = st.one_of(st.text(max_size=200), st.lists(WORDS, max_size=25).map(" ".join))
NAMES = st.lists(st.sampled_from(["jane", "roe", "of", "ames", "robert", "baker", "adel", "mary", "ellen"]),
                 min_size=1, max_size=5).map(" ".join)


@FUZZ
@given(TEXT)
@example("1" * 400)
@example("nine hundred ninety-nine trillion dollars")
def test_parse_amount_never_raises_and_stays_in_range(text: str) -> None:
    got = parse_amount(text)
    assert got is None or (isinstance(got, int) and 0 <= got <= MAX_CENTS)


@FUZZ
@given(st.integers(0, MAX_CENTS))
@example(0)
@example(1)
@example(100)
@example(MAX_CENTS)
def test_amounts_round_trip_spoken_and_written(cents: int) -> None:
    assert parse_amount(say_amount(cents)) == cents
    assert parse_amount(format_amount(cents)) == cents


@FUZZ
@given(TEXT)
def test_split_payment_never_raises(text: str) -> None:
    cents, payee = split_payment(text)
    assert cents is None or 0 <= cents <= MAX_CENTS
    assert payee is None or (isinstance(payee, str) and payee.strip())


@FUZZ
@given(st.integers(1, 10**8), NAMES)
def test_split_payment_round_trip(cents: int, name: str) -> None:
    assert split_payment(f"pay {say_amount(cents)} to {name}") == (cents, name)
    assert split_payment(f"send {format_amount(cents)} to {name}") == (cents, name)


@FUZZ
@given(TEXT)
def test_parse_bill_number_never_raises(text: str) -> None:
    got = parse_bill_number(text)
    assert got is None or (got[0] in BILL_TYPES and isinstance(got[1], int) and got[1] > 0)


@FUZZ
@given(st.sampled_from(BILL_TYPES), st.integers(1, 9999))
def test_bill_numbers_round_trip_printed_and_spoken(type_: str, number: int) -> None:
    from money.amounts import number_words

    assert parse_bill_number(f"{PRINTED[type_]} {number}") == (type_, number)
    assert parse_bill_number(f"{SPOKEN[type_]} {number}".lower()) == (type_, number)
    assert parse_bill_number(f"{SPOKEN[type_]} {number_words(number)}".lower()) == (type_, number)


@FUZZ
@given(st.one_of(TEXT, st.from_regex(r"\+?1?[ (.-]*[2-9]\d\d[ ).-]*\d{3}[ .-]*\d{4}( ?(x|ext\.?) ?\d{1,5})?",
                                     fullmatch=True)))
def test_to_e164_never_raises_and_is_idempotent(text: str) -> None:
    got = to_e164(text)
    assert got is None or E164.fullmatch(got)
    if got is not None:
        assert to_e164(got) == got


@FUZZ
@given(st.from_regex(r"[2-9][0-8]\d[2-9]\d{6}", fullmatch=True))
def test_written_forms_of_a_number_agree(ten: str) -> None:
    a, b, c = ten[:3], ten[3:6], ten[6:]
    forms = [ten, f"1{ten}", f"+1{ten}", f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c} x12"]
    assert len({to_e164(f) for f in forms}) == 1


@FUZZ
@given(TEXT)
def test_spoken_name_parsing_and_normalisation_never_raise(text: str) -> None:
    words = spoken.normalize(text)
    assert all(isinstance(w, str) and w and not any(ch.isspace() for ch in w) for w in words)
    spoken.parse(text)
    spoken.join_spelled(spoken.words_to_digits(words))


@FUZZ
@given(st.sampled_from(["middle", "suffix", "birth_year", "house", "street", "city", "first"]), TEXT,
       st.dictionaries(st.sampled_from(["middle", "suffix", "birth_year", "house", "street", "city", "first"]),
                       st.text(max_size=20), max_size=7))
def test_matcher_answer_checks_never_raise(kind: str, text: str, facts: dict[str, str]) -> None:
    assert isinstance(answer_identifies(kind, text), bool)
    assert isinstance(answer_matches(kind, text, facts), bool)


@FUZZ
@given(TEXT)
def test_understanding_answers_only_in_its_vocabulary(text: str) -> None:
    assert nlu.yes_no(text) in ("yes", "no", None)
    assert nlu.vote_choice(text) in ("yes", "no", "abstain", None)
    cmd, rest = nlu.command(text)
    assert cmd is None or isinstance(cmd, str)
    assert isinstance(rest, str)
    assert nlu.is_global(text) in ("help", "menu", "goodbye", None)
    assert isinstance(nlu.means_me(text), bool) and isinstance(nlu.means_recent(text), bool)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
                    max_leaves=20)
EVENTS = ["call.initiated", "call.answered", "call.transcription", "call.gather.ended", "call.speak.ended",
          "call.hangup", "call.dtmf.received", "call.bridged"]
PAYLOAD_KEYS = ["call_control_id", "from", "to", "direction", "client_state", "transcription_data", "digits",
                "status", "hangup_cause", "hangup_source", "shaken_stir_attestation", "shaken_stir_validated"]
WEBHOOKS = st.fixed_dictionaries({"data": st.fixed_dictionaries({
    "event_type": st.sampled_from(EVENTS), "id": st.one_of(st.text(max_size=10), JSON),
    "payload": st.one_of(JSON, st.dictionaries(st.sampled_from(PAYLOAD_KEYS), JSON, max_size=8))})})


@FUZZ
@given(st.one_of(JSON, WEBHOOKS, st.binary(max_size=200), TEXT))
def test_parse_webhook_never_raises(body: object) -> None:
    got = parse_webhook(body)
    assert got is None or isinstance(got, Inbound)
    if isinstance(body, dict):
        raw = json.dumps(body, default=str)
        assert (parse_webhook(raw) is None) == (parse_webhook(json.loads(raw)) is None)


FIELD = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30)


def _csv(rows: list[list[str]], delimiter: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


def _rows(path: Path, fmt: str) -> list[Row | Reject]:
    return list(RowStream([Source(path.name, path, None, path.stat().st_size)], fmt))


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(FIELD, max_size=len(IOWA_COLUMNS) + 2), max_size=8), st.binary(max_size=300))
def test_voter_file_rows_parse_to_rows_or_rejects(tmp_path: Path, rows: list[list[str]], junk: bytes) -> None:
    iowa = tmp_path / "iowa.csv"
    iowa.write_bytes(_csv([list(IOWA_COLUMNS), *rows], ",") + junk)
    nc = tmp_path / "nc.txt"
    nc.write_bytes(_csv([list(NC_REQUIRED), *rows], "\t") + junk)
    for path, fmt in ((iowa, "iowa"), (nc, "ncsbe")):
        out = _rows(path, fmt)
        assert all(isinstance(x, Row | Reject) for x in out)
        for x in out:
            if isinstance(x, Row):
                assert x.voter.regn_num and (x.voter.phone is None or E164.fullmatch(x.voter.phone))
        assert len(out) >= len([r for r in rows if any(f.strip() for f in r)]) - 1  # no row silently lost
