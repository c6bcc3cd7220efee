"""Data of the photo-linking benchmark (issue 14): the CC0 clothing photos, their edited copies, the splits.

Each source photo gets one copy per edit a re-poster makes (``EDITS``); every edit is seeded by the
photo's name, so a run makes the same copies every time. Copies are written under a scratch folder
(never committed). The split is by photo: within each class, photos in name order alternate between
``tune`` (thresholds are chosen on it) and ``test`` (held out, reported).
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLOTHING = SHARED / "photos" / "clothing"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


@dataclass(frozen=True)
class Source:
    """One original photo of the set."""

    key: str  # "dress/009b….jpg"
    path: Path
    cls: str
    split: str  # "tune" | "test"


def sources(root: Path = CLOTHING) -> list[Source]:
    """Every photo of the clothing set with its split (alternating by name within each class)."""
    with (root / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["file"])
    out, seen = [], {}
    for r in rows:
        n = seen[r["class"]] = seen.get(r["class"], -1) + 1
        out.append(Source(r["file"], root / r["file"], r["class"], "tune" if n % 2 == 0 else "test"))
    return out


def _rng(key: str, edit: str) -> random.Random:
    return random.Random(int(hashlib.sha256(f"{key}:{edit}".encode()).hexdigest()[:12], 16))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:  # fonts-dejavu-core missing: PIL's bitmap font still draws text
        return ImageFont.load_default()


def jpeg(im: Image.Image, r: random.Random) -> Image.Image:
    """Re-encoded at a low JPEG quality (10-25): blocky, what a re-upload through a lossy app does."""
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=r.randint(10, 25))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def resize(im: Image.Image, r: random.Random) -> Image.Image:
    """Downscaled to 35-60 % of the side (a thumbnail), aspect kept."""
    f = r.uniform(0.35, 0.6)
    return im.resize((max(16, round(im.width * f)), max(16, round(im.height * f))), Image.Resampling.BILINEAR)


def crop(im: Image.Image, r: random.Random) -> Image.Image:
    """A crop keeping 60-70 % of the area, at a random place, aspect jittered."""
    area = r.uniform(0.6, 0.7)
    aspect = r.uniform(0.85, 1.15)
    w = min(im.width, round(im.width * (area * aspect) ** 0.5))
    h = min(im.height, round(im.width * im.height * area / w))
    x, y = r.randint(0, im.width - w), r.randint(0, im.height - h)
    return im.crop((x, y, x + w, y + h))


def mirror(im: Image.Image, r: random.Random) -> Image.Image:
    """Flipped left to right."""
    return ImageOps.mirror(im)


def colour(im: Image.Image, r: random.Random) -> Image.Image:
    """A colour shift: hue rotated 20-60°, saturation and brightness changed by up to 30 %."""
    h, s, v = im.convert("HSV").split()
    shift = r.randint(14, 42) * r.choice((-1, 1))
    h = h.point(lambda p: (p + shift) % 256)
    out = Image.merge("HSV", (h, s, v)).convert("RGB")
    out = ImageEnhance.Color(out).enhance(r.uniform(0.7, 1.3))
    return ImageEnhance.Brightness(out).enhance(r.uniform(0.75, 1.25))


def border(im: Image.Image, r: random.Random) -> Image.Image:
    """A solid frame 6-15 % of the short side wide, in a random colour."""
    b = round(min(im.size) * r.uniform(0.06, 0.15))
    fill = tuple(r.randint(0, 255) for _ in range(3))
    return ImageOps.expand(im, border=b, fill=fill)


def watermark(im: Image.Image, r: random.Random) -> Image.Image:
    """A half-transparent shop name tiled diagonally over the photo."""
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    text = r.choice(["SHOP4YOU", "best-deals.example", "© outlet store", "TOPSELLER"])
    font = _font(max(12, im.width // 12))
    alpha = r.randint(70, 120)
    for y in range(-im.height, 2 * im.height, max(1, im.height // 4)):
        for x in range(-im.width, 2 * im.width, max(1, im.width // 2)):
            draw.text((x, y), text, font=font, fill=(255, 255, 255, alpha))
    layer = layer.rotate(r.uniform(20, 45), resample=Image.Resampling.BILINEAR)
    return Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB")


def text(im: Image.Image, r: random.Random) -> Image.Image:
    """A banner of sales text over the top or bottom fifth."""
    out = im.copy()
    draw = ImageDraw.Draw(out)
    bh = max(12, im.height // 6)
    y = 0 if r.random() < 0.5 else im.height - bh
    draw.rectangle((0, y, im.width, y + bh), fill=tuple(r.randint(0, 255) for _ in range(3)))
    words = r.choice(["SALE -50% FREE SHIPPING", "NEW IN! ORDER NOW", "BEST PRICE 9.99", "100% ORIGINAL"])
    draw.text((bh // 4, y + bh // 6), words, font=_font(round(bh * 0.6)), fill=(255, 255, 255))
    return out


EDITS: dict[str, Callable[[Image.Image, random.Random], Image.Image]] = {
    "jpeg": jpeg, "resize": resize, "crop": crop, "mirror": mirror, "colour": colour,
    "border": border, "watermark": watermark, "text": text,
}


def make_copies(items: list[Source], out: Path, edits: list[str] | None = None) -> dict[str, Path]:
    """Write every edit of every source under ``out`` (skipping ones already there): ``{"edit/key": path}``."""
    done: dict[str, Path] = {}
    for s in items:
        original: Image.Image | None = None
        for edit in edits or list(EDITS):
            target = out / edit / (s.key.rsplit(".", 1)[0] + ".jpg")
            if not target.is_file():
                if original is None:
                    with Image.open(s.path) as im:
                        original = im.convert("RGB")
                target.parent.mkdir(parents=True, exist_ok=True)
                # jpeg's own low quality is the edit; every other copy is saved as a marketplace would (q 90).
                EDITS[edit](original, _rng(s.key, edit)).save(target, "JPEG", quality=90)
            done[f"{edit}/{s.key}"] = target
    return done
