"""Official photo reuse: ``official_photos`` in the catalog, the rule, and the flag in scan and the upload hook.

The CNN is the 4×4-thumbnail stand-in (tests/link_helpers.py); hashes and the keypoint check are real.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import FakeOcr
from link_helpers import TINY_LINK, TinyEmbedder, crop, jpeg, mirror, photo

from detector.catalog import load_catalog
from detector.config import Config
from detector.enrol import add_brand, init_catalog
from detector.errors import CatalogError
from detector.hooks import on_listing_upload
from detector.link.official import OfficialMatch
from detector.pipeline import Detector
from detector.rules.config import RulesConfig
from detector.rules.lexicon import Lexicon
from detector.rules.mismatch import official_photo_reuse
from detector.stages import NoLogos
from detector.types import Listing, Severity

CONFIG = Config.from_dict({"link": TINY_LINK, "logos": {"backend": "none"}})


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> list[TinyEmbedder]:
    import detector.logos.embed

    made: list[TinyEmbedder] = []

    def create(name: str = "") -> TinyEmbedder:
        made.append(TinyEmbedder())
        return made[-1]

    monkeypatch.setattr(detector.logos.embed, "create_embedder", create)
    return made


def write_catalog(root: Path, brands: list[dict]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "catalog.yaml").write_text(yaml.safe_dump({"version": 1, "brands": brands}), encoding="utf-8")
    return root


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    root = tmp_path / "cat"
    (root / "official").mkdir(parents=True)
    photo(7).save(root / "official" / "runner.png")
    return write_catalog(root, [{"name": "Acme", "authorized_sellers": ["acme-store"],
                                 "official_photos": ["official/runner.png"]}, {"name": "Other"}])


# -- the catalog -------------------------------------------------------------------------------------

def test_official_photos_are_parsed_and_hashed(catalog: Path) -> None:
    cat = load_catalog(catalog)
    assert cat.brand("Acme").official_photos == ("official/runner.png",)
    assert cat.has_official_photos and cat.brand("Acme").to_dict()["official_photos"] == ["official/runner.png"]
    before = cat.content_hash()
    photo(8).save(catalog / "official" / "runner.png")
    assert load_catalog(catalog).content_hash() != before


@pytest.mark.parametrize(("value", "message"), [
    (["official/missing.jpg"], "official_photos[0] 'official/missing.jpg' does not exist"),
    ("official/runner.png", "'official_photos' must be a list of strings"),
    (["../outside.png"], "is outside the catalog directory"),
])
def test_bad_official_photos_name_brand_and_field(catalog: Path, value: object, message: str) -> None:
    write_catalog(catalog, [{"name": "Acme", "official_photos": value}])
    with pytest.raises(CatalogError, match="brand 'Acme'") as err:
        load_catalog(catalog)
    assert message in str(err.value)


def test_enrol_copies_official_photos(tmp_path: Path) -> None:
    init_catalog(tmp_path / "c")
    photo(3).save(tmp_path / "shot.jpg")
    cat = add_brand(tmp_path / "c", "Acme", authorized_sellers=["acme-store"], official_photos=[tmp_path / "shot.jpg"])
    [path] = cat.brand("Acme").official_photos
    assert path.startswith("official/") and (tmp_path / "c" / path).is_file()
    with pytest.raises(CatalogError, match="already enrolled"):
        add_brand(tmp_path / "c", "Acme", official_photos=[tmp_path / "shot.jpg"])


# -- the rule ----------------------------------------------------------------------------------------

MATCH = OfficialMatch("Acme", "official/runner.png", 0.93, "keypoints", 57)


@pytest.mark.parametrize(("listing", "authorised", "flagged", "who"), [
    (Listing("L1", seller_id="acme-store"), ("acme-store",), False, ""),
    (Listing("L1", seller_id="ACME-STORE"), ("acme-store",), False, ""),      # seller ids compare case-insensitively
    (Listing("L1", seller_id="s-9"), ("acme-store",), True, "seller 's-9'"),
    (Listing("L1"), ("acme-store",), True, "a listing with no seller id"),
    (None, ("acme-store",), True, "a photo with no listing"),                  # a plain scan: nobody vouches
    (Listing("L1", seller_id="s-9"), (), True, "authorises no one"),
])
def test_official_photo_reuse_rule(listing, authorised, flagged, who) -> None:  # type: ignore[no-untyped-def]
    from conftest import B

    lexicon = Lexicon.build([B("Acme", authorized_sellers=authorised)])
    flags = official_photo_reuse(listing, [MATCH], lexicon, RulesConfig.default())
    assert bool(flags) == flagged
    if flagged:
        [flag] = flags
        assert (flag.rule, flag.severity, flag.brand) == ("official_photo_reuse", Severity.REVIEW, "Acme")
        assert who in flag.message
        assert flag.evidence[0] == "official photo official/runner.png of Acme (score 0.93, by keypoints, 57 inliers)"


# -- scan and the hook -------------------------------------------------------------------------------

def test_scan_flags_a_copy_of_an_official_photo(tiny, catalog: Path, tmp_path: Path) -> None:
    det = Detector(ocr=FakeOcr(), logos=NoLogos(), config=CONFIG, catalog=catalog)
    copy = tmp_path / "copy.jpg"
    jpeg(crop(photo(7), 0.75)).save(copy)
    report = det.scan_image(copy)
    [flag] = [f for f in report.flags if f.rule == "official_photo_reuse"]
    assert flag.brand == "Acme" and "official/runner.png" in flag.evidence[0]
    assert report.decision.value == "review" and "official" in report.timings_ms
    assert report.stages["official"] == "official-photos.v1"
    mirrored = tmp_path / "mirrored.jpg"
    mirror(photo(7)).save(mirrored)
    assert any(f.rule == "official_photo_reuse" for f in det.scan_image(mirrored).flags)
    other = tmp_path / "other.jpg"
    photo(99).save(other)
    assert det.scan_image(other).flags == ()


def test_a_catalog_without_official_photos_builds_nothing(tiny, tmp_path: Path) -> None:
    det = Detector(ocr=FakeOcr(), logos=NoLogos(), config=CONFIG, catalog=write_catalog(tmp_path / "c", [{"name": "Acme"}]))
    photo(1).save(tmp_path / "a.jpg")
    report = det.scan_image(tmp_path / "a.jpg")
    assert det.official is None and tiny == [] and "official" not in report.timings_ms


def test_hook_flags_an_unauthorised_seller_only(tiny, catalog: Path) -> None:
    det = Detector(ocr=FakeOcr(), logos=NoLogos(), config=CONFIG, catalog=catalog)
    image = jpeg(crop(photo(7), 0.8), 60)
    import io

    buf = io.BytesIO()
    image.save(buf, "JPEG")
    listing = {"listing_id": "L-1", "title": "running shoe", "images": [buf.getvalue()]}
    bad = on_listing_upload({**listing, "seller_id": "s-42"}, detector=det)
    [flag] = [f for f in bad.flags if f.rule == "official_photo_reuse"]
    assert bad.decision.value == "review" and "seller 's-42'" in flag.message
    assert flag.evidence[0] == "image:images[0]" and any("official/runner.png" in e for e in flag.evidence)
    good = on_listing_upload({**listing, "seller_id": "acme-store"}, detector=det)
    assert not [f for f in good.flags if f.rule == "official_photo_reuse"]
