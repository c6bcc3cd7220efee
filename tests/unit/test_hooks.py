"""The upload hook: combining image reports and listing text, validation, versions, the shared default detector."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import BLUE, GREEN, RED, WHITE, FakeOcr, ImageFactory
from PIL import Image

from detector import hooks
from detector.config import Config, Limits
from detector.hooks import (
    ListingError,
    ListingImageError,
    TimeBudgetExceeded,
    listing_from_mapping,
    on_listing_upload,
)
from detector.pipeline import Detector
from detector.stages import NoLogos, NoRules
from detector.types import (
    Box,
    BrandSighting,
    Decision,
    Flag,
    Listing,
    ListingDecision,
    Severity,
    TextSpan,
    Verdict,
)

REPO = Path(__file__).resolve().parents[2]
# What the colour-reading fake OCR "reads" in a photo of each colour.
WORDS = {RED: "NIKE", BLUE: "ADIBAS", GREEN: "REPLICA", WHITE: ""}


def colour_ocr(**kwargs: Any) -> FakeOcr:
    """A fake OCR that reads the word its test image's colour (pixel (0, 0)) stands for."""

    def read(n: int, image: Image.Image) -> list[TextSpan]:
        pixel = image.getpixel((0, 0))
        # JPEG shifts colours a little: take the nearest of the known ones.
        colour = min(WORDS, key=lambda c: sum((a - b) ** 2 for a, b in zip(c, pixel)))
        word = WORDS[colour]
        return [TextSpan(word, 0.9, Box(1, 1, 5, 5))] if word else []

    return FakeOcr(per_call=read, **kwargs)


class ListingRules:
    """A rules stage shaped like the real one: words, a look-alike, and the listing's seller context."""

    name = "listing-rules.test"

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], Any]] = []

    def load(self) -> None:
        pass

    def evaluate(
        self, texts: Sequence[TextSpan], logos: Sequence[Any], listing: Listing | None = None, *, listing_text: bool = False
    ) -> Verdict:
        self.calls.append(([t.text for t in texts], listing))
        words = {w.upper().strip(".,!") for t in texts for w in t.text.split()}
        flags: list[Flag] = []
        brands: list[BrandSighting] = []
        risk, decision = 0.0, Decision.ALLOW
        if "REPLICA" in words:
            flags.append(Flag("counterfeit_vocabulary", Severity.BLOCK, "says 'replica'", evidence=("text",)))
            risk, decision = 0.95, Decision.BLOCK
        if "ADIBAS" in words:
            flags.append(Flag("lookalike_brand_text", Severity.REVIEW, "Adibas looks like adidas", brand="adidas"))
            brands.append(BrandSighting("adidas", 0.7, ("text",)))
            risk, decision = max(risk, 0.6), Decision.worst([decision, Decision.REVIEW])
        if "NIKE" in words:
            brands.append(BrandSighting("Nike", 0.8, ("text",)))
        if listing is not None and listing.brand == "Nike" and listing.seller_id != "nike-official":
            flags.append(Flag("unauthorized_seller", Severity.REVIEW, "seller not authorised for Nike", brand="Nike"))
            risk, decision = max(risk, 0.5), Decision.worst([decision, Decision.REVIEW])
        return Verdict(texts=tuple(texts), flags=tuple(flags), brands=tuple(brands), risk=risk, decision=decision)


class FakeCatalog:
    root = Path("fake-catalog")

    def content_hash(self) -> str:
        return "c" * 64


@pytest.fixture
def detector() -> Detector:
    # No logo stage: these tests are about the hook; the real stages have their own tests.
    return Detector(ocr=colour_ocr(), logos=NoLogos(), rules=ListingRules(), catalog=FakeCatalog())  # type: ignore[arg-type]


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (48, 32)) -> bytes:
    return ImageFactory().jpeg(size, colour)


def check(detector: Detector, images: Sequence[Any] = (), **fields: Any) -> ListingDecision:
    return on_listing_upload({"listing_id": "L-1", "images": list(images), **fields}, detector=detector)


# -- combining --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("colours", "decision", "risk"),
    [
        ([], Decision.ALLOW, 0.0),
        ([WHITE], Decision.ALLOW, 0.0),
        ([RED, WHITE], Decision.ALLOW, 0.0),
        ([RED, BLUE], Decision.REVIEW, 0.6),
        ([BLUE, GREEN, RED], Decision.BLOCK, 0.95),
    ],
)
def test_decision_is_the_worst_image_and_risk_the_highest(
    detector: Detector, colours: list[tuple[int, int, int]], decision: Decision, risk: float
) -> None:
    result = check(detector, [jpeg(c) for c in colours])
    assert result.decision is decision
    assert result.risk == pytest.approx(risk)
    assert [r.ok for r in result.images] == [True] * len(colours)


def test_title_and_description_go_through_the_same_rules(detector: Detector) -> None:
    result = check(detector, [jpeg(WHITE)], title="Sneakers", description="Top replica, 1:1")
    assert result.decision is Decision.BLOCK
    (flag,) = result.flags
    assert flag.rule == "counterfeit_vocabulary"
    assert flag.evidence == ("listing_text", "text")
    rules = detector.rules
    assert isinstance(rules, ListingRules)
    # one call per image with the listing as context, then one for the listing's own text
    assert rules.calls[-1][0] == ["Sneakers", "Top replica, 1:1"]
    assert all(listing is not None and listing.listing_id == "L-1" for _, listing in rules.calls)


def test_empty_text_is_not_sent_as_a_span(detector: Detector) -> None:
    check(detector, title="  ", description="")
    assert detector.rules.calls[-1][0] == []  # type: ignore[attr-defined]


def test_each_flag_names_the_images_it_came_from(detector: Detector) -> None:
    result = on_listing_upload(
        {
            "listing_id": "L-2",
            "seller_id": "s-1",
            "brand": "Nike",
            "title": "Nike tee",
            "images": [jpeg(RED), jpeg(BLUE)],
        },
        detector=detector,
        names=["front.jpg", "back.jpg"],
    )
    by_rule = {f.rule: f for f in result.flags}
    # the seller rule fires for every image and for the text: one flag, every place it came from
    assert by_rule["unauthorized_seller"].evidence == ("image:front.jpg", "image:back.jpg", "listing_text")
    assert by_rule["lookalike_brand_text"].evidence == ("image:back.jpg",)
    assert [r.path for r in result.images] == ["front.jpg", "back.jpg"]
    assert result.decision is Decision.REVIEW


def test_brands_are_merged_across_images_and_text(detector: Detector) -> None:
    result = check(detector, [jpeg(RED), jpeg(BLUE), jpeg(RED)], title="NIKE")
    assert [(b.name, b.confidence, b.evidence) for b in result.brands] == [
        ("Nike", 0.8, ("text", "listing_text")),
        ("adidas", 0.7, ("text",)),
    ]


def test_block_flags_come_first(detector: Detector) -> None:
    result = check(detector, [jpeg(BLUE), jpeg(GREEN)])
    assert [f.severity for f in result.flags] == [Severity.BLOCK, Severity.REVIEW]


def test_versions_name_package_stages_and_catalog(detector: Detector) -> None:
    from detector import __version__

    result = check(detector, [jpeg(RED)])
    assert result.versions == {
        "detector": __version__,
        "ocr": "fake-ocr",
        "logos": "none",
        "rules": "listing-rules.test",
        "catalog": "c" * 64,
    }


def test_no_catalog_version_when_no_stage_reads_one() -> None:
    det = Detector(ocr=colour_ocr(), logos=NoLogos(), rules=NoRules())  # the pass-through stand-ins
    assert "catalog" not in check(det, [jpeg(RED)]).versions


def test_timings_cover_every_step(detector: Detector) -> None:
    result = check(detector, [jpeg(RED), jpeg(BLUE)], title="x")
    t = result.timings_ms
    assert set(t) == {"load", "ocr", "logos", "rules", "text_rules", "total"}
    assert all(v >= 0 for v in t.values())
    assert t["total"] >= t["load"] + t["ocr"]
    assert t["ocr"] == pytest.approx(sum(r.timings_ms["ocr"] for r in result.images))


def test_image_reports_keep_file_hash_size_and_original_coordinates() -> None:
    # max_side 100 makes the working image a quarter of the 400x200 original: the OCR's box is
    # in working pixels and must come back ×4, as ``Detector.scan_image`` does for a file.
    det = Detector(ocr=colour_ocr(), logos=NoLogos(), config=Config(limits=Limits(max_side=100)))
    data = jpeg(RED, (400, 200))
    (report,) = check(det, [data]).images
    assert det.ocr.sizes == [(100, 50)]  # type: ignore[attr-defined]
    assert report.size == (400, 200)
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.texts[0].box == Box(4, 4, 20, 20)


def test_paths_work_and_label_the_image(tmp_path: Path, detector: Detector) -> None:
    path = ImageFactory().write(tmp_path / "photo.jpg", jpeg(BLUE))
    result = check(detector, [str(path)])
    assert result.images[0].path == str(path)
    assert result.flags[0].evidence[0] == f"image:{path}"


def test_a_listing_object_is_accepted_and_revalidated(detector: Detector) -> None:
    result = on_listing_upload(Listing("L-9", images=[jpeg(GREEN)]), detector=detector)  # type: ignore[arg-type]
    assert result.listing_id == "L-9" and result.decision is Decision.BLOCK
    with pytest.raises(ListingError, match="seller_id"):
        on_listing_upload(Listing("L-9", seller_id=5), detector=detector)  # type: ignore[arg-type]


def test_a_stage_failure_on_one_image_sends_the_listing_to_review() -> None:
    det = Detector(ocr=colour_ocr(raise_on={2: RuntimeError("boom")}), logos=NoLogos(), rules=ListingRules())
    result = check(det, [jpeg(RED), jpeg(RED)])
    assert [r.ok for r in result.images] == [True, False]
    assert result.decision is Decision.REVIEW
    assert result.risk >= det.config.thresholds.review
    assert result.flags[0].rule == "image_not_analysed"
    assert result.flags[0].evidence == ("image:images[1]",)


# -- bad input --------------------------------------------------------------------------------------


def test_a_bad_image_is_refused_before_any_model_runs(detector: Detector) -> None:
    with pytest.raises(ListingImageError) as info:
        check(detector, [jpeg(RED), b"not an image at all, just text"])
    assert info.value.index == 1 and not info.value.too_large
    assert "images[1]" in str(info.value)
    assert detector.ocr.calls == 0  # type: ignore[attr-defined]


def test_a_decompression_bomb_is_too_large(detector: Detector) -> None:
    with pytest.raises(ListingImageError) as info:
        check(detector, [ImageFactory().png_header(60_000, 60_000)])
    assert info.value.too_large
    assert "limit" in str(info.value)


@pytest.mark.parametrize(
    ("listing", "field", "message"),
    [
        ("L-1", None, "must be an object"),
        (["L-1"], None, "must be an object"),
        ({}, "listing_id", "missing the required key 'listing_id'"),
        ({"listing_id": ""}, "listing_id", "non-empty string"),
        ({"listing_id": 17}, "listing_id", 'send numbers as strings, e.g. "17"'),
        ({"listing_id": None}, "listing_id", "non-empty string"),
        ({"listing_id": "x" * 257}, "listing_id", "257 characters long; the limit is 256"),
        ({"listing_id": "L\n1"}, "listing_id", "control characters"),
        ({"listing_id": "L", "seller_id": ["s"]}, "seller_id", "a string or null"),
        ({"listing_id": "L", "brand": 3.5}, "brand", "a string or null"),
        ({"listing_id": "L", "title": 12}, "title", "must be a string"),
        ({"listing_id": "L", "description": {"a": 1}}, "description", "must be a string"),
        ({"listing_id": "L", "price": "12.00"}, "price", "must be a number"),
        ({"listing_id": "L", "price": True}, "price", "must be a number"),
        ({"listing_id": "L", "price": -1}, "price", "finite number >= 0"),
        ({"listing_id": "L", "price": math.nan}, "price", "finite number >= 0"),
        ({"listing_id": "L", "price": math.inf}, "price", "finite number >= 0"),
        ({"listing_id": "L", "price": 10**400}, "price", "out of range"),
        ({"listing_id": "L", "images": "a.jpg"}, "images", "must be a list"),
        ({"listing_id": "L", "images": [12]}, "images", "images[0] must be image bytes"),
        ({"listing_id": "L", "seller": "s-1"}, "seller", "unknown key(s) ['seller']"),
        # lone surrogates parse from JSON ("\\ud800") but cannot be stored or answered as UTF-8
        ({"listing_id": "L\ud800"}, "listing_id", "lone surrogate '\\ud800' at character 1"),
        ({"listing_id": "L", "seller_id": "\udcff"}, "seller_id", "not valid Unicode text"),
        ({"listing_id": "L", "brand": "Nike\udfff"}, "brand", "lone surrogate"),
        ({"listing_id": "L", "title": "tee \ud83d"}, "title", "lone surrogate"),
        ({"listing_id": "L", "description": "\udc00 x"}, "description", "lone surrogate"),
    ],
)
def test_a_malformed_listing_says_which_field(listing: Any, field: str | None, message: str) -> None:
    with pytest.raises(ListingError) as info:
        listing_from_mapping(listing)
    assert info.value.field == field
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)  # callers without the detector's errors can still catch it


def test_a_surrogate_pair_is_ordinary_text(detector: Detector) -> None:
    listing = listing_from_mapping({"listing_id": "L", "title": "tee \U0001f455", "brand": "Nike"})
    assert listing.title == "tee \U0001f455"
    with pytest.raises(ListingError, match="listing.seller_id"):
        on_listing_upload(Listing("L-9", seller_id="s\udcff"), detector=detector)


def test_names_must_match_the_images(detector: Detector) -> None:
    with pytest.raises(ListingError, match="list of 2 labels"):
        on_listing_upload({"listing_id": "L", "images": [jpeg(RED), jpeg(RED)]}, detector=detector, names=["a"])


def test_the_time_budget_stops_between_images() -> None:
    class SlowOcr(FakeOcr):
        def read(self, image: Image.Image) -> list[Any]:
            time.sleep(0.15)
            return super().read(image)

    det = Detector(ocr=SlowOcr(), logos=NoLogos(), rules=ListingRules())
    with pytest.raises(TimeBudgetExceeded, match="0.2 s ran out after 2 of 5 images") as info:
        on_listing_upload({"listing_id": "L", "images": [jpeg(RED)] * 5}, detector=det, time_budget_s=0.2)
    assert info.value.budget_s == 0.2
    assert det.ocr.calls == 2  # type: ignore[attr-defined]


# -- the shared default detector --------------------------------------------------------------------


def test_the_default_detector_is_built_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Detector] = []

    class Counting(Detector):
        def __init__(self) -> None:
            time.sleep(0.05)  # widen the window in which a second thread could build another
            super().__init__(ocr=colour_ocr(), logos=NoLogos(), rules=ListingRules())
            built.append(self)

    monkeypatch.setattr(hooks, "Detector", Counting)
    monkeypatch.setattr(hooks, "_DEFAULT", None)
    threads = [threading.Thread(target=hooks.default_detector) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = on_listing_upload({"listing_id": "L", "images": [jpeg(GREEN)]})
    second = on_listing_upload({"listing_id": "M", "title": "replica"})
    assert len(built) == 1
    assert first.decision is second.decision is Decision.BLOCK
    assert built[0].ocr.calls == 1  # type: ignore[attr-defined]


# -- the real stack ---------------------------------------------------------------------------------


@pytest.mark.real
def test_real_default_stack_on_a_replica_photo() -> None:
    photo = REPO / "examples" / "replica_gucci.jpg"
    result = on_listing_upload(
        {"listing_id": "real-1", "seller_id": "s-1", "brand": "Gucci", "title": "Gucci tee", "images": [str(photo)]}
    )
    (report,) = result.images
    assert report.ok
    read = " ".join(t.text for t in report.texts).lower()
    assert "gucci" in read and "mirror quality" in read
    assert result.versions["ocr"].startswith("easyocr")
    if result.versions["rules"] != "none":
        # the photo carries "1:1 mirror quality": a real rules stage must not let it through
        assert result.decision is not Decision.ALLOW
    assert result.to_dict()["images"][0]["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
