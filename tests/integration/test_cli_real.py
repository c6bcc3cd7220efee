"""``detector scan examples/`` end to end with the real EasyOCR, through the installed entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

pytestmark = pytest.mark.real

EXAMPLES = REPO_ROOT / "examples"
REQUIRED = {"path", "ok", "error", "decision", "risk", "brands", "logos", "texts", "flags", "timings_ms"}


def test_scan_examples_prints_one_jsonl_object_per_image():
    photos = sorted(p.name for p in EXAMPLES.glob("*.jpg"))
    assert len(photos) == 8
    proc = subprocess.run(
        [sys.executable, "-m", "detector.cli", "scan", str(EXAMPLES), "--no-progress"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
    )
    # 0: nothing flagged, 1: something flagged; the examples include counterfeits once the rules land.
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in records) == photos
    for r in records:
        assert REQUIRED <= set(r), r["path"]
        assert r["ok"] is True and r["error"] is None, r
        assert r["decision"] in {"allow", "review", "block"}
        assert 0.0 <= r["risk"] <= 1.0
        assert r["stages"]["ocr"].startswith("easyocr")
        assert {"load", "ocr", "logos", "rules"} <= set(r["timings_ms"])
        confidences = [b["confidence"] for b in r["brands"]]
        assert confidences == sorted(confidences, reverse=True)
        for t in r["texts"]:
            assert {"text", "confidence", "box", "brand", "relation"} <= set(t)
            x1, y1, x2, y2 = t["box"]
            assert 0 <= x1 <= x2 <= r["size"][0] + 2 and 0 <= y1 <= y2 <= r["size"][1] + 2
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in records}
    # examples/README.md: EasyOCR reads NIKE on the genuine shirt and "mirror quality" on the replica banner.
    assert "NIKE" in [t["text"].upper() for t in by_name["genuine_nike.jpg"]["texts"]]
    assert any("mirror" in t["text"].lower() for t in by_name["replica_gucci.jpg"]["texts"])
    assert (proc.returncode == 1) == any(r["decision"] in ("review", "block") for r in records)
    assert "8 images" in proc.stderr


def test_scan_with_two_workers_gives_the_single_process_verdicts_in_order():
    # Three photos, not eight: each run loads the real models (twice with --workers 2).
    photos = [str(EXAMPLES / n) for n in ("replica_gucci.jpg", "genuine_nike.jpg", "misspelled_adibas.jpg")]

    def scan(*extra: str) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
        proc = subprocess.run([sys.executable, "-m", "detector.cli", "scan", *photos, "--no-progress", *extra],
                              check=False, capture_output=True, text=True, timeout=900, cwd=REPO_ROOT)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc, [json.loads(line) for line in proc.stdout.splitlines()]

    one, want = scan("--workers", "1")
    two, got = scan("--workers", "2")
    assert "loading models in 2 worker processes" in two.stderr
    assert two.returncode == one.returncode and two.returncode in (0, 1)
    assert [r["path"] for r in got] == photos  # the input order

    # The verdicts, not the floats: the workers run torch on 1 thread each, which may move the last digits.
    def verdict(r: dict) -> tuple:
        return (r["path"], r["ok"], r["decision"], sorted(f["rule"] for f in r["flags"]),
                [t["text"] for t in r["texts"]], r["stages"], r["sha256"])

    assert [verdict(r) for r in got] == [verdict(r) for r in want]
