"""Checkpoint selection: real logo photos against every mark, logo-free photos, and marks never trained on.

- Positives: the validation half of the logo benchmark's FlickrLogos-27 photos (``benchmarks/logo_data.py``;
  research-only, read from ../shared, never trained on), a square crop around the first annotated box.
- Negatives: the validation half of its logo-free photos, three crops each (whole, centre half, a corner).
- Gallery: two clean views (dark on light, light on dark) of every mark, trained and held out.
- ``select``: top-1 among the protocol's 21 brands counted only above the threshold that lets ≤ 3 % of
  negatives name a brand — one number for "finds the right mark and stays quiet elsewhere".
- Held-out marks: rendered product views of marks left out of training, against the same gallery.
"""

from __future__ import annotations

import logo_data
import numpy as np
import render
import torch
from PIL import Image
from train import clean_views, embed, make_bank


def _square(im: Image.Image, box: tuple[float, float, float, float], side: int, pad: float = 0.1) -> np.ndarray:
    x1, y1, x2, y2 = box
    s = max(x2 - x1, y2 - y1) * (1 + 2 * pad)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    crop = im.crop((int(cx - s / 2), int(cy - s / 2), int(cx + s / 2), int(cy + s / 2)))
    return np.asarray(crop.resize((side, side), Image.Resampling.BILINEAR).convert("RGB"))


class Validator:
    def __init__(self, entries: list[dict], side: int, seed: int = 0):
        self.slugs = [e["slug"] for e in entries]
        bank = make_bank(entries)
        self.gallery = clean_views(bank, side)
        brands = logo_data.mapped_brands()
        pos_val, _ = logo_data.split(logo_data.positives())
        neg_val, _ = logo_data.split(logo_data.negatives())
        slug_at = {s: i for i, s in enumerate(self.slugs)}
        self.pos = np.stack([_square(s.load(), s.boxes[0], side) for s in pos_val])
        self.pos_label = np.array([slug_at[brands[s.brand]] for s in pos_val])
        self.protocol = sorted({slug_at[s] for s in brands.values() if s in slug_at})
        crops, owner = [], []
        for j, s in enumerate(neg_val):
            im = s.load()
            w, h = im.size
            m = min(w, h)
            for box in ((0, 0, w, h), (w / 4, h / 4, 3 * w / 4, 3 * h / 4), (0, 0, m * 0.4, m * 0.4)):
                crops.append(np.asarray(im.crop(tuple(int(v) for v in box)).resize((side, side)).convert("RGB")))
                owner.append(j)
        self.neg, self.neg_owner, self.n_neg = np.stack(crops), np.array(owner), len(neg_val)
        self.bank, self.side, self.seed = bank, side, seed

    def _scores(self, q: torch.Tensor, g: torch.Tensor, cols: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Best mark and its similarity per query (a mark's score is the max over its two views)."""
        sims = (q @ g.T).view(len(q), -1, 2).amax(2).numpy()
        if cols is not None:
            sub = sims[:, cols]
            return np.asarray(cols)[sub.argmax(1)], sub.max(1)
        return sims.argmax(1), sims.max(1)

    def _neg_max(self, sims: np.ndarray) -> np.ndarray:
        out = np.full(self.n_neg, -1.0)
        np.maximum.at(out, self.neg_owner, sims)
        return out

    def run(self, net: torch.nn.Module, held_slugs: list[str]) -> dict:
        g = embed(net, self.gallery)
        q = embed(net, self.pos)
        ng = embed(net, self.neg)
        out: dict = {}
        for name, cols in (("all", None), ("protocol", self.protocol)):
            best, sim = self._scores(q, g, cols)
            _, nsim = self._scores(ng, g, cols)
            neg = self._neg_max(nsim)
            thr = float(np.quantile(neg, 0.97))
            right = best == self.pos_label
            out[f"top1_{name}"] = round(float(right.mean()), 4)
            out[f"top1_{name}_at3fp"] = round(float((right & (sim > thr)).mean()), 4)
            out[f"thr_{name}"] = round(thr, 4)
        # Held-out marks vs as many trained marks, both as rendered product views (fixed seed).
        at = {s: i for i, s in enumerate(self.slugs)}
        held = [at[s] for s in held_slugs]
        rng = np.random.default_rng([self.seed, 777])
        trained = [int(i) for i in rng.choice([i for i in range(len(self.slugs)) if i not in set(held)], len(held), replace=False)]
        for name, ids in (("heldout", held), ("trained", trained)):
            r = np.random.default_rng([self.seed, 778])
            views = np.stack([render.positive(self.bank, i, r, self.side) for i in ids for _ in range(2)])
            best, _ = self._scores(embed(net, views), g)
            out[f"synthetic_top1_{name}"] = round(float((best == np.repeat(ids, 2)).mean()), 4)
        out["select"] = out["top1_protocol_at3fp"]
        return out
