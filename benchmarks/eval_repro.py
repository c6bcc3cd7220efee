"""`detector eval` on the brand protocol's test half: does it reproduce benchmarks/brand_eval.py's figures?

BENCHMARKS.md, "What a user sees: the brand the whole detector names", measures the shipped detector on the
test half of the logo protocol (``logo_data.split``, seed 0): 64.4 % top-1 on FlickrLogos-27 photos of the 21
mapped brands, 1.2 % of logo-free photos (clothing and FlickrLogos crops) naming a brand. This writes the same
photos as a labels CSV (positives ``genuine`` with the catalog's brand name; negatives ``none``) and runs

    detector eval out/eval_repro/labels.csv --output out/eval_repro/eval [--workers N]

whose ``brand_top1`` and ``brand_fp_rate`` should match within a point. FlickrLogos is research-only: the CSV,
the links to its photos and the negative crops stay under out/ (ignored by git); nothing is copied into the repo.

    python benchmarks/eval_repro.py [--workers 1] [--limit N] [--config FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import logo_data as data
from brand_eval import catalog_names

OUT = Path(__file__).resolve().parents[1] / "out" / "eval_repro"


def write_labels(limit: int = 0) -> Path:
    """labels.csv for the test half; a photo annotated with two brands gets one link per brand."""
    names = catalog_names()
    _, pos = data.split(data.positives(), 0)
    _, neg = data.split(data.negatives(), 0)
    if limit:  # every k-th photo, as brand_eval.py --limit: the halves are grouped by brand
        pos, neg = pos[:: max(1, len(pos) // limit)][:limit], neg[:: max(1, len(neg) // limit)][:limit]
    rows = []
    for s in pos:
        link = OUT / "photos" / "pos" / s.brand / s.path.name  # type: ignore[operator]
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(s.path)
        rows.append((link.relative_to(OUT).as_posix(), names.get(s.brand, s.brand), "genuine"))  # type: ignore[arg-type]
    for s in neg:
        if s.crop:  # a logo-free part of a FlickrLogos photo: written once, lossless
            target = OUT / "photos" / "crops" / f"{s.path.stem}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                s.load().save(target)
        else:
            target = OUT / "photos" / "clothing" / s.path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.is_symlink():
                target.symlink_to(s.path)
        rows.append((target.relative_to(OUT).as_posix(), "", "none"))
    labels = OUT / "labels.csv"
    with labels.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "brand", "label"])
        w.writerows(rows)
    print(f"{labels}: {len(pos)} positives, {len(neg)} negatives", file=sys.stderr)
    return labels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", default="1")
    ap.add_argument("--limit", type=int, default=0, help="at most this many photos of each kind (quick runs)")
    ap.add_argument("--config", help="config for the scan (e.g. ocr.text_detector: craft); results kept apart")
    args = ap.parse_args(argv)
    if not data.FLICKR.is_dir():
        raise SystemExit(f"shared data not found at {data.SHARED} (expected ../shared beside the repo root)")
    labels = write_labels(args.limit)
    from detector.cli import main as detector

    out = OUT / ("eval-" + Path(args.config).stem if args.config else "eval")
    extra = ["--config", args.config] if args.config else []
    code = detector(["eval", str(labels), "--output", str(out), "--workers", args.workers, *extra])
    m = json.loads((out / "metrics.json").read_text())
    print(f"brand_top1 {m['brand_top1']['value']:.1%} of {m['brand_top1']['n']} (BENCHMARKS.md: 64.4 %); "
          f"brand_fp_rate {m['brand_fp_rate']['value']:.1%} of {m['brand_fp_rate']['n']} (BENCHMARKS.md: 1.2 %)")
    return code


if __name__ == "__main__":
    sys.exit(main())
