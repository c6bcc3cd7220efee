#!/usr/bin/env python3
"""Make the README demo photos in ``examples/``.

Each demo photo is a plain CC0 clothing photo with brand text and/or a brand mark
"printed" onto the garment: the print is laid out flat, bent and warped with a slight
rotation and perspective, displaced a little along the fabric's folds, shaded by the
fabric's own lighting and texture, alpha-blended with a little wear, and finally the
whole photo gets a mild blur, sensor noise and JPEG compression.

Sources (read from ``--source``, default ``<repo>/../shared/data``):
  * base photos: ``photos/clothing/<class>/<uuid>.jpg`` (alexeygrigorev/clothing-dataset-small,
    CC0-1.0); the exact files are listed in ``EXAMPLES`` below;
  * marks: ``logos/simple-icons/<slug>.png`` (npm simple-icons 16.37.0, CC0-1.0 package;
    the marks are trademarks of their owners, used here only to demonstrate detection);
  * text: DejaVu Sans Bold, and DejaVu Sans Mono Bold for "NlKE" (Debian ``fonts-dejavu-core``).

Usage (from the repo root)::

    python examples/make_examples.py                 # writes examples/*.jpg
    python examples/make_examples.py --source /path/to/shared/data --out examples

Deterministic: every random choice comes from ``numpy.random.default_rng(SEED + index)``.
Needs Pillow, numpy and opencv-python-headless.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SEED = 20240611
REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "examples"

FONT_DIRS = [
    "/usr/share/fonts/truetype/dejavu",  # Debian/Ubuntu fonts-dejavu-core
    "/usr/share/fonts/dejavu",  # Fedora
    "/usr/share/fonts/TTF",  # Arch
]
FONT = "DejaVuSans-Bold.ttf"  # default for all text


LONG_SIDE = 800  # final longest side in px (the sources are 400x533 / 533x400)
SUPERSAMPLE = 3  # the flat print is drawn at 3x and downsampled (LANCZOS)
MAX_BYTES = 150_000  # JPEG size budget per photo
JPEG_QUALITY = 86  # starting quality; lowered in steps of 3 until under MAX_BYTES

# ---------------------------------------------------------------------------------------
# The demo set. Coordinates (cx, cy, width) are in pixels of the FINAL image
# (source photo scaled so its longest side is LONG_SIDE). A print is a vertical stack of
# elements, each ("mark", slug, width_px), ("text", string, font_px[, font file]) or
# ("peaks", None, width_px) (a drawn, brand-free mountain outline), separated by gap_px.
#   rot        rotation in degrees (counter-clockwise positive)
#   keystone   top edge shorter (>0) or longer (<0) than the bottom edge, as a fraction
#   shear      horizontal shift of the top edge relative to the bottom edge, as a fraction of width
#   bend       cylindrical bend (cap crowns): ends of the print rise by bend * height
#   opacity    ink coverage (1 = solid)
#   wear       strength of the random low-frequency ink wear (0..~0.2)
#   shading    how strongly the fabric's lighting modulates the ink (default 0.7)
#   ink        RGB ink colour
# ---------------------------------------------------------------------------------------
EXAMPLES = [
    {
        "out": "genuine_nike.jpg",
        "photo": "photos/clothing/t-shirt/06de9ebd-be39-4cc6-aea7-1d047ccf1a52.jpg",
        "prints": [
            {
                "elements": [("mark", "nike", 230), ("text", "NIKE", 64)],
                "gap_px": 14,
                "ink": (22, 22, 24),
                "cx": 306,
                "cy": 335,
                "rot": -2.0,
                "keystone": 0.03,
                "shear": 0.01,
                "bend": 0.0,
                "opacity": 0.96,
                "wear": 0.04,
            }
        ],
    },
    {
        "out": "genuine_adidas.jpg",
        "photo": "photos/clothing/t-shirt/12fdd808-d883-4428-9df0-c16e91cca103.jpg",
        "prints": [
            {
                "elements": [("mark", "adidas", 200), ("text", "adidas", 66)],
                "gap_px": 10,
                "ink": (236, 236, 232),
                "cx": 436,
                "cy": 272,
                "rot": 1.5,
                "keystone": 0.02,
                "shear": -0.01,
                "bend": 0.0,
                "opacity": 0.97,
                "wear": 0.03,
                "shading": 0.4,
            }
        ],
    },
    {
        "out": "misspelled_adibas.jpg",
        "photo": "photos/clothing/t-shirt/b2e084c7-e3a0-4182-8671-b908544a7cf2.jpg",
        "prints": [
            {
                "elements": [("text", "Adibas", 78)],
                "gap_px": 0,
                "ink": (20, 24, 48),
                "cx": 300,
                "cy": 300,
                "rot": -3.0,
                "keystone": 0.02,
                "shear": 0.0,
                "bend": 0.0,
                "opacity": 0.95,
                "wear": 0.07,
            }
        ],
    },
    {
        "out": "misspelled_nlke.jpg",
        "photo": "photos/clothing/hat/1aac00cd-b42a-40f1-a82a-dcc44a0879d4.jpg",
        "prints": [
            {
                # "NlKE": the second letter is a lower-case L, not an I. Set in DejaVu Sans Mono
                # Bold, whose "l" has a visible foot: in DejaVu Sans Bold "l" and "I" are the same
                # bar, and EasyOCR then reads the print as a genuine "NIKE".
                "elements": [("text", "NlKE", 64, "DejaVuSansMono-Bold.ttf"), ("mark", "nike", 165)],
                "gap_px": 6,
                "ink": (24, 22, 26),
                "cx": 266,
                "cy": 198,
                "rot": 1.5,
                "keystone": 0.10,
                "shear": 0.0,
                "bend": 0.10,
                "opacity": 0.95,
                "wear": 0.05,
            }
        ],
    },
    {
        "out": "mismatch_swoosh_puma.jpg",
        "photo": "photos/clothing/t-shirt/2a15cfb2-881f-47f2-a631-decf0a5ec2af.jpg",
        "prints": [
            {
                "elements": [("mark", "nike", 210), ("text", "PUMA", 66)],
                "gap_px": 14,
                "ink": (18, 18, 20),
                "cx": 442,
                "cy": 265,
                "rot": -2.5,
                "keystone": 0.02,
                "shear": 0.015,
                "bend": 0.0,
                "opacity": 0.95,
                "wear": 0.07,
            }
        ],
    },
    {
        "out": "replica_gucci.jpg",
        "photo": "photos/clothing/t-shirt/f84f31e8-449e-41e4-aab8-f874ac1ff31f.jpg",
        "prints": [
            {
                "elements": [("text", "GUCCI", 72)],
                "gap_px": 0,
                "ink": (16, 16, 18),
                "cx": 326,
                "cy": 345,
                "rot": 2.0,
                "keystone": 0.02,
                "shear": -0.01,
                "bend": 0.0,
                "opacity": 0.96,
                "wear": 0.05,
            }
        ],
        # A seller's watermark banner, flat over the photo (not on the fabric).
        "banner": {
            "text": "1:1 mirror quality",
            "font_px": 46,
            "corner": "bottom-left",
            "margin_px": 18,
            "pad_px": 12,
            "fill": (15, 15, 20, 200),
            "ink": (255, 255, 255),
        },
    },
    {
        "out": "unbranded_hike.jpg",
        "photo": "photos/clothing/t-shirt/996ee77c-3ed1-4630-9838-5d141ff18536.jpg",
        "prints": [
            {
                "elements": [("peaks", None, 190), ("text", "hike", 76)],
                "gap_px": 8,
                "ink": (248, 246, 238),
                "cx": 292,
                "cy": 345,
                "rot": -1.5,
                "keystone": 0.02,
                "shear": 0.0,
                "bend": 0.0,
                "opacity": 0.95,
                "wear": 0.05,
                "shading": 0.5,
            }
        ],
    },
    {
        "out": "unbranded_plain.jpg",
        "photo": "photos/clothing/t-shirt/e44b1445-0f43-4387-a8d6-e9c2d46de5ec.jpg",
        "prints": [],
    },
]


# ---------------------------------------------------------------------------------------
def find_font(name: str = FONT) -> str:
    for d in FONT_DIRS:
        if (Path(d) / name).is_file():
            return str(Path(d) / name)
    raise SystemExit(f"{name} not found in {FONT_DIRS} (install fonts-dejavu-core)")


def load_mark_alpha(source: Path, slug: str, width: int) -> np.ndarray:
    """The mark's shape (alpha channel, tight-cropped), scaled to `width` px."""
    im = Image.open(source / "logos" / "simple-icons" / f"{slug}.png").convert("RGBA")
    a = im.getchannel("A")
    a = a.crop(a.getbbox())
    h = max(1, round(a.height * width / a.width))
    return np.asarray(a.resize((width, h), Image.LANCZOS), dtype=np.float32) / 255.0


def text_alpha(text: str, font_px: int, font_path: str) -> np.ndarray:
    font = ImageFont.truetype(font_path, font_px)
    x0, y0, x1, y1 = font.getbbox(text)
    im = Image.new("L", (x1 - x0 + 4, y1 - y0 + 4), 0)
    ImageDraw.Draw(im).text((2 - x0, 2 - y0), text, font=font, fill=255)
    im = im.crop(im.getbbox())
    return np.asarray(im, dtype=np.float32) / 255.0


def peaks_alpha(width: int) -> np.ndarray:
    """A generic two-mountain outline (no brand), for the 'hike' shirt."""
    s = SUPERSAMPLE
    w, h = width * s, int(width * 0.42) * s
    im = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(im)
    lw = 9 * s
    d.line(
        [(0, h - lw), (w * 0.34, h * 0.12), (w * 0.52, h * 0.48), (w * 0.66, h * 0.28), (w, h - lw)],
        fill=255,
        width=lw,
        joint="curve",
    )
    d.line([(0, h - lw // 2), (w, h - lw // 2)], fill=255, width=lw)
    d.ellipse([w * 0.78, h * 0.02, w * 0.90, h * 0.02 + w * 0.12], fill=255)
    im = im.resize((width, h // s), Image.LANCZOS)
    return np.asarray(im, dtype=np.float32) / 255.0


def build_print(p: dict, source: Path, font_path: str) -> np.ndarray:
    """Stack the elements into one flat alpha image (final-pixel scale)."""
    parts = []
    for kind, what, size, *font in p["elements"]:
        if kind == "mark":
            parts.append(load_mark_alpha(source, what, size))
        elif kind == "text":
            parts.append(text_alpha(what, size, find_font(font[0]) if font else font_path))
        elif kind == "peaks":
            parts.append(peaks_alpha(size))
        else:
            raise ValueError(kind)
    pad = 6
    w = max(a.shape[1] for a in parts) + 2 * pad
    h = sum(a.shape[0] for a in parts) + p["gap_px"] * (len(parts) - 1) + 2 * pad
    out = np.zeros((h, w), np.float32)
    y = pad
    for a in parts:
        x = (w - a.shape[1]) // 2
        out[y : y + a.shape[0], x : x + a.shape[1]] = np.maximum(out[y : y + a.shape[0], x : x + a.shape[1]], a)
        y += a.shape[0] + p["gap_px"]
    return out


def bend_print(a: np.ndarray, bend: float) -> np.ndarray:
    """Cylindrical bend: compress towards the sides and lift the ends (a cap's crown)."""
    if bend <= 0:
        return a
    h, w = a.shape
    extra = int(np.ceil(bend * h)) + 2
    a = np.pad(a, ((extra, 0), (0, 0)))
    H = a.shape[0]
    phi = 0.9  # half-angle of the visible arc, radians
    xs = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / ((w - 1) / 2)  # -1..1 in output
    # output x (projected) -> source x (arc length)
    u = np.arcsin(np.clip(xs * np.sin(phi), -1, 1)) / phi
    map_x = np.tile(u * (w - 1) / 2 + (w - 1) / 2, (H, 1)).astype(np.float32)
    lift = bend * h * xs**2
    map_y = (np.arange(H, dtype=np.float32)[:, None] + lift[None, :]).astype(np.float32)
    return cv2.remap(a, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def place_quad(w: float, h: float, p: dict) -> np.ndarray:
    """Destination corners (tl, tr, br, bl) for a w x h print with rotation/perspective."""
    k, sh = p["keystone"], p["shear"]
    pts = np.array(
        [
            [-w / 2 * (1 - k) + sh * w, -h / 2],
            [w / 2 * (1 - k) + sh * w, -h / 2],
            [w / 2, h / 2],
            [-w / 2, h / 2],
        ],
        np.float32,
    )
    t = np.deg2rad(-p["rot"])  # image y axis points down
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], np.float32)
    return (pts @ rot.T + np.array([p["cx"], p["cy"]], np.float32)).astype(np.float32)


def smooth_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    n = rng.standard_normal(shape).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigma)
    return n / (n.std() + 1e-6)


def apply_print(img: np.ndarray, p: dict, source: Path, font_path: str, rng: np.random.Generator) -> np.ndarray:
    """Composite one print onto img (float32 RGB 0..255), following the fabric."""
    H, W = img.shape[:2]
    flat = bend_print(build_print(p, source, font_path), p["bend"])
    h, w = flat.shape
    dst = place_quad(w, h, p)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    M = cv2.getPerspectiveTransform(src, dst)
    alpha = cv2.warpPerspective(flat, M, (W, H), flags=cv2.INTER_LINEAR, borderValue=0)

    lum = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2GRAY)
    # 1) follow the folds: displace the print along the gradient of the fabric's shading
    folds = cv2.GaussianBlur(lum, (0, 0), 6)
    gx = cv2.Sobel(folds, cv2.CV_32F, 1, 0, ksize=5)
    gy = cv2.Sobel(folds, cv2.CV_32F, 0, 1, ksize=5)
    g = np.maximum(np.abs(gx).max(), np.abs(gy).max()) + 1e-6
    shift = 2.2  # px at the steepest fold
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    alpha = cv2.remap(alpha, xx + gx / g * shift, yy + gy / g * shift, cv2.INTER_LINEAR)

    # 2) ink coverage: opacity, low-frequency wear, a soft edge
    wear = np.clip(1.0 - p["wear"] * np.abs(smooth_noise(rng, (H, W), 5.0)), 0, 1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.6) * p["opacity"] * wear
    alpha = np.clip(alpha, 0, 1)

    # 3) the fabric's lighting and texture carry through the ink
    mask = alpha > 0.5
    ref = float(np.median(cv2.GaussianBlur(lum, (0, 0), 2)[mask])) if mask.any() else 0.5
    ratio = cv2.GaussianBlur(lum, (0, 0), 4) / max(ref, 1e-3)
    shade = np.clip(1.0 + p.get("shading", 0.7) * (ratio - 1.0), 0.75, 1.15)
    texture = lum - cv2.GaussianBlur(lum, (0, 0), 1.5)
    ink = np.array(p["ink"], np.float32)[None, None, :] * shade[..., None]
    ink = ink + 0.25 * 255.0 * texture[..., None]
    a3 = alpha[..., None]
    return img * (1 - a3) + np.clip(ink, 0, 255) * a3


def apply_banner(img: Image.Image, b: dict, font_path: str) -> Image.Image:
    font = ImageFont.truetype(font_path, b["font_px"])
    x0, y0, x1, y1 = font.getbbox(b["text"])
    tw, th = x1 - x0, y1 - y0
    bw, bh = tw + 2 * b["pad_px"], th + 2 * b["pad_px"]
    m = b["margin_px"]
    W, H = img.size
    bx = m if "left" in b["corner"] else W - m - bw
    by = m if "top" in b["corner"] else H - m - bh
    over = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    d.rounded_rectangle([bx, by, bx + bw, by + bh], radius=8, fill=b["fill"])
    d.text((bx + b["pad_px"] - x0, by + b["pad_px"] - y0), b["text"], font=font, fill=b["ink"] + (255,))
    return Image.alpha_composite(img.convert("RGBA"), over).convert("RGB")


def save_jpeg(img: Image.Image, path: Path) -> int:
    q = JPEG_QUALITY
    while True:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=q, optimize=True, subsampling=2)
        if buf.tell() <= MAX_BYTES or q <= 60:
            break
        q -= 3
    path.write_bytes(buf.getvalue())
    return q


def make_one(i: int, ex: dict, source: Path, out_dir: Path, font_path: str) -> None:
    rng = np.random.default_rng(SEED + i)
    base = Image.open(source / ex["photo"]).convert("RGB")
    s = LONG_SIDE / max(base.size)
    base = base.resize((round(base.width * s), round(base.height * s)), Image.LANCZOS)
    img = np.asarray(base, dtype=np.float32)
    for p in ex["prints"]:
        img = apply_print(img, p, source, font_path, rng)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    if "banner" in ex:
        im = apply_banner(im, ex["banner"], font_path)
    # camera: mild blur and sensor noise, then JPEG
    im = im.filter(ImageFilter.GaussianBlur(0.55))
    arr = np.asarray(im, dtype=np.float32) + rng.normal(0, 2.0, (im.height, im.width, 1))
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    q = save_jpeg(im, out_dir / ex["out"])
    size = (out_dir / ex["out"]).stat().st_size
    print(f"{ex['out']:28s} {im.width}x{im.height}  q={q}  {size / 1000:.0f} kB  <- {ex['photo']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help="shared data folder holding photos/clothing and logos/simple-icons "
        "(default: ../shared/data relative to the repo root)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: examples/)")
    ap.add_argument("--only", nargs="*", help="make only these output names")
    args = ap.parse_args()
    font_path = find_font()
    args.out.mkdir(parents=True, exist_ok=True)
    for i, ex in enumerate(EXAMPLES):
        if args.only and ex["out"] not in args.only:
            continue
        make_one(i, ex, args.source, args.out, font_path)


if __name__ == "__main__":
    main()
