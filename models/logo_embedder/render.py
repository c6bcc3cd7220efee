"""On-the-fly training views: a flat simple-icons mark made to look as it does on products.

Every view is a square crop around the mark as a detector's box would frame it, ``side`` px, uint8 RGB.
The looks (each drawn with its own probability): flat colour in either polarity, gradients, metallic
shading, emboss/deboss, embroidery, neon glow, outline, a badge behind the mark; printed on cloth with
folds; perspective and cylinder warps; partial occlusion; motion and defocus blur; low light and noise;
JPEG. Backgrounds are CC0 clothing photos and procedural textures. Hard negatives (words in many fonts,
stripes, checks, textures, logo-free crops) are drawn by ``negative``.

Deterministic: a view depends only on the ``numpy.random.Generator`` handed in.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

WORK = 176  # canvas side before the final crop; the crop is resized to the model's input side
FONT_DIR = "/usr/share/fonts/truetype/dejavu"
HERSHEY = (0, 1, 2, 3, 4, 6, 7)  # cv2's vector fonts; 5 (script) reads as scribble
WORDS = ["SALE", "NEW", "ORIGINAL", "PREMIUM", "QUALITY", "COTTON", "100%", "SIZE", "XL", "MADE", "IN", "SUMMER", "CLASSIC", "VINTAGE", "SPORT", "CITY", "LONDON", "PARIS", "TOKYO", "NEW", "YORK", "BEST", "FRIENDS", "LOVE", "DREAM", "TEAM", "ATHLETIC", "DEPT", "EST", "1987", "UNIVERSITY", "ROCK", "BAND", "TOUR", "FREE", "SHIPPING", "AUTHENTIC", "LIMITED", "EDITION", "STREET", "WEAR", "URBAN", "STYLE", "HAPPY", "GOOD", "VIBES", "ONLY"]


class Bank:
    """Marks (alpha masks + brand colours) and background photos, loaded once per process."""

    def __init__(self, marks: list[np.ndarray], colours: list[tuple[int, int, int]], photos: list[np.ndarray]):
        self.marks = marks  # uint8 alpha, trimmed, longest side <= WORK
        self.colours = colours
        self.photos = photos  # uint8 RGB, longest side <= 320
        self.fonts = _fonts()


def load_mark(path: str, max_side: int = WORK) -> np.ndarray:
    """A mark file's alpha channel (or inverted luminance when opaque), trimmed and resized."""
    with Image.open(path) as im:
        rgba = im.convert("RGBA")
    a = np.asarray(rgba.getchannel("A"))
    if a.min() > 250:  # an opaque picture: dark ink on light
        a = 255 - np.asarray(rgba.convert("L"))
    ys, xs = np.nonzero(a > 16)
    if len(xs) == 0:
        return np.zeros((8, 8), np.uint8)
    a = a[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    s = max_side / max(a.shape)
    return cv2.resize(a, (max(2, round(a.shape[1] * s)), max(2, round(a.shape[0] * s))), interpolation=cv2.INTER_AREA)


def load_photo(path: str, max_side: int = 320) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side))
        return np.asarray(im).copy()


def _fonts() -> list:
    import glob

    fonts = []
    for f in sorted(glob.glob(f"{FONT_DIR}/*.ttf")):
        try:
            fonts.append(ImageFont.truetype(f, 40))
        except OSError:
            continue
    return fonts


# ---------------------------------------------------------------- backgrounds


def _texture(rng: np.random.Generator, side: int) -> np.ndarray:
    """A procedural surface: solid, gradient, noise, knit or leather grain."""
    base = rng.integers(0, 256, 3).astype(np.float32)
    kind = rng.integers(0, 5)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    if kind == 0:
        img = np.broadcast_to(base, (side, side, 3)).copy()
    elif kind == 1:
        other = rng.integers(0, 256, 3).astype(np.float32)
        t = (xx * np.cos(a := rng.uniform(0, np.pi)) + yy * np.sin(a))[..., None]
        img = base * (1 - t) + other * t
    elif kind == 2:
        noise = cv2.GaussianBlur(rng.normal(0, 1, (side, side)).astype(np.float32), (0, 0), rng.uniform(0.5, 6))
        img = base + noise[..., None] * rng.uniform(10, 60) / (noise.std() + 1e-6)
    elif kind == 3:  # knit / twill
        f = rng.uniform(20, 60)
        a = rng.uniform(0, np.pi)
        wave = np.sin((xx * np.cos(a) + yy * np.sin(a)) * f * np.pi)
        img = base + wave[..., None] * rng.uniform(8, 30)
    else:  # leather / canvas grain
        n = rng.normal(0, 1, (side, side)).astype(np.float32)
        img = base + cv2.GaussianBlur(n, (0, 0), 0.8)[..., None] * rng.uniform(5, 25)
    return np.clip(img, 0, 255).astype(np.uint8)


def background(bank: Bank, rng: np.random.Generator, side: int = WORK) -> np.ndarray:
    if rng.random() < 0.6 and bank.photos:
        p = bank.photos[rng.integers(len(bank.photos))]
        h, w = p.shape[:2]
        s = int(rng.uniform(0.15, 1.0) * min(h, w))
        s = max(s, 16)
        y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        crop = p[y : y + s, x : x + s]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return cv2.resize(crop, (side, side), interpolation=cv2.INTER_LINEAR)
    return _texture(rng, side)


# ---------------------------------------------------------------- the mark's look


def _contrasting(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    lum = rgb.mean()
    if rng.random() < 0.5:
        return np.full(3, 245.0 if lum < 128 else 15.0)
    c = rng.integers(0, 256, 3).astype(np.float32)
    if abs(c.mean() - lum) < 60:
        c = 255 - c
    return c


def _fill(alpha: np.ndarray, colour: np.ndarray, bg: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The mark's colour image and its alpha (float 0..1), in one of the product looks."""
    h, w = alpha.shape
    a = alpha.astype(np.float32) / 255.0
    look = rng.random()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if look < 0.35:  # flat: brand colour, white, black, or a colour that contrasts with the cloth
        r = rng.random()
        c = colour if r < 0.35 else _contrasting(bg.reshape(-1, 3).mean(0), rng)
        img = np.broadcast_to(c.astype(np.float32), (h, w, 3)).copy()
    elif look < 0.45:  # gradient fill
        c1, c2 = rng.integers(0, 256, (2, 3)).astype(np.float32)
        t = (yy / max(h - 1, 1))[..., None]
        img = c1 * (1 - t) + c2 * t
    elif look < 0.55:  # metallic / chrome: banded greys with a highlight
        t = yy / max(h - 1, 1) + 0.15 * xx / max(w - 1, 1)
        band = 0.5 + 0.5 * np.sin(t * rng.uniform(4, 12) + rng.uniform(0, 6))
        tint = rng.uniform(0.85, 1.1, 3).astype(np.float32)
        img = (90 + 160 * band)[..., None] * tint
    elif look < 0.65:  # emboss / deboss: the cloth itself, lit from one side along the mark's edges
        blur = cv2.GaussianBlur(a, (0, 0), max(1.0, h / 90))
        gx = cv2.Sobel(blur, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(blur, cv2.CV_32F, 0, 1, ksize=3)
        ang = rng.uniform(0, 2 * np.pi)
        shade = (gx * np.cos(ang) + gy * np.sin(ang)) * rng.choice([-1.0, 1.0]) * rng.uniform(200, 500)
        bgm = cv2.resize(bg, (w, h)).astype(np.float32)
        img = bgm * (1 + np.clip(shade, -0.6, 0.6)[..., None])
        a = np.clip(np.abs(shade) * 4 + a * 0.3, 0, 1)
    elif look < 0.75:  # embroidery: thread texture, dark stitched edge
        c = colour if rng.random() < 0.5 else _contrasting(bg.reshape(-1, 3).mean(0), rng)
        ang = rng.uniform(0, np.pi)
        thread = 0.75 + 0.25 * np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * rng.uniform(0.8, 1.6))
        img = c.astype(np.float32) * thread[..., None]
        edge = a - cv2.erode(a, np.ones((3, 3), np.uint8))
        img *= (1 - 0.4 * edge)[..., None]
        a = cv2.dilate(a, np.ones((2, 2), np.uint8))
    elif look < 0.82:  # neon: a thin bright tube and its glow
        c = rng.integers(80, 256, 3).astype(np.float32)
        tube = a - cv2.erode(a, np.ones((5, 5), np.uint8)) if rng.random() < 0.5 else a
        glow = cv2.GaussianBlur(tube, (0, 0), max(2.0, h / 30))
        img = np.clip(c * (tube + 1.5 * glow)[..., None] + 255 * tube[..., None] * 0.5, 0, 255)
        a = np.clip(tube + glow * 1.2, 0, 1)
    elif look < 0.90:  # outline only
        k = max(2, h // 40)
        a = a - cv2.erode(a, np.ones((k, k), np.uint8))
        img = np.broadcast_to(_contrasting(bg.reshape(-1, 3).mean(0), rng), (h, w, 3)).astype(np.float32).copy()
    else:  # the mark knocked out of a badge (circle or rounded square) in the brand colour
        pad = int(max(h, w) * rng.uniform(0.15, 0.35))
        H, W = h + 2 * pad, w + 2 * pad
        badge = np.zeros((H, W), np.float32)
        if rng.random() < 0.5:
            cv2.circle(badge, (W // 2, H // 2), max(H, W) // 2, 1.0, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(badge, (0, 0), (W - 1, H - 1), 1.0, -1)
        inner = np.zeros((H, W), np.float32)
        inner[pad : pad + h, pad : pad + w] = a
        c = colour if rng.random() < 0.6 else rng.integers(0, 256, 3).astype(np.float32)
        ink = np.full(3, 245.0) if c.mean() < 140 else np.full(3, 15.0)
        img = c.astype(np.float32) * (1 - inner[..., None]) + ink * inner[..., None]
        return img, badge
    if rng.random() < 0.4:  # ink on cloth: partly transparent
        a = a * rng.uniform(0.55, 0.95)
    return img, a


# ---------------------------------------------------------------- geometry


def _warp(img: np.ndarray, a: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = a.shape
    pad = int(0.25 * max(h, w))
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    a = cv2.copyMakeBorder(a, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    H, W = a.shape
    src = np.float32([[0, 0], [W, 0], [W, H], [0, H]])
    jitter = rng.uniform(-0.12, 0.12, (4, 2)) * [W, H] if rng.random() < 0.6 else np.zeros((4, 2))
    ang = np.deg2rad(rng.uniform(-30, 30) if rng.random() < 0.7 else 0.0)
    c, s = np.cos(ang), np.sin(ang)
    centre = np.float32([W / 2, H / 2])
    dst = (src - centre) @ np.float32([[c, -s], [s, c]]).T + centre + jitter
    M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    img = cv2.warpPerspective(img, M, (W, H), flags=cv2.INTER_LINEAR)
    a = cv2.warpPerspective(a, M, (W, H), flags=cv2.INTER_LINEAR)
    r = rng.random()
    if r < 0.2:  # cylinder: a can, a bottle, a shoe's heel
        xs = np.linspace(-1, 1, W, dtype=np.float32)
        k = rng.uniform(0.6, 1.2)
        src_x = (np.sin(xs * k) / np.sin(k) + 1) * (W - 1) / 2
        mx = np.broadcast_to(src_x, (H, W)).astype(np.float32)
        my = np.broadcast_to(np.arange(H, dtype=np.float32)[:, None], (H, W)).astype(np.float32)
        img, a = cv2.remap(img, mx, my, cv2.INTER_LINEAR), cv2.remap(a, mx, my, cv2.INTER_LINEAR)
    elif r < 0.45:  # cloth folds: a smooth displacement field
        amp = rng.uniform(1, 0.05 * W)
        f = rng.uniform(1, 4) * 2 * np.pi / W
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        mx = xx + amp * np.sin(yy * f + rng.uniform(0, 6))
        my = yy + amp * np.sin(xx * f * rng.uniform(0.5, 1.5) + rng.uniform(0, 6))
        img, a = cv2.remap(img, mx, my, cv2.INTER_LINEAR), cv2.remap(a, mx, my, cv2.INTER_LINEAR)
    return img, a


def _frame(a: np.ndarray, rng: np.random.Generator, closeup: bool) -> tuple[int, int, int, int]:
    """A detector-like box around the mark's ink: loose or tight, shifted; a close-up cuts the mark."""
    ys, xs = np.nonzero(a > 0.2)
    if len(xs) == 0:
        return 0, 0, a.shape[1], a.shape[0]
    x1, x2, y1, y2 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    side = max(x2 - x1, y2 - y1)
    scale = rng.uniform(0.6, 1.0) if closeup else rng.uniform(1.0, 1.6)
    s = max(8, int(side * scale))
    cx = (x1 + x2) / 2 + rng.uniform(-0.12, 0.12) * side
    cy = (y1 + y2) / 2 + rng.uniform(-0.12, 0.12) * side
    return int(cx - s / 2), int(cy - s / 2), int(cx + s / 2), int(cy + s / 2)


# ---------------------------------------------------------------- photometric


def _camera(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.astype(np.float32)
    if rng.random() < 0.5:  # light level, contrast, colour cast
        out = (out - 128) * rng.uniform(0.6, 1.3) + 128 + rng.uniform(-40, 40)
        out *= rng.uniform(0.85, 1.15, 3)
    if rng.random() < 0.15:  # low light: dark and noisy
        out = out * rng.uniform(0.2, 0.5) + rng.normal(0, rng.uniform(3, 12), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    r = rng.random()
    if r < 0.25:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 2.0))
    elif r < 0.4:  # motion blur
        k = int(rng.integers(3, 10))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2] = 1.0 / k
        M = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kern = cv2.warpAffine(kern, M, (k, k))
        out = cv2.filter2D(out, -1, kern / max(kern.sum(), 1e-6))
    if rng.random() < 0.7:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 92))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def _occlude(canvas: np.ndarray, box: tuple[int, int, int, int], bank: Bank, rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    ow, oh = int(w * rng.uniform(0.15, 0.45)), int(h * rng.uniform(0.15, 0.45))
    ox, oy = x1 + int(rng.uniform(0, max(1, w - ow))), y1 + int(rng.uniform(0, max(1, h - oh)))
    patch = background(bank, rng, max(ow, oh, 2))[:oh, :ow]
    ys, xs = slice(max(oy, 0), max(oy, 0) + patch.shape[0]), slice(max(ox, 0), max(ox, 0) + patch.shape[1])
    region = canvas[ys, xs]
    region[:] = patch[: region.shape[0], : region.shape[1]]


# ---------------------------------------------------------------- entry points


def reference(bank: Bank, mark: int, rng: np.random.Generator, side: int = 128) -> np.ndarray:
    """A clean view like the catalog's reference views: the flat mark centred on a plain ground."""
    alpha = bank.marks[mark].astype(np.float32) / 255.0
    s = rng.uniform(0.55, 0.85) * side / max(alpha.shape)
    a = cv2.resize(alpha, (max(1, round(alpha.shape[1] * s)), max(1, round(alpha.shape[0] * s))), interpolation=cv2.INTER_AREA)
    r = rng.random()
    if r < 0.4:
        ground, ink = np.full(3, 255.0), np.zeros(3)
    elif r < 0.7:
        ground, ink = np.zeros(3), np.full(3, 255.0)
    elif r < 0.85:
        ground, ink = np.full(3, 255.0), np.float32(bank.colours[mark])
    else:
        ground = rng.integers(0, 256, 3).astype(np.float32)
        ink = _contrasting(ground, rng)
    canvas = np.zeros((side, side), np.float32)
    y, x = (side - a.shape[0]) // 2, (side - a.shape[1]) // 2
    canvas[y : y + a.shape[0], x : x + a.shape[1]] = a
    img = ground * (1 - canvas[..., None]) + ink * canvas[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def positive(bank: Bank, mark: int, rng: np.random.Generator, side: int = 128, reference_share: float = 0.0) -> np.ndarray:
    """One product-like view of mark ``mark``: ``side`` px square RGB uint8.

    ``reference_share`` of the views are clean reference-like views instead, so that the catalog's
    reference views (flat marks) land on the same embedding as the mark seen on products.
    """
    if reference_share and rng.random() < reference_share:
        return reference(bank, mark, rng, side)
    alpha = bank.marks[mark]
    fill = rng.uniform(0.35, 0.8)
    s = fill * WORK / max(alpha.shape)
    alpha = cv2.resize(alpha, (max(2, int(alpha.shape[1] * s)), max(2, int(alpha.shape[0] * s))))
    bg = background(bank, rng, WORK)
    img, a = _fill(alpha, np.float32(bank.colours[mark]), bg, rng)
    img, a = _warp(img.astype(np.float32), a.astype(np.float32), rng)
    # Paste the warped mark at the canvas centre (the canvas grows when the warp made it larger).
    H, W = a.shape
    canvas_side = max(WORK, H, W)
    canvas = cv2.resize(bg, (canvas_side, canvas_side)).astype(np.float32) if canvas_side != WORK else bg.astype(np.float32)
    oy, ox = (canvas_side - H) // 2, (canvas_side - W) // 2
    full_a = np.zeros((canvas_side, canvas_side), np.float32)
    full_a[oy : oy + H, ox : ox + W] = a
    full_img = np.zeros_like(canvas)
    full_img[oy : oy + H, ox : ox + W] = img
    canvas = canvas * (1 - full_a[..., None]) + full_img * full_a[..., None]
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    box = _frame(full_a, rng, closeup=rng.random() < 0.15)
    if rng.random() < 0.15:
        _occlude(canvas, box, bank, rng)
    crop = _crop(canvas, box)
    return _camera(cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA), rng)


def _crop(canvas: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The box cut out of the canvas; the part outside the canvas repeats its edge (like a padded crop)."""
    x1, y1, x2, y2 = box
    h, w = canvas.shape[:2]
    pad = max(0, -x1, -y1, x2 - w, y2 - h)
    if pad:
        canvas = cv2.copyMakeBorder(canvas, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    return canvas[y1 + pad : y2 + pad, x1 + pad : x2 + pad]


def negative(bank: Bank, rng: np.random.Generator, side: int = 128) -> np.ndarray:
    """A view with no mark: words in a font, stripes, checks, textures, or a plain crop of a photo."""
    bg = background(bank, rng, WORK)
    kind = rng.random()
    if kind < 0.4:
        img = _words(bank, bg, rng)
    elif kind < 0.6:  # stripes or checks
        img = bg.astype(np.float32)
        yy, xx = np.mgrid[0:WORK, 0:WORK].astype(np.float32)
        ang = rng.uniform(0, np.pi)
        period = rng.uniform(6, 50)
        stripes = (np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * 2 * np.pi / period) > 0).astype(np.float32)
        if rng.random() < 0.4:
            stripes = np.abs(stripes - (np.sin((-xx * np.sin(ang) + yy * np.cos(ang)) * 2 * np.pi / period) > 0))
        c = rng.integers(0, 256, 3).astype(np.float32)
        img = img * (1 - 0.8 * stripes[..., None]) + c * 0.8 * stripes[..., None]
    elif kind < 0.75:
        img = _texture(rng, WORK)
    else:
        img = bg
    img = np.clip(img, 0, 255).astype(np.uint8)
    return _camera(cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA), rng)


def _words(bank: Bank, bg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = int(rng.integers(1, 4))
    text = " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), n))
    if rng.random() < 0.3:
        text = text.lower() if rng.random() < 0.5 else text.title()
    colour = tuple(int(v) for v in _contrasting(bg.reshape(-1, 3).mean(0), rng))
    if bank.fonts and rng.random() < 0.75:
        font = bank.fonts[rng.integers(len(bank.fonts))]
        lines = text.split(" ") if rng.random() < 0.4 else [text]
        y = 0
        pieces = Image.new("L", (40 * 30, 60 * len(lines)), 0)
        d2 = ImageDraw.Draw(pieces)
        for line in lines:
            d2.text((0, y), line, font=font, fill=255)
            y += 52
        bbox = pieces.getbbox() or (0, 0, 1, 1)
        mask = np.asarray(pieces.crop(bbox))
    else:
        font_face = HERSHEY[rng.integers(len(HERSHEY))]
        (tw, th), base = cv2.getTextSize(text, font_face, 1.5, 2)
        mask = np.zeros((th + base + 8, tw + 8), np.uint8)
        cv2.putText(mask, text, (4, th + 4), font_face, 1.5, 255, int(rng.integers(1, 4)), cv2.LINE_AA)
    s = rng.uniform(0.5, 0.95) * WORK / max(mask.shape)
    mask = cv2.resize(mask, (max(2, int(mask.shape[1] * s)), max(2, int(mask.shape[0] * s))))
    a = mask.astype(np.float32) / 255.0
    img = np.broadcast_to(np.float32(colour), (*a.shape, 3)).copy()
    img, a = _warp(img, a, rng)
    H, W = a.shape
    canvas = cv2.resize(bg, (max(WORK, W, H),) * 2).astype(np.float32)
    oy, ox = (canvas.shape[0] - H) // 2, (canvas.shape[1] - W) // 2
    region = canvas[oy : oy + H, ox : ox + W]
    region[:] = region * (1 - a[..., None]) + img * a[..., None]
    return cv2.resize(canvas, (WORK, WORK))
