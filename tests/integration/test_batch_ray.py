"""``detector.batch`` and ``detector scan --engine ray`` on a local Ray (loopback): equal records, resume, kill.

Ray's workers import the test factories from this folder: the fixture puts it (and tests/) on their
``PYTHONPATH``. Skipped when the ``ray`` extra is not installed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray", reason="the Ray engine needs the optional extra: pip install 'detector[ray]'")
pytest.importorskip("ray.data", reason="the Ray engine needs the optional extra: pip install 'detector[ray]'")

HERE = Path(__file__).resolve().parent
LIGHT = "ocr:\n  backend: none\nlogos:\n  backend: none\n"


@pytest.fixture(scope="module")
def local_ray() -> Any:
    import ray

    paths = [str(HERE), str(HERE.parent), str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
        _node_ip_address="127.0.0.1",
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}},
    )
    yield ray
    ray.shutdown()


@dataclasses.dataclass(frozen=True)
class SlowFactory:
    """Fake stages; the OCR sleeps ``slow_s`` per image and reads "REPLICA" from images 47 px wide.

    Each actor writes its pid to ``pids/`` when it starts, so a test can kill one.
    """

    pids: str
    slow_s: float = 0.0

    def __call__(self) -> Any:
        from conftest import FakeLogos, FakeOcr, FakeRules

        from detector.pipeline import Detector
        from detector.types import Box, TextSpan

        Path(self.pids).mkdir(parents=True, exist_ok=True)
        (Path(self.pids) / str(os.getpid())).touch()

        def read(_n: int, image: Any) -> list[TextSpan]:
            time.sleep(self.slow_s)
            word = "REPLICA" if image.width == 47 else f"w{image.width}"
            return [TextSpan(word, 0.9, Box(1, 1, 9, 9))]

        return Detector(ocr=FakeOcr(per_call=read), logos=FakeLogos(), rules=FakeRules())


def _folder(root: Path, images: Any, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        images.write(root / f"{k:03d}.png", images.png((40 + k % 10, 20)))
    (root / "050b.jpg").write_text("a shopping list, not a photo")  # unreadable: an ok: false record
    return root


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _strip(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "timings_ms"} for r in records]


def test_ray_scan_equals_the_plain_scan_and_resumes(local_ray, tmp_path, images, capsys):
    from detector.cli import main

    folder = _folder(tmp_path / "photos", images, 12)
    config = tmp_path / "light.yaml"
    config.write_text(LIGHT)
    plain, ray_out = tmp_path / "plain.jsonl", tmp_path / "ray.jsonl"
    assert main(["scan", str(folder), "--config", str(config), "-o", str(plain), "--no-progress"]) == 0
    args = ["scan", str(folder), "--config", str(config), "-o", str(ray_out), "--no-progress", "--engine", "ray"]
    assert main([*args, "--actors", "2"]) == 0
    assert "13 images" in capsys.readouterr().err
    first = _lines(ray_out)
    assert _strip(first) == _strip(_lines(plain))
    assert [r["ok"] for r in first].count(False) == 1
    assert not (tmp_path / "ray.jsonl.parts").exists()

    # Rerun: unchanged images are not scanned again (their records, timings included, are the old ones);
    # a changed image is.
    images.write(folder / "003.png", images.png((47, 20)))
    assert main([*args, "--actors", "2"]) == 0
    second = _lines(ray_out)
    by_path = {r["path"]: r for r in first}
    changed = str(folder / "003.png")
    for r in second:
        if r["path"] == changed:
            assert r["sha256"] != by_path[changed]["sha256"] and r["size"] == [47, 20]
        elif r["ok"]:
            assert r == by_path[r["path"]]
    assert [r["path"] for r in second] == [r["path"] for r in first]


def test_a_killed_actor_loses_and_duplicates_nothing(local_ray, tmp_path, images):
    from detector.batch import scan_batch

    folder = _folder(tmp_path / "photos", images, 24)
    out = tmp_path / "ray.jsonl"
    pids = tmp_path / "pids"
    killed: list[int] = []

    def kill_one_when_busy() -> None:
        parts = tmp_path / "ray.jsonl.parts"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            written = sum(len(p.read_text().splitlines()) for p in parts.glob("part-*.jsonl")) if parts.is_dir() else 0
            if written >= 3 and pids.is_dir() and any(pids.iterdir()):
                pid = int(next(iter(sorted(pids.iterdir()))).name)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_when_busy, daemon=True)
    killer.start()
    summary = scan_batch([folder], out, actors=2, factory=SlowFactory(str(pids), slow_s=0.3), progress=False)
    killer.join(5)
    assert killed, "no actor was killed: the scan finished before the test could"
    records = _lines(out)
    paths = [r["path"] for r in records]
    assert len(paths) == len(set(paths)) == 25
    assert sorted(paths) == sorted(str(p) for p in folder.iterdir())
    assert sum(r["ok"] for r in records) == 24
    assert summary.images == 25
    assert len(list(pids.iterdir())) >= 3, "Ray did not start a replacement actor"


def test_ray_engine_needs_an_output_file(tmp_path, images, capsys):
    from detector.cli import main

    folder = _folder(tmp_path / "photos", images, 1)
    assert main(["scan", str(folder), "--engine", "ray"]) == 2
    assert "--engine ray needs --output" in capsys.readouterr().err


def test_missing_ray_says_how_to_install(tmp_path, images, capsys, monkeypatch):
    import sys

    from detector.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    folder = _folder(tmp_path / "photos", images, 1)
    assert main(["scan", str(folder), "--engine", "ray", "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "pip install 'detector[ray]'" in capsys.readouterr().err
