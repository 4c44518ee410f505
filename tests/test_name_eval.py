"""The name-matching evaluation set and its recogniser noise model."""

from __future__ import annotations

import random
import re

import pytest

from bench import asr_noise as asr
from bench.name_eval import STRATA, make_eval_set
from data.generate_sample import iter_voters


@pytest.fixture(scope="module")
def roll() -> list:
    return list(iter_voters(4000, seed=5, district="3"))


@pytest.fixture(scope="module")
def noisy(roll: list) -> list[dict]:
    return make_eval_set(roll, 6, seed=1, noisy=True)


def test_reproducible_and_noise_changes_the_text(roll: list, noisy: list[dict]) -> None:
    assert make_eval_set(roll, 6, seed=1, noisy=True) == noisy
    clean = make_eval_set(roll, 6, seed=1, noisy=False)
    assert [i["text"] for i in clean] != [i["text"] for i in noisy]
    assert all(i["noise"] == [] for i in clean if i["stratum"] in ("clean", "ambiguous", "rare_surnames"))


def test_items_are_well_formed(roll: list, noisy: list[dict]) -> None:
    by_regn = {v.regn_num: v for v in roll}
    phones = {v.phone: v for v in roll if v.phone}
    assert {i["stratum"] for i in noisy} == set(STRATA)
    assert len({i["id"] for i in noisy}) == len(noisy)
    for it in noisy:
        assert set(it) >= {"id", "text", "caller", "expect", "expect_any", "stratum"}
        if it["stratum"] == "negatives":
            assert it["expect"] is None and it["expect_any"] == []
            continue
        target = by_regn[it["expect"]]
        assert target.status == "active" and it["expect"] in it["expect_any"]
        if it["caller"] is not None:
            assert phones[it["caller"]].county == target.county and it["caller"] != target.phone
            assert by_regn[it["caller_regn"]].phone == it["caller"]


def test_clean_items_say_name_and_town(roll: list) -> None:
    by_regn = {v.regn_num: v for v in roll}
    for it in make_eval_set(roll, 6, seed=2, noisy=False):
        if it["stratum"] in ("clean", "rare_surnames"):
            v = by_regn[it["expect"]]
            assert v.first.lower() in it["text"] and v.last.lower() in it["text"]
            assert v.city.title() in it["text"]


def test_negatives_are_not_on_the_roll(roll: list, noisy: list[dict]) -> None:
    lasts = {v.last.lower() for v in roll}
    for it in noisy:
        if it["stratum"] == "negatives":
            name = re.split(r" (?:of|from|in) ", it["text"])[0].split()
            assert name[-1] not in lasts


def test_ambiguous_groups_share_name_and_place(roll: list, noisy: list[dict]) -> None:
    by_regn = {v.regn_num: v for v in roll}
    groups = [i["expect_any"] for i in noisy if i["stratum"] == "ambiguous"]
    assert groups
    for g in groups:
        assert len(g) >= 2 and len({(by_regn[r].first, by_regn[r].last, by_regn[r].city) for r in g}) == 1


def test_phone_items_carry_the_number(roll: list, noisy: list[dict]) -> None:
    from voter_registry.spoken import normalize, words_to_digits

    by_regn = {v.regn_num: v for v in roll}
    for it in noisy:
        if it["stratum"] == "phone":
            digits = "".join(w for w in words_to_digits(normalize(it["text"].replace(" oh", " zero")))
                             if w.isdigit())
            assert digits.endswith(by_regn[it["expect"]].phone[2:])


def test_noise_operations() -> None:
    rng = random.Random(3)
    assert "SMYTH" in asr.homophones("SMITH")
    freq = {"SMITH": 100.0, "SMYTH": 1.0}.get
    assert asr.commonest_spelling("SMYTH", lambda w: freq(w, 0.0)) == "SMITH"
    for word in ("MILLER", "BAKER", "DAVIS", "NELSON"):
        out = asr.sound_confusion(word, rng, lambda w: 0.0)
        assert out == word or asr.pronunciation(out) is not None  # only real words come out
    assert asr.spell_out("O'NEIL") == "o n e i l"
    assert asr.letter_edit("KOWALCZYK", rng) != "KOWALCZYK"
    words = asr.say_digits("+15155550123", random.Random(0)).replace("oh", "zero")
    assert re.sub(r"\D", "", words) == "5155550123" or all(w in asr.DIGIT_WORDS for w in words.split())
