"""Normalisation: fold, skeleton (confusables, leetspeak, glyph classes, ASCII pairs), mixed scripts, tokens."""

from __future__ import annotations

import random
import string

import pytest

from detector.rules import tokens as tokens_module
from detector.rules.normalize import (
    collapse_runs,
    fold,
    is_mixed_confusable_script,
    skeleton,
    split_words,
    strip_accents,
)
from detector.rules.tokens import tokenize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NIKE", "nike"),
        ("Ｎｉｋｅ", "nike"),  # full-width letters fold under NFKC
        ("Levi's", "levis"),
        ("Hermès", "hermès"),  # accents are part of the exact spelling
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nike", "nlke"),  # i and l are one glyph class
        ("NlKE", "nlke"),
        ("N1KE", "nlke"),  # leetspeak 1
        ("N!KE", "nlke"),
        ("Nіke", "nlke"),  # Cyrillic і, from the Unicode confusables data
        ("nìke", "nlke"),  # accent stripped
        ("Ad1da$", "adldas"),
        ("@d1d4s", "adldas"),
        ("G0CC1", "goccl"),
        ("Arrnani", "armanl"),  # rn → m
        ("cloud", "doud"),  # cl → d
        ("vvolf", "wolf"),  # vv → w
        ("gucci", "guccl"),  # the pair rule must not see "cl" made by i → l
        ("ƶara", "zara"),  # stroke letter, from the Unicode name
        ("ɢucci", "guccl"),  # small capital
    ],
)
def test_skeleton(text: str, expected: str) -> None:
    assert skeleton(text) == expected


def test_skeleton_of_a_lookalike_equals_the_brands() -> None:
    assert skeleton("NlKE") == skeleton("Nike") == skeleton("Nіke") == skeleton("N1KE")
    assert skeleton("Adibas") != skeleton("Adidas")  # b/d is an edit, not a glyph class


@pytest.mark.parametrize(
    ("token", "mixed"),
    [
        ("Nіke", True),  # Latin + Cyrillic і
        ("Аdidas", True),  # Cyrillic А
        ("Nike", False),
        ("Nike耐克", False),  # Latin + Han is not a look-alike trick
        ("привет", False),  # all Cyrillic
        ("10μm", False),  # one Latin letter only
    ],
)
def test_mixed_script(token: str, mixed: bool) -> None:
    assert is_mixed_confusable_script(token) is mixed


def test_helpers() -> None:
    assert collapse_runs("adidasss") == "adidas"
    assert strip_accents("Škoda Hermès") == "Skoda Hermes"
    assert split_words("PlayStation") == ["Play", "Station"]
    assert split_words("Dolce & Gabbana") == ["Dolce", "Gabbana"]
    assert split_words("McDonald's") == ["Mc", "Donald's"]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("NBC.com", ["NBC", "com"]),
        ("(intel)", ["intel"]),
        ("N!KE Air", ["N!KE", "Air"]),
        ("Wow! 'Nike'", ["Wow", "Nike"]),
        ("Adida$ @didas", ["Adida$", "@didas"]),
        ("Ni-ke", ["Ni", "ke"]),
        ("", []),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    found = tokenize(text)
    assert [t.text for t in found] == tokens
    assert all(text[t.start:t.end] == t.text for t in found)


ASCII_TOKENS = [
    "nike", "NIKE", "Nike's", "NlKE", "N1KE", "N!KE", "Adida$", "@didas", "100", "$$$", "|||", "ii", "I",
    "rn", "modern", "Moncler", "clvv", "vvv", "nnn", "lcd", "Gucci", "adidasss", "0K", "K1A", "aida's", "o'neill",
]


@pytest.mark.parametrize("raw", ASCII_TOKENS)
def test_ascii_forms_equal_the_unicode_path(raw: str) -> None:
    assert tokens_module._ascii_forms(raw) == tokens_module._unicode_forms(raw)


def test_ascii_forms_equal_the_unicode_path_on_random_tokens() -> None:
    rng = random.Random(3)
    alphabet = string.ascii_letters + string.digits + "$@!|'" + "rnclvvi" * 3
    for _ in range(5000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10)))
        assert tokens_module._ascii_forms(raw) == tokens_module._unicode_forms(raw), raw


def test_ascii_token_pattern_splits_ascii_text_like_the_unicode_one() -> None:
    rng = random.Random(5)
    alphabet = string.printable + "'" * 5
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        spans = [m.span() for m in tokens_module._TOKEN.finditer(text)]
        assert [m.span() for m in tokens_module._TOKEN_ASCII.finditer(text)] == spans, text
