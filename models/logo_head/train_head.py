"""Fine-tune a logo projection head on frozen MobileNetV2 features (metric learning, CPU, deterministic).

    python models/logo_head/train_head.py                 # features (~10 min on 2 cores), then training (~1 min)

Recipe (MODEL_CARD.md): every simple-icons mark except the 21 FlickrLogos-27 brands' (held out so the
benchmark measures brands the head never saw) is composited onto random patches of CC0 clothing photos with
realistic augmentation (composites.py); the frozen ImageNet MobileNetV2 embeds each composite and two clean
reference views of its mark (GeM over the last 1x1 conv, 1280-d). A small head (1280 -> 512 -> 256) is trained
with a symmetric InfoNCE loss so that a composite lands next to its own mark's views and away from the other
marks' views, plus a term that keeps logo-free clothing patches away from every mark. The clothing photos the
logo benchmark uses as negatives are excluded. Writes detector/logos/embed/data/<name>.npz and prints its sha256
for detector/logos/embed/manifest.py.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SHARED = ROOT.parent / "shared" / "data"
ICONS = SHARED / "logos" / "simple-icons"
CLOTHING = SHARED / "photos" / "clothing"
CACHE = ROOT / "out" / "logo_head"
OUT = ROOT / "detector" / "logos" / "embed" / "data"


def held_out_slugs() -> set[str]:
    with (SHARED / "logos" / "coverage.csv").open(newline="", encoding="utf-8") as fh:
        return {r["slug"] for r in csv.DictReader(fh) if r["slug"]}


def clothing_pool() -> list[str]:
    with (CLOTHING / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        files = sorted(r["file"] for r in csv.DictReader(fh))
    random.Random(0).shuffle(files)
    return files[300:]  # the first 300 of this shuffle are the logo benchmark's negatives (benchmarks/logo_data.py)


def extract(args) -> dict[str, np.ndarray]:
    import torch
    from composites import composite

    from detector.logos.embed import create_embedder
    from detector.logos.embed.views import reference_views

    cache = CACHE / f"feats-{args.marks}-{args.seed}.npz"
    if cache.exists():
        return dict(np.load(cache))
    torch.set_num_threads(args.threads)
    emb = create_embedder("mobilenet_v2-imagenet.v1/head-gem")
    rng = random.Random(args.seed)
    held = held_out_slugs()
    marks = sorted(p for p in ICONS.glob("*.png") if p.stem not in held)
    rng.shuffle(marks)
    marks = marks[: args.marks]
    photos = clothing_pool()
    photo_cache: dict[str, Image.Image] = {}

    def photo(name: str) -> Image.Image:
        if name not in photo_cache:
            with Image.open(CLOTHING / name) as im:
                im = im.convert("RGB")
            im.thumbnail((512, 512))
            photo_cache[name] = im
        return photo_cache[name]

    comps, views, bgs = [], [], []
    t0 = time.time()
    for i, path in enumerate(marks):
        with Image.open(path) as im:
            mark = im.convert("RGBA")
        comps += [composite(mark, photo(rng.choice(photos)), rng) for _ in range(2)]
        vs = dict(reference_views(mark, seed=i))
        views += [vs["white"], vs[rng.choice(["black", "grey", "mono_light_on_dark", "fabric", "greyscale"])]]
        if i % 200 == 0:
            print(f"  composited {i}/{len(marks)} ({time.time() - t0:.0f} s)", flush=True)
    for _ in range(args.background):
        p = photo(rng.choice(photos))
        s = int(rng.uniform(0.2, 0.8) * min(p.size))
        x, y = rng.randint(0, p.width - s), rng.randint(0, p.height - s)
        bgs.append(p.crop((x, y, x + s, y + s)))
    feats = {}
    for key, imgs in (("comp", comps), ("view", views), ("bg", bgs)):
        feats[key] = emb.embed(imgs)
        print(f"  embedded {key}: {len(imgs)} ({time.time() - t0:.0f} s)", flush=True)
    feats["comp"] = feats["comp"].reshape(len(marks), 2, -1)
    feats["view"] = feats["view"].reshape(len(marks), 2, -1)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **feats)
    return feats


def train(feats: dict[str, np.ndarray], args) -> tuple[dict[str, np.ndarray], dict]:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    n = feats["comp"].shape[0]
    perm = np.random.default_rng(args.seed).permutation(n)
    n_val = n // 10
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    comp = torch.from_numpy(feats["comp"]).float()
    view = torch.from_numpy(feats["view"]).float()
    bg = torch.from_numpy(feats["bg"]).float()
    d_in = comp.shape[-1]
    head = torch.nn.Sequential(
        torch.nn.Linear(d_in, args.hidden), torch.nn.ReLU(), torch.nn.Linear(args.hidden, args.dim)
    )
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=1e-4)
    tau = args.tau

    def proj(x):
        return F.normalize(head(x), dim=-1)

    def evaluate(idx):
        with torch.no_grad():
            protos = F.normalize(proj(view[idx]).mean(1), dim=-1)
            q = proj(comp[idx].reshape(-1, d_in))
            top1 = (q @ protos.T).argmax(1) == torch.arange(len(idx)).repeat_interleave(2)
            bg_max = (proj(bg) @ protos.T).max(1).values
            pos = (q * protos.repeat_interleave(2, 0)).sum(1)
        return {"top1": float(top1.float().mean()), "pos_sim": float(pos.mean()), "bg_max_sim": float(bg_max.mean())}

    # the same numbers for the frozen features (identity head), as the baseline
    with torch.no_grad():
        protos0 = F.normalize(view[val_idx].mean(1), dim=-1)
        q0 = comp[val_idx].reshape(-1, d_in)
        base = float(((q0 @ protos0.T).argmax(1) == torch.arange(n_val).repeat_interleave(2)).float().mean())
    print(f"held-out marks retrieval top-1 among {n_val}: frozen {base:.3f}", flush=True)
    for epoch in range(args.epochs):
        head.train()
        order = torch.from_numpy(np.random.default_rng(args.seed + epoch).permutation(tr_idx))
        for start in range(0, len(order), args.batch):
            b = order[start : start + args.batch]
            k = torch.randint(0, 2, (len(b),))
            q = proj(comp[b, k])
            p = F.normalize(proj(view[b]).mean(1), dim=-1)
            logits = q @ p.T / tau
            target = torch.arange(len(b))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            nb = bg[torch.randint(0, len(bg), (args.batch // 2,))]
            loss = (
                loss
                + args.bg_weight * F.softplus((proj(nb) @ p.T).max(1).values / tau - args.bg_margin / tau).mean() * tau
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % 10 == 9 or epoch == args.epochs - 1:
            head.eval()
            print(f"epoch {epoch + 1}: loss {loss.item():.3f} val {evaluate(val_idx)}", flush=True)
    head.eval()
    weights = {k.replace(".", "_"): v.detach().numpy().astype(np.float32) for k, v in head.state_dict().items()}
    return weights, {"frozen_val_top1": base, **evaluate(val_idx), "n_marks": int(n), "n_val_marks": int(n_val)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--marks", type=int, default=1500)
    ap.add_argument("--background", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--tau", type=float, default=0.07)
    ap.add_argument("--bg-weight", type=float, default=1.0)
    ap.add_argument("--bg-margin", type=float, default=0.3)
    ap.add_argument("--name", default="mobilenet_v2-logo.v1")
    args = ap.parse_args(argv)
    feats = extract(args)
    weights, stats = train(feats, args)
    OUT.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **weights)
    path = OUT / f"{args.name}.npz"
    path.write_bytes(buf.getvalue())
    sha = hashlib.sha256(buf.getvalue()).hexdigest()
    record = {"file": path.name, "sha256": sha, "bytes": len(buf.getvalue()), "args": vars(args), "stats": stats}
    (ROOT / "models" / "logo_head" / f"{args.name}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
