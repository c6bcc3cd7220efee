"""Data of the logo validation protocol (issue 3): references, positives, negatives, splits.

Everything is read from ../shared/data (research-only FlickrLogos-27 photos are never copied).
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LOGOS = SHARED / "logos"
FLICKR = SHARED / "flickrlogos27-train"
CLOTHING = SHARED / "photos" / "clothing"
# Clothing photos checked by eye (contact sheets of the sampled ones) and left out for showing a
# legible brand logo or wordmark; see BENCHMARKS.md "Logo matching (issue 3)".
EXCLUDED_FILE = Path(__file__).with_name("logo_negatives_excluded.txt")


@dataclass
class Sample:
    """One evaluation photo: a positive (brand + boxes) or a negative (brand None)."""

    key: str
    path: Path
    brand: str | None = None
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    crop: tuple[int, int, int, int] | None = None  # negatives cut from a FlickrLogos photo

    def load(self) -> Image.Image:
        with Image.open(self.path) as im:
            im = im.convert("RGB")
        return im.crop(self.crop) if self.crop else im


def mapped_brands() -> dict[str, str]:
    """FlickrLogos brand -> simple-icons slug, for the 21 brands that have a mark."""
    with (LOGOS / "coverage.csv").open(newline="", encoding="utf-8") as fh:
        return {r["brand"]: r["slug"] for r in csv.DictReader(fh) if r["slug"]}


def flickr_boxes() -> dict[tuple[str, str], list[tuple[float, float, float, float]]]:
    out: dict[tuple[str, str], list] = defaultdict(list)
    with (FLICKR / "annotations.csv").open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out[(r["filename"], r["brand"])].append(tuple(float(r[k]) for k in ("x1", "y1", "x2", "y2")))
    return dict(out)


def positives() -> list[Sample]:
    brands = mapped_brands()
    return [
        Sample(key=f"pos/{fn}/{b}", path=FLICKR / "images" / fn, brand=b, boxes=bx)
        for (fn, b), bx in sorted(flickr_boxes().items())
        if b in brands
    ]


def _free_crop(size: tuple[int, int], boxes: list, min_side: int = 100) -> tuple[int, int, int, int] | None:
    """The largest axis-aligned rectangle of the photo that touches no annotated box (coarse search)."""
    w, h = size
    xs = sorted({0, w, *[int(b[0]) for b in boxes], *[int(b[2]) for b in boxes]})
    ys = sorted({0, h, *[int(b[1]) for b in boxes], *[int(b[3]) for b in boxes]})
    best, best_area = None, 0
    for i, x1 in enumerate(xs):
        for x2 in xs[i + 1 :]:
            for j, y1 in enumerate(ys):
                for y2 in ys[j + 1 :]:
                    if (x2 - x1) < min_side or (y2 - y1) < min_side:
                        continue
                    area = (x2 - x1) * (y2 - y1)
                    if area <= best_area:
                        continue
                    # a margin of 8 px keeps box borders (and slightly loose annotations) out
                    if any(not (x2 <= b[0] - 8 or x1 >= b[2] + 8 or y2 <= b[1] - 8 or y1 >= b[3] + 8) for b in boxes):
                        continue
                    best, best_area = (x1, y1, x2, y2), area
    return best


def negatives(n_clothing: int = 300, n_flickr: int = 150, seed: int = 0) -> list[Sample]:
    rng = random.Random(seed)
    excluded = set()
    if EXCLUDED_FILE.exists():
        excluded = {ln.split("#")[0].strip() for ln in EXCLUDED_FILE.read_text().splitlines()} - {""}
    with (CLOTHING / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        files = sorted(r["file"] for r in csv.DictReader(fh))
    rng.shuffle(files)
    clothing = [Sample(key=f"neg/clothing/{f}", path=CLOTHING / f) for f in files[:n_clothing]]
    by_file: dict[str, list] = defaultdict(list)
    for (fn, _b), bx in flickr_boxes().items():
        by_file[fn].extend(bx)
    names = sorted(by_file)
    rng.shuffle(names)
    crops = []
    # The free-rectangle search is slow (~30 s for all photos); its result only depends on the annotations.
    cache_file = Path(__file__).resolve().parents[1] / "out" / "logo_cache" / "free_crops.json"
    cache: dict = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    for fn in names:
        if len(crops) >= n_flickr:
            break
        if fn not in cache:
            with Image.open(FLICKR / "images" / fn) as im:
                size = im.size
            cache[fn] = _free_crop(size, by_file[fn])
        c = cache[fn]
        if c is not None:
            crops.append(Sample(key=f"neg/flickr/{fn}", path=FLICKR / "images" / fn, crop=tuple(c)))
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps(cache))
    # The sample is drawn first and filtered after, so the by-eye check covers exactly what is used.
    return [s for s in clothing + crops if s.key.split("/", 2)[2] not in excluded]


def split(samples: list[Sample], seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """Half validation, half test; positives split per brand so every brand is in both halves."""
    rng = random.Random(seed)
    groups: dict[str | None, list[Sample]] = defaultdict(list)
    for s in samples:
        groups[s.brand].append(s)
    val, test = [], []
    for key in sorted(groups, key=lambda k: (k is None, k or "")):
        g = sorted(groups[key], key=lambda s: s.key)
        rng.shuffle(g)
        half = len(g) // 2
        val += g[:half]
        test += g[half:]
    return val, test
