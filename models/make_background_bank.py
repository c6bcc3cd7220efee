"""Build the background bank of an embedder: embeddings of logo-free patches of product photos.

    python models/make_background_bank.py --embedder mobilenet_v2-imagenet.v1

The logo stage compares a candidate's similarity to its best brand with its similarity to the
nearest background patch: a plain black jumper resembles the black Apple mark, but it resembles
other plain cloth even more. Patches come from CC0 clothing photos (alexeygrigorev/clothing-dataset-small,
../shared/data/photos/clothing) that are NOT in the negatives of the logo benchmark, cropped the way the
verification step crops (squares of 20-80 % of the shorter side). Deterministic with --seed.
Writes detector/logos/embed/data/background-<embedder>.npy (float16) and records its sha256 in
detector/logos/embed/data/background.json.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

OUT = ROOT / "detector" / "logos" / "embed" / "data"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--embedder", default="mobilenet_v2-imagenet.v1")
    ap.add_argument("--photos", type=int, default=250)
    ap.add_argument("--per-photo", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import logo_data

    from detector.logos.embed import create_embedder

    held_out = {s.key.split("/", 2)[2] for s in logo_data.negatives() if s.crop is None}
    # the benchmark draws its 300 clothing negatives from this same shuffle: skip all 300, not just the kept ones
    with (logo_data.CLOTHING / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        files = sorted(r["file"] for r in csv.DictReader(fh))
    random.Random(0).shuffle(files)
    pool = [f for f in files[300:] if f not in held_out]
    rng = random.Random(args.seed)
    rng.shuffle(pool)
    crops = []
    for f in pool[: args.photos]:
        with Image.open(logo_data.CLOTHING / f) as im:
            im = im.convert("RGB")
        for _ in range(args.per_photo):
            side = int(rng.uniform(0.2, 0.8) * min(im.size))
            x, y = rng.randint(0, im.width - side), rng.randint(0, im.height - side)
            crops.append(im.crop((x, y, x + side, y + side)))
    emb = create_embedder(args.embedder)
    vecs = emb.embed(crops).astype(np.float16)
    OUT.mkdir(parents=True, exist_ok=True)
    slug = args.embedder.replace("/", "_")
    buf = io.BytesIO()
    np.save(buf, vecs)
    path = OUT / f"background-{slug}.npy"
    path.write_bytes(buf.getvalue())
    meta_path = OUT / "background.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta[args.embedder] = {
        "file": path.name,
        "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
        "count": len(vecs),
        "source": "CC0 clothing photos (clothing-dataset-small), not in the logo benchmark negatives",
        "recipe": f"{args.photos} photos x {args.per_photo} square crops of 20-80% of the shorter side, seed {args.seed}",
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {path} ({len(vecs)} vectors)")


if __name__ == "__main__":
    main()
