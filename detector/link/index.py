"""The link index: every photo linked so far, its fingerprints, and the photo links already decided.

Tomorrow's manifest is linked against today's photos without describing them again. On disk (``--index DIR``)::

    photos.json    one entry per photo (listing, seller, image, file, sha256, environment) + decided links
    vectors.npy    (n, dim) float16 CNN descriptors, searched exactly by FAISS (``faiss.knn``, inner product)
                   in float32 blocks
    hashes.npy     (n, 8) uint8 perceptual hashes
    link.json      manifest: embedder name + weights sha256, dimension, the link settings, counts, and the
                   sha256 of the three files above; written last

The three payload files are written under new names carrying their content hash (``photos.<sha12>.json``,
…) through a temporary file and a rename; then the manifest, naming them, replaces the old one; only then
are the previous payload files deleted. An interrupted save leaves the previous index whole and loadable.

Memory: 2 bytes × dim per photo for the vectors (float16; 1280-d: 256 MB at 100k photos, half of what a
float32 FAISS index holds, and a float32 copy of one 16k-row block at a time while searching), 8 bytes of
hash, and the photo entries (~0.5 KB each). float16 moves a cosine by ~1e-3, a tenth of the steps the
thresholds were chosen in.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from detector.atomic import write_atomic
from detector.errors import DetectorError

FORMAT_VERSION = 1
MANIFEST = "link.json"
PHOTOS = "photos.json"
VECTORS = "vectors.npy"
# Stored rows searched per FAISS call: a 16k × 1280 float32 block is 80 MB.
SEARCH_BLOCK = 16384
HASHES = "hashes.npy"


class LinkIndexError(DetectorError):
    """A saved link index is unreadable, torn, or was built by another embedder."""


@dataclass(frozen=True)
class Photo:
    """One indexed photo."""

    listing_id: str
    seller_id: str
    image: str  # as the manifest wrote it
    path: str  # absolute, for the keypoint check of a later run
    sha256: str
    env: dict[str, str]

    def ref(self) -> dict[str, str]:
        return {"seller_id": self.seller_id, "listing_id": self.listing_id, "image": self.image}


@dataclass(frozen=True)
class PhotoLink:
    """Two photos (indexes into the index) found to be the same picture, and why."""

    a: int
    b: int
    score: float  # the CNN cosine of the pair (the higher of straight and mirrored)
    by: str  # "phash" | "cnn" | "keypoints"
    phash_distance: int
    inliers: int = 0

    def to_list(self) -> list[Any]:
        return [self.a, self.b, round(self.score, 4), self.by, self.phash_distance, self.inliers]


class LinkIndex:
    """Photos, their fingerprints (hashes and float16 vectors in numpy, searched by FAISS) and the photo links
    decided so far."""

    def __init__(self, provenance: dict[str, Any], settings: dict[str, Any]) -> None:
        self.provenance = dict(provenance)
        self.settings = dict(settings)
        self.photos: list[Photo] = []
        self.links: list[PhotoLink] = []
        self.hashes = np.zeros((0, 8), np.uint8)
        self.dim = int(provenance["dim"])
        self._vectors = np.zeros((0, self.dim), np.float16)  # rows beyond len(self) are spare capacity
        self._by_key: dict[tuple[str, str], int] = {}
        self._sellers: dict[str, str] = {}
        self.stale_links = False  # set by load(): the saved links were decided under other settings

    def __len__(self) -> int:
        return len(self.photos)

    def seller_of(self, listing_id: str) -> str | None:
        """The seller an indexed listing belongs to, or None when the listing is not indexed."""
        return self._sellers.get(listing_id)

    def same_seller(self, a: int, b: int) -> bool:
        """Photos ``a`` and ``b`` belong to one seller (their link would tie no one to anyone)."""
        return self.photos[a].seller_id == self.photos[b].seller_id

    def find(self, listing_id: str, image: str) -> int | None:
        """The index of the photo ``image`` of ``listing_id``, or None when it is not indexed."""
        return self._by_key.get((listing_id, image))

    def add(self, photos: list[Photo], hashes: np.ndarray, vectors: np.ndarray) -> range:
        """Append photos with their hashes and unit vectors; returns their indexes."""
        start = len(self.photos)
        if not (len(photos) == len(hashes) == len(vectors)):
            raise ValueError(f"got {len(photos)} photos, {len(hashes)} hashes and {len(vectors)} vectors")
        for i, p in enumerate(photos, start):
            self._by_key[(p.listing_id, p.image)] = i
            self._sellers.setdefault(p.listing_id, p.seller_id)
        self.photos.extend(photos)
        self.hashes = np.concatenate([self.hashes, np.asarray(hashes, np.uint8).reshape(-1, 8)])
        end = len(self.photos)
        if end > len(self._vectors):  # grow by half: amortised copies, at most 1.5x the rows held
            grown = np.zeros((max(end, len(self._vectors) * 3 // 2, 1024), self.dim), np.float16)
            grown[:start] = self._vectors[:start]
            self._vectors = grown
        self._vectors[start:end] = np.asarray(vectors, np.float32).reshape(-1, self.dim)
        return range(start, end)

    @property
    def vectors(self) -> np.ndarray:
        """The (n, dim) float16 descriptors (a view)."""
        return self._vectors[: len(self.photos)]

    def vector(self, i: int) -> np.ndarray:
        return self._vectors[int(i)].astype(np.float32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` inner products of each query among the stored vectors: (similarities, ids), best
        first; ids -1 where fewer than ``k`` exist."""
        import faiss

        q = np.ascontiguousarray(queries, np.float32)
        best_s = np.full((len(q), k), -np.inf, np.float32)
        best_i = np.full((len(q), k), -1, np.int64)
        n = len(self.photos)
        for start in range(0, n, SEARCH_BLOCK):
            block = np.ascontiguousarray(self._vectors[start:min(n, start + SEARCH_BLOCK)], np.float32)
            s, i = faiss.knn(q, block, min(k, len(block)), metric=faiss.METRIC_INNER_PRODUCT)
            s, i = np.concatenate([best_s, s], axis=1), np.concatenate([best_i, i + start], axis=1)
            top = np.argsort(-s, axis=1, kind="stable")[:, :k]
            best_s, best_i = np.take_along_axis(s, top, 1), np.take_along_axis(i, top, 1)
        best_i[~np.isfinite(best_s)] = -1
        return best_s, best_i

    # -- persistence -------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write the index into ``folder`` (created if missing); the old index stays whole if interrupted."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        photos = {
            "photos": [[p.listing_id, p.seller_id, p.image, p.path, p.sha256, p.env] for p in self.photos],
            "links": [lk.to_list() for lk in self.links],
        }
        old = _manifest_files(folder)
        files: dict[str, dict[str, str]] = {}
        for role, data in ((PHOTOS, json.dumps(photos, ensure_ascii=False).encode("utf-8")),
                           (HASHES, _npy(self.hashes)), (VECTORS, None)):
            stem, ext = role.split(".")
            fd, tmp = tempfile.mkstemp(prefix=f".{role}.", suffix=".partial", dir=folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    if data is None:  # streamed from the array itself: no second in-memory copy of the vectors
                        np.save(fh, self.vectors, allow_pickle=False)
                    else:
                        fh.write(data)
                digest = _file_sha256(Path(tmp))
                name = f"{stem}.{digest[:12]}.{ext}"
                _fsync(tmp)
                os.replace(tmp, folder / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            files[role] = {"file": name, "sha256": digest}
        manifest = {
            "format_version": FORMAT_VERSION,
            **self.provenance,
            "settings": self.settings,
            "photos": len(self.photos),
            "links": len(self.links),
            "files": files,
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"))
        keep = {f["file"] for f in files.values()}
        for name in old - keep:  # only once the new manifest is in place
            (folder / name).unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: str | Path, provenance: dict[str, Any], settings: dict[str, Any]) -> LinkIndex:
        """The index saved in ``folder``. Another embedder's index is an error; one whose links were decided
        under other settings loads without them, with ``stale_links`` set (``Linker`` refuses it: the mirror
        descriptors a new decision needs are not stored)."""

        folder = Path(folder)
        hint = f"delete {folder} to start a new index"
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LinkIndexError(f"link index manifest {folder / MANIFEST} is unreadable ({exc}): {hint}") from None
        if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
            raise LinkIndexError(f"{folder / MANIFEST} is not a link index of format {FORMAT_VERSION}: {hint}")
        for key in ("embedder", "weights_sha256", "dim", "phash_bits"):
            if manifest.get(key) != provenance[key]:
                raise LinkIndexError(
                    f"the link index in {folder} was built with {key} {manifest.get(key)!r}, this run uses "
                    f"{provenance[key]!r}: its vectors cannot be compared; {hint} (or use another --index)")
        paths: dict[str, Path] = {}
        files = manifest.get("files")
        for role, entry in (files.items() if isinstance(files, dict) else ()):
            path = folder / str(entry.get("file", ""))
            try:
                digest = _file_sha256(path)
            except OSError as exc:
                raise LinkIndexError(f"cannot read {path}: {exc.strerror or exc}; {hint}") from None
            if digest != entry.get("sha256"):
                raise LinkIndexError(f"{path} does not match its sha256 in {folder / MANIFEST}: {hint}")
            paths[role] = path
        if set(paths) != {PHOTOS, VECTORS, HASHES}:
            raise LinkIndexError(f"{folder / MANIFEST} does not list {PHOTOS}, {VECTORS} and {HASHES}: {hint}")
        index = cls(provenance, settings)
        raw = json.loads(paths[PHOTOS].read_text(encoding="utf-8"))
        photos = [Photo(*row) for row in raw["photos"]]
        index._vectors = np.load(paths[VECTORS], allow_pickle=False)
        index.hashes = np.load(paths[HASHES], allow_pickle=False)
        if index._vectors.dtype != np.float16 or index._vectors.shape[1:] != (index.dim,):
            raise LinkIndexError(f"{paths[VECTORS]} holds {index._vectors.dtype} {index._vectors.shape}, not "
                                 f"float16 (n, {index.dim}): {hint}")
        if not (len(photos) == len(index._vectors) == len(index.hashes) == manifest.get("photos")):
            raise LinkIndexError(f"the files of the link index in {folder} disagree on the photo count: {hint}")
        index.photos = photos
        index._by_key = {(p.listing_id, p.image): i for i, p in enumerate(photos)}
        index._sellers = {p.listing_id: p.seller_id for p in photos}
        index.stale_links = manifest.get("settings") != settings
        if not index.stale_links:
            index.links = [PhotoLink(*row) for row in raw["links"]]
        return index


def _manifest_files(folder: Path) -> set[str]:
    """The payload files the current manifest in ``folder`` names (none when there is no readable one)."""
    try:
        files = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("files", {})
        return {str(f["file"]) for f in files.values()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return set()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _io(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def _npy(array: np.ndarray) -> bytes:
    buf = _io(b"")
    np.save(buf, array, allow_pickle=False)
    return bytes(buf.getvalue())
