"""Counterfeit vocabulary (English and Chinese): what must and must not fire."""

from __future__ import annotations

import pytest

from detector.rules.config import RulesConfig, Term
from detector.rules.keywords import Vocabulary
from detector.types import Severity


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary(RulesConfig.default().vocabulary)


@pytest.mark.parametrize(
    ("text", "term", "severity"),
    [
        ("1:1 mirror quality", "1:1 mirror", Severity.BLOCK),
        ("１：１ mirror quality", "1:1 mirror", Severity.BLOCK),  # full-width digits and colon
        ("mirror quality bag", "mirror quality", Severity.BLOCK),
        ("Super Copy watch", "super copy", Severity.BLOCK),
        ("super-copy", "super copy", Severity.BLOCK),
        ("supercopy", "supercopy", Severity.BLOCK),
        ("AAA quality", "AAA quality", Severity.BLOCK),
        ("AAA+ bags", "AAA+", Severity.BLOCK),
        ("top AAA handbag", "AAA", Severity.REVIEW),
        ("1:1 sneakers", "1:1", Severity.REVIEW),
        ("Replica handbag", "replica", Severity.REVIEW),
        ("not fake!", "fake", Severity.REVIEW),
        ("inspired by the classic monogram", "inspired by", Severity.REVIEW),
        ("knock-off", "knock off", Severity.REVIEW),  # a space in a phrase matches spaces or hyphens
        ("dupe of the famous bag", "dupe", Severity.REVIEW),
        ("高仿包包", "高仿", Severity.BLOCK),
        ("A货 手表", "A货", Severity.BLOCK),
        ("外贸原单", "外贸原单", Severity.BLOCK),
        ("原单尾货", "原单", Severity.BLOCK),
        ("复刻版", "复刻", Severity.REVIEW),  # also an official retro re-issue: review only
    ],
)
def test_vocabulary_fires(vocab: Vocabulary, text: str, term: str, severity: Severity) -> None:
    hits = vocab.find(text)
    assert [(h.term.term, h.term.severity) for h in hits] == [(term, severity)]
    assert hits[0].text.casefold().replace("－", "-") in text.casefold() or hits[0].text == "1:1 mirror"


@pytest.mark.parametrize(
    "text",
    [
        "genuine leather", "made in Italy", "100% cotton",
        "fake fur collar", "fake plants for decor",  # ordinary uses of "fake"
        "includes 2 AAA batteries", "aaa",  # AAA is matched as written
        "official replica jersey",
        "1:10 scale model", "1:1 scale figure", "11:15 departure",
        "imitation leather sofa",
        "counterfeit detector pen",
        "fakery", "replicated data",  # word boundaries
        "mirror", "copy paper",
    ],
)
def test_vocabulary_does_not_fire(vocab: Vocabulary, text: str) -> None:
    assert vocab.find(text) == []


def test_user_terms() -> None:
    vocab = Vocabulary([Term("bootleg", Severity.BLOCK), Term("OEM", Severity.REVIEW, case_sensitive=True)])
    assert [h.term.term for h in vocab.find("Bootleg OEM oem")] == ["bootleg", "OEM"]
