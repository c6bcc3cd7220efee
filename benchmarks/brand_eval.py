"""Which brand the whole detector names (text + logos + rules, default settings) on the logo protocol's test half.

The logo stages alone are measured by ``logo_keypoints.py`` and ``logo_stages.py``; a user sees the
report's ``brands``, which also come from brand names read by EasyOCR. This runs ``Detector()`` exactly
as shipped (bundled catalog of 168 brands, default thresholds, nothing fitted) on the test half of the
protocol (``logo_data.split``, seed 0):

* top-1: the report's most confident brand is the annotated FlickrLogos-27 brand (mapped to the catalog
  through ``coverage.csv``'s simple-icons slug); "any": the brand is among the report's brands;
* FP: a logo-free photo (clothing or FlickrLogos crop) whose report names any brand;
* by source: whether the right brand came from text, a logo, or both.

    python benchmarks/brand_eval.py --ocr-threads 1 [--logos fused] [--shots 3]

``--shots N`` is the few-shot protocol: the bundled catalog is copied to ``out/brand_eval/catalog-Nshot``
and the first box of N validation-half photos of each brand is enrolled as a photo mark with
``detector.enrol_photo.add_photo_mark`` (what ``detector catalog add --photo --box`` does); the test half
is scanned with that catalog. The copy holds research-only crops: it stays under ``out/`` (ignored by git).

Per-photo results are appended to ``out/brand_eval/results.jsonl``, so an interrupted run resumes.
Research-only FlickrLogos photos are read from ../shared and never copied.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import logo_data as data

OUT = Path(__file__).resolve().parents[1] / "out" / "brand_eval"


def catalog_names() -> dict[str, str]:
    """FlickrLogos brand -> bundled catalog brand name (through the mark's simple-icons slug)."""
    from detector.catalog import load_catalog

    cat = load_catalog()
    by_slug = {Path(m).stem: b.name for b, m in cat.iter_marks()}
    return {fl: by_slug[slug] for fl, slug in data.mapped_brands().items() if slug in by_slug}


def few_shot_catalog(shots: int, names: dict[str, str]) -> Path:
    """The bundled catalog plus ``shots`` validation photos per brand enrolled as photo marks (made once)."""
    import shutil

    from detector.catalog import default_catalog_path
    from detector.enrol_photo import add_photo_mark

    target = OUT / f"catalog-{shots}shot"
    if (target / "done").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(default_catalog_path(), target)
    val, _ = data.split(data.positives(), 0)
    taken: dict[str, int] = {}
    for s in val:
        if s.brand in names and taken.get(s.brand, 0) < shots:
            add_photo_mark(target, names[s.brand], s.path, box=tuple(s.boxes[0]))
            taken[s.brand] = taken.get(s.brand, 0) + 1
    (target / "done").write_text(json.dumps(taken) + "\n")
    print(f"few-shot catalog {target}: {sum(taken.values())} photo marks for {len(taken)} brands", file=sys.stderr)
    return target


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ocr-threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="at most this many photos of each kind (quick runs)")
    ap.add_argument("--shots", type=int, default=0, help="enrol N validation photos per brand first (few-shot)")
    ap.add_argument("--logos", default=None, help="logo stages (default: the shipped config); results kept apart")
    args = ap.parse_args(argv)
    if not data.FLICKR.is_dir():
        raise SystemExit(f"shared data not found at {data.SHARED} (expected ../shared beside the repo root)")

    from detector import Detector
    from detector.config import Config, LogosConfig, OcrConfig

    names = catalog_names()
    _, pos = data.split(data.positives(), 0)
    _, neg = data.split(data.negatives(), 0)
    if args.limit:
        # Every k-th photo: the halves are grouped by brand, so a prefix would be a few brands only.
        pos, neg = pos[:: max(1, len(pos) // args.limit)][: args.limit], neg[:: max(1, len(neg) // args.limit)][: args.limit]
    OUT.mkdir(parents=True, exist_ok=True)
    catalog = few_shot_catalog(args.shots, names) if args.shots else None
    suffix = "".join(f"-{p}" for p in (args.logos, f"{args.shots}shot" if args.shots else None) if p)
    results_file = OUT / f"results{suffix}.jsonl"
    done = {}
    if results_file.exists():
        for line in results_file.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            done[r["key"]] = r
    logos = LogosConfig(backend=args.logos) if args.logos else LogosConfig()
    det = Detector(config=Config(ocr=OcrConfig(threads=args.ocr_threads), logos=logos), catalog=catalog)
    print(f"stages: {det.stages}; {len(pos)} positives, {len(neg)} negatives; {len(done)} already done", file=sys.stderr)
    with results_file.open("a", encoding="utf-8") as fh:
        for i, s in enumerate(pos + neg):
            if s.key in done:
                continue
            image = s.load()
            t0 = time.perf_counter()
            report = det.scan_image(image, name=s.key)
            row = {
                "key": s.key,
                "ms": round((time.perf_counter() - t0) * 1000, 1),
                "brands": [[b.name, b.confidence, list(b.evidence)] for b in
                           sorted(report.brands, key=lambda b: -b.confidence)],
                "timings": report.timings_ms,
            }
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            done[s.key] = row
            if i % 25 == 0:
                print(f"{i}/{len(pos) + len(neg)}", file=sys.stderr, flush=True)

    def brands(key: str) -> list:
        return done[key]["brands"]

    top1 = sum(bool(brands(s.key)) and brands(s.key)[0][0] == names.get(s.brand) for s in pos)
    anyb = sum(any(b[0] == names.get(s.brand) for b in brands(s.key)) for s in pos)
    source: Counter = Counter()
    per: Counter = Counter()
    n_per: Counter = Counter(s.brand for s in pos)
    for s in pos:
        right = [b for b in brands(s.key) if b[0] == names.get(s.brand)]
        if right:
            ev = set(right[0][2])
            source["text and logo" if {"text", "logo"} <= ev else "logo" if "logo" in ev else "text"] += 1
            per[s.brand] += brands(s.key)[0][0] == names.get(s.brand)
    fp = [bool(brands(s.key)) for s in neg]
    fpc = [bool(brands(s.key)) for s in neg if "/clothing/" in s.key]
    fpf = [bool(brands(s.key)) for s in neg if "/flickr/" in s.key]
    ms = [done[s.key]["ms"] for s in pos + neg]
    print("| photos | top-1 brand right | right brand among those named | logo-free photos naming a brand "
          "(clothing / FlickrLogos crops) | median s/photo |")
    print("|---|---:|---:|---:|---:|")
    print(f"| {len(pos)} positives, {len(neg)} negatives | {top1 / len(pos):.1%} | {anyb / len(pos):.1%} | "
          f"{sum(fp) / len(fp):.1%} ({sum(fpc) / max(1, len(fpc)):.1%} / {sum(fpf) / max(1, len(fpf)):.1%}) | "
          f"{statistics.median(ms) / 1000:.2f} |")
    print("right brand found from: " + ", ".join(f"{k} {v}" for k, v in source.most_common()))
    print("top-1 per brand: " + ", ".join(f"{b} {per[b] / n:.0%}" for b, n in sorted(n_per.items())))
    print("brands named on logo-free photos: "
          + ", ".join(f"{b} {k}" for b, k in Counter(brands(s.key)[0][0] for s in neg if brands(s.key)).most_common(10)))


if __name__ == "__main__":
    main()
