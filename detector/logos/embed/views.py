"""Reference views: one flat mark file expanded into the ways it shows up on products.

A simple-icons mark is one colour on transparency. Printed, it appears dark on light
cloth, light on dark cloth, in other colours, slightly turned, on texture. Each view
is rendered square (the mark filling ``fill`` of the side) so it embeds like a crop.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter, ImageOps

# Bumped whenever the views change, so cached reference indexes are re-embedded (see cnn.brand_fingerprint).
VIEWS_VERSION = 2
VIEW_NAMES = (
    "white",
    "black",
    "grey",
    "mono_dark_on_light",
    "mono_light_on_dark",
    "inverted",
    "greyscale",
    "rot-12",
    "rot+12",
    "fabric",
)


def _alpha_mark(mark: Image.Image) -> Image.Image:
    """The mark as RGBA, trimmed to its visible pixels."""
    rgba = mark.convert("RGBA")
    bbox = rgba.getchannel("A").getbbox()
    return rgba.crop(bbox) if bbox else rgba


def _place(mark: Image.Image, background: Image.Image, fill: float) -> Image.Image:
    side = background.size[0]
    mw, mh = mark.size
    scale = fill * side / max(mw, mh)
    m = mark.resize((max(1, round(mw * scale)), max(1, round(mh * scale))), Image.Resampling.LANCZOS)
    out = background.convert("RGB").copy()
    out.paste(m, ((side - m.size[0]) // 2, (side - m.size[1]) // 2), m)
    return out


def _recolour(mark: Image.Image, rgb: tuple[int, int, int]) -> Image.Image:
    solid = Image.new("RGBA", mark.size, (*rgb, 255))
    solid.putalpha(mark.getchannel("A"))
    return solid


def _fabric(side: int, seed: int) -> Image.Image:
    """A woven-looking texture: a mid-tone colour with fine cross-hatched noise (deterministic per ``seed``)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=3)
    yy, xx = np.mgrid[0:side, 0:side]
    weave = 12 * np.sin(xx * 1.7) * np.sin(yy * 1.7) + rng.normal(0, 8, (side, side))
    arr = np.clip(base[None, None, :] + weave[..., None], 0, 255).astype(np.uint8)
    return Image.fromarray(arr).filter(ImageFilter.GaussianBlur(0.6))


def reference_views(
    mark: Image.Image, side: int = 224, fill: float = 0.8, seed: int = 0
) -> list[tuple[str, Image.Image]]:
    """Render ``mark`` (any mode; transparency honoured) as the views in ``VIEW_NAMES``, each ``side`` px square.

    >>> from PIL import Image
    >>> views = reference_views(Image.new("RGBA", (40, 20), (200, 0, 0, 255)))
    >>> [name for name, _ in views][:3], views[0][1].size
    (['white', 'black', 'grey'], (224, 224))
    """
    m = _alpha_mark(mark)
    white = Image.new("RGB", (side, side), (255, 255, 255))
    black = Image.new("RGB", (side, side), (0, 0, 0))
    grey = Image.new("RGB", (side, side), (128, 128, 128))
    on_white = _place(m, white, fill)
    views = [
        ("white", on_white),
        ("black", _place(m, black, fill)),
        ("grey", _place(m, grey, fill)),
        ("mono_dark_on_light", _place(_recolour(m, (20, 20, 20)), white, fill)),
        ("mono_light_on_dark", _place(_recolour(m, (240, 240, 240)), black, fill)),
        ("inverted", ImageOps.invert(on_white)),
        ("greyscale", ImageOps.grayscale(on_white).convert("RGB")),
        ("rot-12", _place(m.rotate(-12, expand=True, resample=Image.Resampling.BICUBIC), white, fill)),
        ("rot+12", _place(m.rotate(12, expand=True, resample=Image.Resampling.BICUBIC), white, fill)),
        ("fabric", _place(m, _fabric(side, seed), fill)),
    ]
    # A view in which the mark does not show (a black mark on the black ground) looks like any plain patch
    # and would match every logo-free window: leave it out.
    return [(name, im) for name, im in views if _visible(im)]


def _visible(view: Image.Image, min_std: float = 6.0) -> bool:
    """Whether ``view`` has any contrast: the grey levels' standard deviation (0-255) reaches ``min_std``."""
    return float(np.asarray(view.convert("L"), dtype=np.float32).std()) >= min_std


def plain_views(side: int = 224) -> list[Image.Image]:
    """Grounds with no mark: solid greys and colours, and woven textures. Embedded as background, they catch
    the plain windows of a photo that would otherwise land on whichever mark looks plainest.
    """
    solids = [(v, v, v) for v in (0, 64, 128, 192, 255)]
    solids += [(200, 30, 30), (30, 160, 60), (30, 60, 200), (230, 200, 40), (120, 60, 20), (250, 220, 200)]
    out = [Image.new("RGB", (side, side), c) for c in solids]
    out += [_fabric(side, seed) for seed in range(5)]
    return out
