"""Crash test: kill -9 `detector serve` in the middle of load, restart it, count acknowledged decisions lost.

Each round: start the server on the same audit database, send 1-image listings from several client
threads, SIGKILL the server after a random delay while requests are in flight, restart it, and check
that every listing answered 200 (acknowledged) is in the audit log under the audit id it was given.
A decision committed but never acknowledged (the kill landed between commit and response) is allowed
and counted separately.

Two modes: the real stack (slow requests, the kill usually lands during OCR) and ``--ocr none``
(requests of ~10 ms, hundreds of commits per second, the kill lands near a commit).

    python benchmarks/service_crash.py --rounds 3
    python benchmarks/service_crash.py --ocr none --rounds 10
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_common import Server, machine, photos, post_listing, write_config


def load_until_killed(
    server: Server, shots: list[tuple[str, bytes]], round_no: int, clients: int, kill_after: float
) -> dict[str, Any]:
    acked: dict[str, int] = {}  # listing id -> audit id
    failed = 0
    lock = threading.Lock()
    stop = threading.Event()
    counter = [0]

    def worker() -> None:
        nonlocal failed
        with httpx.Client(base_url=server.url) as client:
            while not stop.is_set():
                with lock:
                    n = counter[0]
                    counter[0] += 1
                listing_id = f"crash-r{round_no}-{n}"
                try:
                    r = post_listing(client, listing_id, shots[n % len(shots)], timeout=600)
                except httpx.HTTPError:
                    with lock:
                        failed += 1
                    return  # the server is gone
                with lock:
                    if r.status_code == 200:
                        acked[listing_id] = int(r.json()["audit_id"])
                    else:
                        failed += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(kill_after)
    with lock:
        sent_before_kill = counter[0]
    server.kill9()
    stop.set()
    for t in threads:
        t.join(30)
    return {"sent": sent_before_kill, "acked": acked, "not_acked": failed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads (default: 4)")
    parser.add_argument("--kill-after", default="8:20", help="kill after a random delay in MIN:MAX seconds")
    parser.add_argument("--ocr", choices=["easyocr", "none"], default="easyocr", help="OCR backend of the server")
    parser.add_argument("--photos", default="examples/*.jpg")
    parser.add_argument("--side", type=int, default=640)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    lo, hi = (float(x) for x in args.kill_after.split(":"))
    rng = random.Random(args.seed)

    shots = photos(args.photos, args.side)
    work = Path(tempfile.mkdtemp(prefix="service-crash-"))
    db = work / "audit.db"
    config = write_config(work / "config.json", ocr_backend=args.ocr, max_waiting=64, time_budget_s=600.0)
    server = Server(config=config, audit_db=db)
    results: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M %Z"), "ocr": args.ocr}
    rounds = []
    acked_all: dict[str, int] = {}
    for round_no in range(args.rounds):
        ready = server.start()
        kill_after = rng.uniform(lo, hi)
        outcome = load_until_killed(server, shots, round_no, args.clients, kill_after)
        acked_all.update(outcome["acked"])
        rounds.append(
            {
                "round": round_no,
                "ready_s": round(ready, 1),
                "kill_after_s": round(kill_after, 1),
                "sent": outcome["sent"],
                "acked": len(outcome["acked"]),
                "not_acked": outcome["not_acked"],
            }
        )
        print(json.dumps(rounds[-1]), file=sys.stderr)

    # Restart once more: the log must open after the last kill, and the service must answer again.
    server.start()
    with httpx.Client(base_url=server.url) as client:
        after = post_listing(client, "after-restart", shots[0], timeout=600)
    server.stop()

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = dict(con.execute("SELECT listing_id, id FROM decisions WHERE listing_id LIKE 'crash-%'").fetchall())
    integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    con.close()
    missing = [lid for lid, aid in acked_all.items() if rows.get(lid) != aid]
    results.update(
        rounds=rounds,
        acknowledged=len(acked_all),
        acknowledged_missing_from_audit=len(missing),
        missing_examples=missing[:10],
        committed_not_acknowledged=len(set(rows) - set(acked_all)),
        integrity_check=integrity,
        answer_after_last_restart=after.status_code,
    )
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 1 if missing or integrity != "ok" or after.status_code != 200 else 0


if __name__ == "__main__":
    sys.exit(main())
