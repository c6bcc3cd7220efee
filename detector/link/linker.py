"""``Linker``: manifest rows in, photo links and seller clusters out, through an (optionally saved) index.

Photos are described and linked in chunks: a chunk is described, added to the index, its candidate pairs
(with everything indexed so far, itself included) are decided, and its fingerprints are dropped. Memory is
the index plus one chunk, whatever the manifest's length.

>>> result = link_manifest("listings.csv", index_dir="link-index/")   # doctest: +SKIP
>>> [c.sellers for c in result.clusters]                             # doctest: +SKIP
[('s1', 's7')]
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.config import Limits, LinkConfig
from detector.errors import InvalidImage
from detector.link.clusters import Cluster, clusters, env_links, photo_links
from detector.link.describe import PhotoDescriber, Prints
from detector.link.index import MANIFEST, LinkIndex, LinkIndexError, Photo, PhotoLink
from detector.link.manifest import ManifestError, PhotoRow, read_manifest
from detector.link.pairs import candidates, find_links
from detector.link.verify import KeypointCheck

if TYPE_CHECKING:
    from PIL import Image

    from detector.catalog import Catalog

log = logging.getLogger(__name__)

# Photos described, searched and decided together: ~10 MB of fingerprints, then dropped.
CHUNK = 1024
# ``progress(total, description)`` returns a bar with ``update(n)`` and ``close()`` (tqdm's signature).
Progress = Callable[[int, str], Any]


@dataclass(frozen=True)
class LinkResult:
    """What a run found: the clusters (largest first) and what it did to get there."""

    clusters: tuple[Cluster, ...]
    photos: int  # photos in the index after the run
    described: int  # photos described this run (the rest came from the index)
    skipped: tuple[str, ...]  # "row N: why" for photos that could not be read
    photo_links: int  # photo links found this run


class Linker:
    """Describes photos, keeps the index, decides the links. Stages are injectable: ``describer`` (an
    object with ``describe(images) -> Prints`` and ``provenance``) defaults to the MobileNetV2 one."""

    def __init__(
        self,
        config: LinkConfig | None = None,
        *,
        describer: Any = None,
        limits: Limits | None = None,
        progress: Progress | None = None,
        official: Catalog | None = None,
    ) -> None:
        self.config = config or LinkConfig()
        self.describer = describer or PhotoDescriber(self.config.embedder)
        self.limits = limits or Limits()
        self.progress = progress
        # Photos that copy a brand's official photo do not link sellers: any reseller may post the
        # rights-holder's own pictures, so sharing one says nothing about who runs a shop.
        self._official = None
        if official is not None and any(b.official_photos for b in official):
            from detector.link.official import OfficialPhotos

            self._official = OfficialPhotos(official, self.config, describer=self.describer, limits=self.limits)
        self._official_hits: dict[int, bool] = {}
        self.dropped_official = 0

    def settings(self) -> dict[str, Any]:
        """The settings a saved index's links were decided under."""
        cfg = dataclasses.asdict(self.config)
        return {k: cfg[k] for k in ("phash_max_distance", "phash_candidate", "cnn_sure", "cnn_candidate",
                                    "keypoint_min_inliers", "keypoint_min_spread", "neighbours", "keypoint_side",
                                    "keypoint_features")}

    def open_index(self, folder: str | Path | None) -> LinkIndex:
        """The index saved in ``folder`` (a new one when the folder holds none, or when ``folder`` is None)."""
        provenance, settings = self.describer.provenance, self.settings()
        if folder is None or not (Path(folder) / MANIFEST).exists():
            return LinkIndex(provenance, settings)
        index = LinkIndex.load(folder, provenance, settings)
        if index.stale_links:
            raise LinkIndexError(
                f"the link index in {folder} was built with other link settings than this run's {settings}; "
                "link with the config it was built with, or start a new --index folder")
        return index

    def load_photo(self, path: str | Path) -> Image.Image:
        """A photo as linking sees it: safely decoded RGB, longest side at most ``keypoint_side``."""
        image = _load_image(path, self.limits).copy()
        side = self.config.keypoint_side
        if max(image.size) > side:
            image.thumbnail((side, side))
        return image

    def add(self, index: LinkIndex, rows: Sequence[PhotoRow]) -> tuple[list[PhotoLink], int, list[str]]:
        """Describe the rows not indexed yet, add them and decide their links (appended to ``index.links``).

        Returns (new links, photos described, "row N: why" for unreadable photos). A row whose listing the
        index gives to another seller, or whose file changed since it was indexed, is a ``ManifestError``.
        """
        todo: list[tuple[PhotoRow, str]] = []
        for row in rows:
            digest = _sha256(row.path, row.row)
            known = index.find(row.listing_id, row.image)
            if known is not None:
                old = index.photos[known]
                if old.sha256 != digest:
                    raise ManifestError(
                        f"row {row.row}: listing {row.listing_id!r} image {row.image!r} was indexed with other "
                        f"bytes (sha256 {old.sha256[:12]}, now {digest[:12]}); give the new photo another name",
                        row=row.row)
                continue
            other = index.seller_of(row.listing_id)
            if other is not None and other != row.seller_id:
                raise ManifestError(f"row {row.row}: listing {row.listing_id!r} belongs to seller {other!r} in the "
                                    f"index, not {row.seller_id!r}", row=row.row)
            todo.append((row, digest))
        check = KeypointCheck(lambda key: self._index_photo(index, int(key)), max_side=self.config.keypoint_side,
                              features=self.config.keypoint_features, cache=self.config.keypoint_cache)
        found: list[PhotoLink] = []
        skipped: list[str] = []
        bar = self.progress(len(todo), "linking photos") if self.progress and todo else None
        described = 0
        try:
            for start in range(0, len(todo), CHUNK):
                chunk = todo[start:start + CHUNK]
                photos, prints = self._describe(chunk, skipped, bar)
                described += len(photos)
                new = index.add(photos, prints.phash, prints.vector)
                pairs = candidates(index, new, prints, self.config, skip=index.same_seller)
                found.extend(self._not_official(index, find_links(index, pairs, self.config, check)))
        finally:
            if bar is not None:
                bar.close()
        if check.unreadable:
            log.warning("%d indexed photo(s) could no longer be read for the keypoint check; their borderline "
                        "pairs were not linked", len(check.unreadable))
        index.links.extend(found)
        return found, described, skipped

    def clusters(self, index: LinkIndex) -> list[Cluster]:
        """The seller clusters of everything in the index."""
        return clusters([*photo_links(index.photos, index.links), *env_links(index.photos)])

    # -- helpers -----------------------------------------------------------------------------------
    def _describe(self, chunk: Sequence[tuple[PhotoRow, str]], skipped: list[str], bar: Any) -> tuple[list[Photo], Prints]:
        import numpy as np

        photos: list[Photo] = []
        parts: list[Prints] = []
        batch: list[Image.Image] = []

        def flush() -> None:
            if batch:
                parts.append(self.describer.describe(batch))
                batch.clear()

        for row, digest in chunk:
            if bar is not None:
                bar.update(1)
            try:
                image = self.load_photo(row.path)
            except InvalidImage as exc:
                skipped.append(f"row {row.row}: {exc}")
                continue
            photos.append(Photo(row.listing_id, row.seller_id, row.image, str(row.path), digest, dict(row.env)))
            batch.append(image)
            if len(batch) >= self.config.batch:
                flush()
        flush()
        if not parts:
            empty = np.zeros((0, 8), np.uint8)
            dim = int(self.describer.provenance["dim"])
            return photos, Prints(empty, empty, np.zeros((0, dim), np.float32), np.zeros((0, dim), np.float32))
        return photos, Prints(*(np.concatenate([getattr(p, f.name) for p in parts])
                                for f in dataclasses.fields(Prints)))

    def _not_official(self, index: LinkIndex, links: list[PhotoLink]) -> list[PhotoLink]:
        """``links`` less those through a photo that copies an official photo (with ``official``)."""
        if self._official is None:
            return links
        kept = []
        for lk in links:
            if any(self._is_official(index, i) for i in (lk.a, lk.b)):
                self.dropped_official += 1
            else:
                kept.append(lk)
        return kept

    def _is_official(self, index: LinkIndex, i: int) -> bool:
        if i not in self._official_hits:
            image = self._index_photo(index, i)
            self._official_hits[i] = bool(image is not None and self._official and self._official.find(image))
        return self._official_hits[i]

    def _index_photo(self, index: LinkIndex, i: int) -> Image.Image | None:
        try:
            return self.load_photo(index.photos[i].path)
        except (InvalidImage, OSError):
            return None


def link_manifest(
    manifest: str | Path | Sequence[PhotoRow],
    *,
    index_dir: str | Path | None = None,
    config: LinkConfig | None = None,
    linker: Linker | None = None,
) -> LinkResult:
    """Link the sellers of ``manifest`` (a CSV path or parsed rows), against and into ``index_dir`` when given.

    Raises ``ManifestError`` (with the row) for a bad manifest and ``LinkIndexError`` for an index built by
    another embedder or under other settings.
    """
    linker = linker or Linker(config)
    rows = read_manifest(manifest) if isinstance(manifest, (str, Path)) else list(manifest)
    index = linker.open_index(index_dir)
    found, described, skipped = linker.add(index, rows)
    if index_dir is not None:
        index.save(index_dir)
    return LinkResult(tuple(linker.clusters(index)), len(index), described, tuple(skipped), len(found))


def _sha256(path: Path, row: int) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise ManifestError(f"row {row}: cannot read image {path}: {exc.strerror or exc}", row=row) from None
    return h.hexdigest()


def _load_image(path: str | Path, limits: Limits) -> Image.Image:
    from detector.io import load_image

    return load_image(path, limits).image
