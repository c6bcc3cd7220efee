"""ShapeMatcher on drawn marks: found where printed (tilted, blurred, on texture), quiet where absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import fabric
from PIL import Image, ImageDraw, ImageFilter

from detector.errors import CatalogError
from detector.logos import AnyLogos
from detector.logos.candidate import LogoCandidate
from detector.logos.shapes import ShapeMatcher, mark_mask
from detector.stages import LogoStage
from detector.types import Box, LogoMatch


def _bolt(size: int = 200) -> Image.Image:
    """A lightning-bolt mark, black on transparent (like a simple-icons render)."""
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    s = size / 100
    pts = [(55, 0), (20, 55), (45, 55), (30, 100), (80, 38), (55, 38), (75, 0)]
    ImageDraw.Draw(im).polygon([(x * s, y * s) for x, y in pts], fill=(17, 17, 17, 255))
    return im


def _ring(size: int = 200) -> Image.Image:
    """A thick ring with a bar across it."""
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.ellipse((10, 10, size - 10, size - 10), outline=(17, 17, 17, 255), width=size // 8)
    d.rectangle((10, size // 2 - size // 14, size - 10, size // 2 + size // 14), fill=(17, 17, 17, 255))
    return im


def _print(photo: Image.Image, mark: Image.Image, at: tuple[int, int], side: int, angle: float) -> tuple[Image.Image, Box]:
    m = mark.copy()
    m.thumbnail((side, side))
    m = m.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(1.0))
    out = photo.copy()
    out.paste(m, at, m)
    x0, y0, x1, y1 = m.getbbox()
    return out, Box(at[0] + x0, at[1] + y0, at[0] + x1, at[1] + y1)


@pytest.fixture(scope="module")
def matcher() -> ShapeMatcher:
    return ShapeMatcher([("Bolt", "marks/bolt.png", _bolt()), ("Ring", "marks/ring.png", _ring())])


def test_is_a_logo_stage(matcher: ShapeMatcher) -> None:
    assert isinstance(matcher, LogoStage)
    assert matcher.name == "logos.shape.v1"


@pytest.mark.parametrize(("brand", "mark", "angle"), [("Bolt", _bolt(), 8.0), ("Ring", _ring(), -6.0)])
def test_a_printed_mark_is_found_at_its_place(matcher: ShapeMatcher, brand: str, mark: Image.Image, angle: float) -> None:
    photo, box = _print(fabric(), mark, (230, 90), 150, angle)
    found = matcher.find(photo)
    assert found and isinstance(found[0], LogoMatch)
    assert found[0].brand == brand and found[0].mark == f"marks/{brand.lower()}.png"
    assert found[0].box.iou(box) >= 0.7
    assert 0.0 <= found[0].score <= 1.0


def test_the_bare_background_reports_nothing(matcher: ShapeMatcher) -> None:
    assert matcher.find(fabric()) == []


def test_light_print_on_dark_cloth_is_found(matcher: ShapeMatcher) -> None:
    dark = Image.fromarray((255 - np.asarray(fabric(1))) // 3)
    white_bolt = Image.new("RGBA", (200, 200), (240, 240, 240, 0))
    white_bolt.putalpha(_bolt().getchannel("A"))
    photo, box = _print(dark, white_bolt, (60, 60), 180, 0.0)
    found = matcher.find(photo)
    assert [m.brand for m in found][:1] == ["Bolt"] and found[0].box.iou(box) >= 0.7


def test_boxes_are_in_the_coordinates_of_the_given_image(matcher: ShapeMatcher) -> None:
    small, box = _print(fabric(), _bolt(), (230, 90), 150, 0.0)
    big = small.resize((small.width * 3, small.height * 3))  # above max_side: matched on a resized copy
    found = matcher.find(big)
    assert found and found[0].brand == "Bolt"
    scaled = Box(box.x1 * 3, box.y1 * 3, box.x2 * 3, box.y2 * 3)
    assert found[0].box.iou(scaled) >= 0.7


def test_a_long_bar_does_not_match_a_round_mark(matcher: ShapeMatcher) -> None:
    photo = fabric()
    ImageDraw.Draw(photo).rectangle((100, 150, 400, 190), fill=(20, 20, 20))
    assert matcher.find(photo) == []


def test_one_candidate_per_brand_and_threshold_applies(matcher: ShapeMatcher) -> None:
    photo, _ = _print(fabric(), _bolt(), (40, 40), 120, 0.0)
    photo, _ = _print(photo, _bolt(), (300, 150), 140, 5.0)
    cands = matcher.candidates(photo)
    assert len({c.brand for c in cands}) == len(cands)
    assert all(isinstance(c, LogoCandidate) and c.stage == "logos.shape.v1" and c.margin is not None for c in cands)
    strict = ShapeMatcher([("Bolt", "b", _bolt())], threshold=1.0)
    assert strict.candidates(photo) and strict.find(photo) == []


def test_threshold_must_be_a_correlation() -> None:
    with pytest.raises(ValueError, match="threshold"):
        ShapeMatcher([], threshold=1.5)


def test_no_marks_finds_nothing() -> None:
    assert ShapeMatcher([]).find(fabric()) == []


@pytest.mark.parametrize(
    ("image", "ink_pixel", "paper_pixel"),
    [
        (_bolt(), (65, 10), (5, 5)),  # transparent PNG: the alpha channel
        (Image.alpha_composite(Image.new("RGBA", (200, 200), "white"), _bolt()).convert("RGB"), (65, 10), (5, 5)),
        (Image.eval(Image.alpha_composite(Image.new("RGBA", (200, 200), "white"), _bolt()).convert("L"),
                    lambda v: 255 - v), (65, 10), (5, 5)),  # white mark on black paper
    ],
)
def test_mark_mask_finds_the_ink(image: Image.Image, ink_pixel: tuple[int, int], paper_pixel: tuple[int, int]) -> None:
    mask = mark_mask(image)
    assert mask[ink_pixel[1] * 2, ink_pixel[0] * 2] and not mask[paper_pixel[1], paper_pixel[0]]


def test_a_blank_mark_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="'Blank'.*no visible ink"):
        ShapeMatcher([("Blank", "marks/blank.png", Image.new("RGBA", (50, 50), (0, 0, 0, 0)))])


def test_from_catalog_reads_every_mark_and_names_unreadable_ones(tmp_path: Path) -> None:
    from detector.catalog import Brand, Catalog

    (tmp_path / "marks").mkdir()
    _bolt().save(tmp_path / "marks" / "bolt.png")
    (tmp_path / "marks" / "broken.png").write_bytes(b"not a png")
    good = Catalog(tmp_path, (Brand("Bolt", marks=("marks/bolt.png",)), Brand("Text only")))
    assert ShapeMatcher.from_catalog(good).refs.brands[0] == "Bolt"
    bad = Catalog(tmp_path, (Brand("Broken", marks=("marks/broken.png",)),))
    with pytest.raises(CatalogError, match="'Broken'.*marks/broken.png"):
        ShapeMatcher.from_catalog(bad)


class _Fixed:
    def __init__(self, name: str, matches: list[LogoMatch]) -> None:
        self.name, self.matches = name, matches

    def load(self) -> None:
        pass

    def find(self, image: Image.Image) -> list[LogoMatch]:
        return list(self.matches)


def test_any_logos_keeps_each_brand_once_at_its_best_score() -> None:
    box = Box(0, 0, 10, 10)
    a = _Fixed("a", [LogoMatch("Nike", 0.9, box, "n.png"), LogoMatch("Puma", 0.6, box, "p.png")])
    b = _Fixed("b", [LogoMatch("Puma", 0.8, box, "p2.png")])
    both = AnyLogos([a, b])
    assert isinstance(both, LogoStage) and both.name == "a+b"
    assert [(m.brand, m.score, m.mark) for m in both.find(Image.new("RGB", (4, 4)))] == [
        ("Nike", 0.9, "n.png"),
        ("Puma", 0.8, "p2.png"),
    ]
    with pytest.raises(ValueError):
        AnyLogos([])


def test_a_photo_enrolled_as_a_mark_is_left_to_the_other_stages() -> None:
    # A product photo has no silhouette; a flat logo saved as an opaque JPEG-like image still has one.
    rng = np.random.default_rng(3)
    tones = np.linspace(0, 255, 200)[None, :, None] + rng.normal(0, 20, (150, 200, 3))
    photo = Image.fromarray(np.clip(tones, 0, 255).astype(np.uint8))  # a photo's full tonal range
    flat = Image.alpha_composite(Image.new("RGBA", (200, 200), "white"), _bolt()).convert("RGB")
    matcher = ShapeMatcher([("Photo", "photos/p.jpg", photo), ("Bolt", "marks/bolt.jpg", flat)])
    assert set(matcher.refs.brands) == {"Bolt"}
    printed, _ = _print(fabric(), _bolt(), (230, 90), 150, 0.0)
    assert [m.brand for m in matcher.find(printed)] == ["Bolt"]
