"""The CNN logo stage (``cnn``): candidate windows → embeddings → reference index → verified ``LogoMatch`` list.

How ``LogoMatcher.find`` looks at a photo (numbers measured in BENCHMARKS.md, "Logo matching (issue 3)"):

1. **Proposals.** The photo is resized to ``max_side`` and run once through the CNN; windows of
   several sizes and aspect ratios are pooled from that one feature map (``embed_windows``), and each
   window is scored against every brand (best view of any of its marks).
2. **Verification.** The best ``verify_top`` windows (non-maximum suppressed) are cropped from the
   photo with some context and embedded again at the network's input size, the scale the references
   were embedded at. A candidate keeps its brand only if the re-embedded crop agrees, scores at least
   ``threshold`` and beats the runner-up brand by ``min_margin``.
3. **Aggregation.** One match per brand: its best verified window.

A frozen ImageNet CNN and flat single-colour marks are far apart (see the benchmark); the threshold was
fitted on the validation half of the protocol so that ~5 % of logo-free photos report a brand.

The reference index is built from the catalog here too, brand by brand, and cached beside the catalog or
in the user cache (``build_or_load_index``; ``detector catalog index`` builds it ahead of time).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from detector.errors import CatalogError, CorruptModel, MissingModel
from detector.logos.candidate import LogoCandidate
from detector.logos.embed import DEFAULT_EMBEDDER, Embedder, create_embedder
from detector.logos.embed.views import VIEWS_VERSION, plain_views, reference_views
from detector.logos.geometry import cache_dir as default_cache_dir
from detector.logos.geometry import clamp_box, crop_resized, nms, scale_to_side, square_windows, square_with_context
from detector.logos.index import ReferenceIndex, RefMeta, read_manifest
from detector.types import LogoMatch

if TYPE_CHECKING:
    from detector.catalog import Brand, Catalog

STAGE_VERSION = "v1"
# Operating points per embedder: (threshold, min margin over the runner-up brand, min margin over the
# nearest background patch), fitted on the validation half of the protocol at <= 5 % false positives on
# logo-free photos (BENCHMARKS.md, "Logo matching (issue 3)"; benchmarks/logo_eval.py prints them).
CALIBRATION: dict[str, tuple[float, float, float]] = {
    "mobilenet_v2-imagenet.v1": (0.719, 0.0, -1.0),
    "mobilenet_v2-logo.v1": (0.656, 0.03, -1.0),
    # The trained embedder alone: similarity says little across a catalog, the margin over the runner-up
    # brand says much (≤ 3 % FP on validation; BENCHMARKS.md, "Logo matching, round 2").
    "mobilenet_v2-logo-ft.v1": (0.0, 0.166, -1.0),
}
# For an embedder with no fitted operating point (tests' fakes, new backbones): a cosine of 0.6, no margins.
FALLBACK_CALIBRATION = (0.60, 0.0, -1.0)
BACKGROUND_DIR = Path(__file__).resolve().parent / "embed" / "data"
# Window sides as fractions of the shorter image side, and width/height ratios (wordmarks are wide).
WINDOW_FRACTIONS = (0.2, 0.35, 0.55, 0.8)
WINDOW_ASPECTS = (1.0, 2.0, 0.5)
TRAINED_WINDOW_FRACTIONS = (0.35, 0.5, 0.7, 1.0)


class LogoMatcher:
    """Finds catalog marks in photos; implements ``detector.stages.LogoStage``.

    >>> matcher = LogoMatcher.default()            # doctest: +SKIP  (bundled catalog, default CNN)
    >>> matcher.find(image)                        # doctest: +SKIP
    [LogoMatch(brand='Nike', score=0.71, box=Box(...), mark='marks/nike.png')]
    """

    def __init__(
        self,
        embedder: Embedder,
        index: ReferenceIndex,
        *,
        threshold: float | None = None,
        min_margin: float | None = None,
        min_background_margin: float | None = None,
        background: np.ndarray | None | str = "auto",
        max_side: int = 512,
        verify_top: int = 6,
        window_fractions: Sequence[float] | None = None,
        window_aspects: Sequence[float] = WINDOW_ASPECTS,
        context: float = 0.15,
    ) -> None:
        if index.embedder != embedder.name:
            raise CatalogError(
                f"the reference index was built by embedder {index.embedder!r}, this matcher uses {embedder.name!r}: "
                f"rebuild it with `detector catalog index DIR`"
            )
        cal = CALIBRATION.get(embedder.name, FALLBACK_CALIBRATION)
        threshold = cal[0] if threshold is None else threshold
        min_margin = cal[1] if min_margin is None else min_margin
        min_background_margin = cal[2] if min_background_margin is None else min_background_margin
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.embedder = embedder
        self.index = index
        self.threshold = threshold
        self.min_margin = min_margin
        self.min_background_margin = min_background_margin
        # "auto": the embedder's shipped background bank when there is one (models/make_background_bank.py).
        self.background = load_background(embedder) if isinstance(background, str) else background
        self.max_side = max_side
        self.verify_top = verify_top
        if window_fractions is None:
            # An embedder trained on crops sees square windows cut at its input size; a logo fills 35-80 %
            # of a training crop, so windows from a third of the photo up to all of it cover every scale.
            window_fractions = TRAINED_WINDOW_FRACTIONS if hasattr(embedder, "embed_arrays") else WINDOW_FRACTIONS
        self.window_fractions = tuple(window_fractions)
        self.window_aspects = tuple(window_aspects)
        self.context = context
        self.name = f"logos.{embedder.name}.{STAGE_VERSION}"

    @classmethod
    def default(
        cls, catalog: Catalog | None = None, *, embedder: str = DEFAULT_EMBEDDER, cache_dir: str | Path | None = None
    ) -> LogoMatcher:
        """The shipped stack: ``catalog`` (default: the bundled demo catalog), the default CNN, a cached index."""
        if catalog is None:
            from detector.catalog import load_catalog

            catalog = load_catalog()
        emb = create_embedder(embedder)
        return cls(emb, build_or_load_index(catalog, emb, cache_dir=cache_dir))

    # -- the stage -------------------------------------------------------------------------------
    def load(self) -> None:
        """Nothing to load: the embedder, the index and the background bank are loaded with the stage."""

    def find(self, image: Image.Image) -> list[LogoMatch]:
        """Brands whose mark is seen in ``image`` (RGB), best first; empty when none clears the threshold."""
        out = [
            c.to_match()
            for c in self.candidates(image)
            if c.score >= self.threshold
            and c.margin >= self.min_margin
            and c.score - c.background >= self.min_background_margin
        ]
        return sorted(out, key=lambda m: -m.score)

    def candidates(self, image: Image.Image) -> list[LogoCandidate]:
        """Every verified candidate, one per brand at most, with no threshold applied.

        The score is the verified cosine similarity clipped to [0, 1]; ``margin`` is the unclipped
        similarity minus the runner-up brand's on the same crop, ``background`` the crop's similarity to
        the nearest logo-free background patch (0 without a bank), ``proposal_score`` the window's best
        brand score before verification.
        """
        if not len(self.index):
            return []
        image = image.convert("RGB")
        if hasattr(self.embedder, "embed_arrays"):
            return self._window_candidates(image)
        small, scale = scale_to_side(image, self.max_side)
        boxes, vecs = self._proposals(small)
        if not len(boxes):
            return []
        brands, scores = self.index.brand_scores(vecs)
        best = scores.max(axis=1)
        keep = nms(boxes, best, iou=0.5, limit=self.verify_top)
        # Crops come from the full-resolution image: verification sees the logo's own pixels.
        crops, crop_boxes = [], []
        for i in keep:
            b = boxes[i] / scale
            crop_box = square_with_context(b, image.size, self.context)
            crops.append(image.crop(tuple(round(c) for c in crop_box)))
            crop_boxes.append(b)
        v2 = self.embedder.embed(crops)
        brands, s2 = self.index.brand_scores(v2)
        return self._per_brand(image, keep, crop_boxes, v2, best, brands, s2)

    def _window_candidates(self, image: Image.Image) -> list[LogoCandidate]:
        """An embedder trained on crops (``embed_arrays``): every square window at every scale, the whole
        photo included, is cut out at the embedder's input size and scored; no separate verification.
        """
        small, scale = scale_to_side(image, self.max_side)
        boxes = square_windows(small.size, self.window_fractions)
        side = self.embedder.input_size  # type: ignore[attr-defined]
        vecs = self.embedder.embed_arrays(crop_resized(np.asarray(small), boxes, side))  # type: ignore[attr-defined]
        brands, scores = self.index.brand_scores(vecs)
        best = scores.max(axis=1)
        return self._per_brand(image, list(range(len(boxes))), [b / scale for b in boxes], vecs, best, brands, scores)

    def _per_brand(
        self,
        image: Image.Image,
        keep: list[int],
        crop_boxes: list[np.ndarray],
        v2: np.ndarray,
        best: np.ndarray,
        brands: list[str],
        s2: np.ndarray,
    ) -> list[LogoCandidate]:
        """One candidate per brand: its best-scoring crop (``v2``, brand scores ``s2``), with margin and
        background similarity; ``best`` is each proposal's score before verification.
        """
        bg = (
            (v2 @ self.background.T).max(axis=1)
            if self.background is not None and len(self.background)
            else np.zeros(len(v2))
        )
        per_brand: dict[str, LogoCandidate] = {}
        for row, i in enumerate(keep):
            order = np.argsort(-s2[row])
            j = int(order[0])
            runner = float(s2[row, order[1]]) if len(order) > 1 else 0.0
            score = float(np.clip(s2[row, j], 0.0, 1.0))
            brand = brands[j]
            prev = per_brand.get(brand)
            if prev is not None and prev.score >= score:
                continue
            box = clamp_box(crop_boxes[row], image.size)
            if box is None:  # a window outside the photo: nothing of the logo is there
                continue
            per_brand[brand] = LogoCandidate(
                brand=brand,
                mark=self._best_mark(v2[row], brand),
                box=box,
                score=score,
                stage=self.name,
                margin=float(s2[row, j]) - runner,
                background=float(bg[row]),
                proposal_score=float(best[i]),
            )
        return sorted(per_brand.values(), key=lambda c: -c.score)

    # -- internals -------------------------------------------------------------------------------
    def _window_sizes(self, size: tuple[int, int]) -> list[tuple[int, int]]:
        short = min(size)
        out = []
        for f in self.window_fractions:
            side = f * short
            for a in self.window_aspects:
                w, h = side * np.sqrt(a), side / np.sqrt(a)
                if w <= size[0] * 1.05 and h <= size[1] * 1.05:
                    out.append((round(w), round(h)))
        return out

    def _proposals(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        sizes = self._window_sizes(image.size)
        if hasattr(self.embedder, "embed_windows"):
            return self.embedder.embed_windows(image, sizes)  # type: ignore[attr-defined]
        # Embedders without a shared feature map: crop a coarse grid of windows and embed each.
        boxes = []
        for w, h in sizes:
            for y in np.arange(0, max(1, image.height - h + 1), max(1, h // 2)):
                for x in np.arange(0, max(1, image.width - w + 1), max(1, w // 2)):
                    boxes.append((x, y, x + w, y + h))
        arr = np.array(boxes, dtype=np.float32).reshape(-1, 4)
        return arr, self.embedder.embed([image.crop(tuple(int(c) for c in b)) for b in arr])

    def _best_mark(self, vec: np.ndarray, brand: str) -> str:
        idx = [k for k, m in enumerate(self.index.metas) if m.brand == brand]
        sims = self.index.vectors[idx] @ vec
        return self.index.metas[idx[int(np.argmax(sims))]].mark


def load_background(embedder: Embedder) -> np.ndarray | None:
    """The shipped background bank of ``embedder`` (sha256-checked), or None when it has none.

    A trained embedder carries its own (the background proxies of its training, in its checked weights file).
    """
    import json

    own = getattr(embedder, "background", None)
    if own is not None:
        # Its training's background proxies, and plain grounds (solid colours, weave): a plain window is
        # then closer to the background than to any mark.
        plain = embedder.embed(plain_views(getattr(embedder, "input_size", 224)))
        return np.concatenate([np.asarray(own, dtype=np.float32), plain])

    meta_path = BACKGROUND_DIR / "background.json"
    if not meta_path.exists():
        return None
    entry = json.loads(meta_path.read_text(encoding="utf-8")).get(embedder.name)
    if entry is None:
        return None
    path = BACKGROUND_DIR / entry["file"]
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MissingModel(
            f"background bank {path} of embedder {embedder.name!r} is missing: reinstall detector"
        ) from exc
    if hashlib.sha256(raw).hexdigest() != entry["sha256"]:
        raise CorruptModel(
            f"background bank {path} does not match its sha256 in {meta_path}: "
            f"reinstall detector or rebuild it with `python models/make_background_bank.py --embedder {embedder.name}`"
        )
    import io

    return np.load(io.BytesIO(raw)).astype(np.float32)


# -- building the index from a catalog -----------------------------------------------------------
def brand_fingerprint(catalog: Catalog, brand: Brand) -> str:
    """sha256 over a brand's mark paths and bytes and the views' version: changes exactly when its
    references must be re-embedded."""
    h = hashlib.sha256(f"{brand.name}\0views{VIEWS_VERSION}".encode())
    for mark in brand.marks:
        h.update(b"\0" + mark.encode("utf-8") + b"\0")
        h.update(hashlib.sha256(catalog.mark_path(mark).read_bytes()).digest())
    return h.hexdigest()


def embed_brand(catalog: Catalog, brand: Brand, embedder: Embedder) -> tuple[np.ndarray, list[RefMeta]]:
    """Every reference view of every mark of ``brand``, embedded."""
    images: list[Image.Image] = []
    metas: list[RefMeta] = []
    for mark in brand.marks:
        path = catalog.mark_path(mark)
        try:
            with Image.open(path) as im:
                im.load()
                mark_img = im.copy()
        except (OSError, ValueError) as exc:
            raise CatalogError(f"brand {brand.name!r}: mark {mark!r} ({path}) is not a readable image: {exc}") from exc
        for view, img in reference_views(mark_img):
            images.append(img)
            metas.append(RefMeta(brand=brand.name, mark=mark, view=view))
    if not images:
        return np.zeros((0, embedder.dim), np.float32), []
    return embedder.embed(images), metas


def update_index(index: ReferenceIndex, catalog: Catalog, embedder: Embedder) -> list[str]:
    """Bring ``index`` in line with ``catalog`` brand by brand; returns the brands (re-)embedded or dropped."""
    changed = []
    current = {b.name for b in catalog.brands}
    for name in sorted(set(index.brand_fingerprints) | {m.brand for m in index.metas}):
        if name not in current:
            index.remove_brand(name)
            changed.append(name)
    for brand in catalog.brands:
        fp = brand_fingerprint(catalog, brand)
        if index.brand_fingerprints.get(brand.name) != fp:
            vecs, metas = embed_brand(catalog, brand, embedder)
            index.replace_brand(brand.name, vecs, metas, fingerprint=fp)
            changed.append(brand.name)
    index.catalog_hash = catalog.content_hash()
    return changed


def build_index(catalog: Catalog, embedder: Embedder, **kwargs: Any) -> ReferenceIndex:
    """A fresh index of every mark of ``catalog`` (``kwargs`` go to ``ReferenceIndex``)."""
    index = ReferenceIndex(embedder.dim, embedder.name, embedder.weights_sha256, **kwargs)
    update_index(index, catalog, embedder)
    return index


def default_index_dir(catalog: Catalog, embedder: Embedder, cache_dir: str | Path | None = None) -> Path:
    """Beside the catalog (``<catalog>/index/<embedder>``) when writable, else in the user cache.

    The bundled demo catalog lives inside the installed package, which may be read-only, so its
    index goes to ``$XDG_CACHE_HOME/detector/index/<catalog-hash>/<embedder>`` (``~/.cache`` by default).
    """
    slug = embedder.name.replace("/", "_")
    if cache_dir is None:
        from detector.catalog import default_catalog_path

        root = Path(catalog.root)
        bundled = root.resolve() == default_catalog_path().resolve()
        if not bundled and os.access(root, os.W_OK):
            return root / "index" / slug
    return default_cache_dir("index", cache_dir) / catalog.content_hash()[:16] / slug


def build_or_load_index(catalog: Catalog, embedder: Embedder, cache_dir: str | Path | None = None) -> ReferenceIndex:
    """Load the saved index of ``catalog`` for ``embedder``; update it brand by brand when stale, and save.

    Only brands whose marks changed are re-embedded, so enrolling one brand costs one brand's views.
    """
    folder = default_index_dir(catalog, embedder, cache_dir)
    index: ReferenceIndex | None = None
    try:
        man = read_manifest(folder)
        if man.embedder == embedder.name and man.weights_sha256 == embedder.weights_sha256:
            index = ReferenceIndex.load(folder, embedder=embedder.name, weights_sha256=embedder.weights_sha256)
    except CatalogError:
        index = None  # absent, torn or foreign: rebuilt below
    if index is None:
        index = ReferenceIndex(embedder.dim, embedder.name, embedder.weights_sha256)
    catalog_hash = catalog.content_hash()
    # Per-brand fingerprints also carry the reference views' version, which the catalog hash does not.
    stale = any(index.brand_fingerprints.get(b.name) != brand_fingerprint(catalog, b) for b in catalog.brands)
    if index.catalog_hash != catalog_hash or not len(index) or stale:
        update_index(index, catalog, embedder)
        try:
            index.save(folder)
        except OSError as exc:
            # A read-only location still gets a working in-memory index; it is rebuilt next time.
            logging.getLogger(__name__).warning(
                "could not save the logo index to %s (%s); using it in memory", folder, exc
            )
    return index
