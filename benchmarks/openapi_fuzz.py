"""schemathesis, every check, against ``detector serve`` (OCR and logos off) on loopback, with many examples.

The same run as ``tests/integration/test_openapi_fuzz.py`` (its command, ``schemathesis.toml`` and hooks),
against the real server process instead of an in-process one, with more examples. The service limits are
the test's small ones, so generated bodies reach every 413. Prints one JSON object: test cases, the
check endpoint's answers by status (from /metrics), 5xx count, failures.

    python benchmarks/openapi_fuzz.py --examples 1000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
sys.path.insert(0, str(HERE.parent / "tests"))
from service_common import Server, machine, write_config
from test_openapi_fuzz import SEED, schemathesis_command, schemathesis_env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per operation and phase")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="openapi-fuzz-"))
    config = write_config(
        tmp / "config.json",
        ocr_backend="none",
        sections={"logos": {"backend": "none"}, "limits": {"max_pixels": 1_000_000}},
        max_images=3,
        max_image_bytes=100_000,
        max_request_bytes=250_000,
        max_listing_bytes=2048,
    )
    server = Server(config=config, audit_db=tmp / "audit.db")
    started = machine()
    server.start()
    report = tmp / "schemathesis.json"
    try:
        t = time.monotonic()
        proc = subprocess.run(
            schemathesis_command(server.url, report, args.examples, args.seed),
            check=False,
            cwd=tmp,  # schemathesis keeps a cache folder in its working directory
            env=schemathesis_env(),
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - t
        metrics = httpx.get(server.url + "/metrics", timeout=10).text
    finally:
        server.stop()
    summary = json.loads(report.read_text())
    statuses = {
        line.split('status="')[1].split('"')[0]: int(float(line.rsplit(" ", 1)[1]))
        for line in metrics.splitlines()
        if line.startswith("detector_http_responses_total{")
    }
    result = {
        "command": "python benchmarks/openapi_fuzz.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": started,
        "schemathesis_exit_code": proc.returncode,
        "test_cases": summary["test_cases"],
        "phases": {name: p["status"] for name, p in summary["phases"].items()},
        "check_endpoint_answers": dict(sorted(statuses.items())),
        "check_endpoint_requests": sum(statuses.values()),
        "server_5xx": sum(n for s, n in statuses.items() if s.startswith("5")),
        "failures": summary["failures"],
        "seconds": round(seconds, 1),
    }
    print(json.dumps(result, indent=1))
    if proc.returncode:
        print(proc.stdout[-4000:], file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
