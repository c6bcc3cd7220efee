"""Logo stage by local features: geometrically consistent SIFT matches with the catalog's marks.

``KeypointLogos`` is the pipeline stage (registered as ``keypoints``); the SIFT/RootSIFT, ratio-test and
RANSAC engine it runs is ``detector.logos.keypoint_matcher.KeypointMatcher``
(``benchmarks/logo_keypoints.py`` measures both, BENCHMARKS.md has the figures).

OpenCV is imported inside functions so that importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from detector.errors import CatalogError
from detector.logos.candidate import LogoCandidate
from detector.logos.geometry import cache_dir as default_cache_dir
from detector.logos.geometry import clamp_box
from detector.logos.keypoint_matcher import KeypointConfig, KeypointMatcher
from detector.types import Box, LogoMatch

if TYPE_CHECKING:
    from detector.catalog import Catalog

log = logging.getLogger(__name__)

STAGE_VERSION = "v1"
# From this many marks without cached keypoints, ``from_catalog`` says it will take a while.
SLOW_NOTICE_MARKS = 50
# The fewest distinct inlier positions for a brand to be reported. The lowest count at which <= 1 % of
# the validation-half logo-free clothing photos report a brand of the bundled catalog
# (`python benchmarks/logo_stages.py composites --stage keypoints` prints the fit).
DEFAULT_MIN_INLIERS = 7


class KeypointLogos:
    """Finds catalog marks by geometrically consistent SIFT matches; implements ``detector.stages.LogoStage``.

    A mark with transparency is a flat logo (matched in both polarities); an opaque mark is taken as a
    photo of the logo, which is how a rights-holder enrols product photos (few-shot references).

    >>> stage = KeypointLogos.default()           # doctest: +SKIP  (bundled catalog)
    >>> stage.find(image)                         # doctest: +SKIP
    [LogoMatch(brand='Ferrari', score=0.74, box=Box(...), mark='marks/ferrari.png')]
    """

    def __init__(
        self,
        marks: Iterable[tuple[str, str, Image.Image]] = (),
        *,
        min_inliers: int = DEFAULT_MIN_INLIERS,
        max_side: int = 640,
        config: KeypointConfig | None = None,
    ) -> None:
        if min_inliers < 3:
            raise ValueError(f"min_inliers must be at least 3 (an affine model needs 3 points), got {min_inliers}")
        self.matcher = KeypointMatcher(config or KeypointConfig(max_side=max_side))
        self.min_inliers = min_inliers
        self.name = f"logos.keypoints.{STAGE_VERSION}"
        for brand, name, image in marks:
            self.add(brand, name, image)

    def add(self, brand: str, name: str, image: Image.Image) -> None:
        """Enrol one more reference of ``brand`` (no rebuild: the descriptor table is extended).

        Flat marks (``shapes.mark_mask`` decides) are matched from their ink, in both polarities; photos
        as they are.
        """
        from detector.logos.shapes import has_transparency, mark_mask

        mask = mark_mask(image)
        if mask is None:
            self.matcher.add_photo(brand, name, image.convert("RGB"))
            return
        if not mask.any():
            raise CatalogError(f"brand {brand!r}: mark {name!r} is fully transparent")
        if not has_transparency(image):  # an opaque flat logo: its ink becomes the opacity
            ink = Image.fromarray(mask.astype(np.uint8) * 255)
            image = Image.merge("RGBA", (ink, ink, ink, ink))
        self.matcher.add_mark(brand, name, image)

    @classmethod
    def from_catalog(cls, catalog: Catalog, *, cache_dir: str | Path | None = None, **kwargs: int) -> KeypointLogos:
        """A stage for every mark of ``catalog`` (brands without marks are found by their text only).

        Describing the bundled catalog's marks takes ~10 s, so each mark's keypoints are cached under
        ``$XDG_CACHE_HOME/detector/keypoints/`` (or ``<cache_dir>/keypoints/``), keyed by the mark file's
        bytes, the settings and the OpenCV version: enrolling a brand describes only its marks. An
        unwritable cache is skipped; a damaged entry is described again.
        """
        import cv2

        stage = cls(**kwargs)  # type: ignore[arg-type]
        settings = json.dumps([STAGE_VERSION, cv2.__version__, dataclasses.asdict(stage.matcher.cfg)], sort_keys=True)
        base = default_cache_dir("keypoints", cache_dir)
        marks = []
        for brand, mark in catalog.iter_marks():
            data = catalog.mark_bytes(brand, mark)
            marks.append((brand, mark, data, base / f"{hashlib.sha256(data + settings.encode()).hexdigest()[:32]}.npz"))
        new = sum(not cached.is_file() for *_, cached in marks)
        if new >= SLOW_NOTICE_MARKS:
            # Minutes for a large catalog, with nothing else on screen: say why, once.
            log.warning(
                "describing %d catalog marks for the keypoint stage (~0.1 s each, once: cached under %s)", new, base
            )
        for brand, mark, data, cached in marks:
            if cached.is_file():
                try:
                    stage.matcher.load(brand.name, mark, cached)
                    continue
                except (OSError, ValueError, KeyError) as exc:
                    log.warning("ignoring the damaged keypoint cache %s: %s", cached, exc)
            stage.add(brand.name, mark, catalog.mark_image(brand, mark, data))  # decoded only when not cached
            try:
                base.mkdir(parents=True, exist_ok=True)
                stage.matcher.save_last(cached)
            except OSError as exc:
                log.info("keypoint cache not written (%s): %s", cached, exc)
        return stage

    @classmethod
    def default(cls, catalog: Catalog | None = None) -> KeypointLogos:
        """The stage for ``catalog`` (default: the bundled demo catalog)."""
        if catalog is None:
            from detector.catalog import load_catalog

            catalog = load_catalog()
        return cls.from_catalog(catalog)

    def load(self) -> None:
        """Build the descriptor search index now rather than on the first photo (~1 s for the bundled catalog)."""
        if self.matcher.n_descriptors:
            self.matcher._search(np.zeros((1, 128), np.float32), 1)

    def candidates(self, image: Image.Image) -> list[LogoCandidate]:
        """Every brand with a plausible geometric match, most inliers first, no threshold applied.

        The score is ``inliers / (inliers + min_inliers)``: 0.5 at the threshold, rising towards 1 with
        more geometric support (a count, not a probability). Boxes are the projected outlines, unclipped.
        """
        if not self.matcher.n_descriptors:
            return []
        return [
            LogoCandidate(
                brand=m.brand,
                mark=m.mark,
                box=Box(*m.box),
                score=round(m.inliers / (m.inliers + self.min_inliers), 4),
                stage=self.name,
                inliers=m.inliers,
                matches=m.matches,
            )
            for m in self.matcher.find(image.convert("RGB"))
        ]

    def find(self, image: Image.Image) -> list[LogoMatch]:
        """Brands with at least ``min_inliers`` inliers whose box lies (partly) inside ``image``, best first."""
        out = []
        for c in self.candidates(image):
            if c.inliers is not None and c.inliers >= self.min_inliers:
                box = clamp_box(c.box, image.size)
                if box is not None:
                    out.append(c.to_match(box))
        return sorted(out, key=lambda m: -m.score)
