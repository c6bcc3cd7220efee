"""Which photos are the same picture: candidate pairs from the index, then one decision per pair.

Candidates of a photo are its ``neighbours`` nearest CNN descriptors and its nearest perceptual hashes
within ``phash_candidate`` bits (each of the photo and of its mirror image). A pair is then linked

1. by ``phash`` when the hashes are within ``phash_max_distance`` bits (near-exact copies), else
2. by ``cnn`` when the cosine is at least ``cnn_sure``, else
3. by ``keypoints`` when the cosine is at least ``cnn_candidate`` or the hashes are within ``phash_candidate``
   bits (a tiled watermark moves the descriptor, not the hash), and at least ``keypoint_min_inliers`` SIFT
   matches fit one affine model (crops, borders, overlays), spread over at least ``keypoint_min_spread`` of
   the frame (not one shared caption strip). SIFT is not mirror-invariant and GeM pooling
   nearly is, so the descriptors say little about which way round a copy is: the orientation whose
   descriptor was closer is checked first, the other one when it falls short.

``decide`` is the rule alone; ``find_links`` runs it over the index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from detector.config import LinkConfig
from detector.link.describe import Prints, hamming
from detector.link.index import LinkIndex, PhotoLink
from detector.link.verify import Geometry, KeypointCheck

# Queries per FAISS search call: bounds the (queries × neighbours) result arrays, not a tuned figure.
SEARCH_BATCH = 2048
# The mirror descriptor must beat the straight one by this much for the keypoint check to flip the photo:
# straight copies score within ~0.005 of their mirrored selves (GeM pooling is nearly flip-invariant).
MIRROR_MARGIN = 0.01


@dataclass(frozen=True)
class Candidate:
    """A pair to decide: photo ``a`` (the newer) and ``b``, with what the index says about them."""

    a: int
    b: int
    cosine: float  # max of straight and mirrored
    mirrored: bool  # the mirror descriptor of ``a`` was the closer one
    phash_distance: int  # min of straight and mirrored


def decide(c: Candidate, cfg: LinkConfig, geometry: Callable[[], Geometry]) -> tuple[str, int] | None:
    """``(by, inliers)`` when the pair is the same picture, None when not; ``geometry`` runs the keypoint
    check, called only for a borderline pair."""
    if c.phash_distance <= cfg.phash_max_distance:
        return "phash", 0
    if c.cosine >= cfg.cnn_sure:
        return "cnn", 0
    if c.cosine >= cfg.cnn_candidate or c.phash_distance <= cfg.phash_candidate:
        g = geometry()
        if g.passes(cfg.keypoint_min_inliers, cfg.keypoint_min_spread):
            return "keypoints", g.inliers
    return None


def candidates(
    index: LinkIndex, new: range, prints: Prints, cfg: LinkConfig, skip: Callable[[int, int], bool] | None = None
) -> list[Candidate]:
    """Every pair of a new photo (``new``, described by ``prints`` row by row) with an indexed photo that the
    CNN or the hashes put near it, once per pair, the skipped ones (``skip(a, b)`` true) left out."""
    import faiss

    k = min(cfg.neighbours + 1, len(index))  # +1: a photo finds itself
    found: dict[tuple[int, int], tuple[float, bool]] = {}
    for start in range(0, len(new), SEARCH_BATCH):
        rows = slice(start, start + SEARCH_BATCH)
        for mirrored, vecs in ((False, prints.vector[rows]), (True, prints.vector_mirror[rows])):
            sims, ids = index.search(vecs, k)
            for qi, (srow, irow) in enumerate(zip(sims, ids)):
                a = new[start + qi]
                for s, b in zip(srow, irow):
                    if b < 0 or b == a or s < cfg.cnn_candidate:
                        continue
                    _keep(found, a, int(b), float(s), mirrored)
    binary = faiss.IndexBinaryFlat(64)
    binary.add(np.ascontiguousarray(index.hashes))
    for mirrored, hashes in ((False, prints.phash), (True, prints.phash_mirror)):
        dist, ids = binary.search(np.ascontiguousarray(hashes), k)
        for qi, (drow, irow) in enumerate(zip(dist, ids)):
            a = new[qi]
            for d, b in zip(drow, irow):
                if b >= 0 and b != a and d <= max(cfg.phash_max_distance, cfg.phash_candidate):
                    _keep(found, a, int(b), None, mirrored)
    out = []
    for (a, b), (cos, mirrored) in found.items():
        if skip is not None and skip(a, b):
            continue
        qa = a - new.start
        if np.isnan(cos):  # found by its hash only: its cosine was not among the neighbours' scores
            vb = index.vector(b)
            straight, mirror = float(prints.vector[qa] @ vb), float(prints.vector_mirror[qa] @ vb)
            cos, mirrored = max(straight, mirror), mirror > straight + MIRROR_MARGIN
        hb = index.hashes[b]
        dist = int(min(hamming(prints.phash[qa], hb), hamming(prints.phash_mirror[qa], hb)))
        out.append(Candidate(a, b, cos, mirrored, dist))
    # Grouped by the new photo, so its keypoints are described once and stay in the cache.
    out.sort(key=lambda c: (c.a, -c.cosine, c.b))
    return out


def _keep(found: dict[tuple[int, int], tuple[float, bool]], a: int, b: int, s: float | None, mirrored: bool) -> None:
    """Record pair (a, b) with its best cosine (NaN: found by hash only, cosine unknown yet); a pair found
    from both ends is kept once. A mirrored score replaces a straight one only when clearly higher."""
    key = (b, a) if (b, a) in found else (a, b)
    old = found.get(key)
    if s is None:
        if old is None:
            found[key] = (float("nan"), mirrored)
        return
    if old is None or np.isnan(old[0]) or s > old[0] + (MIRROR_MARGIN if mirrored and not old[1] else 0.0):
        found[key] = (s, mirrored)


def both_ways(check: KeypointCheck, a: str, b: str, mirrored: bool, cfg: LinkConfig) -> Geometry:
    """The pair's geometry in the likelier orientation, or in the other when the first does not pass."""
    first = check.pair(a, b, mirrored=mirrored)
    if first.passes(cfg.keypoint_min_inliers, cfg.keypoint_min_spread):
        return first
    second = check.pair(a, b, mirrored=not mirrored)
    if second.passes(cfg.keypoint_min_inliers, cfg.keypoint_min_spread):
        return second
    return max(first, second)


def find_links(
    index: LinkIndex,
    pairs: Iterable[Candidate],
    cfg: LinkConfig,
    check: KeypointCheck,
    progress: Callable[[Iterable[Candidate]], Iterable[Candidate]] | None = None,
) -> list[PhotoLink]:
    """The pairs that are the same picture, as ``PhotoLink`` s (``a`` the newer photo)."""
    out = []
    for c in (progress(pairs) if progress else pairs):
        verdict = decide(c, cfg, lambda c=c: both_ways(check, str(c.b), str(c.a), c.mirrored, cfg))
        if verdict is not None:
            out.append(PhotoLink(c.a, c.b, round(c.cosine, 4), verdict[0], c.phash_distance, verdict[1]))
    return out
