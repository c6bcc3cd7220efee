"""write_atomic: the new file whole, or the old one whole; never a half-written file or a stray temporary."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from detector.atomic import write_atomic


def test_writes_and_returns_the_sha256(tmp_path: Path) -> None:
    target = tmp_path / "index.json"
    digest = write_atomic(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert digest == hashlib.sha256("new ✓".encode()).hexdigest()
    assert os.listdir(tmp_path) == ["index.json"]


def test_a_failure_mid_write_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "index.faiss"
    target.write_bytes(b"old")

    def crash(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new bytes that never land")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["index.faiss"]  # the temporary is gone too
