"""OCR text as logo evidence: readings of a span scored against the catalog's brand names, near a box."""

from __future__ import annotations

import pytest

from detector.logos.text_evidence import BrandNames, fold, near, readings
from detector.types import Box, TextSpan

NAMES = BrandNames({"Coca-Cola": ["Coca-Cola", "Coke"], "HP": ["HP"], "Starbucks": ["Starbucks"], "Nike": ["Nike"]})


def span(text: str, box: Box | None = None, *alternatives: str) -> TextSpan:
    return TextSpan(text, 0.5, box, alternatives=alternatives)


def test_readings_cover_words_runs_and_alternatives() -> None:
    assert fold("Coca-Cola®") == "cocacola"
    r = readings(span("Coca Cola Zero", None, "Coke"))
    assert {"coca", "cola", "cocacola", "cocacolazero", "zero", "coke"} <= set(r)


def test_short_names_match_whole_and_long_ones_by_ratio() -> None:
    assert NAMES.scores(span("hp")) == {"HP": 1.0} and "HP" not in NAMES.scores(span("hpx"))
    assert "HP" not in NAMES.scores(span("h"))
    assert NAMES.scores(span("starbu")) == {"Starbucks": pytest.approx(0.8)}


def test_scores_find_the_brand_in_a_longer_span_and_a_partial_reading() -> None:
    assert NAMES.scores(span("STARBUCKS COFFEE"))["Starbucks"] == 1.0
    assert NAMES.scores(span("Coca-Co"))["Coca-Cola"] == pytest.approx(0.857, abs=1e-3)
    assert NAMES.scores(span("HP Invent")) == {"HP": 1.0}
    assert "HP" not in NAMES.scores(span("shop"))  # a short name never matches inside a word
    assert NAMES.scores(span("the quick brown fox")) == {}


def test_near_means_centre_inside_the_grown_box() -> None:
    box = Box(100, 100, 200, 150)
    assert near(span("x", Box(120, 160, 180, 180)), [box])  # just under the mark
    assert not near(span("x", Box(300, 300, 320, 320)), [box])
    assert near(span("x"), [box])  # no box: it counts


def test_evidence_is_rescaled_from_its_floor_and_ignores_other_brands() -> None:
    box = [Box(0, 0, 100, 100)]
    assert NAMES.evidence("Starbucks", box, [span("Starbucks", Box(10, 10, 90, 30))]) == 1.0
    assert NAMES.evidence("Nike", box, [span("Starbucks", Box(10, 10, 90, 30))]) == 0.0  # never against
    assert NAMES.evidence("Nike", box, []) == 0.0
    assert NAMES.evidence("Starbucks", box, [span("STARBU", Box(10, 10, 90, 30))]) == pytest.approx(0.5)


def test_from_catalog_uses_names_and_aliases() -> None:
    from detector.catalog import load_catalog

    names = BrandNames.from_catalog(load_catalog())
    assert "nike" in names.names["Nike"]
