"""Properties of the rules layer, checked on generated input (hypothesis, bounded and deterministic).

* Normalisation is idempotent: folding or skeletonising twice gives what once gives, for any text;
  the tokenizer's one-pass version gives what the reference functions give.
* Every genuine spelling in the catalog (each brand's name and aliases) is never flagged, in any
  letter case and with any whitespace around and between its words.
"""

from __future__ import annotations

import functools

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.catalog import load_catalog
from detector.rules import Rules, check_text
from detector.rules.normalize import (
    collapse_runs,
    fold,
    fold_and_skeletons,
    letters_only,
    skeleton,
    strip_accents,
    visual_fold,
)

# Deterministic and bounded: the same examples every run, a few seconds in all.
BOUNDED = settings(max_examples=300, derandomize=True, database=None, deadline=None)

# Text a seller or OCR could produce: any printable characters, look-alike scripts weighted in.
TEXT = st.text(
    st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from("aeilnoIl1|0OoрсеаіΝΚΕ ſｎｉｋｅ-'.&"),
    ),
    max_size=40,
)


@functools.cache
def genuine() -> tuple[str, ...]:
    """Every brand name and alias of the bundled catalog."""
    catalog = load_catalog(None, check_images=False)
    return tuple(sorted({s for b in catalog.brands for s in (b.name, *b.aliases)}))


@functools.cache
def rules() -> Rules:
    return Rules()


def _edit_skeleton(text: str) -> str:
    return skeleton(text, pairs=False)


# skeleton(pairs=True) is left out on purpose: its pairs are merged on the letters as written, before
# the glyph classes ("ic" → "lc", and "lc" → "k"), so that "gucci" does not become "gucd".
@pytest.mark.parametrize(
    "normalise", [fold, _edit_skeleton, visual_fold, strip_accents, collapse_runs, letters_only],
    ids=["fold", "skeleton-no-pairs", "visual_fold", "strip_accents", "collapse_runs", "letters_only"],
)
@BOUNDED
@given(text=TEXT)
def test_normalisation_is_idempotent(normalise, text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


@BOUNDED
@given(text=TEXT)
def test_the_tokenizers_one_pass_normalisation_equals_the_reference_functions(text: str) -> None:
    assert fold_and_skeletons(text) == (fold(text), skeleton(text, pairs=False), skeleton(text))


def test_every_genuine_spelling_as_written_upper_lower_and_title_is_never_flagged() -> None:
    spellings = genuine()
    assert len(spellings) > 150
    variants = [v for s in spellings for v in {s, s.upper(), s.lower(), s.title(), " ".join(s.split())}]
    flagged = {
        text: [(f.rule, f.brand) for f in findings if f.flagged]
        for text, findings in zip(variants, rules().check_texts(variants))
        if any(f.flagged for f in findings)
    }
    assert flagged == {}


@st.composite
def spelled(draw: st.DrawFn) -> tuple[str, str]:
    """A genuine spelling, with each letter's case drawn and its words joined by drawn whitespace."""
    name = draw(st.sampled_from(genuine()))
    cased = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in name)
    gap = st.sampled_from([" ", "  ", "\t", " \t ", "   "])
    words = cased.split()
    joined = words[0] + "".join(draw(gap) + w for w in words[1:])
    edge = st.sampled_from(["", " ", "\t", "\n", "  "])
    return name, draw(edge) + joined + draw(edge)


@BOUNDED
@given(case=spelled())
def test_a_genuine_spelling_in_any_case_and_spacing_is_never_flagged(case: tuple[str, str]) -> None:
    name, text = case
    flagged = [(f.rule, f.brand, f.text) for f in rules().check_text(text) if f.flagged]
    assert flagged == [], f"{text!r} (genuine: {name!r})"


@BOUNDED
@given(case=spelled())
def test_check_text_agrees_with_rules(case: tuple[str, str]) -> None:
    # The one-call helper used by the README is the same rules, not a second implementation.
    _, text = case
    assert [f.to_dict() for f in check_text(text)] == [f.to_dict() for f in rules().check_text(text)]
