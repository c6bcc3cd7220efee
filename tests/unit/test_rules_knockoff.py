"""Knockoff names beyond a typo (issue 10): each kind fires at review, honest text stays quiet, the
listing's context counts for photo text only, and a doubtful misreading of a name read right elsewhere
is not a look-alike. Examples are our own, not rows of benchmarks/data/knockoffs."""

from __future__ import annotations

import pytest
from conftest import B

from detector.rules import Rules
from detector.rules.knockoff import judge, judge_words, weighted_distance, word_relation
from detector.types import Listing, Relation, Severity, TextSpan

BRANDS = (
    B("Adidas"), B("Nike"), B("Puma"), B("Rolex"), B("Starbucks"), B("Walmart"), B("Panasonic"), B("Seiko"),
    B("Calvin Klein"), B("Tommy Hilfiger"), B("Kentucky Fried Chicken", ("KFC",)), B("Red Bull"), B("Hugo Boss"),
    B("New Balance"), B("The North Face"), B("Louis Vuitton"), B("Polo Sport", ("Polo",)), B("Zara"), B("Celine"),
    B("Samsung"), B("Lacoste"), B("iPhone"), B("Bugatti"),
)


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules(BRANDS)


def flagged(rules: Rules, text: str, **kw: object) -> list[tuple[str | None, Severity, str]]:
    return [(f.brand, f.severity, f.detail or "") for f in rules.check_text(text, **kw) if f.flagged]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "cost"),
    [
        ("adodas", "adidas", 0.5),  # a vowel for a vowel
        ("abidas", "adidas", 0.5),  # mirror letters
        ("adiddas", "adidas", 0.5),  # a doubled letter
        ("aiddas", "adidas", 1.0),  # a transposition costs one
        ("axidas", "adidas", 1.0),  # any other letter costs one
        ("adidas", "adidas", 0.0),
    ],
)
def test_weighted_distance(a: str, b: str, cost: float) -> None:
    assert weighted_distance(a, b) == cost
    assert weighted_distance(b, a) == cost


@pytest.mark.parametrize(
    ("written", "genuine", "op"),
    [
        ("rloex", "rolex", "shuffle"),
        ("upma", "puma", "shuffle"),  # the first two letters swapped
        ("odidos", "adidas", "multi_edit"),  # two vowel swaps, first letter a vowel too
        ("panasomik", "panasonic", "multi_edit"),
        ("zari", "zara", "short_edit"),  # a vowel for a vowel as the last letter of a short name
        ("eseikor", "seiko", "inside"),
        ("adidux", "adidas", "pun"),  # keeps "adid", swaps the rest for as many letters
        ("bucksstar", "starbucks", "rotation"),
        ("rolaks", "rolex", "multi_edit"),  # the same consonants as they sound: r-l-k-s
    ],
)
def test_judge_kinds(written: str, genuine: str, op: str) -> None:
    verdict = judge(written, genuine, short_max=4)
    assert verdict is not None and verdict.op == op, verdict


@pytest.mark.parametrize(
    ("written", "genuine"),
    [
        ("pima", "puma"),  # a vowel inside a short name: another word
        ("pumk", "puma"),
        ("refer", "razer"),  # two cheap edits of a 5-letter name make ordinary words
        ("samsonite", "samsung"),  # shares only "sams"
        ("nosy", "sony"),  # letters shuffled and the first one moved
        ("tuma", "puma"),  # the first letter of a short name: needs context ("Mega", "Jony" are names)
        ("adidas", "adidas"),
    ],
)
def test_judge_rejects(written: str, genuine: str) -> None:
    assert judge(written, genuine, short_max=4) is None


def test_word_relation_grades() -> None:
    assert word_relation("klien", "klein") == 1.0  # a typo
    assert word_relation("barlun", "balance") == 0.5  # same first letter, half its letters
    assert word_relation("kwan", "klein") == 0.25  # same first letter only
    assert word_relation("harris", "klein") == 0.0


def test_judge_words_needs_an_anchor_and_a_resemblance() -> None:
    weight = {"calvin": 1.0, "klein": 1.0, "new": 0.5, "balance": 0.5}.get
    common = {"new", "balance", "red", "ball", "bull"}.__contains__
    assert judge_words(("calvin", "kwan"), ("calvin", "klein"), weight, common) is not None
    assert judge_words(("calvin", "harris"), ("calvin", "klein"), weight, common) is None  # a person's name
    # A proper noun kept and a common word near the name's: 1.0 + 0.5.
    hugo_weight, hugo_common = {"hugo": 1.0, "boss": 0.5}.get, {"bass", "boss"}.__contains__
    assert judge_words(("hugo", "bass"), ("hugo", "boss"), hugo_weight, hugo_common) is not None
    # A common word kept and another merely resembling is not enough ("New Bedford" is a place).
    assert judge_words(("new", "bedford"), ("new", "balance"), weight, common) is None
    assert judge_words(("new", "barlun"), ("new", "balance"), weight, common) is None
    assert judge_words(("red", "ball"), ("red", "bull"), weight, common) is None  # common words only


@pytest.mark.parametrize(
    ("text", "brand"),
    [
        ("Rloxe", "Rolex"), ("Odidos", "Adidas"), ("Zari", "Zara"), ("ESEIKOR", "Seiko"),
        ("Slimbucks", "Starbucks"), ("Calvin Kwan", "Calvin Klein"), ("Tommy Holedragger", "Tommy Hilfiger"),
        ("Kansas Fried Chicken", "Kentucky Fried Chicken"), ("Nkies", "Nike"), ("Adidux", "Adidas"),
        ("Face North", "The North Face"), ("Balance New", "New Balance"), ("Rolaks", "Rolex"),
    ],
)
def test_knockoffs_fire_at_review(rules: Rules, text: str, brand: str) -> None:
    found = flagged(rules, text)
    assert [(b, s) for b, s, _ in found] == [(brand, Severity.REVIEW)], found
    f = next(f for f in rules.check_text(text) if f.flagged)
    assert f.relation is Relation.LOOKALIKE and brand.split()[0] in f.message


@pytest.mark.parametrize(
    "text",
    [
        "Pima cotton tee", "school uniform polo shirt", "red ball", "New Bedford", "Louis Armstrong",
        "Calvin Harris", "Samsonite luggage", "Caroline", "refer a friend", "Tommy Lee", "Polo", "iPhone X",
        "north face jacket", "Baggit sling bag",
    ],
)
def test_honest_text_stays_quiet(rules: Rules, text: str) -> None:
    assert flagged(rules, text) == []


def test_styled_unicode_letters_are_flagged() -> None:
    rules = Rules([B("Nike"), B("Celine")])
    for text, brand in (("𝗖𝗘𝗟𝗜𝗡𝗘 bag", "Celine"), ("𝑵𝒊𝒌𝒆", "Nike")):
        found = [f for f in rules.check_text(text) if f.flagged]
        assert [(f.brand, f.relation, f.severity) for f in found] == [(brand, Relation.HOMOGLYPH, Severity.REVIEW)]
        assert "styled Unicode letters" in found[0].message


def _listing(**kw: object) -> Listing:
    return Listing(listing_id="L-1", seller_id="s-1", **kw)  # type: ignore[arg-type]


def test_title_names_the_brand_for_photo_text(rules: Rules) -> None:
    spans = [TextSpan("BIKE", 0.95)]
    assert rules.evaluate(spans, []).flags == ()
    verdict = rules.evaluate(spans, [], _listing(title="Nike running tee"))
    assert [(f.rule, f.brand, f.severity) for f in verdict.flags] == [
        ("lookalike_brand_text", "Nike", Severity.REVIEW)
    ]
    assert "ordinary word" in verdict.flags[0].message


def test_listing_text_gets_no_context_from_itself(rules: Rules) -> None:
    listing = _listing(title="Nike boots for a hike", brand="Nike")
    spans = [TextSpan(listing.title, 1.0)]
    assert [f.rule for f in rules.evaluate(spans, [], listing, listing_text=True).flags] == []


def test_doubtful_misreading_of_a_name_read_right_is_not_flagged(rules: Rules) -> None:
    misread = TextSpan("Adidsa", 0.45)
    assert [f.brand for f in rules.evaluate([misread], []).flags] == ["Adidas"]  # alone: review
    # The OCR's second reading of the same place says the genuine name.
    reread = TextSpan("Adidsa", 0.45, alternatives=("adidas",))
    assert rules.evaluate([reread], []).flags == ()
    # Another span of the photo spells it right.
    assert rules.evaluate([misread, TextSpan("ADIDAS", 0.9)], []).flags == ()
    # A clear print of a knockoff beside the genuine name is still a knockoff.
    clear = TextSpan("Adidsa", 0.96)
    assert [f.brand for f in rules.evaluate([clear, TextSpan("ADIDAS", 0.9)], []).flags] == ["Adidas"]


def test_context_reaches_plurals_and_three_letter_names() -> None:
    rules = Rules([B("Nike"), B("KFC")])
    for text, brand in (("Hikes", "Nike"), ("SFC", "KFC")):
        assert [f for f in rules.check_text(text) if f.flagged] == []  # text alone: a word, a club
        found = [(f.brand, f.severity) for f in rules.check_text(text, context=[brand]) if f.flagged]
        assert found == [(brand, Severity.REVIEW)], text
