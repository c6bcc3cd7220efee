"""The real linking stack (MobileNetV2 ImageNet descriptor, pHash, SIFT check, shipped thresholds) on real
CC0 clothing photos from ../shared/data: edited copies link, two different photos of one kind of garment
do not. Marked ``real``; skipped with the reason when the shared data is absent."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from link_helpers import crop, jpeg, mirror, write_manifest
from PIL import Image, ImageDraw

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
