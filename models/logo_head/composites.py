"""Synthetic training pairs: a simple-icons mark composited onto a CC0 clothing photo, and its clean views.

Augmentation mimics how a printed or embroidered logo appears in a listing photo: scale (the mark fills
25-85 % of the crop), colour (brand colour, white, black, or a random colour), rotation (±25°),
perspective (cloth turned away), blur, brightness/contrast, JPEG re-encoding, and a random patch of a
real clothing photo behind it. Deterministic for a given ``random.Random``.
"""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


def _perspective_coeffs(w: int, h: int, rng: random.Random, strength: float) -> tuple[float, ...]:
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [(x + rng.uniform(-strength, strength) * w, y + rng.uniform(-strength, strength) * h) for x, y in src]
    a, b = [], []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    return tuple(np.linalg.solve(np.array(a, float), np.array(b, float)))


def _recolour(mark: Image.Image, rng: random.Random) -> Image.Image:
    r = rng.random()
    if r < 0.4:
        return mark  # brand colour
    if r < 0.6:
        rgb = (245, 245, 245)
    elif r < 0.8:
        rgb = (15, 15, 15)
    else:
        rgb = tuple(rng.randint(0, 255) for _ in range(3))
    solid = Image.new("RGBA", mark.size, (*rgb, 255))
    solid.putalpha(mark.getchannel("A"))
    return solid


def composite(mark: Image.Image, photo: Image.Image, rng: random.Random, side: int = 224) -> Image.Image:
    """``mark`` (RGBA) printed onto a random square patch of ``photo`` (RGB), returned ``side`` px square."""
    s = int(rng.uniform(0.3, 1.0) * min(photo.size))
    x, y = rng.randint(0, photo.width - s), rng.randint(0, photo.height - s)
    bg = photo.crop((x, y, x + s, y + s)).resize((side, side), Image.Resampling.BILINEAR)
    m = _recolour(mark.convert("RGBA"), rng)
    bbox = m.getchannel("A").getbbox()
    if bbox:
        m = m.crop(bbox)
    fill = rng.uniform(0.25, 0.85)
    scale = fill * side / max(m.size)
    m = m.resize((max(2, int(m.width * scale)), max(2, int(m.height * scale))), Image.Resampling.LANCZOS)
    m = m.rotate(rng.uniform(-25, 25), expand=True, resample=Image.Resampling.BICUBIC)
    if rng.random() < 0.7:
        m = m.transform(
            m.size, Image.Transform.PERSPECTIVE, _perspective_coeffs(*m.size, rng, 0.12), Image.Resampling.BICUBIC
        )
    if rng.random() < 0.5:  # ink/fabric: the print is partly transparent
        alpha = m.getchannel("A").point(lambda a: int(a * rng.uniform(0.6, 1.0)))
        m.putalpha(alpha)
    px = rng.randint(0, max(0, side - m.width))
    py = rng.randint(0, max(0, side - m.height))
    bg.paste(m, (px, py), m)
    out = bg
    if rng.random() < 0.6:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 2.0)))
    out = ImageEnhance.Brightness(out).enhance(rng.uniform(0.6, 1.4))
    out = ImageEnhance.Contrast(out).enhance(rng.uniform(0.6, 1.3))
    if rng.random() < 0.7:
        buf = io.BytesIO()
        out.save(buf, "JPEG", quality=rng.randint(30, 90))
        out = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return out
