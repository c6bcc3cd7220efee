"""Bounded load on `detector serve` over loopback: 1-image listings at several concurrencies.

Starts the real default stack in a subprocess (``detector serve`` with a generous queue), sends a
fixed number of listings per level (photo longest side 640, the example photos in turn), and stops
by itself. Reports p50/p95/p99 latency, throughput, errors and the server's peak RSS (VmHWM), the
per-stage server timings, and EasyOCR's own time on the same photos in this process afterwards.

    python benchmarks/service_load.py                       # levels 1:20, 4:40, 16:64
    python benchmarks/service_load.py --levels 1:5,4:8 --out /tmp/load.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_common import Server, machine, percentile, photos, post_listing, write_config


def run_level(
    server: Server, shots: list[tuple[str, bytes]], concurrency: int, total: int, timeout: float
) -> dict[str, Any]:
    lock = threading.Lock()
    next_index = [0]
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    stage_ms: dict[str, list[float]] = {}
    rss_samples: list[int] = []
    done = threading.Event()

    def sample_rss() -> None:
        while not done.is_set():
            rss_samples.append(server.memory_kib()["VmRSS"])
            done.wait(0.2)

    def worker() -> None:
        with httpx.Client(base_url=server.url) as client:
            while True:
                with lock:
                    i = next_index[0]
                    if i >= total:
                        return
                    next_index[0] += 1
                t = time.perf_counter()
                try:
                    r = post_listing(client, f"load-c{concurrency}-{i}", shots[i % len(shots)], timeout)
                    status = str(r.status_code)
                except httpx.HTTPError as exc:
                    r, status = None, type(exc).__name__
                elapsed = time.perf_counter() - t
                with lock:
                    statuses[status] += 1
                    if r is not None and r.status_code == 200:
                        latencies.append(elapsed)
                        for k, v in r.json()["timings_ms"].items():
                            stage_ms.setdefault(k, []).append(v)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    mem = server.memory_kib()
    ok = len(latencies)
    return {
        "concurrency": concurrency,
        "requests": total,
        "ok": ok,
        "errors": total - ok,
        "statuses": dict(statuses),
        "wall_s": round(wall, 2),
        "throughput_per_s": round(ok / wall, 3),
        "p50_ms": round(percentile(latencies, 50) * 1000),
        "p95_ms": round(percentile(latencies, 95) * 1000),
        "p99_ms": round(percentile(latencies, 99) * 1000),
        "max_ms": round(max(latencies, default=float("nan")) * 1000),
        "server_stage_median_ms": {k: round(statistics.median(v), 1) for k, v in sorted(stage_ms.items())},
        "peak_rss_during_mib": round(max(rss_samples, default=0) / 1024),
        "vmhwm_after_mib": round(mem["VmHWM"] / 1024),
    }


def easyocr_own_time(shots: list[tuple[str, bytes]], repeats: int, threads: int = 0) -> dict[str, Any]:
    """EasyOCR's own ``readtext`` on each photo (the settings the adapter uses), then the project's adapter.

    Measured in this process after the server has stopped, so both have the machine to themselves.
    """
    import os
    import warnings

    import numpy as np
    import torch

    from detector.config import OcrConfig
    from detector.io import load_image
    from detector.ocr import create_ocr
    from detector.ocr.easyocr import _build_reader, weights_directory

    threads = threads or (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    # The same reader the adapter builds, called directly: EasyOCR's own time, without the adapter.
    reader = _build_reader(weights_directory(), threads)
    adapter = create_ocr(OcrConfig(threads=threads))
    adapter.load()  # type: ignore[attr-defined]
    raw: list[float] = []
    wrapped: list[float] = []
    for _, data in shots:
        image = load_image(data).image
        pixels = np.asarray(image)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader.readtext(pixels, detail=1, paragraph=False)  # the first call per size is not counted
            for _ in range(repeats):
                t = time.perf_counter()
                reader.readtext(pixels, detail=1, paragraph=False)
                raw.append(time.perf_counter() - t)
                t = time.perf_counter()
                adapter.read(image)
                wrapped.append(time.perf_counter() - t)
    return {
        "photos": len(shots),
        "runs_per_photo": repeats,
        "threads": threads,
        "readtext_p50_ms": round(percentile(raw, 50) * 1000),
        "readtext_p95_ms": round(percentile(raw, 95) * 1000),
        "adapter": adapter.name,
        "adapter_p50_ms": round(percentile(wrapped, 50) * 1000),
        "adapter_p95_ms": round(percentile(wrapped, 95) * 1000),
    }


def _mean_ms(metrics: str, stage: str) -> float:
    """Mean of one stage's latency histogram, from the Prometheus text."""
    values = {}
    for line in metrics.splitlines():
        for kind in ("sum", "count"):
            if line.startswith(f'detector_stage_duration_seconds_{kind}{{stage="{stage}"}}'):
                values[kind] = float(line.rsplit(" ", 1)[1])
    return round(1000 * values["sum"] / values["count"], 2) if values.get("count") else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1:20,4:40,16:64", help="concurrency:requests,... (default: %(default)s)")
    parser.add_argument("--photos", default="examples/*.jpg", help="glob under the repo (default: %(default)s)")
    parser.add_argument("--side", type=int, default=640, help="longest side of the photos sent (default: 640)")
    parser.add_argument("--in-flight", type=int, help="service.max_in_flight (default: the shipped config)")
    parser.add_argument("--timeout", type=float, default=600, help="client timeout per request, s")
    parser.add_argument("--ocr-repeats", type=int, default=2, help="EasyOCR timing runs per photo (0: skip)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    parser.add_argument("--ocr-only", action="store_true", help="only time EasyOCR on the photos; no server")
    parser.add_argument("--ocr-threads", type=int, default=0, help="ocr.threads for server and timing (0: all cores)")
    parser.add_argument("--logos", default=None, help="logos.backend for the server (default: the shipped one)")
    args = parser.parse_args(argv)
    if args.ocr_only:
        shots = photos(args.photos, args.side)
        result = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M %Z")}
        result["easyocr_alone"] = easyocr_own_time(shots, max(1, args.ocr_repeats), args.ocr_threads)
        print(json.dumps(result, indent=2))
        if args.out:
            args.out.write_text(json.dumps(result, indent=2))
        return 0
    levels = [tuple(int(x) for x in level.split(":")) for level in args.levels.split(",")]

    shots = photos(args.photos, args.side)
    work = Path(tempfile.mkdtemp(prefix="service-load-"))
    biggest = max(c for c, _ in levels)
    # A generous queue and budget: this measures latency under load, not refusals.
    service: dict[str, Any] = {"max_waiting": max(64, 2 * biggest), "time_budget_s": args.timeout}
    if args.in_flight is not None:
        service["max_in_flight"] = args.in_flight
    sections = {"logos": {"backend": args.logos}} if args.logos else {}
    config = write_config(work / "config.json", ocr={"threads": args.ocr_threads}, sections=sections, **service)
    server = Server(config=config, audit_db=work / "audit.db")
    results: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "photos": len(shots),
        "config": json.loads(config.read_text()),
    }
    print(f"machine: {results['machine']}", file=sys.stderr)
    results["ready_s"] = round(server.start(), 1)
    try:
        with httpx.Client(base_url=server.url) as client:
            results["stages"] = client.get("/readyz").json()["versions"]
            post_listing(client, "warm-up", shots[0], args.timeout).raise_for_status()
        results["idle_rss_mib"] = round(server.memory_kib()["VmRSS"] / 1024)
        results["levels"] = []
        for concurrency, total in levels:
            print(f"concurrency {concurrency}: {total} listings…", file=sys.stderr)
            level = run_level(server, shots, concurrency, total, args.timeout)
            print(json.dumps(level), file=sys.stderr)
            results["levels"].append(level)
        with httpx.Client(base_url=server.url) as client:
            metrics = client.get("/metrics").text
            results["audit_commit_mean_ms"] = _mean_ms(metrics, "audit")
            results["metrics_5xx"] = [
                line for line in metrics.splitlines() if 'status="5' in line and not line.startswith("#")
            ]
    finally:
        server.stop()
    if args.ocr_repeats:
        print("EasyOCR alone on the same photos…", file=sys.stderr)
        results["easyocr_alone"] = easyocr_own_time(shots, args.ocr_repeats, args.ocr_threads)
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
