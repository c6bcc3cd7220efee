"""Speed of the whole scan against EasyOCR alone, on the same photos in the same run (issue 12).

    python benchmarks/speed.py [--photos 100] [--threads 2] [--parts scan,workers,hook,quality]

Photos: half CC0 clothing photos, half FlickrLogos-27 photos (research-only, read from ../shared, copied
to a temporary folder at longest side ≤ 640 px as JPEG q90 and deleted afterwards).

* ``scan``: images/s of ``easyocr.Reader.readtext`` alone (EasyOCR's defaults, the pinned weights,
  ``--threads`` torch threads) and of ``Detector().scan_paths`` with the default stack and the same
  thread count, both after their models are loaded; the ratio is the figure (machine load cancels);
  per-stage medians from the reports' ``timings_ms``.
* ``workers``: images/s of ``ScanPool(workers=2)`` (what ``detector scan --workers 2`` runs), one
  thread per worker, after the workers are ready, against the same readtext figure.
* ``hook``: ``on_listing_upload`` for a one-photo listing (a 640-px photo) at concurrency 1 and 4
  (threads of one process, as the service's pool calls it): p50 and p95.
* ``quality``: words read right on the ICDAR 2015 word sample and brand words read on FlickrLogos
  wordmark photos, for every OCR backend given with ``--backends`` (the ``ocr_bench.py`` measures).

Peak RSS (this process, and the largest worker) is printed at the end. Results also go to
``out/speed/<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import logo_data as data

OUT = Path(__file__).resolve().parents[1] / "out" / "speed"


def make_photos(n: int, folder: Path) -> list[Path]:
    """``n`` photos (half clothing, half FlickrLogos) written to ``folder`` at longest side ≤ 640."""
    from PIL import Image

    pos = data.positives()
    neg = [s for s in data.negatives() if "/clothing/" in s.key]
    half = n // 2
    picked = pos[:: max(1, len(pos) // half)][:half] + neg[:: max(1, len(neg) // (n - half))][: n - half]
    out = []
    for i, s in enumerate(picked):
        im = s.load().convert("RGB")
        if max(im.size) > 640:
            f = 640 / max(im.size)
            im = im.resize((round(im.width * f), round(im.height * f)), Image.Resampling.LANCZOS)
        path = folder / f"{i:04d}.jpg"
        im.save(path, "JPEG", quality=90)
        out.append(path)
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s) + 0.5) - 1))]


def readtext_rate(paths: list[Path], threads: int) -> float:
    """Images/s of bare ``easyocr.Reader.readtext`` (defaults) on ``paths``, reader already built."""
    from detector.ocr.easyocr import _build_reader, _quiet, weights_directory

    reader = _build_reader(weights_directory(), threads)
    with _quiet():
        reader.readtext(str(paths[0]))  # warm-up
        t = time.perf_counter()
        for p in paths:
            reader.readtext(str(p))
    return len(paths) / (time.perf_counter() - t)


def scan_rate(paths: list[Path], threads: int, overlap: bool | None = None) -> tuple[float, dict[str, float], list]:
    """Images/s of the default ``Detector`` in this process, per-stage median ms, and the reports."""
    import dataclasses

    from detector import Detector
    from detector.config import Config

    cfg = Config()
    cfg = dataclasses.replace(cfg, ocr=dataclasses.replace(cfg.ocr, threads=threads))
    if overlap is not None:
        cfg = dataclasses.replace(cfg, logos=dataclasses.replace(cfg.logos, overlap_ocr=overlap))
    det = Detector(config=cfg)
    det.warm_up()
    det.scan_image(paths[0])
    t = time.perf_counter()
    reports = list(det.scan_paths(paths))
    rate = len(paths) / (time.perf_counter() - t)
    stages = {k: round(statistics.median(r.timings_ms.get(k, 0.0) for r in reports), 1)
              for k in ("load", "ocr", "logos", "rules")}
    return rate, stages, reports


def workers_rate(paths: list[Path], workers: int) -> tuple[float, list]:
    from detector.parallel import ScanPool

    with ScanPool(workers=workers) as pool:
        pool.start()
        t = time.perf_counter()
        reports = list(pool.scan(paths))
        return len(paths) / (time.perf_counter() - t), reports


def hook_latency(photo: Path, levels: list[tuple[int, int]]) -> dict[str, dict[str, float]]:
    """p50/p95 seconds of ``on_listing_upload`` for a one-photo listing at each (concurrency, requests)."""
    from detector.hooks import default_detector, on_listing_upload

    default_detector().warm_up()
    listing = {"listing_id": "L-1", "seller_id": "s-1", "title": "cotton tee", "images": [str(photo)]}
    on_listing_upload(listing)
    out = {}
    for conc, n in levels:
        def one(_: int) -> float:
            t = time.perf_counter()
            on_listing_upload(listing)
            return time.perf_counter() - t

        with ThreadPoolExecutor(conc) as pool:
            times = list(pool.map(one, range(n)))
        out[f"concurrency {conc}"] = {"p50_s": round(statistics.median(times), 3), "p95_s": round(pct(times, 0.95), 3),
                                      "requests": n}
        print(f"  hook, concurrency {conc}: p50 {out[f'concurrency {conc}']['p50_s']} s, "
              f"p95 {out[f'concurrency {conc}']['p95_s']} s", file=sys.stderr)
    return out


def quality(backends: list[str], words: int, brand_photos: int) -> dict[str, dict[str, float]]:
    from ocr_bench import brand_reading, word_accuracy, wordmark_photos

    from detector.config import OcrConfig
    from detector.ocr import create_ocr

    out = {}
    photos = wordmark_photos(brand_photos, seed=0)
    for b in backends:
        def make(max_side: int = 800, spec: str = b):  # type: ignore[no-untyped-def]
            backend, _, detector = spec.partition(":")  # "easyocr:craft": a backend with a named text detector
            return create_ocr(OcrConfig(backend=backend, max_side=max_side, text_detector=detector or "dbnet"))

        acc, _, n = word_accuracy(make(), words, seed=0)
        brand = brand_reading(make, photos, [800])[800]
        out[b] = {"icdar_word_accuracy": round(acc, 4), "icdar_words": n, "brand_word_read": round(brand, 4),
                  "brand_photos": len(photos)}
        print(f"  {b}: ICDAR words {acc:.1%} of {n}; brand words {brand:.1%} of {len(photos)}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for readtext and the one-process scan")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scan-threads", type=int, default=0, help="ocr.threads of the one-process scan (default: --threads)")
    ap.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=None,
                    help="force logos.overlap_ocr on or off for the one-process scan (default: the shipped config)")
    ap.add_argument("--parts", default="scan,workers,hook,quality")
    ap.add_argument("--hook-levels", default="1:20,4:20", help="concurrency:requests,...")
    ap.add_argument("--backends", default="easyocr:craft,easyocr-onnx",
                    help="OCR backends for the quality part, each optionally with :TEXT_DETECTOR "
                         "(default: torch EasyOCR as shipped, with CRAFT, against the shipped stack)")
    ap.add_argument("--words", type=int, default=300)
    ap.add_argument("--brand-photos", type=int, default=60)
    args = ap.parse_args(argv)
    if not data.FLICKR.is_dir():
        raise SystemExit(f"shared data not found at {data.SHARED} (expected ../shared beside the repo root)")
    parts = set(args.parts.split(","))
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "loadavg_start": os.getloadavg()[0],
                 "cpus": os.cpu_count(), "photos": args.photos, "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photos(args.photos, Path(tmp))
        if parts & {"scan", "workers"}:
            res["readtext_img_s"] = round(readtext_rate(paths, args.threads), 3)
            print(f"readtext alone: {res['readtext_img_s']} img/s", file=sys.stderr)
        if "scan" in parts:
            rate, stages, reports = scan_rate(paths, args.scan_threads or args.threads, args.overlap)
            res["scan_img_s"], res["scan_stage_median_ms"] = round(rate, 3), stages
            res["scan_vs_readtext"] = round(rate / res["readtext_img_s"], 2)
            res["scan_decisions"] = {r.path: r.decision.value for r in reports}
            print(f"scan, 1 process: {rate:.3f} img/s = {res['scan_vs_readtext']}× readtext; stages {stages}",
                  file=sys.stderr)
        if "workers" in parts:
            rate, reports = workers_rate(paths, args.workers)
            res["workers_img_s"] = round(rate, 3)
            res["workers_vs_readtext"] = round(rate / res["readtext_img_s"], 2)
            if "scan_decisions" in res:
                res["workers_same_decisions"] = sum(res["scan_decisions"][r.path] == r.decision.value for r in reports)
            print(f"scan --workers {args.workers}: {rate:.3f} img/s = {res['workers_vs_readtext']}× readtext",
                  file=sys.stderr)
        if "hook" in parts:
            levels = [tuple(int(v) for v in lv.split(":")) for lv in args.hook_levels.split(",")]
            res["hook"] = hook_latency(paths[0], levels)  # type: ignore[arg-type]
    if "quality" in parts:
        res["quality"] = quality(args.backends.split(","), args.words, args.brand_photos)
    res.pop("scan_decisions", None)
    res["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    res["peak_rss_worker_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{time.strftime('%Y%m%d-%H%M')}.json").write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
