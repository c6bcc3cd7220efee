"""``detector serve --workers 2``: two processes answer, and both write every decision to the one audit log.

The server runs as a real subprocess with OCR and logos off (the rules alone decide from the listing's
title), so it starts in seconds; the point here is the process model, not the models.
"""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from PIL import Image

from detector.audit import AuditLog
from detector.service import CHECK_PATH

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 200, 200)).save(buf, "PNG")
    return buf.getvalue()


def test_two_workers_answer_and_share_the_audit_log(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"ocr": {"backend": "none"}, "logos": {"backend": "none"}}))
    audit_db, log_path, port = tmp_path / "audit.db", tmp_path / "serve.log", _free_port()
    cmd = [sys.executable, "-m", "detector.cli", "serve", "--workers", "2", "--port", str(port),
           "--audit-db", str(audit_db), "--config", str(config)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"server exited with {proc.returncode}:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"not ready after 120 s:\n{log_path.read_text()}"
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)

        def check(i: int) -> dict:
            listing = {"listing_id": f"L{i}", "seller_id": "s-1", "title": "Adibas originals, 1:1 mirror quality"}
            files = [("listing", (None, json.dumps(listing), "application/json")),
                     ("images", (f"p{i}.png", _png(), "image/png"))]
            # /readyz answered from one worker; the other may still be loading its models and says so
            # with 503 + Retry-After, which a client honours.
            for _ in range(60):
                r = httpx.post(url + CHECK_PATH, files=files, timeout=60)
                if r.status_code != 503:
                    break
                time.sleep(min(1.0, float(r.headers.get("retry-after", 1))))
            assert r.status_code == 200, r.text
            return r.json()

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(check, range(16)))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    assert {a["decision"] for a in answers} == {"block"}
    assert all(any(f["brand"] == "Adidas" for f in a["flags"]) for a in answers)
    log = log_path.read_text()
    workers = set(re.findall(r"Started server process \[(\d+)\]", log))
    assert len(workers) == 2, log
    with AuditLog(audit_db) as audit:
        assert audit.count() == 16
        assert {audit.get(a["audit_id"]).listing_id for a in answers} == {f"L{i}" for i in range(16)}
        # Both processes appended to one hash chain (each under the write lock), without a fork.
        report = audit.verify()
        assert report.ok and report.head_seq == 16, report.problem
        assert audit.blobs is not None and len(list(audit.blobs.root.rglob("*.bin"))) == 1  # one photo, stored once
