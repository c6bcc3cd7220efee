"""What a photo is reduced to for linking: perceptual hashes and a global CNN descriptor, each also mirrored.

* ``phash``: imagehash's 64-bit DCT hash of the photo and of its mirror image. Near-exact copies (re-encoded,
  resized, mirrored) stay within a few bits; different photos of one kind of product rarely come within 8.
* ``vector``: the project's ImageNet MobileNetV2 (``mobilenet_v2-imagenet.v1``: the last feature map, GeM
  pooled, 1280-d, L2-normalised; weights from the pinned package, hash-checked, offline) of the photo and of
  its mirror image. It finds harder copies (crops, borders, overlays) among the nearest neighbours.

imagehash and torch are imported when the first photo is described.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

    from detector.logos.embed import Embedder


@dataclass(frozen=True)
class Prints:
    """Fingerprints of a batch of photos: row i is photo i."""

    phash: np.ndarray  # (n, 8) uint8: the 64-bit hash, packed
    phash_mirror: np.ndarray  # (n, 8) uint8
    vector: np.ndarray  # (n, dim) float32, unit rows
    vector_mirror: np.ndarray  # (n, dim) float32, unit rows

    def __len__(self) -> int:
        return len(self.phash)


def phash_bits(image: Image.Image) -> np.ndarray:
    """imagehash's pHash of ``image`` as 8 packed bytes (the layout FAISS binary indexes take)."""
    import imagehash

    return np.packbits(np.asarray(imagehash.phash(image).hash, dtype=bool).ravel())


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit distance between packed hashes ``a`` (n, 8) and ``b`` (n, 8) or (8,), row by row."""
    return np.unpackbits(np.bitwise_xor(a, b), axis=-1).sum(axis=-1)


class PhotoDescriber:
    """Turns photos into ``Prints``. ``embedder``: an ``Embedder`` or the name of one (built on first use).

    >>> d = PhotoDescriber()                   # doctest: +SKIP
    >>> d.describe([image]).vector.shape       # doctest: +SKIP
    (1, 1280)
    """

    def __init__(self, embedder: Embedder | str = "mobilenet_v2-imagenet.v1") -> None:
        self._embedder: Embedder | None = None if isinstance(embedder, str) else embedder
        self.embedder_name = embedder if isinstance(embedder, str) else embedder.name

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from detector.logos.embed import create_embedder

            self._embedder = create_embedder(self.embedder_name)
        return self._embedder

    @property
    def provenance(self) -> dict[str, Any]:
        """What a saved index records so that it is never searched with another model's vectors."""
        emb = self.embedder
        return {"embedder": emb.name, "weights_sha256": emb.weights_sha256, "dim": int(emb.dim), "phash_bits": 64}

    def describe(self, images: Sequence[Image.Image]) -> Prints:
        """Fingerprints of ``images`` (RGB); one batched CNN pass over the photos and their mirror images."""
        from PIL import ImageOps

        mirrors = [ImageOps.mirror(im) for im in images]
        vectors = self.embedder.embed([*images, *mirrors]) if images else np.zeros((0, 1), np.float32)
        n = len(images)
        return Prints(
            phash=np.array([phash_bits(im) for im in images], np.uint8).reshape(n, 8),
            phash_mirror=np.array([phash_bits(im) for im in mirrors], np.uint8).reshape(n, 8),
            vector=np.ascontiguousarray(vectors[:n], np.float32),
            vector_mirror=np.ascontiguousarray(vectors[n:], np.float32),
        )
