"""The Ray engine with the real default stack on the 8 examples/ photos: the same records as the plain scan.

Marked ``real`` (each actor loads EasyOCR and the logo models); skipped when the ``ray`` extra is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

pytest.importorskip("ray", reason="the Ray engine needs the optional extra: pip install 'detector[ray]'")

pytestmark = pytest.mark.real


def _records(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        rec.pop("timings_ms")
        out.append(rec)
    return out


def test_ray_on_examples_equals_the_plain_scan(tmp_path):
    import ray

    from detector.cli import main

    examples = str(REPO_ROOT / "examples")
    plain, ray_out = tmp_path / "plain.jsonl", tmp_path / "ray.jsonl"
    # Flagged photos among them: exit code 1 for both.
    assert main(["scan", examples, "-o", str(plain), "--no-progress"]) == 1
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        assert main(["scan", examples, "-o", str(ray_out), "--no-progress", "--engine", "ray", "--actors", "2"]) == 1
    finally:
        ray.shutdown()
    got, want = _records(ray_out), _records(plain)
    assert len(want) == 8
    assert [(r["path"], r["decision"], [b["name"] for b in r["brands"]]) for r in got] == [
        (r["path"], r["decision"], [b["name"] for b in r["brands"]]) for r in want
    ]
    assert got == want
