"""The catalog's official photos (``official_photos`` of a brand), matched the way ``detector link`` matches photos.

``OfficialPhotos.find(image)`` names the official photos ``image`` is a copy of (re-encoded, resized, cropped,
mirrored, recoloured, framed, watermarked or captioned). The rules turn a match into the flag
``official_photo_reuse`` when the poster is not among the brand's authorised sellers. Nothing is loaded
until the first photo: a ``Detector`` builds this stage only for a catalog that lists official photos.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from detector.config import Limits, LinkConfig
from detector.link.describe import PhotoDescriber, Prints, hamming
from detector.link.pairs import MIRROR_MARGIN, Candidate, both_ways, decide
from detector.link.verify import KeypointCheck

if TYPE_CHECKING:
    from PIL import Image

    from detector.catalog import Catalog


@dataclass(frozen=True)
class OfficialMatch:
    """A photo found to be a copy of ``brand``'s official photo ``photo`` (as written in catalog.yaml)."""

    brand: str
    photo: str
    score: float  # CNN cosine (the higher of straight and mirrored)
    by: str  # "phash" | "cnn" | "keypoints"
    inliers: int = 0

    def quote(self) -> str:
        """The flag's evidence: which official photo, how close, by what."""
        how = f"{self.by}, {self.inliers} inliers" if self.by == "keypoints" else self.by
        return f"official photo {self.photo} of {self.brand} (score {self.score:.2f}, by {how})"


class OfficialPhotos:
    """Every official photo of a catalog, described once (on first use), searchable by photo."""

    name = "official-photos.v1"

    def __init__(
        self, catalog: Catalog, config: LinkConfig | None = None, *, describer: Any = None, limits: Limits | None = None
    ) -> None:
        self.config = config or LinkConfig()
        self.entries = [(b.name, p) for b in catalog for p in b.official_photos]
        self._root = catalog.root
        self._describer = describer or PhotoDescriber(self.config.embedder)
        self._limits = limits or Limits()
        self._prints: Prints | None = None
        self._lock = threading.Lock()
        self._query: Image.Image | None = None
        self._check = KeypointCheck(self._image, max_side=self.config.keypoint_side,
                                    features=self.config.keypoint_features, cache=max(64, 2 * len(self.entries) + 4))

    def __len__(self) -> int:
        return len(self.entries)

    def load(self) -> None:
        """Describe every official photo now (idempotent)."""
        with self._lock:
            self._load()

    def _load(self) -> Prints:
        if self._prints is None:
            images = [self._image(f"o:{i}") for i in range(len(self.entries))]
            self._prints = self._describer.describe(images)
        return self._prints

    def _image(self, key: str) -> Image.Image:
        from detector.errors import CatalogError, InvalidImage
        from detector.io import load_image

        if key == "q":
            if self._query is None:
                raise RuntimeError("no query photo: keypoints of 'q' are read only inside find()")
            return self._query
        brand, photo = self.entries[int(key[2:])]
        try:
            image = load_image(self._root / photo, self._limits, name=str(self._root / photo)).image.copy()
        except InvalidImage as exc:
            raise CatalogError(f"brand {brand!r}: official photo {photo!r} cannot be read: {exc}") from exc
        image.thumbnail((self.config.keypoint_side, self.config.keypoint_side))
        return image

    def find(self, image: Image.Image) -> list[OfficialMatch]:
        """The official photos ``image`` is a copy of, best first (one per photo)."""
        if not self.entries:
            return []
        small = image.copy()
        small.thumbnail((self.config.keypoint_side, self.config.keypoint_side))
        with self._lock:  # one query at a time: the keypoint cache holds this photo as "q"
            refs = self._load()
            q = self._describer.describe([small])
            straight, mirror = refs.vector @ q.vector[0], refs.vector @ q.vector_mirror[0]
            dist = np.minimum(hamming(refs.phash, q.phash[0]), hamming(refs.phash, q.phash_mirror[0]))
            self._query = small
            self._check.forget("q")
            found = []
            try:
                for i in range(len(self.entries)):
                    cos = float(max(straight[i], mirror[i]))
                    mirrored = bool(mirror[i] > straight[i] + MIRROR_MARGIN)
                    c = Candidate(-1, i, cos, mirrored, int(dist[i]))
                    got = decide(c, self.config, lambda i=i, m=mirrored: both_ways(
                        self._check, "q", f"o:{i}", m, self.config))
                    if got is not None:
                        brand, photo = self.entries[i]
                        found.append(OfficialMatch(brand, photo, round(cos, 4), got[0], got[1]))
            finally:
                self._query = None
        return sorted(found, key=lambda m: -m.score)
