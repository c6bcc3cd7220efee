"""EasyOCR on real images: time per photo by size cap, brand-word reading, ICDAR word accuracy.

Run from the repo root (needs ../shared/data):

    python benchmarks/ocr_bench.py --photos 24 --words 300

Three measurements, printed as Markdown for BENCHMARKS.md:
1. time per photo at each size cap (longest side the OCR sees): clothing and FlickrLogos photos
   resized to the cap, median and p90 over the photos;
2. brand words read at each cap: FlickrLogos photos of wordmark brands, a photo counts when
   any span matches the brand name (case-insensitive, Levenshtein ratio >= 0.8);
3. word accuracy on ICDAR 2015 word crops, recognition only (the crop is the detector's box),
   case-insensitive, ignoring punctuation.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import re
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
# Brands whose FlickrLogos mark is (mostly) a word, so OCR has something to read.
WORDMARK_BRANDS = {
    "Adidas": "adidas", "Cocacola": "coca-cola", "DHL": "dhl", "Fedex": "fedex", "Ford": "ford",
    "Google": "google", "HP": "hp", "Heineken": "heineken", "Intel": "intel", "Nbc": "nbc",
    "Pepsi": "pepsi", "Puma": "puma", "Sprite": "sprite", "Texaco": "texaco", "Vodafone": "vodafone",
    "Yahoo": "yahoo", "Mini": "mini", "Ferrari": "ferrari", "Starbucks": "starbucks",
}


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _resize_to(img: Image.Image, side: int) -> Image.Image:
    f = side / max(img.size)
    return img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))), Image.Resampling.LANCZOS)


def time_by_cap(ocr_cls, photos: list[Path], caps: list[int]) -> dict[int, list[float]]:  # type: ignore[no-untyped-def]
    out: dict[int, list[float]] = {}
    for cap in caps:
        ocr = ocr_cls(max_side=cap)
        times = []
        for p in photos:
            img = _resize_to(Image.open(p).convert("RGB"), cap)
            t = time.perf_counter()
            ocr.read(img)
            times.append((time.perf_counter() - t) * 1000)
        out[cap] = times
        print(f"  cap {cap}: median {statistics.median(times):.0f} ms", file=sys.stderr)
    return out


def brand_reading(ocr_cls, photos: list[tuple[Path, str]], caps: list[int]) -> dict[int, float]:  # type: ignore[no-untyped-def]
    from rapidfuzz.distance import Levenshtein

    out = {}
    for cap in caps:
        ocr = ocr_cls(max_side=cap)
        hits = 0
        for p, word in photos:
            img = _resize_to(Image.open(p).convert("RGB"), cap)
            spans = ocr.read(img)
            tokens = [_norm(t) for s in spans for t in re.split(r"\s+", s.text)] + [_norm(s.text) for s in spans]
            if any(Levenshtein.normalized_similarity(t, _norm(word)) >= 0.8 for t in tokens if t):
                hits += 1
        out[cap] = hits / len(photos)
        print(f"  cap {cap}: brand word read in {out[cap]:.1%}", file=sys.stderr)
    return out


def word_accuracy(ocr, n: int, seed: int) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    folder = DATA / "ocr" / "icdar2015-words-train"
    with (folder / "gt.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if _norm(r["text"])]
    rows = random.Random(seed).sample(rows, n)
    correct = 0
    times = []
    for r in rows:
        img = Image.open(folder / "images" / r["file"]).convert("RGB")
        t = time.perf_counter()
        # A crop holds one word: recognition only, as the crops are already the detector's output.
        span = ocr.read_word(img)
        times.append((time.perf_counter() - t) * 1000)
        correct += span is not None and _norm(span.text) == _norm(r["text"])
    return correct / n, statistics.median(times), n


def wordmark_photos(n: int, seed: int = 0) -> list[tuple[Path, str]]:
    """``n`` FlickrLogos photos of wordmark brands with the word each shows (what ``main`` samples)."""
    with (DATA / "flickrlogos27-train" / "annotations.csv").open() as fh:
        ann = list(csv.DictReader(fh))
    word_photos = sorted({(a["filename"], a["brand"]) for a in ann if a["brand"] in WORDMARK_BRANDS})
    return [
        (DATA / "flickrlogos27-train" / "images" / f, WORDMARK_BRANDS[b])
        for f, b in random.Random(seed).sample(word_photos, min(n, len(word_photos)))
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=24, help="photos per timing cap (half clothing, half FlickrLogos)")
    ap.add_argument("--brand-photos", type=int, default=60, help="FlickrLogos wordmark photos for brand reading")
    ap.add_argument("--words", type=int, default=300, help="ICDAR word crops for accuracy")
    ap.add_argument("--caps", default="480,640,800,1024,1280")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parts", default="timing,reading,words", help="which measurements to run (comma-separated)")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs the development data at {DATA}")

    from detector.ocr.easyocr import EasyOcr

    caps = [int(c) for c in args.caps.split(",")]
    rng = random.Random(args.seed)
    clothing = sorted((DATA / "photos" / "clothing").glob("*/*.jpg"))
    with (DATA / "flickrlogos27-train" / "annotations.csv").open() as fh:
        ann = list(csv.DictReader(fh))
    flickr_files = sorted({a["filename"] for a in ann})
    photos = rng.sample(clothing, args.photos // 2) + [
        DATA / "flickrlogos27-train" / "images" / f for f in rng.sample(flickr_files, args.photos - args.photos // 2)
    ]
    word_photos = sorted({(a["filename"], a["brand"]) for a in ann if a["brand"] in WORDMARK_BRANDS})
    word_photos = [
        (DATA / "flickrlogos27-train" / "images" / f, WORDMARK_BRANDS[b])
        for f, b in rng.sample(word_photos, min(args.brand_photos, len(word_photos)))
    ]

    parts = set(args.parts.split(","))
    EasyOcr().load()  # the reader is built once; keep its ~10 s out of the timings
    timings: dict[int, list[float]] = {}
    reading: dict[int, float] = {}
    if "timing" in parts:
        print("timing by cap", file=sys.stderr)
        timings = time_by_cap(EasyOcr, photos, caps)
    if "reading" in parts:
        print("brand reading by cap", file=sys.stderr)
        reading = brand_reading(EasyOcr, word_photos, caps)

    cpu = platform.processor() or platform.machine()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Measured {date.today().isoformat()} on {cpu}, {os.cpu_count()} cores, torch CPU; "
          f"load average at the end {load} (other work on the machine inflates times).\n")
    print(f"Command: `python benchmarks/ocr_bench.py --photos {args.photos} --brand-photos {args.brand_photos} "
          f"--words {args.words} --caps {args.caps} --parts {args.parts}`\n")
    if timings or reading:
        print("| size cap (longest side) | median ms/photo | p90 ms/photo | brand word read |")
        print("|---|---|---|---|")
        for cap in caps:
            t = sorted(timings.get(cap, []))
            med = f"{statistics.median(t):.0f}" if t else "-"
            p90 = f"{t[min(len(t) - 1, int(0.9 * len(t)))]:.0f}" if t else "-"
            read = f"{reading[cap]:.1%}" if cap in reading else "-"
            print(f"| {cap} | {med} | {p90} | {read} |")
        print(f"\n{len(photos)} photos per cap ({args.photos // 2} clothing, {args.photos - args.photos // 2} "
              f"FlickrLogos), each resized to the cap; brand reading over {len(word_photos)} FlickrLogos wordmark photos.\n")
    if "words" in parts:
        print("ICDAR word accuracy", file=sys.stderr)
        acc, word_ms, n = word_accuracy(EasyOcr(), args.words, args.seed)
        print(f"ICDAR 2015 word accuracy: **{acc:.1%}** of {n} crops (recognition only on the given crop, "
              f"case-insensitive, punctuation ignored), median {word_ms:.0f} ms/crop.")


if __name__ == "__main__":
    main()
