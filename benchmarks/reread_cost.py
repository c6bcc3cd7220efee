"""What the second OCR reading costs, with and without the filter that keeps it to spans a stage could act on.

    python benchmarks/reread_cost.py [--photos 60]

The photos of ``speed.py`` (half CC0 clothing, half FlickrLogos-27, longest side ≤ 640). The default
``Detector`` scans them twice, one thread, in one process: once as shipped (``ocr.reread_if`` set by
``Detector`` from the rules' and the logo stage's ``could_matter``) and once with every doubtful span
re-read. Printed: second-reading calls, the CPU seconds spent in them and in OCR as a whole, and whether
the two scans' decisions and brands are equal (the filter must change no decision).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import make_photos


def scan(det: object, paths: list[Path]) -> dict:
    """Scan ``paths``; count and time the second readings (CPU seconds, one thread)."""
    ocr = det.ocr  # type: ignore[attr-defined]
    inner = ocr._second_reading
    calls, spent = [0], [0.0]

    def counted(image, span):  # type: ignore[no-untyped-def]
        calls[0] += 1
        c = time.process_time()
        try:
            return inner(image, span)
        finally:
            spent[0] += time.process_time() - c

    ocr._second_reading = counted
    try:
        c0 = time.process_time()
        reports = list(det.scan_paths(paths))  # type: ignore[attr-defined]
        total = time.process_time() - c0
    finally:
        ocr._second_reading = inner
    ocr_ms = sum(r.timings_ms.get("ocr", 0.0) for r in reports)
    return {"calls": calls[0], "reread_cpu_s": round(spent[0], 2), "scan_cpu_s": round(total, 1),
            "ocr_wall_s": round(ocr_ms / 1000, 1), "reread_share_of_ocr": round(spent[0] / (ocr_ms / 1000), 3),
            "decisions": [(str(r.decision), [b.name for b in r.brands], [f.rule for f in r.flags]) for r in reports]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=60)
    args = ap.parse_args()

    import dataclasses

    import torch

    from detector import Detector
    from detector.config import Config

    torch.set_num_threads(1)
    cfg = Config()
    det = Detector(config=dataclasses.replace(cfg, ocr=dataclasses.replace(cfg.ocr, threads=1)))
    det.warm_up()
    shipped_filter = det.ocr.reread_if
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photos(args.photos, Path(tmp))
        det.scan_image(paths[0])
        filtered = scan(det, paths)
        det.ocr.reread_if = lambda text: True
        every = scan(det, paths)
        det.ocr.reread_if = shipped_filter
    same = filtered.pop("decisions") == every.pop("decisions")
    print(json.dumps({"photos": args.photos, "filtered": filtered, "every_doubtful_span": every,
                      "decisions_and_brands_equal": same}, indent=1))


if __name__ == "__main__":
    main()
