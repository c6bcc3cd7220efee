"""The real CNN logo stage on a real photo: a pasted mark is found where it was pasted; the bare photo is quiet.

Runs the default embedder (MobileNetV2 ImageNet weights from their pip package) on a CC0 clothing photo
from ../shared/data. Marked ``real``: ``pytest -m real``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import perspective
from PIL import Image, ImageFilter

from detector.types import Box

pytestmark = pytest.mark.real

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ICONS = SHARED / "logos" / "simple-icons"
# A plain black jumper on a white floor (no print, no logo), checked by eye.
PHOTO = SHARED / "photos" / "clothing" / "longsleeve" / "20e44d00-fc8c-46d9-9349-c931850ec57a.jpg"
BRANDS = {
    "Nike": "nike",
    "Puma": "puma",
    "Adidas": "adidas",
    "Apple": "apple",
    "Ferrari": "ferrari",
    "McDonalds": "mcdonalds",
    "Starbucks": "starbucks",
    "Vodafone": "vodafone",
}

if not ICONS.is_dir():
    pytest.skip(f"shared data not found at {SHARED} (expected ../shared beside the repo root)", allow_module_level=True)


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory):
    from detector.catalog import Brand, Catalog
    from detector.logos.cnn import LogoMatcher

    cat = Catalog(ICONS, tuple(Brand(n, marks=(f"{s}.png",)) for n, s in BRANDS.items()))
    return LogoMatcher.default(cat, cache_dir=tmp_path_factory.mktemp("cache"))


def _photo() -> Image.Image:
    with Image.open(PHOTO) as im:
        im = im.convert("RGB")
    im.thumbnail((640, 640))
    return im


def _pasted(photo: Image.Image) -> tuple[Image.Image, Box]:
    mark = Image.open(ICONS / "mcdonalds.png").convert("RGBA")
    side = int(0.3 * min(photo.size))
    mark.thumbnail((side, side))
    mark = perspective(mark, 0.25).filter(ImageFilter.GaussianBlur(1.2))
    x, y = int(0.4 * photo.width), int(0.3 * photo.height)
    pasted = photo.copy()
    pasted.paste(mark, (x, y), mark)
    return pasted, Box(x, y, x + mark.width, y + mark.height)


def test_pasted_mark_is_found_at_the_paste(matcher) -> None:
    photo = _photo()
    pasted, paste_box = _pasted(photo)
    found = matcher.find(pasted)
    assert found, "the pasted mark was not found"
    top = found[0]
    assert top.brand == "McDonalds" and top.mark == "mcdonalds.png"
    # Windows come from a stride-32 feature map, so boxes are coarse: IoU 0.3 is "at the right place".
    assert top.box.iou(paste_box) >= 0.3, f"match box {top.box} is not at the paste {paste_box}"
    assert all(m.brand != "McDonalds" for m in matcher.find(photo)), "the bare photo must not show the pasted brand"


@pytest.mark.xfail(
    strict=True,
    reason="known false positive of frozen ImageNet features: a plain black jumper matches the black Apple mark "
    "above the fitted threshold (BENCHMARKS.md, 'Logo matching (issue 3)'); remove this mark when it passes",
)
def test_bare_photo_reports_no_brand(matcher) -> None:
    assert matcher.find(_photo()) == []
