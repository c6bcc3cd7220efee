"""Result types: validation in ``__post_init__`` and ``to_dict()`` against the JSONL contract of DESIGN.md."""

from __future__ import annotations

import json
import math

import pytest

from detector.types import (
    Box,
    BrandSighting,
    Decision,
    Flag,
    ImageReport,
    Listing,
    ListingDecision,
    LogoMatch,
    Relation,
    Severity,
    TextSpan,
    Verdict,
)

# The fields DESIGN.md's JSONL example promises ("at least"); extra fields are allowed, these are not optional.
REPORT_FIELDS = {"path", "ok", "error", "decision", "risk", "brands", "logos", "texts", "flags", "timings_ms"}
BRAND_FIELDS = {"name", "confidence", "evidence"}
LOGO_FIELDS = {"brand", "score", "box", "mark"}
TEXT_FIELDS = {"text", "confidence", "box", "brand", "relation"}
FLAG_FIELDS = {"rule", "severity", "brand", "message"}


# --------------------------------------------------------------------------- Box


@pytest.mark.parametrize(
    "coords, fragment",
    [
        ((10, 0, 5, 10), "x2 >= x1"),
        ((0, 10, 10, 5), "y2 >= y1"),
        ((0, 0, math.nan, 10), "finite"),
        ((0, 0, 10, math.inf), "finite"),
        ((-math.inf, 0, 10, 10), "finite"),
        (("0", 0, 10, 10), "finite numbers"),
        ((None, 0, 10, 10), "finite numbers"),
    ],
    ids=["x2<x1", "y2<y1", "nan", "inf", "-inf", "string", "none"],
)
def test_box_rejects_bad_coordinates(coords, fragment):
    with pytest.raises(ValueError, match=fragment):
        Box(*coords)


def test_box_allows_degenerate_and_negative_boxes():
    # A zero-width box (a vertical line) and a box partly off-image are legal geometry.
    assert Box(5, 5, 5, 10).area == 0
    assert Box(-3, -2, 4, 6).width == 7


def test_box_geometry_and_helpers():
    box = Box(10, 20, 50, 40)
    assert (box.width, box.height, box.area) == (40, 20, 800)
    assert box.scale(2.5) == Box(25, 50, 125, 100)
    assert Box.from_points([(30, 5), (40, 7), (38, 20), (28, 18)]) == Box(28, 5, 40, 20)
    assert Box.from_points([[1, 2], [3, 4]]) == Box(1, 2, 3, 4)
    assert Box(0.04, 1.26, 2.0, 3.99).to_list() == [0.0, 1.3, 2.0, 4.0]


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (Box(0, 0, 10, 10), Box(0, 0, 10, 10), 1.0),
        (Box(0, 0, 10, 10), Box(20, 20, 30, 30), 0.0),
        (Box(0, 0, 10, 10), Box(10, 0, 20, 10), 0.0),  # touching edges share no area
        (Box(0, 0, 10, 10), Box(5, 0, 15, 10), 50 / 150),
        (Box(0, 0, 10, 10), Box(2, 2, 4, 4), 4 / 100),  # contained
        (Box(0, 0, 0, 0), Box(0, 0, 0, 0), 0.0),  # both empty: no division by zero
        (Box(5, 5, 5, 5), Box(0, 0, 10, 10), 0.0),
    ],
    ids=["same", "disjoint", "touching", "half-shift", "contained", "both-empty", "point-inside"],
)
def test_box_iou(a, b, expected):
    assert a.iou(b) == pytest.approx(expected)
    assert b.iou(a) == pytest.approx(expected)


def test_box_is_frozen():
    box = Box(0, 0, 1, 1)
    with pytest.raises(AttributeError):
        box.x1 = 5  # type: ignore[misc]


# --------------------------------------------------------------------------- confidences


UNIT_FIELDS = {
    "TextSpan.confidence": lambda v: TextSpan("NIKE", v),
    "TextSpan.similarity": lambda v: TextSpan("NIKE", 0.5, similarity=v),
    "LogoMatch.score": lambda v: LogoMatch("Nike", v, Box(0, 0, 1, 1), "marks/nike.png"),
    "BrandSighting.confidence": lambda v: BrandSighting("Nike", v),
    "Verdict.risk": lambda v: Verdict(risk=v),
    "ImageReport.risk": lambda v: ImageReport("a.jpg", ok=True, risk=v),
    "ListingDecision.risk": lambda v: ListingDecision("L1", Decision.ALLOW, v),
}


@pytest.mark.parametrize("value", [-0.01, 1.01, math.nan, math.inf, -math.inf, "0.5"], ids=repr)
@pytest.mark.parametrize("field_name", list(UNIT_FIELDS))
def test_unit_interval_fields_reject_out_of_range(field_name, value):
    with pytest.raises(ValueError, match=r"in \[0, 1\]") as info:
        UNIT_FIELDS[field_name](value)
    assert field_name in str(info.value)  # the message names the field


@pytest.mark.parametrize(
    "field_name",
    ["TextSpan.confidence", "LogoMatch.score", "BrandSighting.confidence", "Verdict.risk", "ListingDecision.risk"],
)
def test_required_unit_fields_reject_none(field_name):
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        UNIT_FIELDS[field_name](None)


@pytest.mark.parametrize("value", [0, 0.0, 0.5, 1, 1.0])
def test_unit_interval_bounds_are_inclusive(value):
    assert TextSpan("x", value).confidence == value
    assert LogoMatch("b", value, Box(0, 0, 1, 1), "m").score == value


# --------------------------------------------------------------------------- flags, reports, listings


def test_flag_validation():
    with pytest.raises(ValueError, match="non-empty"):
        Flag(rule="", severity=Severity.BLOCK, message="m")
    with pytest.raises(ValueError, match="Severity"):
        Flag(rule="r", severity="block", message="m")  # type: ignore[arg-type]


def test_report_ok_and_error_must_agree():
    with pytest.raises(ValueError, match="must say why"):
        ImageReport("a.jpg", ok=False)
    with pytest.raises(ValueError, match="must say why"):
        ImageReport("a.jpg", ok=False, error="")
    with pytest.raises(ValueError, match="cannot carry an error"):
        ImageReport("a.jpg", ok=True, error="boom")


def test_failed_report_carries_error_and_timings():
    report = ImageReport.failed("bad.jpg", "bad.jpg: file is empty (0 bytes)", timings_ms={"load": 1.234})
    d = report.to_dict()
    assert d["ok"] is False and d["error"].endswith("(0 bytes)")
    assert d["decision"] is None and d["risk"] is None
    assert d["brands"] == d["logos"] == d["texts"] == d["flags"] == []
    assert d["timings_ms"] == {"load": 1.2}
    assert not report.flagged


def test_listing_validation():
    with pytest.raises(ValueError, match="listing_id"):
        Listing(listing_id="")
    with pytest.raises(ValueError, match="price"):
        Listing(listing_id="L1", price=math.nan)
    assert Listing(listing_id="L1", price=12).price == 12


def test_decision_worst():
    assert Decision.worst([]) is Decision.ALLOW
    assert Decision.worst([Decision.ALLOW, Decision.ALLOW]) is Decision.ALLOW
    assert Decision.worst([Decision.REVIEW, Decision.ALLOW]) is Decision.REVIEW
    assert Decision.worst((Decision.ALLOW, Decision.BLOCK, Decision.REVIEW)) is Decision.BLOCK
    assert [d.value for d in sorted(Decision, key=lambda d: d.rank)] == ["allow", "review", "block"]


# --------------------------------------------------------------------------- to_dict: the JSONL contract


def _full_report() -> ImageReport:
    return ImageReport(
        path="shop/a.jpg",
        ok=True,
        decision=Decision.BLOCK,
        risk=0.91234,
        brands=(
            BrandSighting("Puma", 0.55, ("text",)),
            BrandSighting("Nike", 0.93, ("logo", "text")),
            BrandSighting("Adidas", 0.7, ("logo",)),
        ),
        logos=(LogoMatch("Nike", 0.91, Box(1, 2, 30, 40), "marks/nike-swoosh.png"),),
        texts=(
            TextSpan("NlKE", 0.98, Box(5, 6, 50, 20), brand="Nike", relation=Relation.LOOKALIKE, similarity=0.8),
            TextSpan("size M", 0.5),
        ),
        flags=(Flag("lookalike_brand_text", Severity.BLOCK, "'NlKE' looks like 'NIKE'", brand="Nike"),),
        timings_ms={"load": 1.26, "ocr": 812.04, "logos": 0.0, "rules": 0.33},
        stages={"ocr": "fake-ocr", "logos": "none", "rules": "none"},
        sha256="ab" * 32,
        size=(600, 800),
    )


def test_report_to_dict_has_the_design_fields():
    d = _full_report().to_dict()
    assert REPORT_FIELDS <= set(d)
    assert all(BRAND_FIELDS <= set(b) for b in d["brands"])
    assert all(LOGO_FIELDS <= set(m) for m in d["logos"])
    assert all(TEXT_FIELDS <= set(t) for t in d["texts"])
    assert all(FLAG_FIELDS <= set(f) for f in d["flags"])
    assert set(d["timings_ms"]) == {"load", "ocr", "logos", "rules"}


def test_report_to_dict_values():
    d = _full_report().to_dict()
    assert d["path"] == "shop/a.jpg" and d["ok"] is True and d["error"] is None
    assert d["decision"] == "block" and d["risk"] == 0.9123
    assert [b["name"] for b in d["brands"]] == ["Nike", "Adidas", "Puma"]  # highest confidence first
    assert d["brands"][0] == {"name": "Nike", "confidence": 0.93, "evidence": ["logo", "text"]}
    assert d["logos"] == [
        {"brand": "Nike", "score": 0.91, "box": [1.0, 2.0, 30.0, 40.0], "mark": "marks/nike-swoosh.png"}
    ]
    assert d["texts"][0]["text"] == "NlKE"
    assert d["texts"][0]["box"] == [5.0, 6.0, 50.0, 20.0]
    assert d["texts"][0]["brand"] == "Nike" and d["texts"][0]["relation"] == "lookalike"
    assert d["texts"][1]["box"] is None and d["texts"][1]["brand"] is None and d["texts"][1]["relation"] is None
    assert d["flags"][0]["rule"] == "lookalike_brand_text"
    assert d["flags"][0]["severity"] == "block" and d["flags"][0]["brand"] == "Nike"
    assert d["timings_ms"]["ocr"] == 812.0
    assert d["size"] == [600, 800]


def test_report_to_dict_is_json_and_round_trips():
    d = _full_report().to_dict()
    assert json.loads(json.dumps(d)) == d


def test_report_without_brands_gives_empty_list():
    d = ImageReport("a.jpg", ok=True, decision=Decision.ALLOW, risk=0.0).to_dict()
    assert d["brands"] == [] and d["decision"] == "allow" and d["risk"] == 0.0


def test_flagged_follows_decision():
    assert ImageReport("a", True, decision=Decision.REVIEW, risk=0.5).flagged
    assert ImageReport("a", True, decision=Decision.BLOCK, risk=0.9).flagged
    assert not ImageReport("a", True, decision=Decision.ALLOW, risk=0.0).flagged


def test_listing_decision_to_dict():
    report = _full_report()
    decision = ListingDecision(
        listing_id="L1",
        decision=Decision.REVIEW,
        risk=0.5,
        brands=(BrandSighting("A", 0.2), BrandSighting("B", 0.8)),
        flags=report.flags,
        images=(report,),
        versions={"detector": "0.1.0"},
    )
    d = decision.to_dict()
    assert {"listing_id", "decision", "risk", "brands", "flags", "images"} <= set(d)
    assert d["decision"] == "review"
    assert [b["name"] for b in d["brands"]] == ["B", "A"]
    assert d["images"][0] == report.to_dict()
    assert json.loads(json.dumps(d)) == d
