"""Embedders: a protocol, a manifest of weights, and ``create_embedder(name)``.

>>> from detector.logos.embed import create_embedder          # doctest: +SKIP
>>> emb = create_embedder("mobilenet_v2-imagenet.v1")    # doctest: +SKIP
>>> emb.embed([image]).shape                             # doctest: +SKIP
(1, 1280)
"""

from __future__ import annotations

from detector.errors import ModelError
from detector.logos.embed.base import Embedder, WindowEmbedder
from detector.logos.embed.manifest import DEFAULT_EMBEDDER, EMBEDDERS, TRAINED, WEIGHTS, EmbedderSpec, WeightsSpec

__all__ = [
    "DEFAULT_EMBEDDER",
    "Embedder",
    "EmbedderSpec",
    "WeightsSpec",
    "WindowEmbedder",
    "create_embedder",
    "list_embedders",
]


def list_embedders() -> list[str]:
    """Every embedder name ``create_embedder`` accepts."""
    return sorted([*EMBEDDERS, *TRAINED])


def create_embedder(name: str = DEFAULT_EMBEDDER) -> Embedder:
    """Build the embedder called ``name`` from locally installed weights (hash checked; nothing downloaded).

    Raises ``MissingModel`` naming the pip package to install, ``CorruptModel`` on a hash mismatch.
    """
    if name in TRAINED:
        from detector.logos.embed.trained import TrainedEmbedder

        return TrainedEmbedder(TRAINED[name])
    spec = EMBEDDERS.get(name)
    if spec is None:
        short = sorted(n for n in [*EMBEDDERS, *TRAINED] if "/" not in n)
        raise ModelError(
            f"unknown embedder {name!r}; expected one of {short} (or a '<name>/<layer>-<pooling>' variant, "
            f"see detector.logos.embed.list_embedders())"
        )
    from detector.logos.embed.cnn import CnnEmbedder

    return CnnEmbedder(spec, WEIGHTS[spec.weights])
