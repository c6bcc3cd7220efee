"""Logo stage for flat printed marks: ink shapes in the photo compared with the catalog marks' silhouettes.

A printed logo on a T-shirt, a cap or a box is one colour on another, and a catalog mark (a
simple-icons render, a rights-holder's PNG) is a silhouette. So the photo is binarised (local and
global thresholds, both polarities), its connected ink regions — single ones, and groups of nearby
ones at a few merging distances, since a mark is often several pieces — are cut out, stretched to a
small square and compared with every reference silhouette by normalised cross-correlation. Stretching
to the box absorbs scale and most perspective; references at a few rotations absorb the rest.

Measured in BENCHMARKS.md ("Logo matching (issue 3)"): it finds flat prints on clothing photos that the
frozen CNN misses (a swoosh scores ~0.95 against ~0.7 for the CNN), runs in ~40 ms per photo with no
index to build, but on real-world FlickrLogos photos (chrome, signage, cans) it finds few logos alone.
Single letters are its known weakness: an isolated "G" resembles a mark that is a "G".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from detector.errors import CatalogError
from detector.logos.candidate import LogoCandidate
from detector.logos.geometry import scale_to_side
from detector.types import Box, LogoMatch

if TYPE_CHECKING:
    from detector.catalog import Catalog

log = logging.getLogger(__name__)

STAGE_VERSION = "v1"
# The lowest score at which ≤ 1 % of the validation-half logo-free clothing photos of the protocol report
# a brand of the bundled catalog (`python benchmarks/logo_stages.py composites --stage shape` prints the fit): stricter
# than the CNN's 5 %, because a false sighting feeds the rules' logo/text mismatch checks.
DEFAULT_THRESHOLD = 0.87
CELLS = 1024  # silhouettes are compared as grids of about this many cells …
# … whose shape follows the silhouette's aspect (width / height), bucketed: a wordmark stretched to a
# square loses its letters, and every long thin blob would then look like every wordmark.
ASPECT_BUCKETS = (1 / 6, 1 / 3, 1 / 1.7, 1.0, 1.7, 3.0, 6.0)
# Each mark is also compared as it looks rotated by these angles (degrees). More angles, or tilted
# views, found a few more prints on the composites but raised logo-free photos' scores as much.
ROTATIONS = (-10.0, 0.0, 10.0)
BLUR = 1.0  # Gaussian sigma, in grid cells
# Merging distances for groups of ink regions, as fractions of the photo's shorter side (0: none).
GROUPING = (0.0, 0.012, 0.025, 0.045)


@dataclass(frozen=True)
class _References:
    vectors: dict[int, np.ndarray]  # aspect bucket -> (n_b, cells), zero-mean, unit norm
    rows: dict[int, np.ndarray]  # aspect bucket -> (n_b,) indexes into the lists below
    aspects: np.ndarray  # (n,) width / height of the silhouette's box
    brands: tuple[str, ...]
    marks: tuple[str, ...]


class ShapeMatcher:
    """Finds catalog marks printed flat in photos; implements ``detector.stages.LogoStage``.

    >>> matcher = ShapeMatcher.default()          # doctest: +SKIP  (bundled catalog)
    >>> matcher.find(image)                       # doctest: +SKIP
    [LogoMatch(brand='Nike', score=0.95, box=Box(...), mark='marks/nike.png')]
    """

    def __init__(
        self,
        marks: Iterable[tuple[str, str, Image.Image]],
        *,
        threshold: float = DEFAULT_THRESHOLD,
        max_side: int = 640,
        max_aspect_change: float = 0.4,
    ) -> None:
        """``marks``: (brand, mark name, image) triples; transparent PNGs use their alpha channel."""
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [-1, 1], got {threshold}")
        self.refs = _build_references(marks)
        # Each brand's reference rows, for the per-brand maximum of every photo.
        self._brand_names = tuple(sorted(set(self.refs.brands)))
        self._brand_refs = [
            np.array([j for j, b in enumerate(self.refs.brands) if b == name]) for name in self._brand_names
        ]
        self.threshold = threshold
        self.max_side = max_side
        # A region whose box aspect differs from a mark's by more than this (in log ratio) cannot be it.
        self.max_aspect_change = max_aspect_change
        self.name = f"logos.shape.{STAGE_VERSION}"

    @classmethod
    def from_catalog(cls, catalog: Catalog, **kwargs: float) -> ShapeMatcher:
        """A matcher for every mark of ``catalog`` (brands without marks are found by their text only)."""
        triples = [(brand.name, mark, catalog.mark_image(brand, mark)) for brand, mark in catalog.iter_marks()]
        return cls(triples, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def default(cls, catalog: Catalog | None = None) -> ShapeMatcher:
        """The matcher for ``catalog`` (default: the bundled demo catalog)."""
        if catalog is None:
            from detector.catalog import load_catalog

            catalog = load_catalog()
        return cls.from_catalog(catalog)

    # -- the stage -------------------------------------------------------------------------------
    def load(self) -> None:
        """Nothing to load: the silhouettes are built with the stage."""

    def find(self, image: Image.Image) -> list[LogoMatch]:
        """Brands whose mark is printed in ``image``, best first; empty when none clears the threshold."""
        return [c.to_match() for c in self.candidates(image) if c.score >= self.threshold]

    def candidates(self, image: Image.Image) -> list[LogoCandidate]:
        """The best region of every brand that matched any region, best first, no threshold applied.

        The score is the normalised cross-correlation with the brand's best reference silhouette, in [-1, 1];
        the margin is that minus the best other brand's score on the same region.
        """
        if not len(self.refs.brands):
            return []
        image, scale = scale_to_side(image.convert("L"), self.max_side)
        regions = ink_regions(np.asarray(image))
        if not regions:
            return []
        refs = self.refs
        sims = np.full((len(regions), len(refs.brands)), -1.0, dtype=np.float32)  # (regions, references)
        boxes = [box for box, _ in regions]
        for r, (_, mask) in enumerate(regions):
            crop, aspect = _ink_box(mask)
            if crop is None:
                continue
            # Compared with the references of every aspect bucket the region's aspect is close to.
            for b in _buckets_near(aspect, self.max_aspect_change):
                if b not in refs.vectors:
                    continue
                gw, gh = _grid(b)
                if crop.shape[1] < gw or crop.shape[0] < gh:
                    continue  # smaller than the grid: upsampled, a blob carries none of a mark's detail
                v = silhouette_vector(crop, b)
                if v is None:
                    continue
                rows = refs.rows[b]
                ok = np.abs(np.log(refs.aspects[rows] / aspect)) <= self.max_aspect_change
                sims[r, rows[ok]] = refs.vectors[b][ok] @ v
        return self._per_brand(sims, boxes, scale)

    def _per_brand(self, sims: np.ndarray, boxes: list[tuple[int, int, int, int]], scale: float) -> list[LogoCandidate]:
        # Best reference of each brand per region: (regions, brands).
        per = np.stack([sims[:, refs].max(axis=1) for refs in self._brand_refs], axis=1)
        out = []
        for k, brand in enumerate(self._brand_names):
            r = int(np.argmax(per[:, k]))
            score = float(per[r, k])
            if score <= -1.0:
                continue
            others = np.delete(per[r], k)
            runner = float(others.max()) if len(others) else -1.0
            refs = self._brand_refs[k]
            mark = self.refs.marks[int(refs[np.argmax(sims[r, refs])])]
            x1, y1, x2, y2 = (c / scale for c in boxes[r])
            out.append(LogoCandidate(brand, mark, Box(x1, y1, x2, y2), score, self.name, margin=score - runner))
        return sorted(out, key=lambda c: -c.score)


# -- silhouettes -------------------------------------------------------------------------------
def has_transparency(image: Image.Image) -> bool:
    """Whether ``image`` has an alpha channel (or transparent colour) that is not fully opaque."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        return np.asarray(image.convert("RGBA"))[:, :, 3].min() < 128
    return False


def mark_mask(image: Image.Image) -> np.ndarray | None:
    """The ink of a catalog mark as a boolean array, or None when the mark is a photo, not a flat mark.

    A transparent mark's ink is its opaque part (all False when nothing is opaque). An opaque mark is
    flat when it has two tones — ≥ 90 % of its pixels within 40 grey levels of the mean of their Otsu
    class — and its ink is the class that does not fill the border. A product photo enrolled as a mark
    has no silhouette: binarised, it is an arbitrary blob that would match arbitrary blobs.
    """
    import cv2

    if has_transparency(image):
        return np.asarray(image.convert("RGBA"))[:, :, 3] >= 128
    grey = np.asarray(image.convert("L"))
    t, binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    low, high = grey[grey <= t].astype(float), grey[grey > t].astype(float)
    if not len(low) or not len(high):
        return None
    near = (np.abs(low - low.mean()) <= 40).sum() + (np.abs(high - high.mean()) <= 40).sum()
    if near < 0.9 * grey.size:
        return None
    ink = binary > 0
    # The class that fills most of the border is the paper the mark is printed on.
    border = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    return ~ink if border.mean() > 0.5 else ink


def _ink_box(mask: np.ndarray) -> tuple[np.ndarray | None, float]:
    """``mask`` cropped to its ink (float32), and the ink box's width / height."""
    ys, xs = np.nonzero(mask)
    if len(xs) < 12:
        return None, 1.0
    crop = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    return crop, crop.shape[1] / crop.shape[0]


def _bucket(aspect: float) -> int:
    return int(np.argmin([abs(np.log(aspect / a)) for a in ASPECT_BUCKETS]))


def _buckets_near(aspect: float, tolerance: float) -> set[int]:
    return {_bucket(aspect * f) for f in (np.exp(-tolerance), 1.0, np.exp(tolerance))}


def _grid(bucket: int) -> tuple[int, int]:
    a = ASPECT_BUCKETS[bucket]
    return max(8, round(np.sqrt(CELLS * a))), max(8, round(np.sqrt(CELLS / a)))


def silhouette_vector(crop: np.ndarray, bucket: int) -> np.ndarray | None:
    """An ink crop stretched to the grid of ``bucket``, blurred, zero-mean and unit-norm."""
    import cv2

    grid = cv2.resize(crop, _grid(bucket), interpolation=cv2.INTER_AREA)
    # The blur makes the comparison tolerant of a pixel or two of misalignment, wear and bending.
    v = cv2.GaussianBlur(grid, (0, 0), BLUR).ravel()
    v = v - v.mean()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-6 else None


def _build_references(marks: Iterable[tuple[str, str, Image.Image]]) -> _References:
    by_bucket: dict[int, list[tuple[int, np.ndarray]]] = {}
    aspects, brands, names = [], [], []
    for brand, name, image in marks:
        mask = mark_mask(image)
        if mask is None:
            log.info("shape stage: brand %r mark %r is a photo, not a flat mark; left to the other stages", brand, name)
            continue
        if mask.sum() < 12:
            raise CatalogError(f"brand {brand!r}: mark {name!r} has no visible ink to compare with")
        # Pad before rotating so corners are not cut off.
        pad = max(mask.shape) // 4
        padded = np.pad(mask.astype(np.uint8) * 255, pad)
        for view in _views(padded):
            crop, aspect = _ink_box(view)
            b = _bucket(aspect)
            v = silhouette_vector(crop, b) if crop is not None else None
            if v is not None:
                by_bucket.setdefault(b, []).append((len(brands), v))
                aspects.append(aspect)
                brands.append(brand)
                names.append(name)
    return _References(
        {b: np.stack([v for _, v in rows]).astype(np.float32) for b, rows in by_bucket.items()},
        {b: np.array([i for i, _ in rows]) for b, rows in by_bucket.items()},
        np.array(aspects, dtype=np.float32),
        tuple(brands),
        tuple(names),
    )


def _views(padded: np.ndarray) -> list[np.ndarray]:
    """A padded uint8 mask at every angle of ROTATIONS, as boolean arrays."""
    import cv2

    h, w = padded.shape
    out = []
    for angle in ROTATIONS:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        out.append(cv2.warpAffine(padded, m, (w, h)) >= 128 if angle else padded > 0)
    return out


def ink_regions(grey: np.ndarray, grouping: Sequence[float] = GROUPING) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """Candidate mark regions of a greyscale photo: (box, ink mask inside the box).

    Regions are connected components of several binarisations (local mean and Otsu, dark-on-light and
    light-on-dark), alone and merged with their neighbours at each ``grouping`` distance. Regions that
    touch the photo's edge (background, cut-off objects), that are tiny, or that fill almost all or
    almost none of their box are dropped.
    """
    import cv2

    h, w = grey.shape
    area, short = h * w, min(h, w)
    binaries = []
    for polarity in (cv2.THRESH_BINARY_INV, cv2.THRESH_BINARY):
        # Two neighbourhoods: a small one for thin marks and lettering, a large one so that a big solid
        # mark is not hollowed out (inside it, a small neighbourhood is all ink).
        for block in {max(15, (short // 8) | 1), max(15, (short // 3) | 1)}:
            binaries.append(cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, polarity, block, 12))
        _, otsu = cv2.threshold(grey, 0, 255, polarity + cv2.THRESH_OTSU)
        binaries.append(otsu)
    out: list[tuple[tuple[int, int, int, int], np.ndarray]] = []
    seen: set[tuple[int, int, int, int]] = set()
    opening = np.ones((2, 2), np.uint8)
    for binary in binaries:
        binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, opening)  # speckle of fabric texture
        for fraction in grouping:
            k = round(fraction * short)
            merged = cv2.dilate(binary, np.ones((k, k), np.uint8)) if k > 1 else binary
            n, labels, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
            for i in range(1, n):
                x, y, bw, bh, _ = (int(v) for v in stats[i])
                box = (x, y, x + bw, y + bh)
                if bw < 16 or bh < 10 or not 0.002 * area <= bw * bh <= 0.3 * area or box in seen:
                    continue
                if x == 0 or y == 0 or x + bw >= w or y + bh >= h:
                    continue
                mask = (labels[y : y + bh, x : x + bw] == i) & (binary[y : y + bh, x : x + bw] > 0)
                if not 0.08 <= mask.mean() <= 0.9:
                    continue
                seen.add(box)
                out.append((box, mask))
    return out
