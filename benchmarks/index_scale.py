"""The reference index at scale: exact (flat) vs IVF on 10k, 100k and 1M synthetic vectors.

    nice -n 19 python benchmarks/index_scale.py [--sizes 10000 100000 1000000] [--queries 1000]

Vectors have the default embedder's dimension (``mobilenet_v2-imagenet.v1``: 1280) and are L2-normalised.
They are clustered like a catalog's views of marks: ``n / 10`` centres drawn uniformly on the sphere
("marks"), each with 10 members ``normalize(centre + s * g)`` (g standard normal per dimension, s chosen
so a member's cosine to its centre is ~0.7, as views of one mark are), and queries are database
vectors plus noise, ``normalize(x + q * g)`` (cosine ~0.7 to the source), so the true neighbour is usually
but not always the source and its 9 siblings compete. Recall@1 is against exact search (``IndexFlatIP``
answers computed by matrix product, not against the source vector).

Per size it reports: build CPU seconds (all threads) (flat: add; IVF: train on 40 x nlist vectors + add, FAISS on all cores),
CPU ms per query on ONE thread (``faiss.omp_set_num_threads(1)``, queries one at a time), recall@1 of IVF for
each nprobe in the sweep, the FAISS structure's size and the process's peak RSS. The index is
``detector.logos.index.ReferenceIndex`` itself (kind forced). Results go to stdout as a Markdown table
and to ``out/index_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

DIM = 1280  # detector.logos.embed.manifest.LAYERS["mobilenet_v2"]["head"]: the default embedder's dimension
SUBSPACE = 64  # the mixture lives in a random 64-d subspace: embeddings have a low intrinsic dimension
SUBSPACE_COS = 0.8  # plus isotropic noise in all 1280 dimensions (cosine ~0.8 to the subspace point)
MEMBERS = 100  # vectors per mixture component ("a mark and its views")
MEMBER_COS = 0.7
QUERY_COS = 0.8


def _noise_scale(cos: float, dim: int) -> float:
    # For x on the sphere and g ~ N(0, I): |x + s g|^2 ~ 1 + s^2 dim, so cos(x, x + s g) ~ 1 / sqrt(1 + s^2 dim).
    return float(np.sqrt((1.0 / cos**2 - 1.0) / dim))


def _normalise(v: np.ndarray) -> np.ndarray:
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def synthetic(n: int, dim: int, seed: int = 0, chunk: int = 50_000) -> np.ndarray:
    """``n`` clustered unit vectors (see the module doc), generated in chunks into one float32 array."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, SUBSPACE)))  # orthonormal columns
    basis = basis.astype(np.float32)
    centres = _normalise(rng.standard_normal((max(n // MEMBERS, 1), SUBSPACE), dtype=np.float32))
    s = _noise_scale(MEMBER_COS, SUBSPACE)
    iso = _noise_scale(SUBSPACE_COS, dim)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        owner = np.arange(start, stop) // MEMBERS % len(centres)
        inner = _normalise(centres[owner] + s * rng.standard_normal((stop - start, SUBSPACE), dtype=np.float32))
        block = inner @ basis.T + iso * rng.standard_normal((stop - start, dim), dtype=np.float32)
        out[start:stop] = _normalise(block)
    return out


def queries_for(db: np.ndarray, count: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    src = db[rng.choice(len(db), size=count, replace=False)]
    return _normalise(src + _noise_scale(QUERY_COS, db.shape[1]) * rng.standard_normal(src.shape, dtype=np.float32))


def exact_top1(db: np.ndarray, q: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """Exact nearest neighbour by inner product, in chunks of the database (no second copy of it)."""
    best = np.full(len(q), -np.inf, dtype=np.float32)
    arg = np.zeros(len(q), dtype=np.int64)
    for start in range(0, len(db), chunk):
        sims = q @ db[start:start + chunk].T
        j = sims.argmax(axis=1)
        s = sims[np.arange(len(q)), j]
        better = s > best
        best[better], arg[better] = s[better], j[better] + start
    return arg


def ms_per_query(index: object, q: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean CPU ms per query, one query at a time on one thread; and the top-1 ids.

    CPU time, not wall time: on a shared machine a niced process waits for the CPU, and with one thread
    the CPU time is what one core spends on the query.
    """
    ids = np.zeros(len(q), dtype=np.int64)
    started = time.process_time()
    for i in range(len(q)):
        _, got = index.search(q[i:i + 1], 1)  # type: ignore[attr-defined]
        ids[i] = got[0, 0]
    return (time.process_time() - started) * 1000.0 / len(q), ids


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def run_size(n: int, n_queries: int, nprobes: list[int], flat_queries: int, threads: int) -> list[dict]:
    import faiss

    from detector.logos.index import ReferenceIndex, RefMeta, ivf_nlist

    t0 = time.process_time()
    db = synthetic(n, DIM)
    q = queries_for(db, n_queries)
    gen_s = time.process_time() - t0
    truth = exact_top1(db, q)
    metas = [RefMeta("b", "m", "v")] * n  # one shared object: metadata is not what is measured
    rows: list[dict] = []

    faiss.omp_set_num_threads(threads)
    ivf = ReferenceIndex(DIM, "synthetic", "0" * 64, kind="ivf")
    ivf.add(db, metas)
    t0 = time.process_time()
    structure = ivf._index()  # trains and adds
    build_s = time.process_time() - t0
    # Serialising 1M vectors would hold a second 5 GB copy: there the size is the lists' vectors and ids.
    size_gb = faiss.serialize_index(structure).nbytes / 1024**3 if n <= 100_000 else (n * (DIM * 4 + 8)) / 1024**3
    faiss.omp_set_num_threads(1)
    inner = faiss.extract_index_ivf(structure)
    for nprobe in nprobes:
        inner.nprobe = nprobe
        ms, ids = ms_per_query(structure, q)
        rows.append({
            "n": n, "kind": "ivf", "nlist": ivf_nlist(n), "nprobe": nprobe, "recall@1": float((ids == truth).mean()),
            "ms_per_query": round(ms, 3), "build_s": round(build_s, 1), "index_gb": round(size_gb, 2),
        })
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    del structure, inner, ivf

    # Exact: what the flat kind costs per query (fewer queries at 1M: each scans all n vectors).
    faiss.omp_set_num_threads(threads)
    flat = faiss.IndexFlatIP(DIM)
    t0 = time.process_time()
    flat.add(db)
    build_s = time.process_time() - t0
    faiss.omp_set_num_threads(1)
    m = min(flat_queries, n_queries)
    ms, ids = ms_per_query(flat, q[:m])
    rows.append({
        "n": n, "kind": "flat", "nlist": 0, "nprobe": 0, "recall@1": float((ids == truth[:m]).mean()),
        "ms_per_query": round(ms, 3), "build_s": round(build_s, 1), "index_gb": round(n * DIM * 4 / 1024**3, 2),
    })
    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    for r in rows:
        r["peak_rss_gb"] = round(peak_rss_gb(), 1)
        r["generate_s"] = round(gen_s, 1)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--flat-queries", type=int, default=200, help="queries timed on the exact index")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--threads", type=int, default=2, help="FAISS threads for building (queries use 1)")
    ap.add_argument("--out", default="out/index_scale.json")
    args = ap.parse_args(argv)
    rows: list[dict] = []
    for n in args.sizes:
        rows += run_size(n, args.queries, args.nprobe, args.flat_queries, args.threads)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=1))
    print("| vectors | kind | nlist | nprobe | recall@1 vs exact | CPU ms/query (1 thread) | build CPU s | index GB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['kind']} | {r['nlist'] or '-'} | {r['nprobe'] or '-'} | {r['recall@1']:.3f} "
              f"| {r['ms_per_query']:.2f} | {r['build_s']} | {r['index_gb']} |")
    print(f"peak RSS {peak_rss_gb():.1f} GB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
