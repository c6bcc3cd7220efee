"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def write_atomic(path: str | Path, data: str | bytes) -> str:
    """Write ``path`` through an fsynced temporary file in its folder and ``os.replace``; returns the sha256.

    A crash or kill leaves the old file whole (or none), never a half-written one.
    """
    import tempfile

    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashlib.sha256(raw).hexdigest()
