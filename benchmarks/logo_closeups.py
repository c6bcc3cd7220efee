"""Close-ups: each catalog mark filling 60–100 % of a photo, the shot sellers add to "prove" a product.

    python benchmarks/logo_closeups.py [--catalog DIR] [--per-mark 4] [--backend keypoints+shape+cnn]

For every brand of the catalog (the bundled one by default) its first mark is drawn ``--per-mark`` times
onto a 640 × 480 photo: the mark's longer side 60–100 % of the photo's shorter side, shifted so that big
marks run off the edge, dark on light or light on dark, on a plain colour or a texture (knit, grain,
gradient). Only the logo stage runs (no OCR: a legible wordmark would be found by its text, which is not
what this measures). A photo counts when the stage's best brand is the mark's brand.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
W, H = 640, 480
VARIANTS = ("plain-dark", "plain-light", "texture-dark", "texture-light")


def _texture(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    kind = rng.integers(0, 3)
    if kind == 0:  # knit
        a = rng.uniform(0, np.pi)
        t = np.sin((xx * np.cos(a) + yy * np.sin(a)) * rng.uniform(0.3, 0.8))[..., None] * rng.uniform(8, 20)
    elif kind == 1:  # grain
        t = rng.normal(0, rng.uniform(6, 14), (H, W, 1))
    else:  # gradient
        t = (yy / H)[..., None] * rng.uniform(-50, 50)
    return np.clip(base + t, 0, 255)


def closeup(mark: Image.Image, variant: str, rng: np.random.Generator) -> Image.Image:
    """``mark`` (RGBA or opaque) filling 60–100 % of a 640 × 480 photo in the given variant."""
    rgba = mark.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
    if alpha.min() > 0.98:  # an opaque picture: its dark ink is the mark
        alpha = 1.0 - np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0
    ys, xs = np.nonzero(alpha > 0.06)
    if len(xs):
        alpha = alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    fill = rng.uniform(0.6, 1.0)
    scale = fill * H / max(alpha.shape)
    size = (max(2, round(alpha.shape[1] * scale)), max(2, round(alpha.shape[0] * scale)))
    a = np.asarray(Image.fromarray((alpha * 255).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS), np.float32) / 255
    dark_on_light = variant.endswith("dark")
    base = np.full(3, rng.uniform(200, 245) if dark_on_light else rng.uniform(10, 60), np.float32)
    bg = np.broadcast_to(base, (H, W, 3)).copy() if variant.startswith("plain") else _texture(rng, base)
    ink = np.full(3, rng.uniform(5, 50) if dark_on_light else rng.uniform(215, 250), np.float32)
    # Centre with a shift of up to 15 % of the mark's size: big marks are cut by the photo's edge.
    x0 = int((W - size[0]) / 2 + rng.uniform(-0.15, 0.15) * size[0])
    y0 = int((H - size[1]) / 2 + rng.uniform(-0.15, 0.15) * size[1])
    full = np.zeros((H, W), np.float32)
    sx1, sy1 = max(0, -x0), max(0, -y0)
    dx1, dy1 = max(0, x0), max(0, y0)
    w = min(size[0] - sx1, W - dx1)
    h = min(size[1] - sy1, H - dy1)
    full[dy1 : dy1 + h, dx1 : dx1 + w] = a[sy1 : sy1 + h, sx1 : sx1 + w]
    out = bg * (1 - full[..., None]) + ink * full[..., None]
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def cases(catalog, per_mark: int, seed: int = 0):
    """(brand, variant, photo) for the first mark of every brand, ``per_mark`` variants each."""
    rng = np.random.default_rng(seed)
    for brand in catalog.brands:
        if not brand.marks:
            continue
        mark = catalog.mark_image(brand, brand.marks[0])
        for k in range(per_mark):
            variant = VARIANTS[k % len(VARIANTS)]
            yield brand.name, variant, closeup(mark, variant, rng)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", default=None)
    ap.add_argument("--per-mark", type=int, default=4)
    ap.add_argument("--backend", default=None, help="logo stages (default: the shipped config)")
    ap.add_argument("--save", default=None, help="folder to write the photos to, for a look")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from detector import Config, Detector
    from detector.stages import NoOcr

    cfg = Config()
    if args.backend:
        import dataclasses

        cfg = dataclasses.replace(cfg, logos=dataclasses.replace(cfg.logos, backend=args.backend))
    det = Detector(ocr=NoOcr(), config=cfg, catalog=args.catalog)
    det.warm_up()
    hits, total, times = Counter(), Counter(), []
    for i, (brand, variant, photo) in enumerate(cases(det.catalog, args.per_mark)):
        if args.save:
            Path(args.save).mkdir(parents=True, exist_ok=True)
            photo.save(Path(args.save) / f"{i:04d}-{variant}.png")
        t = time.perf_counter()
        found = det.logos.find(photo)
        times.append((time.perf_counter() - t) * 1000)
        total[variant] += 1
        hits[variant] += bool(found) and found[0].brand == brand
        print(f"\r{sum(total.values())} photos", end="", file=sys.stderr)
    print(file=sys.stderr)
    print(f"stages: {det.stages['logos']}; catalog: {len(det.catalog.brands)} brands; {args.per_mark} photos per mark")
    for v in VARIANTS:
        if total[v]:
            print(f"  {v:14s} {hits[v]:4d}/{total[v]:4d}  {100 * hits[v] / total[v]:5.1f} %")
    n = sum(total.values())
    print(f"  {'all':14s} {sum(hits.values()):4d}/{n:4d}  {100 * sum(hits.values()) / max(n, 1):5.1f} %")
    print(f"  logo stage ms per photo: median {np.median(times):.0f}, p90 {np.percentile(times, 90):.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
