"""The audit log's photo store: each uploaded photo's bytes, once, named by their sha256.

``<db>.blobs/ab/abcdef….bin`` beside the SQLite file. A photo is written atomically (temporary file,
fsync, rename, fsync of the folder) before the decision that cites it commits, so a committed
decision's photos are on disk; the same photo sent twice is stored once. The decision row holds the
photos' sha256s and is hash-chained (``detector.audit_chain``), so a stored photo is checked against
it when read (``get``), and an altered file is reported, never served as evidence.

A crash between the photo and the commit leaves a photo no row cites: harmless, a few MB at worst.

>>> import tempfile
>>> store = BlobStore(tempfile.mkdtemp())
>>> key = store.put(b"jpeg bytes")
>>> store.get(key)
b'jpeg bytes'
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from detector.atomic import write_atomic

__all__ = ["BlobStore", "blob_dir", "image_bytes"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


def blob_dir(db_path: str | Path) -> Path:
    """Where the photos of the audit log at ``db_path`` are kept."""
    return Path(f"{Path(db_path).expanduser()}.blobs")


def image_bytes(image: Any) -> bytes | None:
    """The bytes of an image as the hook takes it: bytes as they are, a path read; a PIL image has none."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        return Path(image).read_bytes()
    return None  # a decoded image: no file bytes whose sha256 the decision cites


class BlobStore:
    """Content-addressed files under ``root``; safe for several processes (each write is a rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            # The key comes from the audit row; a tampered one must not name a path outside the store.
            raise ValueError(f"a blob key is 64 lowercase hex digits (a sha256), got {sha256!r}")
        return self.root / sha256[:2] / f"{sha256}.bin"

    def put(self, data: bytes) -> str:
        """Store ``data`` durably unless it is there already; returns its sha256."""
        key = hashlib.sha256(data).hexdigest()
        target = self.path(key)
        try:
            if target.stat().st_size == len(data):
                return key  # stored before (the name is the hash; the size is a cheap check of a whole write)
        except FileNotFoundError:
            pass
        created = not target.parent.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        _fsync_dir(target.parent)  # the rename itself is durable before the decision commits
        if created:
            _fsync_dir(self.root)
            _fsync_dir(self.root.parent)
        return key

    def get(self, sha256: str) -> bytes | None:
        """The bytes stored under ``sha256``; None when absent. Raises ``ValueError`` when they do not hash to it."""
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"stored photo {self.path(sha256)} does not hash to {sha256[:12]}…: altered or corrupt")
        return data

    def __contains__(self, sha256: object) -> bool:
        return isinstance(sha256, str) and bool(_SHA256.fullmatch(sha256)) and self.path(sha256).is_file()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
