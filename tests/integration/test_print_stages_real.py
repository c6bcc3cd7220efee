"""The shape and keypoint logo stages on real CC0 clothing photos: a printed mark is found where it was printed; bare photos are quiet.

Uses the bundled demo catalog (131 brands with marks) and photos from ../shared/data.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import perspective
from PIL import Image, ImageFilter

from detector.types import Box

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CLOTHING = SHARED / "photos" / "clothing"
# Plain garments checked by eye (no print, no logo): a black jumper on a white floor, a white t-shirt.
JUMPER = CLOTHING / "longsleeve" / "20e44d00-fc8c-46d9-9349-c931850ec57a.jpg"
TSHIRT = CLOTHING / "t-shirt" / "e44b1445-0f43-4387-a8d6-e9c2d46de5ec.jpg"

if not CLOTHING.is_dir():
    pytest.skip(f"shared data not found at {SHARED} (expected ../shared beside the repo root)", allow_module_level=True)


@pytest.fixture(scope="module")
def stages() -> dict:
    from detector.catalog import load_catalog
    from detector.logos.keypoints import KeypointLogos
    from detector.logos.shapes import ShapeMatcher

    catalog = load_catalog()
    return {"shape": ShapeMatcher.from_catalog(catalog), "keypoints": KeypointLogos.from_catalog(catalog)}


def _photo(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im = im.convert("RGB")
    im.thumbnail((640, 640))
    return im


def _printed(photo: Image.Image, slug: str, ink: tuple[int, int, int]) -> tuple[Image.Image, Box]:
    from detector.catalog import load_catalog

    cat = load_catalog()
    mark = Image.open(cat.mark_path(f"marks/{slug}.png")).convert("RGBA")
    coloured = Image.new("RGBA", mark.size, (*ink, 255))
    coloured.putalpha(mark.getchannel("A"))
    side = int(0.3 * min(photo.size))
    coloured.thumbnail((side, side))
    # A mild tilt: at 0.2 plus a 6° turn the McDonald's arches score ~0.82, under the 0.87 threshold (the
    # composites benchmark measures how fast recall falls with distortion).
    coloured = perspective(coloured, 0.1).filter(ImageFilter.GaussianBlur(1.2))
    x, y = int(0.38 * photo.width), int(0.32 * photo.height)
    out = photo.copy()
    out.paste(coloured, (x, y), coloured)
    x0, y0, x1, y1 = coloured.getbbox()
    return out, Box(x + x0, y + y0, x + x1, y + y1)


# Plain silhouettes (the arches, the swoosh) are the shape stage's; detailed marks are the keypoint stage's.
@pytest.mark.parametrize(
    ("stage", "photo", "slug", "brand", "ink"),
    [
        ("shape", JUMPER, "mcdonalds", "McDonald's", (235, 235, 225)),
        ("shape", TSHIRT, "nike", "Nike", (25, 25, 30)),
        ("keypoints", TSHIRT, "ferrari", "Ferrari", (25, 25, 30)),
        ("keypoints", JUMPER, "starbucks", "Starbucks", (235, 235, 225)),
    ],
)
def test_printed_mark_is_found_at_the_print(stages, stage: str, photo: Path, slug: str, brand: str, ink) -> None:
    matcher = stages[stage]
    bare = _photo(photo)
    printed, box = _printed(bare, slug, ink)
    found = matcher.find(printed)
    assert found, "the printed mark was not found"
    assert found[0].brand == brand and found[0].mark == f"marks/{slug}.png"
    assert found[0].box.iou(box) >= 0.5, f"match box {found[0].box} is not at the print {box}"
    assert matcher.find(bare) == [], "the bare photo must report no brand"
