"""Geometry every logo stage shares: one resize, one box clamp, one NMS, one cache folder.

>>> from PIL import Image
>>> small, scale = scale_to_side(Image.new("RGB", (1000, 500)), 640)
>>> small.size, scale
((640, 320), 0.64)
>>> clamp_box((-5.0, 10.0, 120.0, 40.0), (100, 100))
Box(x1=0.0, y1=10.0, x2=100.0, y2=40.0)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from detector.types import Box


def scale_to_side(
    image: Image.Image,
    side: float,
    *,
    resample: Image.Resampling = Image.Resampling.BILINEAR,
    upscale: bool = False,
) -> tuple[Image.Image, float]:
    """``image`` scaled so its longest side is ``side``, and the factor applied.

    Only shrinks unless ``upscale``; an image already small enough comes back as it is with scale 1.0.
    Sides are rounded and never below one pixel.
    """
    scale = side / max(image.size)
    if not upscale:
        scale = min(1.0, scale)
    if scale == 1.0 and not upscale:
        return image, 1.0
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, resample), scale


def clamp_box(box: Box | Sequence[float], size: tuple[int, int]) -> Box | None:
    """``box`` (x1, y1, x2, y2) cut to an image of ``size`` (width, height); None when no area of it is inside."""
    x1, y1, x2, y2 = box.to_list() if isinstance(box, Box) else (float(c) for c in box)
    out = (max(0.0, x1), max(0.0, y1), min(float(size[0]), x2), min(float(size[1]), y2))
    if out[2] <= out[0] or out[3] <= out[1]:
        return None
    return Box(*out)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, limit: int) -> list[int]:
    """Indexes of the best-scoring boxes, none overlapping a better kept one by more than ``iou``; at most ``limit``.

    ``boxes`` is ``(n, 4)`` x1, y1, x2, y2; greedy, highest score first.
    """
    order = np.argsort(-scores)
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for i in order:
        if len(keep) >= limit:
            break
        if keep:
            k = np.array(keep)
            ix = np.clip(np.minimum(boxes[k, 2], boxes[i, 2]) - np.maximum(boxes[k, 0], boxes[i, 0]), 0, None)
            iy = np.clip(np.minimum(boxes[k, 3], boxes[i, 3]) - np.maximum(boxes[k, 1], boxes[i, 1]), 0, None)
            inter = ix * iy
            if np.any(inter / (areas[k] + areas[i] - inter + 1e-9) > iou):
                continue
        keep.append(int(i))
    return keep


def square_with_context(b: Sequence[float], size: tuple[int, int], context: float) -> tuple[float, float, float, float]:
    """A square around box ``b`` (its longer side plus ``context`` on each side), shifted inside the image."""
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    side = max(b[2] - b[0], b[3] - b[1]) * (1 + 2 * context)
    side = min(side, max(size))
    x1 = min(max(0.0, cx - side / 2), max(0.0, size[0] - side))
    y1 = min(max(0.0, cy - side / 2), max(0.0, size[1] - side))
    return x1, y1, x1 + side, y1 + side


def cache_dir(kind: str, base: str | Path | None = None) -> Path:
    """Where the logo stages cache what they derive from a catalog: ``<base>/<kind>``.

    ``base`` defaults to ``$XDG_CACHE_HOME/detector`` (``~/.cache/detector`` when the variable is unset or
    empty); ``kind`` is ``keypoints`` (described marks) or ``index`` (embedded reference views).
    """
    root = Path(base) if base is not None else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "detector"
    return root / kind


def square_windows(size: tuple[int, int], fractions: Sequence[float], overlap: float = 0.5) -> np.ndarray:
    """Square windows at every scale, ending with the whole photo (a square of its longer side, centred).

    A window of side ``f`` × the shorter side slides in steps of ``(1 - overlap)`` × its side, spread so the
    last one touches the far edge. Returns ``(n, 4)`` float32 boxes; the whole-photo square reaches past the
    shorter side's edges (``crop_resized`` fills that part by reflection).
    """
    w, h = size
    out: list[tuple[float, float, float, float]] = []
    for f in fractions:
        s = f * min(w, h)
        step = max(1.0, s * (1 - overlap))
        nx = int(np.ceil(max(0.0, w - s) / step)) + 1
        ny = int(np.ceil(max(0.0, h - s) / step)) + 1
        for y in np.linspace(0, max(0.0, h - s), ny):
            for x in np.linspace(0, max(0.0, w - s), nx):
                out.append((x, y, x + s, y + s))
    side = max(w, h)
    out.append(((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2))
    return np.array(out, dtype=np.float32)


def crop_resized(pixels: np.ndarray, boxes: np.ndarray, side: int) -> np.ndarray:
    """Each box of an ``(h, w, 3)`` uint8 image cut out and resized to ``side`` × ``side``; outside parts reflect."""
    import cv2

    h, w = pixels.shape[:2]
    pad = int(np.ceil(max(0.0, -boxes[:, :2].min(), (boxes[:, 2] - w).max(), (boxes[:, 3] - h).max()))) if len(boxes) else 0
    padded = cv2.copyMakeBorder(pixels, pad, pad, pad, pad, cv2.BORDER_REFLECT) if pad else pixels
    out = np.empty((len(boxes), side, side, 3), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        # At least one pixel each way: a window of a tiny photo can round to nothing.
        top, left = min(round(y1) + pad, padded.shape[0] - 1), min(round(x1) + pad, padded.shape[1] - 1)
        crop = padded[top : max(top + 1, round(y2) + pad), left : max(left + 1, round(x2) + pad)]
        out[i] = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA if crop.shape[0] > side else cv2.INTER_LINEAR)
    return out
