"""A folder of 50+ hostile files scans without a traceback: one ``ok: false`` record per bad file, good files ok.

Run in-process with a fake OCR, and once through the real entry point
(``python -m detector.cli scan``) with OCR switched off by a config file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO_ROOT, FakeOcr, ImageFactory

from detector.cli import EXIT_OK, main
from detector.types import TextSpan

IMAGE_SUFFIXES = [
    ".jpg",
    ".jpeg",
    ".JPG",
    ".png",
    ".PNG",
    ".gif",
    ".webp",
    ".bmp",
    ".tif",
    ".tiff",
    ".jpe",
    ".jfif",
    ".dib",
]


@dataclass
class HostileFolder:
    root: Path
    good: set[str] = field(default_factory=set)
    bad: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)

    def add(self, kind: str, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        getattr(self, kind).add(rel)

    @property
    def total(self) -> int:
        return len(self.good) + len(self.bad) + len(self.skipped)


def build_hostile_folder(root: Path, im: ImageFactory) -> HostileFolder:
    f = HostileFolder(root)
    # Good: plain and odd-but-valid images, in nested folders, one known only by its magic bytes.
    for i in range(3):
        f.add("good", f"shop/plain_{i}.jpg", im.encode(im.noise((80, 60), seed=i), "JPEG"))
    f.add("good", "odd/cmyk.jpg", im.cmyk_jpeg())
    f.add("good", "odd/grey16.png", im.png16())
    f.add("good", "odd/palette.png", im.palette_png_transparent())
    f.add("good", "odd/rgba.png", im.rgba_png())
    f.add("good", "odd/la.png", im.la_png())
    f.add("good", "odd/bilevel.png", im.one_bit_png())
    f.add("good", "odd/grey.jpg", im.grey_jpeg())
    f.add("good", "odd/rotated.jpg", im.exif_rotated_jpeg(6))
    f.add("good", "odd/animated.gif", im.animated_gif())
    f.add("good", "odd/pages.tif", im.multipage_tiff())
    f.add("good", "odd/photo.webp", im.webp())
    f.add("good", "odd/photo.bmp", im.bmp())
    f.add("good", "odd/deep/er/still/IMG_0001", im.png())  # no extension

    # Bad: each claims to be an image (by name or by magic bytes) and cannot be used.
    f.add("bad", "bad/truncated.jpg", im.truncated_jpeg())
    f.add("bad", "bad/zero.jpg", b"")
    f.add("bad", "bad/zero.png", b"")
    f.add("bad", "bad/shopping-list.jpg", im.text())
    f.add("bad", "bad/page.png", b"<!DOCTYPE html><html><body>404 Not Found</body></html>")
    f.add("bad", "bad/vector.jpg", b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>')
    f.add("bad", "bad/utf16.gif", "not a gif".encode("utf-16"))
    f.add("bad", "bad/bomb.png", im.png_header(100_000, 100_000))
    f.add("bad", "bad/48mpx.png", im.png_header(8000, 6000))
    f.add("bad", "bad/header-only.jpg", im.jpeg()[:200])
    f.add("bad", "bad/portable.jpg", im.encode(im.rgb((4, 4)), "PPM"))  # a real image, in a format we refuse
    f.add("bad", "bad/magic-only", b"\x89PNG\r\n\x1a\n")  # no extension: picked up by its magic, then fails
    for fmt, ext in [("PNG", ".png"), ("GIF", ".gif"), ("BMP", ".bmp"), ("TIFF", ".tif"), ("WEBP", ".webp")]:
        data = im.encode(im.noise((64, 48)), fmt)
        f.add("bad", f"bad/truncated-{fmt.lower()}{ext}", data[: len(data) // 2])
        f.add("bad", f"bad/magic-then-garbage-{fmt.lower()}{ext}", data[:16] + im.random_bytes(400, seed=7))
    for i, suffix in enumerate(IMAGE_SUFFIXES * 2):
        f.add("bad", f"bad/random/r{i:02d}{suffix}", im.random_bytes(64 + 97 * i, seed=100 + i))
    # Over the 25 MB default file limit, without writing 26 MB: a sparse file.
    huge = root / "bad" / "huge.jpg"
    with huge.open("wb") as fh:
        fh.truncate(26 * 1024 * 1024)
    f.bad.add("bad/huge.jpg")
    os.symlink(root / "nowhere.jpg", root / "bad" / "dangling.jpg")
    f.bad.add("bad/dangling.jpg")

    # Skipped: neither named nor shaped like an image.
    f.add("skipped", "notes.txt", b"hello")
    f.add("skipped", ".DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(64))
    f.add("skipped", "shop/Thumbs.db", im.random_bytes(100, seed=3))
    f.add("skipped", "shop/listing.json", b'{"title": "shoes"}')
    f.add("skipped", "odd/favicon.ico", im.encode(im.rgb((16, 16)), "ICO"))
    f.add("skipped", "odd/run.sh", b"#!/bin/sh\necho hi\n")

    # Names that are not UTF-8 (os.fsdecode gives "\udcff" for byte 0xFF): scanned, written escaped.
    f.add("good", "names/\udcffbag.jpg", im.jpeg())
    f.add("good", "names/caf\udce9.png", im.png())
    f.add("bad", "names/broken\udcfe.jpg", im.text())
    f.add("skipped", "names/notes\udcff.txt", b"hello")

    # Not regular files: never opened (opening a FIFO blocks until a writer comes), skipped and counted.
    (root / "special").mkdir()
    for name in ("b.jpg", "b_noext"):
        os.mkfifo(root / "special" / name)
        f.skipped.add(f"special/{name}")

    # A symlink loop: must terminate without visiting anything twice.
    os.symlink(root, root / "odd" / "deep" / "loop")
    return f


@pytest.fixture
def hostile(tmp_path) -> HostileFolder:
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs os.mkfifo")
    folder = build_hostile_folder(tmp_path / "hostile", ImageFactory())
    assert folder.total >= 50
    return folder


def _record_path(record: dict) -> Path:
    """The scanned file: ``path_bytes`` (hex) when its name is not UTF-8, else ``path``."""
    return Path(os.fsdecode(bytes.fromhex(record["path_bytes"]))) if "path_bytes" in record else Path(record["path"])


def _check_records(records: list[dict], folder: HostileFolder) -> None:
    rel = [_record_path(r).relative_to(folder.root).as_posix() for r in records]
    assert len(rel) == len(set(rel)), "a file was reported twice"
    by_path = dict(zip(rel, records, strict=True))
    assert set(by_path) == folder.good | folder.bad
    wrong_good = {p: by_path[p]["error"] for p in folder.good if not by_path[p]["ok"]}
    assert not wrong_good, f"good files reported as failed: {wrong_good}"
    wrong_bad = [p for p in folder.bad if by_path[p]["ok"] is not False]
    assert not wrong_bad, f"bad files reported ok: {wrong_bad}"
    for p in folder.bad:
        record = by_path[p]
        assert record["error"] and not record["error"].startswith("internal error"), (p, record["error"])
        assert record["decision"] is None


def test_hostile_folder_in_process(fake_stages, hostile, capsys):
    fake_stages.ocr = FakeOcr([TextSpan("cotton", 0.9)])
    code = main(["scan", "--no-progress", str(hostile.root)])
    out, err = capsys.readouterr()
    assert code == EXIT_OK
    assert "Traceback" not in err
    records = [json.loads(line) for line in out.splitlines()]
    _check_records(records, hostile)
    assert fake_stages.ocr.calls == len(hostile.good)  # bad files never reach a stage
    assert f"{len(hostile.bad)} unreadable" in err
    assert f"{len(hostile.skipped)} non-image files skipped" in err


def test_hostile_folder_through_the_real_entry_point(hostile, tmp_path):
    config = tmp_path / "no-ocr.yaml"
    config.write_text("ocr:\n  backend: none\n")
    output = tmp_path / "report.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "detector.cli",
            "scan",
            str(hostile.root),
            "--config",
            str(config),
            "--output",
            str(output),
            "--no-progress",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    records = [json.loads(line) for line in output.read_text().splitlines()]
    _check_records(records, hostile)
    assert all(r["stages"]["ocr"] == "none" for r in records if r["ok"])
    assert f"{len(hostile.bad)} unreadable" in proc.stderr
    assert f"{len(hostile.skipped)} non-image files skipped" in proc.stderr


def test_hostile_folder_to_stdout_is_valid_utf8(hostile, tmp_path):
    config = tmp_path / "no-ocr.yaml"
    config.write_text("ocr:\n  backend: none\nlogos:\n  backend: none\n")
    proc = subprocess.run(
        [sys.executable, "-m", "detector.cli", "scan", str(hostile.root), "--config", str(config), "--no-progress"],
        check=False,
        capture_output=True,
        timeout=120,  # a FIFO opened by mistake would hang here
        cwd=REPO_ROOT,
    )
    assert proc.returncode == EXIT_OK, proc.stderr.decode("utf-8", "replace")
    records = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]  # strict UTF-8
    _check_records(records, hostile)
    assert all("\\x" in r["path"] for r in records if "path_bytes" in r)
