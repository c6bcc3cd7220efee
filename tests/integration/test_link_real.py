"""The real linking stack (MobileNetV2 ImageNet descriptor, pHash, SIFT check, shipped thresholds) on real
CC0 clothing photos from ../shared/data: edited copies link, two different photos of one kind of garment
do not. Marked ``real``; skipped with the reason when the shared data is absent."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from link_helpers import crop, jpeg, mirror, write_manifest
from PIL import Image, ImageDraw

from detector.config import LinkConfig
from detector.link import link_manifest

pytestmark = pytest.mark.real


def _hoodies(shared_data: Path, n: int) -> list[Path]:
    root = shared_data / "photos" / "clothing"
    with (root / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["class"] == "outwear"]
    return [root / r["file"] for r in sorted(rows, key=lambda r: r["file"])[:n]]


def test_real_copies_link_and_different_garments_do_not(shared_data: Path, tmp_path: Path) -> None:
    a, b, c = (Image.open(p).convert("RGB") for p in _hoodies(shared_data, 3))
    captioned = a.copy()
    ImageDraw.Draw(captioned).rectangle((0, 0, a.width, a.height // 6), fill=(200, 30, 30))
    photos = {"a.jpg": a, "a-crop.jpg": jpeg(crop(a, 0.78), 40), "a-mirror.jpg": mirror(a),
              "a-caption.jpg": captioned, "b.jpg": b, "c.jpg": c}
    (tmp_path / "p").mkdir()
    for name, im in photos.items():
        im.save(tmp_path / "p" / name, quality=90)
    rows = [(f"L{i}", f"s{i}", f"p/{name}") for i, name in enumerate(photos)]
    result = link_manifest(write_manifest(tmp_path, rows))
    assert [c.sellers for c in result.clusters] == [("s0", "s1", "s2", "s3")]
    kinds = {lk.evidence["by"] for lk in result.clusters[0].links}
    assert kinds <= {"phash", "cnn", "keypoints"} and "phash" in kinds  # the mirror copy: near-exact


def _watermarked(im: Image.Image, text: str = "SHOP4YOU") -> Image.Image:
    """A shop name tiled diagonally over the whole photo (alpha 150 of 255), as resellers brand theirs."""
    from PIL import ImageFont

    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", max(12, im.width // 10))
    except OSError:
        font = ImageFont.load_default(max(12, im.width // 10))
    for y in range(-im.height, 2 * im.height, max(1, im.height // 5)):
        for x in range(-im.width, 2 * im.width, max(1, im.width // 2)):
            draw.text((x, y), text, font=font, fill=(255, 255, 255, 150))
    layer = layer.rotate(30, resample=Image.Resampling.BILINEAR)
    return Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB")


def test_watermarked_copies_link_to_their_originals_and_not_to_each_other(shared_data: Path, tmp_path: Path) -> None:
    # One shop's watermark over three different garments: the overlay pulls the three copies together for the
    # CNN and away from their originals (the third garment's copy: cosine 0.77, 8 hash bits, 65 inliers), so
    # that copy must be found through its hash (link.phash_candidate) and confirmed by keypoints; no copy may
    # link to another garment.
    hoodies = _hoodies(shared_data, 12)
    originals = [Image.open(p).convert("RGB") for p in (hoodies[0], hoodies[2], hoodies[11])]
    (tmp_path / "p").mkdir()
    rows = []
    for i, im in enumerate(originals):
        im.save(tmp_path / "p" / f"{i}.jpg", quality=90)
        _watermarked(im).save(tmp_path / "p" / f"{i}-wm.jpg", quality=90)
        rows += [(f"L{i}", f"orig{i}", f"p/{i}.jpg"), (f"L{i}w", f"copy{i}", f"p/{i}-wm.jpg")]
    result = link_manifest(write_manifest(tmp_path, rows))
    assert sorted(c.sellers for c in result.clusters) == [(f"copy{i}", f"orig{i}") for i in range(3)]
    by_hash_candidate = [lk for c in result.clusters for lk in c.links
                         if lk.evidence["by"] == "keypoints" and lk.score < LinkConfig().cnn_candidate]
    assert [sorted((lk.a.image, lk.b.image)) for lk in by_hash_candidate] == [["p/2-wm.jpg", "p/2.jpg"]]
