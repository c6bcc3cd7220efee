"""Mutation fuzz of ``detector.io.load_image`` at scale: every input must give an image or our own error.

The fuzzer of ``tests/image_fuzz.py`` (seed files of every accepted format and mode, mutated by bit
flips, byte sets, inserts, deletes, truncation, duplication and interesting 16/32-bit values), driven
by a seeded ``random.Random`` instead of hypothesis, for many more inputs than the test's 2,000. The
process's stderr (fd 2) is captured for the run: libtiff and Pillow's loggers must print nothing.

    python benchmarks/fuzz_load_image.py --inputs 50000 --seed 0

Prints one JSON object (counts, time, failures with the seed and ops that reproduce each) and exits
1 when any input failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from image_fuzz import KINDS, Outcome, check_one, mutate, seeds

from detector.config import Limits
from detector.io import load_image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=50_000, help="mutated inputs to load (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--max-ops", type=int, default=4, help="mutations per input, 1..N (default: %(default)s)")
    args = parser.parse_args()

    corpus = seeds()
    names = sorted(corpus)
    rng = random.Random(args.seed)
    limits = Limits(max_pixels=4_000_000, max_file_bytes=2_000_000, max_side=1024)
    outcome = Outcome()
    failures: collections.Counter[str] = collections.Counter()
    examples: dict[str, dict[str, object]] = {}
    per_seed: collections.Counter[str] = collections.Counter()

    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)  # what the decoders print goes here, not to the terminal
        started = time.perf_counter()
        try:
            for _ in range(args.inputs):
                name = rng.choice(names)
                ops = [(rng.choice(KINDS), rng.random(), rng.randrange(1 << 16)) for _ in range(rng.randint(1, args.max_ops))]
                per_seed[name] += 1
                try:
                    check_one(mutate(corpus[name], ops), outcome, lambda d, n=name: load_image(d, limits, name=n))
                except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                    key = f"{type(exc).__name__}: {str(exc)[:160]}"
                    failures[key] += 1
                    examples.setdefault(key, {"seed_file": name, "ops": ops})
        finally:
            seconds = time.perf_counter() - started
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        stderr_bytes = captured.read()

    result = {
        "command": "python benchmarks/fuzz_load_image.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}",
        "inputs": args.inputs,
        "seed_files": len(names),
        "loaded": outcome.loaded,
        "refused_invalid_image": outcome.refused,
        "refused_too_large": outcome.too_large,
        "failures": sum(failures.values()),
        "failure_kinds": [{"count": n, "error": k, "example": examples[k]} for k, n in failures.most_common(20)],
        "stderr_bytes": len(stderr_bytes),
        "stderr_sample": stderr_bytes[:400].decode("utf-8", "replace"),
        "seconds": round(seconds, 1),
        "inputs_per_second": round(args.inputs / seconds) if seconds else None,
    }
    print(json.dumps(result, indent=1))
    return 1 if failures or stderr_bytes else 0


if __name__ == "__main__":
    sys.exit(main())
