"""The keypoint engine: SIFT/RootSIFT, a ratio test and RANSAC per reference.

Every reference (a flat mark, or a product-photo crop enrolled as a mark) is its own coordinate
frame. Photo descriptors are matched against one pooled table of reference descriptors; matches that
pass the ratio test are grouped per reference and a geometric model (affine by default) is fitted with
RANSAC. A brand's evidence is the inlier count of its best reference; its box is the reference's
outline projected into the photo. ``detector.logos.keypoints.KeypointLogos`` is the pipeline stage
built on it (``benchmarks/logo_keypoints.py`` measures both, BENCHMARKS.md has the figures).

OpenCV and FAISS are imported inside functions so that importing this module stays cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from detector.logos.geometry import scale_to_side

# Reference tables at least this large are searched through an inverted file (IVF_NPROBE lists of
# 4·sqrt(n)) instead of exhaustively.
IVF_MIN_DESCRIPTORS = 20000
IVF_NPROBE = 32


@dataclass(frozen=True)
class KeypointConfig:
    """Settings of :class:`KeypointMatcher` (defaults: the best validation setting of the benchmark)."""

    ref_side: int = 400  # marks are rendered with this longest side
    ref_pad: int = 40  # flat margin around a rendered mark so border keypoints survive
    ref_blur: float = 0.0  # Gaussian sigma applied to rendered marks (photos are never razor-sharp)
    ref_max_features: int = 0  # 0: keep all; else the strongest N per view (keeps busy marks from dominating)
    photo_features: int = 3000  # strongest SIFT keypoints kept per photo
    edge_threshold: float = 10.0  # SIFT edgeThreshold (flat marks are mostly edges)
    ratio: float = 0.8  # Lowe ratio
    # "global": 2 nearest overall; "ref": 2 nearest within the same reference; "brand": within the brand;
    # "other": against the nearest descriptor of another brand
    ratio_mode: str = "ref"
    knn: int = 16  # neighbours fetched from the pooled table for the brand-wise ratio tests
    model: str = "affine"  # "homography" | "affine" | "similarity" (affine recalled most on validation)
    reproj: float = 6.0  # RANSAC reprojection threshold, photo pixels at the processed size
    min_matches: int = 4  # fewer tentative matches than this: no model is fitted
    max_anisotropy: float = 4.0  # reject models stretching one axis this much more than the other
    min_box_side: float = 12.0  # projected box smaller than this (processed px): rejected
    max_side: int = 0  # photos are downscaled to this longest side first (0: as given)


@dataclass
class Features:
    """Keypoints of one photo: positions (n, 2), RootSIFT descriptors (n, 128), the scale applied."""

    xy: np.ndarray
    desc: np.ndarray
    scale: float = 1.0


@dataclass
class KeypointMatch:
    """A brand found by geometry: inliers of its best reference, the box (photo pixels) and that reference."""

    brand: str
    inliers: int
    matches: int
    box: tuple[float, float, float, float]
    mark: str
    # The inliers' distinct positions in the photo and in the reference (feature pixels): where they lie
    # tells one shared caption from a shared picture (``detector.link.verify``).
    photo_xy: np.ndarray | None = field(default=None, compare=False, repr=False)
    ref_xy: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass
class _Ref:
    brand: str
    name: str
    corners: np.ndarray  # (4, 2) outline of the reference in its own frame
    xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))


def root_sift(desc: np.ndarray) -> np.ndarray:
    """RootSIFT (Arandjelović & Zisserman 2012): L1-normalise, square root; the result has unit L2 norm."""
    d = desc.astype(np.float32)
    d /= d.sum(1, keepdims=True) + 1e-7
    return np.sqrt(d)


def _sift(cfg: KeypointConfig, n: int):
    import cv2

    return cv2.SIFT_create(nfeatures=n, edgeThreshold=cfg.edge_threshold)


def _detect(cfg: KeypointConfig, grey: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    kps, desc = _sift(cfg, n).detectAndCompute(grey, None)
    if desc is None or not kps:
        return np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32)
    return np.array([k.pt for k in kps], np.float32), root_sift(desc)


def render_mark(mark: Image.Image, side: int, pad: int) -> np.ndarray:
    """The mark's opacity as a float image in [0, 1], longest side ``side``, padded by ``pad``."""
    rgba = mark.convert("RGBA")
    bbox = rgba.getchannel("A").getbbox()
    rgba = rgba.crop(bbox) if bbox else rgba
    rgba, _ = scale_to_side(rgba, side, resample=Image.Resampling.LANCZOS, upscale=True)
    return np.pad(np.asarray(rgba.getchannel("A"), np.float32) / 255.0, pad)


class KeypointMatcher:
    """Reference marks (and optional photo crops) per brand; :meth:`find` returns per-brand geometric matches."""

    def __init__(self, config: KeypointConfig | None = None) -> None:
        self.cfg = config or KeypointConfig()
        self._refs: list[_Ref] = []
        self._desc: list[np.ndarray] = []
        self._owner: list[np.ndarray] = []  # reference index of every descriptor
        self._table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._index: Any = None  # FAISS index over the pooled table, built on first search

    # -- references --------------------------------------------------------------------------
    def add_mark(self, brand: str, name: str, mark: Image.Image) -> None:
        """A flat one-colour mark: both polarities share one frame, since print may be dark or light."""
        import cv2

        alpha = render_mark(mark, self.cfg.ref_side, self.cfg.ref_pad)
        if self.cfg.ref_blur > 0:
            alpha = cv2.GaussianBlur(alpha, (0, 0), self.cfg.ref_blur)
        dark = np.clip(255 - alpha * 235, 0, 255).astype(np.uint8)  # dark mark on light ground
        views = [dark, 255 - dark]  # SIFT is not polarity-invariant: the inverse gives other descriptors
        h, w = dark.shape
        p = self.cfg.ref_pad
        corners = np.array([[p, p], [w - p, p], [w - p, h - p], [p, h - p]], np.float32)
        self._add(brand, name, corners, views)

    def add_photo(self, brand: str, name: str, crop: Image.Image) -> None:
        """A photo crop of the logo (few-shot): taken as it is, upscaled when small."""
        grey = crop.convert("L")
        if max(grey.size) < 200:  # tiny crops have almost no keypoints at their own scale
            grey, _ = scale_to_side(grey, 200, resample=Image.Resampling.BICUBIC, upscale=True)
        g = np.asarray(grey)
        h, w = g.shape
        corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        self._add(brand, name, corners, [g])

    def _add(self, brand: str, name: str, corners: np.ndarray, views: list[np.ndarray]) -> None:
        xys, descs = [], []
        for v in views:
            xy, d = _detect(self.cfg, v, self.cfg.ref_max_features)
            xys.append(xy)
            descs.append(d)
        i = len(self._refs)
        self._refs.append(_Ref(brand, name, corners, np.concatenate(xys)))
        d = np.concatenate(descs)
        self._desc.append(d)
        self._owner.append(np.full(len(d), i, np.int32))
        self._table = None
        self._index = None

    def save_last(self, path: Path) -> None:
        """Write the most recently added reference's keypoints to ``path`` (.npz; temp file + rename)."""
        ref, desc = self._refs[-1], self._desc[-1]
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, xy=ref.xy, desc=desc, corners=ref.corners)
        os.replace(tmp, path)

    def load(self, brand: str, name: str, path: Path) -> None:
        """Add a reference saved by :meth:`save_last` as ``brand``'s mark ``name``."""
        with np.load(path, allow_pickle=False) as z:
            xy, desc, corners = z["xy"], z["desc"].astype(np.float32), z["corners"]
        if xy.shape != (len(desc), 2) or desc.shape[1:] != (128,) or corners.shape != (4, 2):
            raise ValueError(f"unexpected array shapes in {path}")
        self.add_features(brand, name, Features(xy, desc), corners)

    def add_features(self, brand: str, name: str, feats: Features, corners: np.ndarray) -> None:
        """Add a reference described already (a photo's :meth:`features`); ``corners`` outline it in the
        same frame as ``feats.xy``. Photo-to-photo checks (``detector.link``) describe each photo once."""
        xy, desc = feats.xy, np.asarray(feats.desc, np.float32)
        self._refs.append(_Ref(brand, name, np.asarray(corners, np.float32), xy))
        self._desc.append(desc)
        self._owner.append(np.full(len(desc), len(self._refs) - 1, np.int32))
        self._table = self._index = None

    def _pooled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._table is None:
            desc = np.concatenate(self._desc).astype(np.float32)
            owner = np.concatenate(self._owner)
            brands = sorted({r.brand for r in self._refs})
            brand_of_ref = np.array([brands.index(r.brand) for r in self._refs], np.int32)
            self._table = (desc, owner, brand_of_ref[owner])
        return self._table

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar reference descriptors of each query: (similarities, indexes), best first.

        Exact (FAISS flat) for small tables; an inverted file once the table is large (the bundled
        catalog's ~37k descriptors: 0.15 s instead of 0.5 s per photo, 97.5 % of the 16 neighbours kept).
        """
        import faiss

        if self._index is None:
            desc = self._pooled()[0]
            if len(desc) < IVF_MIN_DESCRIPTORS:
                index = faiss.IndexFlatIP(desc.shape[1])
            else:
                nlist = int(4 * np.sqrt(len(desc)))
                index = faiss.IndexIVFFlat(faiss.IndexFlatIP(desc.shape[1]), desc.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
                index.train(desc)  # k-means with FAISS's fixed seed: the same index every time
                index.nprobe = IVF_NPROBE
            index.add(desc)
            self._index = index
        sims, idx = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        # An inverted file may find fewer than k neighbours (-1): those count as infinitely far (similarity
        # -1, distance 2), copies of the nearest, so a ratio test sees no close rival in them.
        missing = idx < 0
        if missing.any():
            idx = np.where(missing, np.maximum(idx[:, :1], 0), idx)
            sims = np.where(missing, -1.0, sims).astype(np.float32)
        return sims, idx

    @property
    def n_descriptors(self) -> int:
        return int(sum(len(d) for d in self._desc))

    # -- photos ------------------------------------------------------------------------------
    def features(self, photo: Image.Image) -> Features:
        """SIFT keypoints of the greyscale photo (downscaled to ``max_side`` when set)."""
        s = 1.0
        if self.cfg.max_side:
            photo, s = scale_to_side(photo, self.cfg.max_side)
        xy, desc = _detect(self.cfg, np.asarray(photo.convert("L")), self.cfg.photo_features)
        return Features(xy, desc, s)

    def tentative(self, feats: Features) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Ratio-test matches grouped per reference: {ref index: (photo xy, reference xy)}."""
        desc, owner, brand = self._pooled()
        if len(feats.desc) == 0 or len(desc) == 0:
            return {}
        # RootSIFT vectors have unit norm, so squared L2 distance = 2 - 2 * dot.
        k = min(self.cfg.knn, len(desc))
        nn_sim, nn = self._search(feats.desc, k)  # sorted, nearest first
        dist = np.sqrt(np.maximum(0.0, 2 - 2 * nn_sim))
        nn_brand = brand[nn]
        r = self.cfg.ratio
        if self.cfg.ratio_mode == "global":
            ok = np.zeros_like(dist, bool)
            ok[:, 0] = dist[:, 0] < r * dist[:, 1] if k > 1 else True
        else:
            # eq[q, j, i]: neighbours j and i of query q belong to the same brand (to the same reference in
            # "ref" mode: several references of one brand then do not knock out each other's matches)
            grp = owner[nn] if self.cfg.ratio_mode == "ref" else nn_brand
            eq = grp[:, :, None] == grp[:, None, :]
            first = ~(eq & np.tril(np.ones((k, k), bool), -1)).any(2)  # nearest of its group for this query
            if self.cfg.ratio_mode in ("brand", "ref"):
                rival = eq & np.triu(np.ones((k, k), bool), 1)  # farther neighbours of the same group
            else:  # "other": any neighbour of another brand
                rival = ~eq
            has = rival.any(2)
            # when no rival is among the k, the k-th distance is a lower bound of its distance
            d2 = np.where(has, np.take_along_axis(dist, rival.argmax(2), 1), dist[:, -1:])
            ok = first & (dist < r * d2)
        qs, js = np.nonzero(ok)
        g = nn[qs, js]
        ref_start = np.concatenate([[0], np.cumsum([len(d) for d in self._desc])])
        own = owner[g]
        res = {}
        for ri in np.unique(own):
            sel = own == ri
            res[int(ri)] = (feats.xy[qs[sel]], self._refs[ri].xy[g[sel] - ref_start[ri]])
        return res

    def _fit(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """(3x3 model reference -> photo, indices of the inliers at distinct photo positions) or (None, [])."""
        import cv2

        cfg = self.cfg
        need = 4 if cfg.model == "homography" else 3 if cfg.model == "affine" else 2
        none = np.zeros(0, np.int64)
        if len(src) < max(need, cfg.min_matches):
            return None, none
        # cv2's RANSAC draws from the global RNG: reseed so every call is reproducible.
        cv2.setRNGSeed(0)
        if cfg.model == "homography":
            H, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, cfg.reproj, maxIters=2000, confidence=0.995)
        elif cfg.model == "affine":
            A, mask = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=cfg.reproj, maxIters=2000)
            H = None if A is None else np.vstack([A, [0, 0, 1]])
        else:
            A, mask = cv2.estimateAffinePartial2D(
                src, dst, method=cv2.RANSAC, ransacReprojThreshold=cfg.reproj, maxIters=2000
            )
            H = None if A is None else np.vstack([A, [0, 0, 1]])
        if H is None or mask is None:
            return None, none
        # Several SIFT keypoints may sit at one spot (one per orientation): count distinct photo positions.
        spots: dict[tuple[int, int], int] = {}
        for i in np.flatnonzero(mask.ravel()):
            spots.setdefault((round(float(dst[i, 0])), round(float(dst[i, 1]))), int(i))
        return H, np.fromiter(spots.values(), np.int64, len(spots))

    def _plausible(self, H: np.ndarray, corners: np.ndarray) -> tuple[float, float, float, float] | None:
        """Box of the projected outline, or None for a degenerate / implausible model."""
        A = H[:2, :2] / H[2, 2]
        if np.linalg.det(A) <= 0:  # mirrored or collapsed
            return None
        sv = np.linalg.svd(A, compute_uv=False)
        if sv[1] <= 1e-6 or sv[0] / sv[1] > self.cfg.max_anisotropy:
            return None
        pts = np.hstack([corners, np.ones((4, 1), np.float32)]) @ H.T
        if np.any(pts[:, 2] <= 1e-6):  # outline crosses the horizon
            return None
        q = pts[:, :2] / pts[:, 2:3]
        # the projected quadrilateral must stay convex with the same winding as the reference
        edges = [q[(i + 1) % 4] - q[i] for i in range(4)]
        cross = [edges[i][0] * edges[(i + 1) % 4][1] - edges[i][1] * edges[(i + 1) % 4][0] for i in range(4)]
        if not (all(c > 0 for c in cross) or all(c < 0 for c in cross)):
            return None
        x1, y1 = q.min(0)
        x2, y2 = q.max(0)
        if min(x2 - x1, y2 - y1) < self.cfg.min_box_side:
            return None
        return float(x1), float(y1), float(x2), float(y2)

    def match(self, feats: Features) -> dict[str, KeypointMatch]:
        """Best geometric match per brand (brands without a plausible model are left out); boxes in input pixels."""
        best: dict[str, KeypointMatch] = {}
        for ri, (dst, src) in sorted(self.tentative(feats).items()):
            ref = self._refs[ri]
            H, keep = self._fit(src, dst)
            n = len(keep)
            if H is None or n == 0:
                continue
            box = self._plausible(H, ref.corners)
            if box is None:
                continue
            box = tuple(v / feats.scale for v in box)
            cur = best.get(ref.brand)
            if cur is None or n > cur.inliers:
                best[ref.brand] = KeypointMatch(ref.brand, n, len(src), box, ref.name, dst[keep], src[keep])
        return best

    def find(self, photo: Image.Image) -> list[KeypointMatch]:
        """Per-brand matches on ``photo``, most inliers first."""
        return sorted(self.match(self.features(photo)).values(), key=lambda m: -m.inliers)
