"""The ``Embedder`` protocol: images in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


@runtime_checkable
class Embedder(Protocol):
    """Maps images to unit vectors whose inner product says how alike they look.

    ``name`` carries the weights version and ``weights_sha256`` the exact file, so
    an index records which embedder built it.
    """

    name: str
    dim: int
    weights_sha256: str

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Return an ``(len(images), dim)`` float32 array of L2-normalised rows."""
        ...


@runtime_checkable
class WindowEmbedder(Embedder, Protocol):
    """An embedder that can also embed many windows of one image from a single forward pass."""

    def embed_windows(self, image: Image.Image, sizes: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Slide windows of each ``(width, height)`` in pixels of ``image`` over its feature map.

        Returns ``(boxes, vectors)``: ``(n, 4)`` float32 boxes ``x1, y1, x2, y2`` in
        ``image`` pixels and ``(n, dim)`` L2-normalised float32 rows.
        """
        ...
