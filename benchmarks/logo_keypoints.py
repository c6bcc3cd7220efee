"""Logo matching by local features (SIFT/RootSIFT + ratio test + RANSAC), on the protocol of issue 3.

    python benchmarks/logo_keypoints.py run                       # default setting, zero- and few-shot, + CNN fusion
    python benchmarks/logo_keypoints.py run --ratio-mode global --model affine --side 1024
    python benchmarks/logo_keypoints.py sweep                     # the settings compared in BENCHMARKS.md

Protocol (the same as ``benchmarks/logo_eval.py full``; data from ``benchmarks/logo_data.py``):
references are the one simple-icons mark of each of the 21 mapped FlickrLogos-27 brands (rendered dark on
light and light on dark, see ``detector/logos/keypoints.py``); positives the 617 FlickrLogos-27 training photos of
those brands; negatives the 341 clothing photos and FlickrLogos crops. ``split(seed 0)`` gives a validation
half and a test half. The operating threshold (minimum inliers, and min margin over the runner-up brand) is
fitted on the validation half for <= 5 % false positives and every figure is reported on the test half.
top-1: the best reported brand is the annotated one; FP: any brand reported on a negative; IoU: the top
match is right and the bounding box of the reference outline projected through the model has IoU >= 0.5
with an annotated box. Few-shot: the first annotated box of 3 validation photos per brand (the same
selection as logo_eval.py) is added as an extra reference; those photos leave the validation half.
Photos are resized to longest side ``--side`` (640 as in the product) with logo_eval.fit_size.

Fusion with the CNN stage reads the per-photo candidates that ``logo_eval.py full`` wrote to
out/logo_eval/cands-<embedder>-<zero|few>-shot.json (no CNN is run here). The rule
"keypoints >= k1 inliers, else the CNN's top brand if its score >= t and its keypoint inliers >= k2" is
fitted on the validation half over a grid (k2 = 0: plain OR; k1 = inf: keypoints only verify the CNN).

Per-photo SIFT features are cached under out/logo_cache/sift-*/ and per-photo matches under
out/logo_cache/kp-*.json, so reruns are quick. Everything runs on one thread and is deterministic.
"""

from __future__ import annotations

import os

# One thread everywhere (the machine is shared; timings are per core). Must precede numpy's import.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import dataclasses
import hashlib
import json
import platform
import statistics
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import logo_data as data
from logo_eval import FP_TARGET, evaluate, fit_size, fit_threshold

from detector.logos.keypoint_matcher import Features, KeypointConfig, KeypointMatcher, root_sift

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "out" / "logo_cache"
CNN_CANDS = ROOT / "out" / "logo_eval"


def _cv2():
    import cv2

    cv2.setNumThreads(1)
    return cv2


# -- photo features (cached) ---------------------------------------------------------------------
def photo_features(samples: list, cfg: KeypointConfig, side: int) -> dict[str, tuple[Features, float]]:
    """SIFT of every photo at longest side ``side``: {key: (features, detection ms)}; cached as .npz."""
    cv2 = _cv2()
    folder = CACHE / f"sift-{side}-n{cfg.photo_features}-e{cfg.edge_threshold:g}"
    folder.mkdir(parents=True, exist_ok=True)
    sift = cv2.SIFT_create(nfeatures=cfg.photo_features, edgeThreshold=cfg.edge_threshold)
    out = {}
    for s in samples:
        f = folder / (hashlib.sha1(s.key.encode()).hexdigest()[:16] + ".npz")
        if f.exists():
            z = np.load(f)
            xy, raw, ms, sc = z["xy"], z["raw"], float(z["ms"]), float(z["scale"])
        else:
            im, sc = fit_size(s.load(), side)
            t0 = time.perf_counter()
            grey = np.asarray(im.convert("L"))
            kps, desc = sift.detectAndCompute(grey, None)
            ms = (time.perf_counter() - t0) * 1000
            xy = np.array([k.pt for k in kps], np.float32).reshape(-1, 2)
            # OpenCV's SIFT values are whole numbers in 0..255: uint8 storage is lossless.
            raw = (desc if desc is not None else np.zeros((0, 128), np.float32)).astype(np.uint8)
            np.savez(f, xy=xy, raw=raw, ms=ms, scale=sc)
        out[s.key] = (Features(xy, root_sift(raw), sc), ms)
    return out


# -- references ----------------------------------------------------------------------------------
def few_shot_picks(shots: list, k: int = 3) -> list:
    """The first ``k`` validation photos of each brand, in split order (as logo_eval.few_shot_refs)."""
    by_brand: dict[str, list] = defaultdict(list)
    for s in shots:
        if len(by_brand[s.brand]) < k:
            by_brand[s.brand].append(s)
    return [s for ss in by_brand.values() for s in ss]


def build_matcher(cfg: KeypointConfig, few: list) -> KeypointMatcher:
    m = KeypointMatcher(cfg)
    for brand, slug in data.mapped_brands().items():
        with Image.open(data.LOGOS / "simple-icons" / f"{slug}.png") as im:
            m.add_mark(brand, f"{slug}.png", im)
    for s in few:
        x1, y1, x2, y2 = s.boxes[0]
        m.add_photo(s.brand, f"photo:{s.path.name}", s.load().crop((int(x1), int(y1), int(x2), int(y2))))
    return m


# -- matching (cached) ---------------------------------------------------------------------------
def run_config(cfg: KeypointConfig, side: int, few_shot: bool, splits: dict[str, list]) -> dict:
    """{split: [[key, candidates, ms]]}: per-brand geometric matches of every photo, cached as JSON."""
    tag = json.dumps({**dataclasses.asdict(cfg), "side": side, "few": few_shot}, sort_keys=True)
    f = CACHE / f"kp-{hashlib.sha1(tag.encode()).hexdigest()[:12]}.json"
    if f.exists():
        return json.loads(f.read_text())["splits"]
    _cv2()
    few = few_shot_picks(splits["vpos"]) if few_shot else []
    used = {s.key for s in few}
    matcher = build_matcher(cfg, few)
    feats = photo_features([s for v in splits.values() for s in v], cfg, side)
    res: dict[str, list] = {}
    for name, samples in splits.items():
        rows = []
        for s in samples:
            if s.key in used:
                continue
            ft, det_ms = feats[s.key]
            t0 = time.perf_counter()
            found = sorted(matcher.match(ft).values(), key=lambda m: (-m.inliers, m.brand))
            ms = det_ms + (time.perf_counter() - t0) * 1000
            cands = [
                {
                    "brand": m.brand,
                    "score": float(m.inliers),
                    # margin over the runner-up brand, in inliers (fit_threshold tries 0 and "strictly more")
                    "margin": float(m.inliers - (found[0].inliers if i else found[1].inliers if len(found) > 1 else 0)),
                    "box": [round(v, 1) for v in m.box],
                    "mark": m.mark,
                    "matches": m.matches,
                }
                for i, m in enumerate(found)
            ]
            rows.append([s.key, cands, round(ms, 2)])
        res[name] = rows
    f.write_text(json.dumps({"config": json.loads(tag), "n_ref_desc": matcher.n_descriptors, "splits": res}))
    return res


# -- evaluation ----------------------------------------------------------------------------------
def _pairs(rows: list, by_key: dict) -> list:
    return [(by_key[k], c) for k, c, *_ in rows]


def score_rows(res: dict, by_key: dict) -> dict:
    """Threshold fitted on validation, figures on test (logo_eval.fit_threshold / evaluate)."""
    vp, vn, tp, tn = (_pairs(res[k], by_key) for k in ("vpos", "vneg", "tpos", "tneg"))
    t, m, _ = fit_threshold(vp, vn, use_background=False)
    ev = evaluate(tp, tn, t, m)
    ev_val = evaluate(vp, vn, t, m)
    ev0 = evaluate(tp, tn, 0.0, -1e9)
    ms = [r[2] for k in res for r in res[k]]
    ev.update(
        threshold=t,
        margin=m,
        val_top1=ev_val["top1"],
        val_fp=ev_val["fp"],
        top1_no_threshold=ev0["top1"],
        ms=statistics.median(ms),
        ms_p90=float(np.percentile(ms, 90)),
    )
    return ev


def cnn_rows(label: str, embedder: str) -> dict[str, dict[str, list]] | None:
    f = CNN_CANDS / f"cands-{embedder}-{label}.json"
    if not f.exists():
        return None
    return {split: {k: c for k, c in rows} for split, rows in json.loads(f.read_text()).items()}


def _decide(kp: list, cnn: list, k1: float, t: float, k2: float) -> list:
    """One reported brand (or none): keypoints first, then the CNN's top candidate verified by keypoints."""
    if kp and kp[0]["score"] >= k1 and kp[0]["margin"] > 0:
        return [{**kp[0], "score": 1.0, "margin": 1.0}]
    if cnn:
        c = max(cnn, key=lambda c: c["score"])
        inl = next((x["score"] for x in kp if x["brand"] == c["brand"]), 0.0)
        if c["score"] >= t and inl >= k2:
            # a verified CNN brand takes the keypoint box when there is one (the CNN boxes are coarse)
            box = next((x["box"] for x in kp if x["brand"] == c["brand"]), c["box"])
            return [{"brand": c["brand"], "score": 1.0, "margin": 1.0, "box": box}]
    return []


def fuse(res: dict, cnn: dict, by_key: dict, rule: str = "cascade", target: float = FP_TARGET) -> dict:
    """Fit (k1, t, k2) of :func:`_decide` on validation for <= target FP; evaluate on test.

    rule "or": k2 = 0 (either stage may report); "verify": k1 = inf (only CNN brands with keypoint support);
    "cascade": both free.
    """

    def arrays(split: str) -> tuple:
        # per photo: keypoint top brand / inliers / margin, CNN top brand / score, keypoint inliers of the CNN brand
        rows = []
        for k, kp, *_ in res[split]:
            s = by_key[k]
            c = max(cnn[split].get(k, []), key=lambda c: c["score"], default=None)
            kb = kp[0]["brand"] if kp and kp[0]["margin"] > 0 else None
            inl = next((x["score"] for x in kp if c and x["brand"] == c["brand"]), 0.0)
            rows.append(
                (
                    kb == s.brand,
                    kb is not None,
                    kp[0]["score"] if kb else 0.0,
                    c is not None and c["brand"] == s.brand,
                    c["score"] if c else -1.0,
                    inl,
                )
            )
        return tuple(np.array(col) for col in zip(*rows))

    vp, vn = arrays("vpos"), arrays("vneg")

    def rates(a: tuple, k1: float, t: float, k2: float) -> tuple[float, float]:
        kp_ok, kp_any, kp_s, cnn_ok, cnn_s, inl = a
        use_kp = kp_any & (kp_s >= k1)
        use_cnn = ~use_kp & (cnn_s >= t) & (inl >= k2)
        return float(np.mean(use_kp | use_cnn)), float(np.mean((use_kp & kp_ok) | (use_cnn & cnn_ok)))

    cnn_scores = np.unique(np.round(vn[4][vn[4] >= 0], 4))
    ts = [float("inf")] + [float(x) + 1e-6 for x in cnn_scores[-60:]]  # where the validation FP can change
    best = (-1.0, 0.0, 0.0, 0.0)
    for k1 in [float("inf")] if rule == "verify" else [*range(4, 61), float("inf")]:
        for k2 in [0] if rule == "or" else range(16):
            for t in ts:
                if rates(vn, k1, t, k2)[0] > target:
                    continue
                acc = rates(vp, k1, t, k2)[1]
                if acc > best[0]:
                    best = (acc, k1, t, k2)
    _, k1, t, k2 = best

    def decided(split: str) -> list:
        return [(by_key[k], _decide(c, cnn[split].get(k, []), k1, t, k2)) for k, c, *_ in res[split]]

    ev = evaluate(decided("tpos"), decided("tneg"), 0.0, 0.0)
    ev.update(k1=k1, t=t, k2=k2, val_top1=best[0])
    return ev


# -- commands ------------------------------------------------------------------------------------
def load_splits(seed: int) -> tuple[dict[str, list], dict]:
    pos, neg = data.positives(), data.negatives()
    pv, pt = data.split(pos, seed)
    nv, nt = data.split(neg, seed)
    splits = {"vpos": pv, "tpos": pt, "vneg": nv, "tneg": nt}
    return splits, {s.key: s for v in splits.values() for s in v}


HEADER = (
    "| setting | references | top-1 @ ≤5 % FP (test) | FP (test; clothing / FlickrLogos crops) | IoU ≥ 0.5 | "
    "top-1 no threshold | min inliers / margin (fitted on val) | val top-1 / FP | ms/photo median (p90) | "
    "test pos / neg |\n|---|---|---|---|---|---|---|---|---|---|"
)


def table_row(name: str, label: str, ev: dict) -> str:
    return (
        f"| {name} | {label} | {ev['top1']:.1%} | {ev['fp']:.1%} ({ev['fp_clothing']:.1%} / {ev['fp_flickr_crops']:.1%}) | "
        f"{ev['loc']:.1%} | {ev['top1_no_threshold']:.1%} | {ev['threshold']:.0f} / {ev['margin']:.2f} | "
        f"{ev['val_top1']:.1%} / {ev['val_fp']:.1%} | {ev['ms']:.0f} ({ev['ms_p90']:.0f}) | {ev['n_pos']} / {ev['n_neg']} |"
    )


def config_from(args) -> KeypointConfig:
    return KeypointConfig(
        ref_side=args.ref_side,
        ref_blur=args.ref_blur,
        ref_max_features=args.ref_max_features,
        photo_features=args.photo_features,
        edge_threshold=args.edge_threshold,
        ratio=args.ratio,
        ratio_mode=args.ratio_mode,
        model=args.model,
        reproj=args.reproj,
    )


def cmd_run(args, settings: list[tuple[str, KeypointConfig, int]] | None = None) -> None:
    splits, by_key = load_splits(args.seed)
    settings = settings or [(args.name or "keypoints", config_from(args), args.side)]
    rows, fused, brands = [], [], []
    for name, cfg, side in settings:
        for label, few in (("zero-shot", False), ("few-shot (3 photos/brand)", True)):
            if few and args.zero_only:
                continue
            t0 = time.perf_counter()
            res = run_config(cfg, side, few, splits)
            ev = score_rows(res, by_key)
            rows.append(table_row(name, label, ev))
            print(rows[-1], f"  [{time.perf_counter() - t0:.0f} s]", flush=True)
            brands.append(f"{name} {label}: " + ", ".join(f"{b} {a:.0%}" for b, a in ev["per_brand"].items()))
            cnn = cnn_rows(label.split()[0], args.cnn) if args.fuse else None
            for rule in ("or", "verify", "cascade") if cnn is not None else ():
                fe = fuse(res, cnn, by_key, rule)
                fused.append(
                    f"| {name} + CNN, {rule} | {label} | {fe['top1']:.1%} | {fe['fp']:.1%} "
                    f"({fe['fp_clothing']:.1%} / {fe['fp_flickr_crops']:.1%}) | {fe['loc']:.1%} | "
                    f"{fe['k1']} / {fe['t']:.3f} / {fe['k2']} | {fe['val_top1']:.1%} |"
                )
                print(fused[-1], flush=True)
                brands.append(
                    f"fused ({rule}) {label}: " + ", ".join(f"{b} {a:.0%}" for b, a in fe["per_brand"].items())
                )
    print(f"\n{HEADER}\n" + "\n".join(rows))
    if fused:
        print(
            "\n| fusion (keypoints ≥ k1, else CNN top if score ≥ t and its keypoint inliers ≥ k2) | references | "
            "top-1 @ ≤5 % FP (test) | FP (test; clothing / FlickrLogos crops) | IoU ≥ 0.5 | k1 / t / k2 (fitted on val) | "
            "val top-1 |\n|---|---|---|---|---|---|---|"
        )
        print("\n".join(fused))
    print("\nPer brand (test):\n" + "\n".join(brands))


SWEEP = [
    # (name, overrides of KeypointConfig(), side); the ratio variants were measured with the homography model
    ("ref-ratio 0.8, affine", {}, 640),
    ("homography (MAGSAC)", {"model": "homography"}, 640),
    ("homography, brand-ratio 0.8", {"model": "homography", "ratio_mode": "brand"}, 640),
    ("homography, global ratio 0.8", {"model": "homography", "ratio_mode": "global"}, 640),
    ("homography, other-brand ratio 0.8", {"model": "homography", "ratio_mode": "other"}, 640),
    ("homography, ref-ratio 0.9", {"model": "homography", "ratio": 0.9}, 640),
    ("homography, ref-ratio 0.7", {"model": "homography", "ratio": 0.7}, 640),
    ("similarity", {"model": "similarity"}, 640),
    ("refs blurred σ 1.5", {"ref_blur": 1.5}, 640),
    ("≤ 300 ref keypoints per view", {"ref_max_features": 300}, 640),
    ("photo 1024", {}, 1024),
]


def cmd_sweep(args) -> None:
    base = config_from(args)
    settings = [(n, dataclasses.replace(base, **o), side) for n, o, side in SWEEP]
    if args.only:
        settings = [settings[int(i)] for i in args.only.split(",")]
    cmd_run(args, settings)


def main(argv: list[str] | None = None) -> None:
    d = KeypointConfig()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["run", "sweep"])
    ap.add_argument("--name", default="")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--side", type=int, default=640, help="photos are resized to this longest side first")
    ap.add_argument("--ref-side", type=int, default=d.ref_side)
    ap.add_argument("--ref-blur", type=float, default=d.ref_blur)
    ap.add_argument("--ref-max-features", type=int, default=d.ref_max_features)
    ap.add_argument("--photo-features", type=int, default=d.photo_features)
    ap.add_argument("--edge-threshold", type=float, default=d.edge_threshold)
    ap.add_argument("--ratio", type=float, default=d.ratio)
    ap.add_argument("--ratio-mode", choices=["global", "ref", "brand", "other"], default=d.ratio_mode)
    ap.add_argument("--model", choices=["homography", "affine", "similarity"], default=d.model)
    ap.add_argument("--reproj", type=float, default=d.reproj)
    ap.add_argument("--zero-only", action="store_true", help="skip few-shot")
    ap.add_argument("--only", default="", help="sweep: comma-separated indices of SWEEP to run")
    ap.add_argument("--fuse", action="store_true", help="also fit the fusion with the cached CNN candidates")
    ap.add_argument("--cnn", default="mobilenet_v2-imagenet.v1", help="embedder whose cached candidates are fused")
    args = ap.parse_args(argv)
    print(f"# {date.today()} {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    {"run": cmd_run, "sweep": cmd_sweep}[args.mode](args)


if __name__ == "__main__":
    main()
