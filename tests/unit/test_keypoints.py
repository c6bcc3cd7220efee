"""KeypointLogos on drawn marks: found where printed (tilted, blurred, on texture), quiet where absent; cache."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import fabric, perspective
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from detector.errors import CatalogError
from detector.logos import keypoint_matcher
from detector.logos.candidate import LogoCandidate
from detector.logos.keypoints import KeypointLogos
from detector.stages import LogoStage
from detector.types import Box, LogoMatch


def _wordmark(text: str = "ZORBIX", size: int = 90) -> Image.Image:
    """A black wordmark with a star on a transparent ground: corners and strokes SIFT can hold on to."""
    font = ImageFont.load_default(size=size)
    w = int(font.getlength(text)) + size + 20
    im = Image.new("RGBA", (w, size + 30), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.text((10, 5), text, font=font, fill=(17, 17, 17, 255))
    cx, cy, r = w - size // 2 - 5, (size + 30) // 2, size // 2 - 4
    star = [(cx + (r if i % 2 == 0 else r / 2.5) * np.sin(i * np.pi / 5), cy - (r if i % 2 == 0 else r / 2.5) * np.cos(i * np.pi / 5))
            for i in range(10)]
    d.polygon(star, fill=(17, 17, 17, 255))
    return im


def _printed(mark: Image.Image, tilt: float = 0.15, at: tuple[int, int] = (150, 170)) -> tuple[Image.Image, Box]:
    m = mark.copy()
    m.thumbnail((360, 360))
    m = perspective(m, tilt).filter(ImageFilter.GaussianBlur(0.8))
    photo = fabric(size=(640, 480))
    photo.paste(m, at, m)
    x0, y0, x1, y1 = m.getbbox()
    return photo, Box(at[0] + x0, at[1] + y0, at[0] + x1, at[1] + y1)


@pytest.fixture(scope="module")
def stage() -> KeypointLogos:
    return KeypointLogos([("Zorbix", "marks/zorbix.png", _wordmark()), ("Quaffle", "marks/quaffle.png", _wordmark("QUAFFLE"))])


def test_is_a_logo_stage(stage: KeypointLogos) -> None:
    assert isinstance(stage, LogoStage) and stage.name == "logos.keypoints.v1"


def test_a_printed_mark_is_found_at_its_place(stage: KeypointLogos) -> None:
    photo, box = _printed(_wordmark())
    found = stage.find(photo)
    assert found and isinstance(found[0], LogoMatch)
    assert (found[0].brand, found[0].mark) == ("Zorbix", "marks/zorbix.png")
    assert found[0].box.iou(box) >= 0.6
    assert 0.5 <= found[0].score < 1.0  # inliers / (inliers + min_inliers), at or above the threshold


def test_the_bare_background_reports_nothing(stage: KeypointLogos) -> None:
    assert stage.find(fabric(size=(640, 480))) == []


def test_light_print_on_dark_cloth_is_found(stage: KeypointLogos) -> None:
    white = Image.new("RGBA", _wordmark("QUAFFLE").size, (240, 240, 240, 0))
    white.putalpha(_wordmark("QUAFFLE").getchannel("A"))
    m = perspective(white, 0.1)
    photo = Image.fromarray((255 - np.asarray(fabric(2, (640, 480)))) // 3)
    photo.paste(m, (40, 120), m)
    assert [f.brand for f in stage.find(photo)][:1] == ["Quaffle"]


def test_min_inliers_is_the_threshold(stage: KeypointLogos) -> None:
    photo, _ = _printed(_wordmark())
    [best] = [c for c in stage.candidates(photo) if c.brand == "Zorbix"]
    assert isinstance(best, LogoCandidate) and best.stage == "logos.keypoints.v1" and best.inliers is not None
    assert best.score == round(best.inliers / (best.inliers + stage.min_inliers), 4)
    strict = KeypointLogos([("Zorbix", "z", _wordmark())], min_inliers=best.inliers + 1000)
    assert strict.candidates(photo) and strict.find(photo) == []
    with pytest.raises(ValueError, match="min_inliers"):
        KeypointLogos(min_inliers=2)


def test_an_opaque_mark_is_enrolled_as_a_photo() -> None:
    # A rights-holder's product photo of the logo: no transparency, the logo on its real background.
    crop, _ = _printed(_wordmark(), tilt=0.0, at=(20, 20))
    # Light falling off across the product: a photo's spread of tones, not a two-tone logo file.
    shade = np.linspace(0.4, 1.0, 420)[None, :, None]
    crop = Image.fromarray((np.asarray(crop.crop((0, 0, 420, 200)), dtype=float) * shade).astype(np.uint8))
    stage = KeypointLogos([("Zorbix", "photos/zorbix-1.jpg", crop)])
    photo, _ = _printed(_wordmark(), tilt=0.1, at=(200, 240))
    found = stage.find(photo)
    # A photo reference's outline is the whole crop: the box is where that crop's content lies.
    crop_box = Box(200 - 20, 240 - 20, 200 - 20 + 420, 240 - 20 + 200)
    assert found and found[0].mark == "photos/zorbix-1.jpg" and found[0].box.iou(crop_box) >= 0.6


def test_an_opaque_flat_logo_is_matched_from_its_ink() -> None:
    # A logo file without transparency (black on white) is a flat mark, not a photo: its outline is the ink's.
    flat = Image.alpha_composite(Image.new("RGBA", _wordmark().size, "white"), _wordmark()).convert("RGB")
    stage = KeypointLogos([("Zorbix", "marks/zorbix.jpg", flat)])
    photo, box = _printed(_wordmark())
    found = stage.find(photo)
    assert found and found[0].brand == "Zorbix" and found[0].box.iou(box) >= 0.6


def test_a_fully_transparent_mark_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="'Ghost'.*transparent"):
        KeypointLogos([("Ghost", "marks/ghost.png", Image.new("RGBA", (80, 40), (0, 0, 0, 0)))])


def test_a_large_table_is_searched_through_an_inverted_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keypoint_matcher, "IVF_MIN_DESCRIPTORS", 50)
    stage = KeypointLogos([("Zorbix", "z", _wordmark()), ("Quaffle", "q", _wordmark("QUAFFLE"))])
    photo, box = _printed(_wordmark())
    found = stage.find(photo)
    assert type(stage.matcher._index).__name__ == "IndexIVFFlat"
    assert found and found[0].brand == "Zorbix" and found[0].box.iou(box) >= 0.6


def _catalog(root: Path):
    from detector.catalog import Brand, Catalog

    (root / "marks").mkdir(parents=True, exist_ok=True)
    _wordmark().save(root / "marks" / "zorbix.png")
    return Catalog(root, (Brand("Zorbix", marks=("marks/zorbix.png",)), Brand("Text only")))


def test_from_catalog_caches_the_keypoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cat = _catalog(tmp_path / "cat")
    first = KeypointLogos.from_catalog(cat, cache_dir=tmp_path / "cache")
    [cached] = (tmp_path / "cache" / "keypoints").glob("*.npz")
    photo, _ = _printed(_wordmark())

    def no_describing(*args, **kwargs):
        raise AssertionError("the cached keypoints should have been loaded")

    monkeypatch.setattr(KeypointLogos, "add", no_describing)
    second = KeypointLogos.from_catalog(cat, cache_dir=tmp_path / "cache")
    assert second.matcher.n_descriptors == first.matcher.n_descriptors
    assert [(m.brand, m.score, m.box) for m in second.find(photo)] == [(m.brand, m.score, m.box) for m in first.find(photo)]
    assert cached.is_file()


def test_a_damaged_cache_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cat = _catalog(tmp_path / "cat")
    KeypointLogos.from_catalog(cat, cache_dir=tmp_path / "cache")
    [cached] = (tmp_path / "cache" / "keypoints").glob("*.npz")
    cached.write_bytes(b"not an npz")
    with caplog.at_level(logging.WARNING):
        stage = KeypointLogos.from_catalog(cat, cache_dir=tmp_path / "cache")
    assert "damaged keypoint cache" in caplog.text
    assert KeypointLogos.from_catalog(cat, cache_dir=tmp_path / "cache").matcher.n_descriptors > 0  # rewritten
    assert stage.find(_printed(_wordmark())[0])[0].brand == "Zorbix"


def test_from_catalog_names_an_unreadable_mark(tmp_path: Path) -> None:
    from detector.catalog import Brand, Catalog

    (tmp_path / "marks").mkdir()
    (tmp_path / "marks" / "broken.png").write_bytes(b"not a png")
    cat = Catalog(tmp_path, (Brand("Broken", marks=("marks/broken.png",)),))
    with pytest.raises(CatalogError, match="'Broken'.*marks/broken.png"):
        KeypointLogos.from_catalog(cat, cache_dir=tmp_path / "cache")


def test_enrolling_a_brand_describes_only_its_marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from detector.enrol import add_brand, init_catalog

    first_mark = tmp_path / "zorbix.png"
    _wordmark().save(first_mark)
    init_catalog(tmp_path / "cat")
    cat = add_brand(tmp_path / "cat", "Zorbix", marks=[str(first_mark)])
    KeypointLogos.from_catalog(cat, cache_dir=tmp_path / "cache")
    new_mark = tmp_path / "quaffle.png"
    _wordmark("QUAFFLE").save(new_mark)
    cat = add_brand(tmp_path / "cat", "Quaffle", marks=[str(new_mark)])
    described: list[str] = []
    real_add = KeypointLogos.add

    def counting_add(self, brand, name, image):  # type: ignore[no-untyped-def]
        described.append(brand)
        real_add(self, brand, name, image)

    monkeypatch.setattr(KeypointLogos, "add", counting_add)
    stage = KeypointLogos.from_catalog(cat, cache_dir=tmp_path / "cache")
    assert described == ["Quaffle"]
    photo, _ = _printed(_wordmark("QUAFFLE"))
    assert stage.find(photo)[0].brand == "Quaffle"


def test_warm_up_builds_the_search_index_before_the_first_photo() -> None:
    from detector.logos import AnyLogos

    stage = KeypointLogos([("Zorbix", "z", _wordmark())])
    assert stage.matcher._index is None
    AnyLogos([stage]).load()
    assert stage.matcher._index is not None
    KeypointLogos().load()  # no references: nothing to build, no error


def test_a_long_first_description_is_announced_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from detector.logos import keypoints

    monkeypatch.setattr(keypoints, "SLOW_NOTICE_MARKS", 1)
    cat = _catalog(tmp_path / "cat")
    with caplog.at_level(logging.WARNING):
        KeypointLogos.from_catalog(cat, cache_dir=tmp_path / "cache")
        KeypointLogos.from_catalog(cat, cache_dir=tmp_path / "cache")  # cached: nothing to announce
    assert caplog.text.count("describing 1 catalog marks for the keypoint stage") == 1
