"""Small synthetic photos and a tiny embedder for the linking tests (no CNN is loaded).

A "photo" is a random mosaic of soft-edged blocks: SIFT finds plenty of corners on it, and two seeds give
two unrelated pictures. The tiny embedder is a 4×4 colour thumbnail, centred and normalised, standing in
for the CNN (same protocol: name, dim, weights_sha256, embed).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

# Thresholds for the tiny embedder: every neighbour goes to the keypoint check (its cosines mean little).
TINY_LINK = {"cnn_candidate": -1.0, "cnn_sure": 1.0, "phash_max_distance": 4, "keypoint_min_inliers": 15,
             "batch": 8}


def photo(seed: int, size: tuple[int, int] = (240, 320)) -> Image.Image:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (12, 9, 3), dtype=np.uint8)
    im = Image.fromarray(blocks).resize(size, Image.Resampling.NEAREST)
    return im.filter(ImageFilter.GaussianBlur(1.2))


def crop(im: Image.Image, keep: float = 0.8) -> Image.Image:
    w, h = im.size
    return im.crop((int(w * (1 - keep) / 2), int(h * (1 - keep) / 3), int(w * (1 + keep) / 2), int(h * (2 + keep) / 3)))


def mirror(im: Image.Image) -> Image.Image:
    return ImageOps.mirror(im)


def jpeg(im: Image.Image, quality: int = 30) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


class TinyEmbedder:
    """4×4 RGB thumbnail, centred, L2-normalised: 48-d."""

    name = "tiny-test.v1"
    dim = 48
    weights_sha256 = "0" * 64

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.calls += len(images)
        rows = [np.asarray(im.convert("RGB").resize((4, 4), Image.Resampling.BOX), np.float32).ravel() for im in images]
        v = np.array(rows, np.float32).reshape(len(images), self.dim)
        v -= v.mean(axis=1, keepdims=True)
        return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-6)).astype(np.float32)


def write_manifest(folder: Path, rows: Sequence[Sequence[str]], header: str = "listing_id,seller_id,image") -> Path:
    path = folder / "manifest.csv"
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    return path
