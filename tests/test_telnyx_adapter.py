"""Telnyx webhook JSON -> typed events, from the shared examples and variations of them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.messages import (
    CallAnswered,
    CallEnded,
    CallStarted,
    DigitsPressed,
    Silence,
    SpeechEnded,
    SpeechHeard,
)
from ivr.telnyx_adapter import decode_client_state, encode_client_state, parse_webhook

EXAMPLES: dict[str, Any] = json.loads(Path("/work/shared/design/telnyx_webhook_examples.json").read_text())
CCID = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"


def example(event_type: str, **payload: Any) -> dict[str, Any]:
    """A deep copy of the shared example with payload fields replaced (None deletes a field)."""
    body = copy.deepcopy(EXAMPLES[event_type])
    for key, value in payload.items():
        if value is None:
            body["data"]["payload"].pop(key, None)
        else:
            body["data"]["payload"][key] = value
    return body


EXPECTED = {
    "call.initiated": CallStarted(caller_id="+15155550123", to="+15155550100", attestation="A", validated=True),
    "call.answered": CallAnswered(),
    "call.speak.started": None,
    "call.speak.ended": SpeechEnded(),
    "call.gather.ended": DigitsPressed("1"),
    "call.dtmf.received": None,  # the same key arrives in call.gather.ended
    "call.transcription": SpeechHeard("hello this is a test speech", 0.977219),
    "call.playback.started": None,
    "call.playback.ended": None,
    "call.hangup": CallEnded("call_rejected"),
}


def test_every_shared_example_has_an_expectation() -> None:
    assert set(EXAMPLES) == set(EXPECTED)


@pytest.mark.parametrize("event_type", sorted(EXPECTED))
def test_shared_examples_parse(event_type: str) -> None:
    body = EXAMPLES[event_type]
    parsed = parse_webhook(body)
    if EXPECTED[event_type] is None:
        assert parsed is None
        return
    assert parsed is not None
    assert parsed.event == EXPECTED[event_type]
    assert parsed.event_type == event_type
    assert parsed.event_id == body["data"]["id"]
    assert parsed.call_id == body["data"]["payload"]["call_control_id"]


def test_raw_bytes_parse_like_the_decoded_object() -> None:
    raw = json.dumps(EXAMPLES["call.gather.ended"]).encode()
    assert parse_webhook(raw) == parse_webhook(EXAMPLES["call.gather.ended"])


def test_client_state_is_decoded() -> None:
    assert parse_webhook(EXAMPLES["call.answered"]).client_state == '{"step":"main_menu"}'
    assert parse_webhook(EXAMPLES["call.hangup"]).client_state == "have a nice day =]"
    assert parse_webhook(EXAMPLES["call.initiated"]).client_state is None
    assert parse_webhook(example("call.answered", client_state="%%%not-base64")).client_state is None
    assert parse_webhook(example("call.answered", client_state=None)).client_state is None


@given(st.text())
def test_client_state_round_trips(s: str) -> None:
    assert decode_client_state(encode_client_state(s)) == (s or None)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"from": "anonymous"}, CallStarted(None, "+15155550100", "A", True)),
        ({"from": "5155550123"}, CallStarted(None, "+15155550100", "A", True)),
        (
            {"shaken_stir_attestation": None, "shaken_stir_validated": None},
            CallStarted("+15155550123", "+15155550100"),
        ),
        (
            {"shaken_stir_attestation": "c", "shaken_stir_validated": "true"},
            CallStarted("+15155550123", "+15155550100", "C"),
        ),
        ({"shaken_stir_attestation": "Z"}, CallStarted("+15155550123", "+15155550100", None, True)),
    ],
)
def test_call_initiated_variants(payload: dict[str, Any], expected: CallStarted) -> None:
    assert parse_webhook(example("call.initiated", **payload)).event == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"status": "valid", "digits": "42#"}, DigitsPressed("42#")),
        ({"status": "valid", "digits": ""}, Silence()),
        ({"status": "timeout", "digits": ""}, Silence()),
        ({"status": "cancelled", "digits": ""}, None),
        ({"status": "call_hangup"}, None),
        ({"status": "invalid", "digits": "9"}, None),
        ({"status": "valid", "digits": "1x"}, None),
        ({"status": None}, None),
    ],
)
def test_gather_ended_variants(payload: dict[str, Any], expected: object) -> None:
    parsed = parse_webhook(example("call.gather.ended", **payload))
    assert (parsed.event if parsed else None) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"transcript": "vote yes", "is_final": False, "confidence": 0.9}, None),
        ({"transcript": "   ", "is_final": True, "confidence": 0.9}, None),
        ({"transcript": " vote yes ", "is_final": True, "confidence": None}, SpeechHeard("vote yes", None)),
        ({"transcript": "vote yes", "is_final": True, "confidence": 7}, SpeechHeard("vote yes", None)),
        ({"transcript": "vote yes", "is_final": True}, SpeechHeard("vote yes", None)),
        ({"transcript": 12, "is_final": True}, None),
    ],
)
def test_transcription_variants(data: dict[str, Any], expected: object) -> None:
    parsed = parse_webhook(example("call.transcription", transcription_data=data))
    assert (parsed.event if parsed else None) == expected


@pytest.mark.parametrize("status", ["call_hangup", "cancelled_amd", None])
def test_speak_ended_other_than_completed_is_ignored(status: str | None) -> None:
    assert parse_webhook(example("call.speak.ended", status=status)) is None


def test_hangup_without_cause_still_ends_the_call() -> None:
    assert parse_webhook(example("call.hangup", hangup_cause=None)).event == CallEnded("")


@pytest.mark.parametrize(
    "body",
    [
        None,
        42,
        "not json",
        b"\xff\xfe",
        [],
        {},
        {"data": None},
        {"data": {"event_type": "call.answered", "id": "x"}},
        {"data": {"event_type": "call.answered", "id": "x", "payload": {}}},
        {"data": {"event_type": "call.answered", "payload": {"call_control_id": "c"}}},
        {"data": {"event_type": "call.bridged", "id": "x", "payload": {"call_control_id": "c"}}},
        {"data": {"event_type": ["call.answered"], "id": "x", "payload": {"call_control_id": "c"}}},
        {
            "data": {
                "event_type": "call.gather.ended",
                "id": "x",
                "payload": {"call_control_id": "c", "digits": 5, "status": "valid"},
            }
        },
        {
            "data": {
                "event_type": "call.transcription",
                "id": "x",
                "payload": {"call_control_id": "c", "transcription_data": "hi"},
            }
        },
    ],
)
def test_malformed_or_unknown_is_none(body: Any) -> None:
    assert parse_webhook(body) is None


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids),
        max_leaves=20,
    )
)
def test_never_raises_on_arbitrary_json(body: Any) -> None:
    parse_webhook(body)
    parse_webhook({"data": {"event_type": "call.initiated", "id": "i", "payload": body}})
    parse_webhook(
        {
            "data": {
                "event_type": "call.transcription",
                "id": "i",
                "payload": {"call_control_id": "c", "transcription_data": body},
            }
        }
    )
