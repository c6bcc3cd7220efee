"""The keypoint check of a borderline photo pair: SIFT matches that one affine model explains, and where.

Two different photos of the same kind of product (two black hoodies) can embed as closely as a photo and
its 60 % crop; only the crop shares hundreds of keypoints with the original at consistent positions. The
engine is the logo stage's (``detector.logos.keypoint_matcher``: RootSIFT, Lowe's ratio test, RANSAC),
with the candidate photo as the one reference. Each photo is described once and kept in a small LRU cache.

Two different photos carrying the same caption ("SALE -50 %" across the bottom) also share dozens of
consistent keypoints, all of them in the caption's strip. So the check also reports the inliers' spread:
the share of the frame their convex hull covers, the larger of the two photos' shares.

OpenCV is imported (by the engine) only when a photo is first described.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps

from detector.logos.keypoint_matcher import Features, KeypointConfig, KeypointMatcher


@dataclass(frozen=True)
class Described:
    """SIFT keypoints of one photo (or its mirror image) and the size of the frame they are in."""

    feats: Features
    size: tuple[int, int]

    @property
    def nbytes(self) -> int:
        return int(self.feats.xy.nbytes + self.feats.desc.nbytes)


class Geometry(NamedTuple):
    """What the keypoint check found: inliers of the best affine model and their spread (0–1)."""

    inliers: int
    spread: float

    def passes(self, min_inliers: int, min_spread: float) -> bool:
        return self.inliers >= min_inliers and self.spread >= min_spread


NO_MODEL = Geometry(0, 0.0)


def hull_share(xy: np.ndarray, size: tuple[int, int]) -> float:
    """Share of a ``size`` frame covered by the convex hull of the points ``xy`` (0 for fewer than 3)."""
    import cv2

    if len(xy) < 3 or size[0] <= 0 or size[1] <= 0:
        return 0.0
    hull = cv2.convexHull(np.ascontiguousarray(xy, np.float32))
    return float(min(1.0, cv2.contourArea(hull) / (size[0] * size[1])))


class KeypointCheck:
    """Counts the geometrically consistent keypoint matches between two photos.

    ``load(key)`` returns the photo called ``key`` (None when it can no longer be read); descriptions
    are cached by ``(key, mirrored)``, at most ``cache`` of them (~130 KB each at 500 keypoints). Pairs come
    grouped by their newer photo, so the cache needs to hold little more than that photo and its neighbours.
    """

    def __init__(
        self,
        load: Callable[[str], Image.Image | None],
        *,
        max_side: int = 512,
        features: int = 500,
        cache: int = 256,
    ) -> None:
        # The engine's defaults are for logos in busy photos (3,000 keypoints); a photo against a photo
        # needs far fewer to show hundreds of inliers for a copy (BENCHMARKS.md, "Linking").
        self.cfg = KeypointConfig(max_side=max_side, photo_features=features)
        self._load = load
        self._cache: OrderedDict[tuple[str, bool], Described | None] = OrderedDict()
        self._limit = cache
        self.unreadable: set[str] = set()

    def describe(self, key: str, *, mirrored: bool = False) -> Described | None:
        """The keypoints of photo ``key`` (flipped left to right when ``mirrored``), cached."""
        ck = (key, mirrored)
        if ck in self._cache:
            self._cache.move_to_end(ck)
            return self._cache[ck]
        image = self._load(key)
        if image is None:
            self.unreadable.add(key)
            out = None
        else:
            out = self.describe_image(ImageOps.mirror(image) if mirrored else image)
        self._cache[ck] = out
        if len(self._cache) > self._limit:
            self._cache.popitem(last=False)
        return out

    def forget(self, key: str) -> None:
        """Drop the cached keypoints of ``key`` (both orientations): the photo behind the key changed."""
        self._cache.pop((key, False), None)
        self._cache.pop((key, True), None)

    def describe_image(self, image: Image.Image) -> Described:
        """Keypoints of ``image`` (downscaled to ``max_side``), descriptors stored as float16 to halve the cache."""
        feats = KeypointMatcher(self.cfg).features(image.convert("RGB"))
        size = (round(image.width * feats.scale), round(image.height * feats.scale))
        return Described(Features(feats.xy, feats.desc.astype(np.float16), feats.scale), size)

    def geometry(self, query: Described, reference: Described) -> Geometry:
        """Inliers of the best affine model mapping ``reference`` onto ``query``, and their spread."""
        if len(query.feats.desc) < self.cfg.min_matches or len(reference.feats.desc) < self.cfg.min_matches:
            return NO_MODEL
        matcher = KeypointMatcher(self.cfg)
        w, h = reference.size
        corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        matcher.add_features("ref", "ref", reference.feats, corners)
        query_feats = Features(query.feats.xy, query.feats.desc.astype(np.float32), 1.0)
        found = matcher.match(query_feats).get("ref")
        if found is None or found.photo_xy is None or found.ref_xy is None:
            return NO_MODEL
        spread = max(hull_share(found.photo_xy, query.size), hull_share(found.ref_xy, reference.size))
        return Geometry(found.inliers, round(spread, 4))

    def pair(self, a: str, b: str, *, mirrored: bool = False) -> Geometry:
        """The geometry between photos ``a`` and ``b`` (``b`` mirrored when the pair is a mirror copy)."""
        da, db = self.describe(a), self.describe(b, mirrored=mirrored)
        if da is None or db is None:
            return NO_MODEL
        return self.geometry(da, db)
