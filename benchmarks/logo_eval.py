"""Logo matching: the validation protocol of issue 3.

    python benchmarks/logo_eval.py compare            # backbone x layer x pooling, on annotated crops
    python benchmarks/logo_eval.py full --few-shot    # the whole logo stage on photos, zero- and few-shot
    python benchmarks/logo_eval.py time               # ms per photo (longest side 640), 1 and 2 torch threads

References: the one simple-icons mark of each FlickrLogos-27 brand that has one (21 brands,
../shared/data/logos/coverage.csv), expanded into reference views. Positives: the FlickrLogos-27 training
photos of those brands. Negatives: clothing photos checked by eye plus FlickrLogos crops outside every
annotated box (benchmarks/logo_data.py). Half of each brand's photos (and half the negatives), drawn with a
fixed seed, are the validation half the threshold is fitted on; figures are reported on the other half.
Results are printed as Markdown; paste them into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
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

from detector.types import Box

FP_TARGET = 0.05
MARGINS = (0.0, 0.01, 0.02, 0.03, 0.05)
BG_MARGINS = (-1.0, -0.05, 0.0, 0.02, 0.05, 0.1)


# -- threshold fitting and scoring ---------------------------------------------------------------
def _top(cands: list[dict], t: float, m: float, g: float = -1.0) -> dict | None:
    ok = [c for c in cands if c["score"] >= t and c["margin"] >= m and c["score"] - c.get("bg", 0.0) >= g]
    return max(ok, key=lambda c: c["score"]) if ok else None


def fit_threshold(
    pos: list, neg: list, target: float = FP_TARGET, use_background: bool = True
) -> tuple[float, float, float]:
    """(threshold, min_margin, min_background_margin): best validation top-1 with FP <= target on validation negatives."""
    best = (-1.0, 1.0, 0.0, -1.0)
    has_bg = use_background and any("bg" in c for _, cands in pos for c in cands)
    for g in BG_MARGINS if has_bg else (-1.0,):
        for m in MARGINS:
            neg_best = sorted(
                (
                    max(
                        (c["score"] for c in cands if c["margin"] >= m and c["score"] - c.get("bg", 0.0) >= g),
                        default=0.0,
                    )
                    for _, cands in neg
                ),
                reverse=True,
            )
            k = int(np.floor(target * len(neg_best)))  # at most k negatives may clear the threshold
            t = float(neg_best[k]) + 1e-6 if k < len(neg_best) else 0.0
            acc = np.mean([(p := _top(c, t, m, g)) is not None and p["brand"] == s.brand for s, c in pos])
            if acc > best[0]:
                best = (float(acc), t, m, g)
    return best[1], best[2], best[3]


def evaluate(pos: list, neg: list, t: float, m: float, g: float = -1.0) -> dict:
    correct, located, per_brand = 0, 0, defaultdict(lambda: [0, 0])
    for s, cands in pos:
        p = _top(cands, t, m, g)
        hit = p is not None and p["brand"] == s.brand
        correct += hit
        per_brand[s.brand][0] += hit
        per_brand[s.brand][1] += 1
        if hit and any(Box(*p["box"]).iou(Box(*b)) >= 0.5 for b in s.boxes):
            located += 1
    fp = sum(_top(c, t, m, g) is not None for _, c in neg)
    fp_kind = {
        kind: float(np.mean([_top(c, t, m, g) is not None for s, c in neg if s.key.startswith(f"neg/{kind}/")] or [0]))
        for kind in ("clothing", "flickr")
    }
    return {
        "top1": correct / max(1, len(pos)),
        "fp": fp / max(1, len(neg)),
        "fp_clothing": fp_kind["clothing"],
        "fp_flickr_crops": fp_kind["flickr"],
        "loc": located / max(1, len(pos)),
        "loc_of_correct": located / max(1, correct),
        "n_pos": len(pos),
        "n_neg": len(neg),
        "per_brand": {b: v[0] / v[1] for b, v in sorted(per_brand.items())},
    }


# -- catalogs ------------------------------------------------------------------------------------
def flickr_catalog(demo: bool):
    from detector.catalog import Brand, Catalog

    brands = [Brand(b, marks=(f"{slug}.png",)) for b, slug in data.mapped_brands().items()]
    if demo:
        # The bundled demo brands are added as distractors (marks copied from simple-icons by slug).
        from detector.catalog import load_catalog

        names = {b.name.casefold() for b in brands}
        for b in load_catalog().brands:
            slugs = [Path(m).name for m in b.marks if (data.LOGOS / "simple-icons" / Path(m).name).exists()]
            if b.name.casefold() not in names and slugs and not any(a.casefold() in names for a in b.aliases):
                brands.append(Brand(f"demo:{b.name}", marks=tuple(slugs)))
    return Catalog(data.LOGOS / "simple-icons", tuple(brands))


def load_samples(args) -> tuple[list, list, list, list]:
    pos, neg = data.positives(), data.negatives()
    pv, pt = data.split(pos, args.seed)
    nv, nt = data.split(neg, args.seed)
    if args.limit:
        pv, pt, nv, nt = (x[:: max(1, len(x) // args.limit)] for x in (pv, pt, nv, nt))
    return pv, pt, nv, nt


def fit_size(im: Image.Image, side: int) -> tuple[Image.Image, float]:
    s = side / max(im.size)
    return im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.BILINEAR), s


# -- full protocol -------------------------------------------------------------------------------
def run_matcher(matcher, samples: list, side: int) -> tuple[list, list[float]]:
    out, times = [], []
    for s in samples:
        im, sc = fit_size(s.load(), side)
        t0 = time.perf_counter()
        cands = matcher.candidates(im)
        times.append((time.perf_counter() - t0) * 1000)
        out.append(
            (
                s,
                [
                    {
                        "brand": c.brand,
                        "score": c.score,
                        "margin": c.margin,
                        "bg": c.background,
                        "box": [v / sc for v in c.box.to_list()],
                    }
                    for c in cands
                ],
            )
        )
    return out, times


def few_shot_refs(matcher, shots: list, k: int = 3):
    """Crops of the first box of ``k`` validation photos per brand, embedded as extra references."""
    from detector.logos.index import RefMeta

    by_brand = defaultdict(list)
    for s in shots:
        if len(by_brand[s.brand]) < k:
            by_brand[s.brand].append(s)
    crops, metas = [], []
    for b, ss in by_brand.items():
        for s in ss:
            im = s.load()
            x1, y1, x2, y2 = s.boxes[0]
            crops.append(im.crop((int(x1), int(y1), int(x2), int(y2))))
            metas.append(RefMeta(brand=b, mark=f"photo:{s.path.name}", view="photo"))
    matcher.index.add(matcher.embedder.embed(crops), metas)
    return {s.key for ss in by_brand.values() for s in ss}


def cmd_full(args) -> None:
    from detector.logos.cnn import LogoMatcher, build_index
    from detector.logos.embed import create_embedder

    pv, pt, nv, nt = load_samples(args)
    catalog = flickr_catalog(args.demo)
    rows, lines = [], []
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for name in args.embedders.split(","):
        emb = create_embedder(name)
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        t0 = time.perf_counter()
        index = build_index(catalog, emb)
        build_s = time.perf_counter() - t0
        matcher = LogoMatcher(
            emb,
            index,
            max_side=args.max_side,
            verify_top=args.verify_top,
            background=None if args.no_background else "auto",
        )
        res = {}
        for label, few in (("zero-shot", False), ("few-shot (3 photos/brand)", True)):
            if few and not args.few_shot:
                continue
            used = few_shot_refs(matcher, pv) if few else set()
            vpos, tpos = (
                run_matcher(matcher, [s for s in pv if s.key not in used], args.side),
                run_matcher(matcher, pt, args.side),
            )
            vneg, tneg = run_matcher(matcher, nv, args.side), run_matcher(matcher, nt, args.side)
            times = vpos[1] + tpos[1] + vneg[1] + tneg[1]
            # Without the background bank: the same candidates, background margin held off.
            t, m, g = fit_threshold(vpos[0], vneg[0], use_background=False)
            ev = evaluate(tpos[0], tneg[0], t, m, g)
            rows.append(
                f"| {name} | {label} | {ev['top1']:.1%} | {ev['fp']:.1%} "
                f"({ev['fp_clothing']:.1%} / {ev['fp_flickr_crops']:.1%}) | {ev['loc']:.1%} | – | "
                f"{t:.3f} / {m:.2f} / off | {statistics.median(times):.0f} | {ev['n_pos']} / {ev['n_neg']} |"
            )
            print(rows[-1], flush=True)
            res[label + " no background"] = ev
            t, m, g = fit_threshold(vpos[0], vneg[0])
            ev = evaluate(tpos[0], tneg[0], t, m, g)
            ev0 = evaluate(tpos[0], tneg[0], 0.0, 0.0)
            ev.update(
                threshold=t,
                margin=m,
                background_margin=g,
                top1_no_threshold=ev0["top1"],
                ms=statistics.median(times),
                ms_p90=float(np.percentile(times, 90)),
            )
            res[label] = ev
            (Path(args.out) / f"cands-{name.replace('/', '_')}-{label.split()[0]}.json").write_text(
                json.dumps(
                    {
                        k: [[s.key, c] for s, c in v[0]]
                        for k, v in {"vpos": vpos, "tpos": tpos, "vneg": vneg, "tneg": tneg}.items()
                    }
                )
            )
            rows.append(
                f"| {name}{' +bg' if matcher.background is not None else ''} | {label} | {ev['top1']:.1%} | {ev['fp']:.1%} "
                f"({ev['fp_clothing']:.1%} / {ev['fp_flickr_crops']:.1%}) | {ev['loc']:.1%} | {ev0['top1']:.1%} | "
                f"{t:.3f} / {m:.2f} / {g:.2f} | {ev['ms']:.0f} ({ev['ms_p90']:.0f}) | {ev['n_pos']} / {ev['n_neg']} |"
            )
            print(rows[-1], flush=True)
        res["index_build_s"] = build_s
        res["index_size"] = len(index)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / f"full-{name.replace('/', '_')}.json").write_text(json.dumps(res, indent=1))
        for label, ev in res.items():
            if isinstance(ev, dict):
                lines.append(
                    f"{name} {label} per brand: " + ", ".join(f"{b} {a:.0%}" for b, a in ev["per_brand"].items())
                )
    print(
        "\n| embedder | references | top-1 @ ≤5 % FP (test) | FP (test; clothing / FlickrLogos crops) | IoU ≥ 0.5 | top-1 no threshold | "
        "threshold / margin / bg margin (fitted on val) | ms/image median (p90) | test pos / neg |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n" + "\n".join(lines))


# -- backbone / layer / pooling comparison on annotated crops ------------------------------------
def _square(b, size, context=0.15):
    from detector.logos.geometry import square_with_context

    return tuple(round(v) for v in square_with_context(np.array(b, dtype=np.float32), size, context))


def cmd_compare(args) -> None:
    import torch
    import torch.nn.functional as F

    from detector.logos.embed import create_embedder
    from detector.logos.embed.views import reference_views

    pv, pt, nv, nt = load_samples(args)
    rng = np.random.default_rng(args.seed)
    catalog = flickr_catalog(False)

    def pos_crops(samples):
        out = []
        for s in samples:
            im = s.load()
            out += [(s.brand, im.crop(_square(b, im.size))) for b in s.boxes[:2]]
        return out

    def neg_crops(samples):
        out = []
        for s in samples:
            im = s.load()
            for _ in range(3):
                side = int(rng.uniform(0.25, 0.8) * min(im.size))
                x, y = rng.integers(0, im.width - side + 1), rng.integers(0, im.height - side + 1)
                out.append((None, im.crop((x, y, x + side, y + side))))
        return out

    sets = {"pv": pos_crops(pv), "pt": pos_crops(pt), "nv": neg_crops(nv), "nt": neg_crops(nt)}
    refs = [
        (b.name, v)
        for b in catalog.brands
        for m in b.marks
        for _, v in reference_views(Image.open(catalog.mark_path(m)))
    ]
    brands = sorted({b for b, _ in refs})
    print(f"crops: {', '.join(f'{k} {len(v)}' for k, v in sets.items())}; references {len(refs)}", flush=True)
    rows = []
    for name in args.embedders.split(","):
        emb = create_embedder(name)
        if args.threads:
            torch.set_num_threads(args.threads)

        def fmaps(items, emb=emb):
            out = []
            for i in range(0, len(items), 32):
                x = emb._to_tensor([np.asarray(im.convert("RGB").resize((224, 224))) for _, im in items[i : i + 32]])
                out.append(emb._features(x))
            return torch.cat(out)

        t0 = time.perf_counter()
        feats = {k: fmaps(v) for k, v in {**sets, "ref": refs}.items()}
        secs = time.perf_counter() - t0
        for pool in ("gem", "avg", "max"):

            def vec(f, pool=pool):
                if pool == "max":
                    v = F.adaptive_max_pool2d(f, 1)
                elif pool == "avg":
                    v = F.adaptive_avg_pool2d(f, 1)
                else:
                    v = F.adaptive_avg_pool2d(f.clamp(min=1e-6).pow(3), 1).pow(1 / 3)
                return F.normalize(v.flatten(1), dim=1).numpy()

            ref_v = vec(feats["ref"])
            owner = np.array([brands.index(b) for b, _ in refs])

            def cands(key, ref_v=ref_v, owner=owner, feats=feats, vec=vec):
                sims = vec(feats[key]) @ ref_v.T
                per = np.stack([sims[:, owner == j].max(1) for j in range(len(brands))], 1)
                out = []
                for (b, _), row in zip(sets[key], per):
                    o = np.argsort(-row)
                    out.append(
                        (
                            data.Sample(key="", path=Path(), brand=b, boxes=[]),
                            [
                                {
                                    "brand": brands[o[0]],
                                    "score": float(row[o[0]]),
                                    "margin": float(row[o[0]] - row[o[1]]),
                                    "box": [0, 0, 0, 0],
                                }
                            ],
                        )
                    )
                return out

            cv, ct, nv_, nt_ = cands("pv"), cands("pt"), cands("nv"), cands("nt")
            t, m, g = fit_threshold(cv, nv_)
            ev, ev0 = evaluate(ct, nt_, t, m, g), evaluate(ct, nt_, 0, 0)
            label = f"{name.split('/')[0]} {emb.spec.layer} (stride {emb.stride}, {emb.dim}-d) {pool}"
            rows.append(f"| {label} | {ev['top1']:.1%} | {ev['fp']:.1%} | {ev0['top1']:.1%} | {secs:.0f} s |")
            print(rows[-1], flush=True)
    print(
        "\n| backbone, layer, pooling | crop top-1 @ ≤5 % FP (test) | FP (test) | crop top-1 no threshold | embed time, all crops |"
    )
    print("|---|---|---|---|---|")
    print("\n".join(rows))


def cmd_time(args) -> None:
    """Median LogoMatcher.find time on photos resized to --side, per torch thread count, with the load average."""
    import torch

    from detector.logos.cnn import LogoMatcher, build_index
    from detector.logos.embed import create_embedder

    _, pt, _, nt = load_samples(args)
    samples = (pt[:: max(1, len(pt) // 20)] + nt[:: max(1, len(nt) // 20)])[:40]
    images = [fit_size(s.load(), args.side)[0] for s in samples]
    catalog = flickr_catalog(args.demo)
    for name in args.embedders.split(","):
        emb = create_embedder(name)
        matcher = LogoMatcher(emb, build_index(catalog, emb), max_side=args.max_side)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            matcher.find(images[0])  # warm-up
            times = []
            for im in images:
                t0 = time.perf_counter()
                matcher.find(im)
                times.append((time.perf_counter() - t0) * 1000)
            load = os.getloadavg()[0]
            print(
                f"| {name} | {threads} | {statistics.median(times):.0f} | {np.percentile(times, 90):.0f} | "
                f"{len(images)} | {load:.1f} |",
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["compare", "full", "time"])
    ap.add_argument("--embedders", default="mobilenet_v2-imagenet.v1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="subsample each split to about this many (quick runs)")
    ap.add_argument("--side", type=int, default=640, help="photos are resized to this longest side first")
    ap.add_argument("--max-side", type=int, default=512, help="LogoMatcher.max_side")
    ap.add_argument("--verify-top", type=int, default=6)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: the embedder's default, all cores)")
    ap.add_argument("--few-shot", action="store_true")
    ap.add_argument("--no-background", action="store_true", help="ignore the embedder's background bank")
    ap.add_argument("--demo", action="store_true", help="add the bundled demo catalog's brands as distractors")
    ap.add_argument("--out", default="out/logo_eval")
    args = ap.parse_args(argv)
    print(
        f"# {date.today()} {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}", flush=True
    )
    {"compare": cmd_compare, "full": cmd_full, "time": cmd_time}[args.mode](args)


if __name__ == "__main__":
    main()
