"""The rules stage end to end: Verdict annotations, every rule firing and not firing, risk and decision."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import B

from detector.config import Thresholds
from detector.rules import Rules, check_text
from detector.stages import RulesStage
from detector.types import Box, Decision, Listing, LogoMatch, Relation, Severity, TextSpan

BRANDS = (
    B("Nike"), B("Adidas"), B("Puma"), B("Gucci"), B("Louis Vuitton"), B("Under Armour"),
    B("Rolex", (), ("rolex-official", "Watches-Direct")),
)


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules(BRANDS)


def span(text: str, conf: float = 0.97, box: tuple[float, float, float, float] | None = None) -> TextSpan:
    return TextSpan(text, conf, Box(*box) if box else None)


def logo(brand: str, score: float = 0.9, box: tuple[float, float, float, float] = (100, 100, 200, 160)) -> LogoMatch:
    return LogoMatch(brand, score, Box(*box), f"marks/{brand.lower()}.png")


def rules_of(verdict) -> list[tuple[str, Severity, str | None]]:
    return [(f.rule, f.severity, f.brand) for f in verdict.flags]


def test_is_a_rules_stage(rules: Rules) -> None:
    assert isinstance(rules, RulesStage)
    assert rules.name == "rules.v1"


def test_clear_knockoff_is_blocked_and_annotated(rules: Rules) -> None:
    v = rules.evaluate([span("Adibas", 0.96, (10, 10, 90, 30)), span("running shoes")], [])
    assert v.decision is Decision.BLOCK and 0.8 <= v.risk <= 1.0
    assert rules_of(v) == [("lookalike_brand_text", Severity.BLOCK, "Adidas")]
    flag = v.flags[0]
    assert "'Adibas'" in flag.evidence[0] and "0.96" in flag.evidence[0] and "Adidas" in flag.message
    first, second = v.texts
    assert (first.brand, first.relation, round(first.similarity, 2)) == ("Adidas", Relation.LOOKALIKE, 0.83)
    assert first.box == Box(10, 10, 90, 30) and first.confidence == 0.96  # the rest of the span is kept
    assert second == span("running shoes")
    assert [(b.name, b.evidence) for b in v.brands] == [("Adidas", ("text",))]


def test_genuine_photo_is_allowed(rules: Rules) -> None:
    v = rules.evaluate([span("NIKE", 0.9, (110, 170, 190, 190))], [logo("Nike", 0.9)])
    assert v.decision is Decision.ALLOW and v.flags == () and v.risk == 0.0
    assert v.texts[0].relation is Relation.EXACT and v.texts[0].similarity == 1.0
    (nike,) = v.brands
    assert nike.name == "Nike" and nike.evidence == ("logo", "text") and nike.confidence == pytest.approx(0.99)


def test_unbranded_word_is_allowed(rules: Rules) -> None:
    v = rules.evaluate([span("hike"), span("Mike"), span("made in Italy")], [])
    assert v.decision is Decision.ALLOW and v.flags == () and v.brands == ()


def test_dictionary_word_next_to_that_brands_logo_is_reviewed(rules: Rules) -> None:
    v = rules.evaluate([span("hike")], [logo("Nike")])
    assert rules_of(v) == [("lookalike_brand_text", Severity.REVIEW, "Nike")]
    assert v.decision is Decision.REVIEW


# -- logo of brand A with the exact name of brand B --------------------------------------------------
@pytest.mark.parametrize(
    ("texts", "logos", "expected"),
    [
        # the name printed on the logo: block, naming both
        ([span("PUMA", 0.95, (110, 165, 190, 185))], [logo("Nike")], [("logo_text_mismatch", Severity.BLOCK, "Nike")]),
        # far from the logo (another product on a shelf?): review
        ([span("PUMA", 0.95, (600, 600, 700, 640))], [logo("Nike")], [("logo_text_mismatch", Severity.REVIEW, "Nike")]),
        # no box to compare: review
        ([span("PUMA", 0.95)], [logo("Nike")], [("logo_text_mismatch", Severity.REVIEW, "Nike")]),
        # near but read unsure: review
        ([span("PUMA", 0.4, (110, 165, 190, 185))], [logo("Nike")], [("logo_text_mismatch", Severity.REVIEW, "Nike")]),
        # both brands' logos: a multi-brand photo, not a mismatch
        ([span("PUMA", 0.95)], [logo("Nike"), logo("Puma", box=(300, 100, 400, 160))], []),
        # the logo's own name
        ([span("NIKE", 0.95)], [logo("Nike")], []),
        # a logo too weak to count
        ([span("PUMA", 0.95)], [logo("Nike", 0.3)], []),
    ],
)
def test_logo_text_mismatch(rules: Rules, texts, logos, expected) -> None:
    v = rules.evaluate(texts, logos)
    assert rules_of(v) == expected
    if expected:
        assert "Nike" in v.flags[0].message and "Puma" in v.flags[0].message
        assert any(e.startswith("logo Nike") for e in v.flags[0].evidence)
        assert any("'PUMA'" in e for e in v.flags[0].evidence)


# -- declared brand vs brands seen ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("declared", "texts", "logos", "expected"),
    [
        ("Gucci", [span("NIKE")], [], [("declared_brand_mismatch", Severity.REVIEW, "Nike")]),
        ("Generic", [], [logo("Nike")], [("declared_brand_mismatch", Severity.REVIEW, "Nike")]),
        ("gucci", [span("GUCCI")], [], []),  # declared and seen agree (case-insensitive)
        ("Nike", [span("Nike"), span("PUMA")], [], []),  # the declared brand is there too (a shelf photo)
        ("Nike", [span("running shoes")], [], []),  # nothing seen
        (None, [span("NIKE")], [], []),  # nothing declared
    ],
)
def test_declared_brand_mismatch(rules: Rules, declared, texts, logos, expected) -> None:
    listing = Listing("L1", seller_id="shop-1", brand=declared)
    v = rules.evaluate(texts, logos, listing)
    assert rules_of(v) == expected
    if expected:
        assert "L1" in v.flags[0].message and expected[0][2] in v.flags[0].message


def test_declared_brand_is_context_for_dictionary_words(rules: Rules) -> None:
    listing = Listing("L2", brand="Nike")
    assert rules_of(rules.evaluate([span("hike")], [], listing))[0] == ("lookalike_brand_text", Severity.REVIEW, "Nike")
    # …but not in the seller's own prose, which is full of ordinary words.
    prose = Listing("L3", brand="Nike", title="Nike boots for a hike", description="Mike says: like new")
    assert rules.evaluate([], [], prose).flags == ()


# -- authorised sellers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seller", "texts", "logos", "declared", "fires"),
    [
        ("random-shop", [span("ROLEX")], [], None, True),
        (None, [span("ROLEX")], [], None, True),  # unknown seller is not an authorised one
        ("random-shop", [], [logo("Rolex")], None, True),
        ("random-shop", [], [], "Rolex", True),  # declared brand counts too
        ("rolex-official", [span("ROLEX")], [], None, False),
        ("WATCHES-DIRECT", [span("ROLEX")], [], None, False),  # seller ids compare case-insensitively
        ("random-shop", [span("NIKE")], [], None, False),  # Nike lists no sellers: not enforced
    ],
)
def test_unauthorized_seller(rules: Rules, seller, texts, logos, declared, fires) -> None:
    v = rules.evaluate(texts, logos, Listing("L4", seller_id=seller, brand=declared))
    got = [f for f in v.flags if f.rule == "unauthorized_seller"]
    assert bool(got) is fires
    if fires:
        assert got[0].brand == "Rolex" and got[0].severity is Severity.REVIEW


def test_no_listing_no_seller_check(rules: Rules) -> None:
    assert rules.evaluate([span("ROLEX")], []).flags == ()


# -- counterfeit vocabulary in photo and listing ---------------------------------------------------------
def test_vocabulary_in_listing_and_photo(rules: Rules) -> None:
    listing = Listing("L5", title="Replica bag 1:1 mirror quality", description="高仿 fast shipping, fake fur trim")
    v = rules.evaluate([span("SUPER COPY")], [], listing)
    got = sorted((f.severity.value, f.evidence[0].split(":")[0]) for f in v.flags)
    assert got == [
        ("block", "listing description"),  # 高仿
        ("block", "listing title"),  # 1:1 mirror
        ("block", "text 'SUPER COPY' (OCR confidence 0.97)"),
        ("review", "listing title"),  # replica
    ]
    assert v.decision is Decision.BLOCK


def test_lookalike_in_listing_title(rules: Rules) -> None:
    v = rules.evaluate([], [], Listing("L6", title="Adibas running shoes"))
    assert rules_of(v) == [("lookalike_brand_text", Severity.BLOCK, "Adidas")]
    assert v.flags[0].evidence[0].startswith("listing title: 'Adibas'")
    assert v.texts == () and v.brands == ()  # seller prose is not a photo sighting


# -- OCR confidence and decision ----------------------------------------------------------------------
def test_low_confidence_lookalikes_are_reviewed_never_blocked(rules: Rules) -> None:
    texts = [span("Adibas", 0.4), span("NlKE", 0.35), span("Guci", 0.3)]
    v = rules.evaluate(texts, [])
    assert [f.severity for f in v.flags] == [Severity.REVIEW] * 3
    assert v.risk > 0.8  # three reasons add up…
    assert v.decision is Decision.REVIEW  # …but only a block-severity flag can block


def test_thresholds_are_configurable() -> None:
    strict = Rules(BRANDS, thresholds=Thresholds(review=0.6, block=0.95))
    assert strict.evaluate([span("Adibas")], []).decision is Decision.REVIEW  # 0.9 < 0.95
    assert strict.evaluate([span("replica")], []).decision is Decision.ALLOW  # 0.5 < 0.6


def test_empty_input(rules: Rules) -> None:
    v = rules.evaluate([], [])
    assert v.decision is Decision.ALLOW and v.risk == 0.0 and v.flags == v.brands == v.texts == ()


def test_module_check_text_uses_a_cached_rules() -> None:
    found = check_text("Adibas", BRANDS)
    assert [(f.rule, f.brand, f.severity) for f in found] == [("lookalike_brand_text", "Adidas", Severity.BLOCK)]
    assert check_text("hike", BRANDS) == []
    assert [f.to_dict()["relation"] for f in check_text("NlKE Air, 1:1 mirror quality", BRANDS)] == ["homoglyph", None]


# -- through the pipeline, with the bundled demo catalog (issue 4, "Done when") -----------------------
class _Ocr:
    name = "scripted-ocr"

    def __init__(self, spans: list[TextSpan]) -> None:
        self.spans = spans

    def load(self) -> None:
        pass

    def read(self, image) -> list[TextSpan]:
        return list(self.spans)


class _Logos:
    name = "scripted-logos"

    def __init__(self, matches: list[LogoMatch]) -> None:
        self.matches = matches

    def load(self) -> None:
        pass

    def find(self, image) -> list[LogoMatch]:
        return list(self.matches)


@pytest.fixture(scope="module")
def demo_rules() -> Rules:
    return Rules()  # bundled demo catalog


@pytest.mark.parametrize(
    ("texts", "logos", "decision", "rules_fired", "names"),
    [
        ([span("Adibas", 0.96, (20, 20, 120, 50))], [], Decision.BLOCK, ["lookalike_brand_text"], ["Adidas"]),
        ([span("PUMA", 0.95, (110, 165, 190, 185))], [logo("Nike")], Decision.BLOCK, ["logo_text_mismatch"],
         ["Nike", "Puma"]),
        ([span("NIKE", 0.93, (110, 165, 190, 185))], [logo("Nike")], Decision.ALLOW, [], []),
        ([span("hike", 0.9)], [], Decision.ALLOW, [], []),
    ],
)
def test_through_the_pipeline(tmp_path, demo_rules: Rules, texts, logos, decision, rules_fired, names) -> None:
    from PIL import Image

    from detector.pipeline import Detector

    path = tmp_path / "photo.png"
    Image.new("RGB", (320, 240), (240, 240, 240)).save(path)
    report = Detector(ocr=_Ocr(texts), logos=_Logos(logos), rules=demo_rules).scan_image(path)
    assert report.ok and report.decision is decision
    assert [f.rule for f in report.flags] == rules_fired
    for name in names:
        assert name in report.flags[0].message
    assert report.stages["rules"] == "rules.v1"


def test_price_far_below_the_reference_is_reviewed_with_the_numbers() -> None:
    from detector.catalog import Brand

    rules = Rules([Brand("Rolex", min_price=(("", 2000.0), ("submariner", 6000.0))), Brand("Nike")])
    listing = Listing(listing_id="L-9", seller_id="s", title="Rolex Submariner 40mm", brand="Rolex", price=900.0)
    verdict = rules.evaluate([span("ROLEX")], [], listing)
    assert rules_of(verdict) == [("price_below_reference", Severity.REVIEW, "Rolex")]
    message = verdict.flags[0].message
    assert "900.00" in message and "6000.00" in message and "'submariner'" in message and "15%" in message
    # Its risk adds to the other flags': a look-alike at review plus a cheap price is riskier than either.
    alone = rules.evaluate([span("Rolax", 0.5)], [], dataclasses.replace(listing, price=None))
    both = rules.evaluate([span("Rolax", 0.5)], [], listing)
    assert both.risk > alone.risk
    # At or above half the reference, or with no price, or for a brand without one: nothing.
    for quiet in (dataclasses.replace(listing, price=3000.0), dataclasses.replace(listing, price=None),
                  dataclasses.replace(listing, title="Nike tee", brand="Nike", price=1.0)):
        assert rules.evaluate([span("tee")], [], quiet).flags == ()
    # The brand's own reference when no product keyword is named.
    plain = dataclasses.replace(listing, title="Rolex watch", price=900.0)
    assert "2000.00" in rules.evaluate([span("ROLEX")], [], plain).flags[0].message
