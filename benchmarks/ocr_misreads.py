"""Genuine brand names misread by the OCR: how many become false look-alike flags (issue 10, item 4).

    python benchmarks/ocr_misreads.py --photos 150      # needs ../shared/data (FlickrLogos-27 training photos)

Real photos of wordmark brands (FlickrLogos-27, research-only, used here for validation only) go
through the real EasyOCR stage (with its second reading of doubtful spans) and the rules with the
bundled demo catalog, which holds every one of these brands. Each look-alike flag naming the photo's
own brand is a false flag: the photo shows the genuine mark. Counted two ways, on the same OCR output:

* **shipped**: ``Rules.evaluate`` on all spans of the photo, as the detector runs it: a doubtful
  look-alike is dropped when another span, or the OCR's second reading, reads the name right;
* **without**: each span evaluated alone and without its second reading, which is what the rules did
  before (a doubtful look-alike was only capped at review).

Also counted: photos where some span reads the brand exactly, and look-alike flags naming another
brand (the same in both ways). Prints a Markdown section for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import random
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from knockoff_bench import machine
from ocr_bench import DATA, WORDMARK_BRANDS

from detector.rules.engine import RULE_OF

# FlickrLogos class → the demo catalog's brand name.
CATALOG_NAME = {
    "Adidas": "Adidas", "Cocacola": "Coca-Cola", "DHL": "DHL", "Fedex": "FedEx", "Ford": "Ford",
    "Google": "Google", "HP": "HP", "Heineken": "Heineken", "Intel": "Intel", "Nbc": "NBC", "Pepsi": "Pepsi",
    "Puma": "Puma", "Sprite": "Sprite", "Texaco": "Texaco", "Vodafone": "Vodafone", "Yahoo": "Yahoo",
    "Mini": "Mini", "Ferrari": "Ferrari", "Starbucks": "Starbucks",
}
LOOKALIKE_RULES = set(RULE_OF.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=150)
    ap.add_argument("--seed", type=int, default=10)
    args = ap.parse_args()

    from PIL import Image

    from detector.ocr.easyocr import EasyOcr
    from detector.rules import Rules

    with (DATA / "flickrlogos27-train" / "annotations.csv").open() as fh:
        pairs = sorted({(a["filename"], a["brand"]) for a in csv.DictReader(fh) if a["brand"] in WORDMARK_BRANDS})
    pairs = random.Random(args.seed).sample(pairs, min(args.photos, len(pairs)))
    ocr, rules = EasyOcr(threads=1), Rules()
    stats = {"photos": 0, "read_right": 0, "with_alternatives": 0, "shipped": 0, "without": 0, "other": 0}
    examples: list[str] = []
    t0 = time.perf_counter()
    for i, (name, cls) in enumerate(pairs, 1):
        brand = CATALOG_NAME[cls]
        spans = ocr.read(Image.open(DATA / "flickrlogos27-train" / "images" / name).convert("RGB"))
        stats["photos"] += 1
        stats["with_alternatives"] += any(s.alternatives for s in spans)
        shipped = rules.evaluate(spans, [])
        stats["read_right"] += any(t.brand == brand and t.relation is not None and t.relation.value in ("exact", "alias")
                                   for t in shipped.texts)
        own = [f for f in shipped.flags if f.rule in LOOKALIKE_RULES and f.brand == brand]
        stats["shipped"] += bool(own)
        stats["other"] += any(f.rule in LOOKALIKE_RULES and f.brand != brand for f in shipped.flags)
        alone = [f for s in spans for f in rules.evaluate([dataclasses.replace(s, alternatives=())], []).flags
                 if f.rule in LOOKALIKE_RULES and f.brand == brand]
        stats["without"] += bool(alone)
        if alone and not own and len(examples) < 8:
            examples.append(f"`{alone[0].evidence[0].split(' (')[0][5:]}` ({brand})")
        if i % 25 == 0:
            print(f"{i}/{len(pairs)} photos, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    n = stats["photos"]
    print("## OCR misreads of genuine names (issue 10)\n")
    print(f"Command: `python benchmarks/ocr_misreads.py --photos {args.photos}`. Date: {date.today()}. "
          f"Machine: {machine()}. {n} FlickrLogos-27 training photos of {len(CATALOG_NAME)} wordmark brands "
          "(validation only), real EasyOCR (one thread, second reading on), bundled demo catalog.\n")
    print("| photos | a span reads the brand exactly | a span has a second reading kept | photos with a false look-alike flag of their own brand: shipped | without the misreading rule | look-alike flags of another brand |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {n} | {stats['read_right']} | {stats['with_alternatives']} | **{stats['shipped']}** "
          f"({100 * stats['shipped'] / n:.1f} %) | {stats['without']} ({100 * stats['without'] / n:.1f} %) | {stats['other']} |")
    if examples:
        print("\nMisreadings no longer flagged: " + ", ".join(examples) + ".")
    print(f"\nRun time {time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
