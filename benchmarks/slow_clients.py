"""Slow clients against ``detector serve`` with its shipped limits and deadlines: who gets served, and how fast.

Starts ``detector serve`` (OCR and logos off, so a check takes milliseconds and any slowness is the
server's), measures /healthz and /v1/listings/check alone, then again while slow clients keep at it:
``--header-clients`` connections sending their request headers a byte every 0.5 s, and
``--body-clients`` sending headers then a 300-byte body a byte every 0.5 s, each reconnecting whenever
it is cut off. Reports latencies, statuses, and when and how the slow clients were cut off.

    python benchmarks/slow_clients.py --seconds 40
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
sys.path.insert(0, str(HERE.parent / "tests"))
from service_common import Server, machine, percentile, write_config
from test_service import BOUNDARY, GOOD, check_files, form, jpeg, listing_part
from test_slow_clients import Attack

CHECK = "/v1/listings/check"


def measure(url: str, seconds: float) -> dict[str, object]:
    health: list[float] = []
    checks: list[float] = []
    statuses: collections.Counter[str] = collections.Counter()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with httpx.Client(base_url=url, timeout=30) as client:  # a new connection each time, as a fresh client
            t = time.monotonic()
            try:
                statuses[f"healthz {client.get('/healthz').status_code}"] += 1
            except httpx.HTTPError as exc:
                statuses[f"healthz {type(exc).__name__}"] += 1
            health.append(time.monotonic() - t)
            t = time.monotonic()
            try:
                r = client.post(CHECK, files=check_files(GOOD, [("a.jpg", jpeg())]))
                error = "" if r.status_code == 200 else f" {r.json().get('error') if _is_json(r) else r.text[:40]}"
                statuses[f"check {r.status_code}{error}"] += 1
            except httpx.HTTPError as exc:
                statuses[f"check {type(exc).__name__}"] += 1
            checks.append(time.monotonic() - t)
        time.sleep(0.2)

    def stats(values: list[float]) -> dict[str, float]:
        return {q: round(percentile(values, p) * 1000, 1) for q, p in (("p50_ms", 50), ("p95_ms", 95), ("max_ms", 100))}

    return {"healthz": stats(health), "check": stats(checks), "answers": dict(statuses)}


def _is_json(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/json")


def cuts(attack: Attack) -> dict[str, object]:
    seconds = [c.seconds for c in attack.cuts]
    kinds = collections.Counter(c.status for c in attack.cuts)
    return {
        "connections_cut": len(seconds),
        "connections_refused": attack.refused,
        "answers": dict(kinds),
        "lifetime_s": {"min": round(min(seconds), 2), "median": round(percentile(seconds, 50), 2),
                       "max": round(max(seconds), 2)} if seconds else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="how long the slow clients keep at it")
    parser.add_argument("--header-clients", type=int, default=80)
    parser.add_argument("--body-clients", type=int, default=17)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="slow-clients-"))
    config = write_config(tmp / "config.json", ocr_backend="none", sections={"logos": {"backend": "none"}})
    server = Server(config=config, audit_db=tmp / "audit.db")
    started = machine()
    server.start()
    try:
        quiet = measure(server.url, 5)
        body = form(listing_part(GOOD))
        body += b" " * max(0, 300 - len(body))
        head = (f"POST {CHECK} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        headers_attack = Attack(server.port, f"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: {'s' * 400}\r\n\r\n".encode())
        body_attack = Attack(server.port, head, body)
        threads = [threading.Thread(target=headers_attack.client, daemon=True) for _ in range(args.header_clients)]
        threads += [threading.Thread(target=body_attack.client, daemon=True) for _ in range(args.body_clients)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        attacked = measure(server.url, args.seconds)
        headers_attack.stop.set()
        body_attack.stop.set()
        for t in threads:
            t.join(5)
        metrics = httpx.get(server.url + "/metrics", timeout=10).text
    finally:
        server.stop()
    result = {
        "command": "python benchmarks/slow_clients.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": started,
        "slow_clients": {"headers": args.header_clients, "body": args.body_clients, "seconds": args.seconds},
        "without_slow_clients": quiet,
        "with_slow_clients": attacked,
        "header_dribblers": cuts(headers_attack),
        "body_dribblers": cuts(body_attack),
        "server_5xx_in_metrics": sum(
            float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
            if line.startswith('detector_http_responses_total{status="5')
        ),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
