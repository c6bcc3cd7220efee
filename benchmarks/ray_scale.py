"""Ray engine scale-out: photos/s of 1 actor vs 2 actors (1 thread each) on the same photos, same run.

    nice -n 19 python benchmarks/ray_scale.py PHOTOS_DIR [--n 200] [--config FILE] [--no-plain]

The first ``--n`` images under PHOTOS_DIR (sorted, cycled with new names when there are fewer) are linked
into ``out/ray_scale/photos``; one local Ray (loopback, ``num_cpus`` = 2) runs ``detector.batch.scan_batch``
with 1 actor, then with 2 actors, each into its own fresh output. Throughput is the steady state: the
time from the first record any actor writes to the last, so model loading (once per actor) is left
out; ``(n - 1) / that``. Then the plain single-process scan (``Detector.scan_paths``) of the same photos
is compared record by record with both Ray outputs: decisions and brands, and whole records apart from
``timings_ms``. Results: stdout and ``out/ray_scale/result.json``.

The issue's bar: on a 2-core machine, 2 actors >= 1.7x the photos/s of 1 actor, and equal decisions and
brands on examples/ and on 200 photos. Run it on a quiet machine: other load on the cores skews the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

OUT = Path("out/ray_scale")


def link_photos(src: Path, n: int, dest: Path) -> list[Path]:
    from detector.io import FolderWalk

    found = sorted(FolderWalk([src]))
    if not found:
        raise SystemExit(f"no images under {src}")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    out = []
    for i in range(n):
        p = found[i % len(found)]
        target = dest / f"{i:05d}-{p.name}"
        os.symlink(p.resolve(), target)
        out.append(target)
    return out


def timed_scan(photos: Path, output: Path, actors: int, config: Any) -> dict[str, Any]:
    """One ``scan_batch``; first and last record times seen in its part files."""
    from detector.batch import scan_batch

    parts = output.with_name(output.name + ".parts")
    seen: list[tuple[float, int]] = []
    stop = threading.Event()

    def watch() -> None:
        last = 0
        while not stop.is_set():
            count = sum(len(p.read_bytes().splitlines()) for p in parts.glob("part-*.jsonl")) if parts.is_dir() else 0
            if count > last:  # the merge deletes the parts at the end: counts only grow before that
                seen.append((time.monotonic(), count))
                last = count
            time.sleep(0.05)

    output.unlink(missing_ok=True)
    shutil.rmtree(parts, ignore_errors=True)
    watcher = threading.Thread(target=watch, daemon=True)
    started = time.monotonic()
    watcher.start()
    summary = scan_batch([photos], output, actors=actors, cpus_per_actor=1, config=config, progress=False)
    stop.set()
    watcher.join()
    total = time.monotonic() - started
    if len(seen) < 2:
        raise SystemExit("too few records to time: use more photos")
    (t0, c0), (t1, c1) = seen[0], seen[-1]
    return {"actors": actors, "images": summary.images, "wall_s": round(total, 1),
            "photos_per_s": round((c1 - c0) / (t1 - t0), 3)}


def records(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        rec.pop("timings_ms", None)
        out.append(rec)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", type=Path)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--config", help="YAML config (default: the shipped defaults)")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain-scan comparison")
    args = ap.parse_args(argv)

    import ray

    from detector.config import Config

    config = Config.from_file(args.config) if args.config else Config()
    photos = OUT / "photos"
    paths = link_photos(args.photos, args.n, photos)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        one = timed_scan(photos, OUT / "actors1.jsonl", 1, config)
        print(json.dumps(one), file=sys.stderr, flush=True)
        two = timed_scan(photos, OUT / "actors2.jsonl", 2, config)
        print(json.dumps(two), file=sys.stderr, flush=True)
    finally:
        ray.shutdown()
    result: dict[str, Any] = {"n": args.n, "one_actor": one, "two_actors": two,
                              "ratio": round(two["photos_per_s"] / one["photos_per_s"], 2)}
    if not args.no_plain:
        import dataclasses

        from detector.pipeline import Detector

        cfg = dataclasses.replace(config, ocr=dataclasses.replace(config.ocr, threads=1))
        plain = [r.to_dict() for r in Detector(config=cfg).scan_paths(paths)]
        for r in plain:
            r.pop("timings_ms", None)
        for name in ("actors1", "actors2"):
            got = records(OUT / f"{name}.jsonl")
            result[f"{name}_equal_records"] = got == plain
            result[f"{name}_equal_decisions_brands"] = [
                (r["decision"], [b["name"] for b in r.get("brands") or []]) for r in got
            ] == [(r["decision"], [b["name"] for b in r.get("brands") or []]) for r in plain]
    (OUT / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
