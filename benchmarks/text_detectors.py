"""Text detectors compared on real photos: brand words read and time per photo, CRAFT vs PP-OCRv4's DB.

    python benchmarks/text_detectors.py [--split tune|test|both] [--detectors craft,dbnet] [--detect-side 480]
                                        [--db UNCLIP_RATIO=2.0 ...]

The photos are the FlickrLogos-27 training photos of wordmark brands (research-only, read from ../shared),
split in two halves by the sha1 of the file name: ``tune`` (the DB settings and the detection size were
chosen there) and ``test`` (held out: looked at only to report). A photo counts when any span read matches
the brand's word (``ocr_bench.brand_reading``'s rule). Recognition is the same for both detectors (EasyOCR's
english_g2 on ONNX Runtime, boxes batched, second readings on), so the difference is the detector's.
``--db`` overrides a module constant of ``detector.ocr.dbnet`` for a tuning run (never on ``test``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocr_bench import DATA, WORDMARK_BRANDS, _norm


def split(half: str) -> list[tuple[Path, str]]:
    """The wordmark photos of one half (``tune`` or ``test``) with the word each shows."""
    with (DATA / "flickrlogos27-train" / "annotations.csv").open() as fh:
        rows = sorted({(a["filename"], a["brand"]) for a in csv.DictReader(fh) if a["brand"] in WORDMARK_BRANDS})
    return [(DATA / "flickrlogos27-train" / "images" / f, WORDMARK_BRANDS[b]) for f, b in rows
            if (hashlib.sha1(f.encode()).digest()[0] % 2 == 0) == (half == "tune")]


def measure(detector: str, side: int, photos: list[tuple[Path, str]]) -> tuple[int, float]:
    """Photos whose brand word was read, and mean ms per photo (OCR only, images already decoded)."""
    from PIL import Image
    from rapidfuzz.distance import Levenshtein

    from detector.ocr.onnx_models import EasyOcrOnnx

    ocr = EasyOcrOnnx(max_side=800, detect_side=side, text_detector=detector)
    ocr.load()
    images = [(Image.open(p).convert("RGB"), word) for p, word in photos]
    hits, t = 0, time.perf_counter()
    for img, word in images:
        spans = ocr.read(img)
        tokens = [_norm(w) for s in spans for w in re.split(r"\s+", s.text)] + [_norm(s.text) for s in spans]
        hits += any(Levenshtein.normalized_similarity(w, _norm(word)) >= 0.8 for w in tokens if w)
    return hits, (time.perf_counter() - t) * 1000 / len(images)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("tune", "test", "both"), default="both")
    ap.add_argument("--detectors", default="craft,dbnet")
    ap.add_argument("--detect-side", type=int, default=480)
    ap.add_argument("--db", action="append", default=[], metavar="NAME=VALUE", help="dbnet constant (tuning only)")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"needs the development data at {DATA}")
    if args.db:
        if args.split != "tune":
            sys.exit("--db overrides are for tuning: use them with --split tune only")
        import detector.ocr.dbnet as db

        for item in args.db:
            name, value = item.split("=", 1)
            setattr(db, name, type(getattr(db, name))(float(value)))
    halves = ("tune", "test") if args.split == "both" else (args.split,)
    print("| half | photos | detector | brand words read | ms/photo (OCR) |")
    print("|---|---:|---|---:|---:|")
    for half in halves:
        photos = split(half)
        for detector in args.detectors.split(","):
            hits, ms = measure(detector, args.detect_side, photos)
            print(f"| {half} | {len(photos)} | {detector} | {hits} ({hits / len(photos):.1%}) | {ms:.0f} |", flush=True)


if __name__ == "__main__":
    main()
