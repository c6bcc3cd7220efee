"""Photo linking (issue 14): precision and recall per edit type, and index build / link time with peak RSS.

    python benchmarks/link_eval.py quality [--per-class N]   # tune split: fits the thresholds; test split: reports
    python benchmarks/link_eval.py timing --photos 10000     # index build + link time and peak RSS, with the curve

One thread (torch, OpenCV, FAISS), as the house benchmarks run. Copies are written under
$XDG_CACHE_HOME/detector-bench/link-copies (never committed). CPU seconds are reported beside wall seconds:
the benchmark machine is shared, and CPU time is what a dedicated core would take.

Quality: every source photo of a split and one copy per edit (``link_data.EDITS``) are indexed together,
each photo as its own seller. A pair of photos is a true link when both come from the same source photo.
Recall of an edit: share of (original, copy) pairs linked. Precision of an edit: share of the linked pairs
involving a copy of that edit that are true. Hard negatives: every pair of two different originals of one
class (two different black hoodies); each one linked is a false link in every edit's precision it touches.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from link_data import EDITS, Source, make_copies, sources

# Pairs at or above this cosine get no keypoint check while scoring (so no "sure" threshold above it is tried).
WIDE_SURE = 0.97
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "detector-bench" / "link-copies"


def _one_thread() -> None:
    import cv2
    import faiss
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    faiss.omp_set_num_threads(1)


def hash_key(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _photos(items: list[Source], edits: list[str]) -> list[tuple[str, str, Path]]:
    """(key, source key, file) of every original and copy."""
    copies = make_copies(items, CACHE, edits)
    out = [(f"orig/{s.key}", s.key, s.path) for s in items]
    out += [(k, k.split("/", 1)[1], p) for k, p in sorted(copies.items())]
    return out


def score_pairs(photos: list[tuple[str, str, Path]], cfg, linker, known=None):  # type: ignore[no-untyped-def]
    """Index every photo (each its own seller) and return every candidate pair with its hash distance, cosine
    and (for pairs a keypoint check would see) inliers: the raw material the thresholds are chosen from.
    ``known`` maps (a, b) to the inliers and spreads of an earlier scoring: those pairs are not checked again."""
    from detector.link.index import Photo
    from detector.link.pairs import candidates
    from detector.link.verify import KeypointCheck

    index = linker.open_index(None)
    t0, c0 = time.perf_counter(), time.process_time()
    import dataclasses

    import numpy as np

    from detector.link.describe import Prints

    parts = []
    for start in range(0, len(photos), cfg.batch):
        parts.append(linker.describer.describe([linker.load_photo(p) for _, _, p in photos[start:start + cfg.batch]]))
    prints = Prints(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Prints)))
    rows = [Photo(k, k, k, str(p), "", {}) for k, _, p in photos]
    new = index.add(rows, prints.phash, prints.vector)
    pairs = candidates(index, new, prints, cfg)
    t_desc = (time.perf_counter() - t0, time.process_time() - c0)
    check = KeypointCheck(lambda key: linker.load_photo(photos[int(key)][2]), max_side=cfg.keypoint_side,
                          features=cfg.keypoint_features, cache=4096)
    out = []
    t0, c0 = time.perf_counter(), time.process_time()
    n_kp = 0
    strictest = (max(GRID["keypoint_min_inliers"]), max(GRID["keypoint_min_spread"]))
    for c in pairs:
        g1 = g2 = (-1, -1.0)
        if known and (c.a, c.b) in known:
            out.append((c.a, c.b, round(float(c.cosine), 5), int(c.phash_distance), *known[(c.a, c.b)]))
            continue
        if c.phash_distance > cfg.phash_max_distance and c.cosine < cfg.cnn_sure:
            # As pairs.both_ways: the likelier orientation, the other one too unless the first passes every
            # grid point (so each grid point's decision can be replayed from the two).
            g1 = check.pair(str(c.b), str(c.a), mirrored=c.mirrored)
            if not g1.passes(*strictest):
                g2 = check.pair(str(c.b), str(c.a), mirrored=not c.mirrored)
            n_kp += 1
        out.append((c.a, c.b, round(float(c.cosine), 5), int(c.phash_distance), *map(float, (*g1, *g2))))
    t_kp = (time.perf_counter() - t0, time.process_time() - c0)
    print(f"  {len(photos)} photos described in {t_desc[0]:.0f} s wall / {t_desc[1]:.0f} s CPU; {len(pairs)} candidate "
          f"pairs, {n_kp} keypoint checks in {t_kp[0]:.0f} s wall / {t_kp[1]:.0f} s CPU", file=sys.stderr)
    return out


def evaluate(photos, scored, cfg) -> dict:  # type: ignore[no-untyped-def]
    """Precision / recall per edit of the links ``cfg`` would make among the scored candidate pairs."""
    from detector.link.pairs import Candidate, decide
    from detector.link.verify import NO_MODEL, Geometry

    key = [k for k, _, _ in photos]
    src = [s for _, s, _ in photos]
    edit = [k.split("/", 1)[0] for k in key]
    cls = [s.split("/", 1)[0] for s in src]
    linked = set()
    by = defaultdict(int)
    def replay(i1: float, s1: float, i2: float, s2: float) -> Geometry:
        g1, g2 = Geometry(int(i1), s1), Geometry(int(i2), s2)
        for g in (g1, g2):
            if g.inliers >= 0 and g.passes(cfg.keypoint_min_inliers, cfg.keypoint_min_spread):
                return g
        return NO_MODEL

    for a, b, cos, dist, *geo in scored:
        got = decide(Candidate(a, b, cos, False, dist), cfg, lambda geo=geo: replay(*geo))
        if got is not None:
            linked.add((min(a, b), max(a, b)))
            by[got[0]] += 1
    orig_of = {src[i]: i for i in range(len(key)) if edit[i] == "orig"}
    rows = {}
    for e in EDITS:
        copies = [i for i in range(len(key)) if edit[i] == e]
        hit = sum((min(i, orig_of[src[i]]), max(i, orig_of[src[i]])) in linked for i in copies)
        involving = [(a, b) for a, b in linked if edit[a] == e or edit[b] == e]
        true = sum(src[a] == src[b] for a, b in involving)
        rows[e] = {"pairs": len(copies), "recall": hit / max(1, len(copies)), "linked": len(involving),
                   "false": len(involving) - true, "precision": true / max(1, len(involving))}
    originals = [i for i in range(len(key)) if edit[i] == "orig"]
    hard = sum(1 for i, a in enumerate(originals) for b in originals[i + 1:] if cls[a] == cls[b])
    false_hard = [(key[a], key[b]) for a, b in linked if edit[a] == edit[b] == "orig" and src[a] != src[b]]
    false_all = sum(src[a] != src[b] for a, b in linked)
    return {"edits": rows, "hard_negatives": hard, "hard_negatives_linked": false_hard,
            "linked": len(linked), "false_links": false_all, "by": dict(by)}


class Table:
    """The scored pairs as arrays, so that one grid point's worst recall, worst precision and hard negatives
    take a few vectorised passes (``evaluate`` is the readable rule, and the report; ``tune`` checks they agree)."""

    def __init__(self, photos, scored) -> None:  # type: ignore[no-untyped-def]
        import numpy as np

        key = [k for k, _, _ in photos]
        src = [s for _, s, _ in photos]
        edits = list(EDITS)
        ed = np.array([edits.index(k.split("/", 1)[0]) if not k.startswith("orig/") else -1 for k in key])
        arr = np.array([x[:8] for x in scored], dtype=np.float64)
        a, b = arr[:, 0].astype(int), arr[:, 1].astype(int)
        self.cos, self.dist = arr[:, 2], arr[:, 3]
        self.i1, self.s1, self.i2, self.s2 = arr[:, 4], arr[:, 5], arr[:, 6], arr[:, 7]
        same = np.array([src[x] == src[y] for x, y in zip(a, b)])
        self.false = ~same
        self.edit_of = [(ed[a] == e) | (ed[b] == e) for e in range(len(edits))]
        # (copy, its own original) pairs, per edit: what recall counts
        self.true_pair = [same & (((ed[a] == e) & (ed[b] == -1)) | ((ed[b] == e) & (ed[a] == -1)))
                          for e in range(len(edits))]
        self.copies = [int((ed == e).sum()) for e in range(len(edits))]
        self.hard = (ed[a] == -1) & (ed[b] == -1) & ~same

    def score(self, cfg) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
        """(worst recall, worst precision, hard negatives linked) under ``cfg``."""
        geo = (((self.i1 >= cfg.keypoint_min_inliers) & (self.s1 >= cfg.keypoint_min_spread))
               | ((self.i2 >= cfg.keypoint_min_inliers) & (self.s2 >= cfg.keypoint_min_spread)))
        check = (self.cos >= cfg.cnn_candidate) | (self.dist <= cfg.phash_candidate)
        linked = (self.dist <= cfg.phash_max_distance) | (self.cos >= cfg.cnn_sure) | (check & geo)
        recall = min(int((linked & t).sum()) / max(1, n) for t, n in zip(self.true_pair, self.copies))
        precision = min(1 - int((linked & m & self.false).sum()) / max(1, int((linked & m).sum()))
                        for m in self.edit_of)
        return recall, precision, int((linked & self.hard).sum())


def tune(scored, photos, base):  # type: ignore[no-untyped-def]
    """The thresholds of the grid closest to clearing both bars on the tune split: the highest
    min(worst edit precision - PRECISION_BAR, worst edit recall - RECALL_BAR), with no two different originals
    linked; ties go to the higher worst precision, then the higher ``cnn_candidate`` (fewer keypoint checks).
    Returns the chosen config and the grid's table."""
    import dataclasses
    import itertools

    table_of = Table(photos, scored)
    best, table = None, []
    for phash, sure, cand, inliers, spread, hash_cand in itertools.product(*GRID.values()):
        cfg = dataclasses.replace(base, phash_max_distance=phash, cnn_sure=sure, cnn_candidate=cand,
                                  keypoint_min_inliers=inliers, keypoint_min_spread=spread, phash_candidate=hash_cand)
        wr, wp, hard = table_of.score(cfg)
        table.append((phash, sure, cand, inliers, spread, hash_cand, round(wr, 4), round(wp, 4), hard))
        key = (not hard, round(min(wp - PRECISION_BAR, wr - RECALL_BAR), 6), wp, cand, -hash_cand, -phash)
        if best is None or key > best[0]:
            best = (key, cfg)
    chosen = best[1]  # type: ignore[index]
    r = evaluate(photos, scored, chosen)
    slow = (min(e["recall"] for e in r["edits"].values()), min(e["precision"] for e in r["edits"].values()),
            len(r["hard_negatives_linked"]))
    assert all(abs(x - y) < 1e-9 for x, y in zip(slow, table_of.score(chosen))), (slow, table_of.score(chosen))
    return chosen, table


# The grid the thresholds are chosen from on the tune split (cosines below 0.6 and at or above WIDE_SURE are
# not scored with keypoints, so the grid stays inside them).
GRID = {
    "phash_max_distance": (4, 6, 8),
    "cnn_sure": (0.94, 0.95, 0.96, WIDE_SURE),
    "cnn_candidate": (0.6, 0.7, 0.8),
    "keypoint_min_inliers": (20, 25, 30, 35, 40, 45, 50),
    "keypoint_min_spread": (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
    "phash_candidate": (0, 10, 12, 14),
}
# The bars, per edit type.
PRECISION_BAR, RECALL_BAR = 0.99, 0.95


def cmd_quality(args: argparse.Namespace) -> None:
    import dataclasses

    from detector.config import LinkConfig
    from detector.link import Linker

    _one_thread()
    base = LinkConfig()
    # Permissive while scoring: every pair the shipped thresholds could decide gets its numbers.
    wide = dataclasses.replace(base, phash_max_distance=2, phash_candidate=max(GRID["phash_candidate"]),
                               cnn_sure=WIDE_SURE, cnn_candidate=args.floor)
    linker = Linker(wide)
    _ = linker.describer.embedder
    _one_thread()
    per: dict[str, int] = defaultdict(int)
    picked: dict[str, list[Source]] = {"tune": [], "test": []}
    for s in sources():
        if per[(s.split, s.cls)] < args.per_class:  # type: ignore[index]
            per[(s.split, s.cls)] += 1  # type: ignore[index]
            picked[s.split].append(s)
    results = {}
    for split in args.splits.split(","):
        photos = _photos(picked[split], list(EDITS))
        # v2: both orientations' inliers and spread per pair (v1 files held one inlier count); v3: and the
        # pairs the hashes alone bring (phash_candidate). A v2 file's checks are reused, not redone.
        saved = CACHE.parent / f"link-scored-v3-{split}-{args.per_class}-{args.floor}.json"
        older = CACHE.parent / f"link-scored-v2-{split}-{args.per_class}-{args.floor}.json"
        print(f"{split}: {len(picked[split])} sources, {len(photos)} photos", file=sys.stderr)
        if saved.is_file():  # the costly part, kept between runs (re-tuning reads it)
            scored = [tuple(x) for x in json.loads(saved.read_text())]
        else:
            known = {(x[0], x[1]): x[4:] for x in json.loads(older.read_text())} if older.is_file() else None
            scored = score_pairs(photos, wide, linker, known)
            saved.write_text(json.dumps(scored))
        results[split] = (photos, scored)
    chosen, table = tune(results["tune"][1], results["tune"][0], base) if args.fit and "tune" in results else (base, [])
    report = {"config": dataclasses.asdict(chosen), "floor": args.floor, "grid": table}
    for split, (photos, scored) in results.items():
        report[split] = evaluate(photos, scored, chosen)
    print(json.dumps(report, indent=1))


def cmd_timing(args: argparse.Namespace) -> None:
    """Index build (describe + add) and link (candidates + decisions) in steps of --step photos, peak RSS."""
    from detector.config import LinkConfig
    from detector.link import Linker
    from detector.link.manifest import PhotoRow

    _one_thread()
    linker = Linker(LinkConfig())
    _ = linker.describer.embedder
    _one_thread()
    items = sources()
    edits = list(EDITS)
    if args.photos < 9 * len(items):  # an even spread of sources, each with all its copies
        step = 9 * len(items) / args.photos
        items = [items[int(i * step)] for i in range(int(len(items) / step))]
    photos = _photos(items, edits)
    # Beyond 801 × 9, a second crop / colour / watermark of each photo (other seeds) reaches ~10k.
    extra = make_copies(items, CACHE / "round2", ["crop", "colour", "watermark"]) if args.photos > len(photos) else {}
    photos += [(f"r2/{k}", k.split("/", 1)[1], p) for k, p in sorted(extra.items())]
    photos = photos[: args.photos]
    # Interleaved (every source's versions apart), as a marketplace's photos arrive.
    photos.sort(key=lambda t: (hash_key(t[0])))
    rows = [PhotoRow(i + 2, f"L{i}", f"s{i}", str(p), p, {}) for i, (_, _, p) in enumerate(photos)]
    index = linker.open_index(None)
    curve = []
    t_all, c_all = time.perf_counter(), time.process_time()
    print(f"rss after model load: {_rss_mb():.0f} MB", file=sys.stderr)
    for start in range(0, len(rows), args.step):
        t0, c0 = time.perf_counter(), time.process_time()
        found, _, _ = linker.add(index, rows[start:start + args.step])
        point = {"photos": len(index), "wall_s": round(time.perf_counter() - t0, 1),
                 "cpu_s": round(time.process_time() - c0, 1), "links": len(found),
                 "peak_rss_mb": round(_rss_mb())}
        curve.append(point)
        print(json.dumps(point), file=sys.stderr)
    t0, c0 = time.perf_counter(), time.process_time()
    clusters = linker.clusters(index)
    out = {"photos": len(index), "total_wall_s": round(time.perf_counter() - t_all, 1),
           "total_cpu_s": round(time.process_time() - c_all, 1), "clusters": len(clusters),
           "cluster_s": round(time.perf_counter() - t0, 2), "curve": curve, "peak_rss_mb": round(_rss_mb()),
           "index_vectors_mb": round(index.vectors.nbytes / 2**20, 1)}
    print(json.dumps(out, indent=1))


def cmd_probe(args: argparse.Namespace) -> None:
    """What the link index costs at --photos photos, without the model: the RSS of that many photo entries,
    hashes and float16 vectors (added chunk by chunk, as ``Linker.add`` does), and the time to search one
    chunk of queries (straight + mirrored) against them: the only part of linking that grows faster than
    the photo count."""
    import faiss
    import numpy as np

    from detector.link.index import LinkIndex, Photo
    from detector.link.linker import CHUNK

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    prov = {"embedder": "probe", "weights_sha256": "0" * 64, "dim": args.dim, "phash_bits": 64}
    index = LinkIndex(prov, {})
    before = _rss_mb()
    for start in range(0, args.photos, CHUNK):
        n = min(CHUNK, args.photos - start)
        block = rng.standard_normal((n, args.dim), dtype=np.float32)
        photos = [Photo(f"L{start + i:08d}", f"seller-{(start + i) // 7:07d}", f"photos/{start + i:08d}.jpg",
                        f"/data/listings/photos/{start + i:08d}.jpg", f"{start + i:064x}", {"ip": f"10.0.{i}.1"})
                  for i in range(n)]
        index.add(photos, rng.integers(0, 256, (n, 8), dtype=np.uint8),
                  block / np.linalg.norm(block, axis=1, keepdims=True))
    added = _rss_mb() - before
    queries = rng.standard_normal((2 * CHUNK, args.dim), dtype=np.float32)
    t0, c0 = time.perf_counter(), time.process_time()
    index.search(queries, 11)
    binary = faiss.IndexBinaryFlat(64)
    binary.add(index.hashes)
    binary.search(index.hashes[: 2 * CHUNK], 11)
    print(json.dumps({"photos": args.photos, "dim": args.dim, "index_rss_mb": round(added),
                      "vectors_mb": round(index.vectors.nbytes / 2**20),
                      "chunk_search_wall_s": round(time.perf_counter() - t0, 2),
                      "chunk_search_cpu_s": round(time.process_time() - c0, 2), "chunk": CHUNK,
                      "peak_rss_mb": round(_rss_mb())}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--per-class", type=int, default=1000, help="source photos per class and split (default: all)")
    q.add_argument("--floor", type=float, default=0.6, help="lowest cosine a candidate pair is scored at")
    q.add_argument("--fit", action="store_true", help="choose thresholds on the tune split (else: the shipped ones)")
    q.add_argument("--splits", default="tune,test", help="which splits to score (scores are cached between runs)")
    q.set_defaults(func=cmd_quality)
    t = sub.add_parser("timing")
    t.add_argument("--photos", type=int, default=10000)
    t.add_argument("--step", type=int, default=2500)
    t.set_defaults(func=cmd_timing)
    p = sub.add_parser("probe")
    p.add_argument("--photos", type=int, default=100000)
    p.add_argument("--dim", type=int, default=1280)
    p.set_defaults(func=cmd_probe)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
