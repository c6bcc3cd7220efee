"""The logo stages by name: one table from the name ``logos.backend`` uses to the stage's builder.

A builder takes the logo settings and the loaded catalog and returns a ``LogoStage``; the stage
modules (and OpenCV, FAISS, torch behind them) are imported only when a builder runs, so reading the
table is free. Registering a stage is one entry in ``STAGES``; ``config.LOGO_STAGES`` and the CLI's
``--logos`` help are read from it.

>>> list(STAGES)
['keypoints', 'shape', 'cnn']
>>> stage = build_logo_stage(LogosConfig(backend="keypoints+shape"), load_catalog())  # doctest: +SKIP
>>> stage.name                                                                        # doctest: +SKIP
'logos.keypoints.v1+logos.shape.v1'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from detector.stages import LogoStage, NoLogos, find_logos
from detector.types import LogoMatch, TextSpan

if TYPE_CHECKING:
    from PIL import Image

    from detector.catalog import Catalog
    from detector.config import LogosConfig

Builder = Callable[["LogosConfig", "Catalog"], LogoStage]


def _keypoints(cfg: LogosConfig, catalog: Catalog) -> LogoStage:
    """SIFT features of the marks with geometric verification (cached per mark)."""
    from detector.logos.keypoints import KeypointLogos

    return KeypointLogos.from_catalog(catalog, min_inliers=cfg.keypoints_min_inliers)


def _shape(cfg: LogosConfig, catalog: Catalog) -> LogoStage:
    """Ink silhouettes compared with the marks (clear flat prints)."""
    from detector.logos.shapes import ShapeMatcher

    return ShapeMatcher.from_catalog(catalog, threshold=cfg.shape_threshold)


def _cnn(cfg: LogosConfig, catalog: Catalog) -> LogoStage:
    """Windows embedded by a CNN against a FAISS index of the marks (built on first use)."""
    from detector.logos.cnn import LogoMatcher

    return LogoMatcher.default(catalog, embedder=cfg.embedder)


def _fused(cfg: LogosConfig, catalog: Catalog) -> LogoStage:
    """Keypoints, shape and the trained CNN fused into one calibrated probability per brand."""
    from detector.logos.cnn import LogoMatcher
    from detector.logos.fusion import FusedLogos, FusionModel
    from detector.logos.keypoints import KeypointLogos
    from detector.logos.shapes import ShapeMatcher

    model = FusionModel.load()
    # Weak evidence counts in the fusion: keypoints propose from 3 inliers (an affine model's minimum).
    stages = {
        "keypoints": KeypointLogos.from_catalog(catalog, min_inliers=3),
        "shape": ShapeMatcher.from_catalog(catalog, threshold=cfg.shape_threshold),
        "cnn": LogoMatcher.default(catalog, embedder=model.embedder),
    }
    from detector.logos.text_evidence import BrandNames

    # What keypoints or shape are sure of on their own is kept, at the points fitted with the threshold.
    return FusedLogos(stages, model, own_points=model.own_points, names=BrandNames.from_catalog(catalog))


STAGES: dict[str, Builder] = {
    "keypoints": _keypoints,
    "shape": _shape,
    "cnn": _cnn,
    "fused": _fused,
}


def list_stages() -> dict[str, str]:
    """Every registered stage name with its one-line description (the first line of the builder's docstring)."""
    return {name: (build.__doc__ or "").strip().split("\n")[0] for name, build in STAGES.items()}


def build_logo_stage(cfg: LogosConfig, catalog: Catalog) -> LogoStage:
    """The logo stage ``cfg.backend`` names: one registered stage, several joined by "+" (``AnyLogos``), or
    ``NoLogos`` for "none". ``ConfigError`` for a name that is not registered.
    """
    from detector.config import logo_backend_error
    from detector.errors import ConfigError

    if (why := logo_backend_error(cfg.backend)) is not None:
        raise ConfigError(why)
    if cfg.backend == "none":
        return NoLogos()
    stages = [STAGES[part](cfg, catalog) for part in cfg.backend.split("+")]
    return stages[0] if len(stages) == 1 else AnyLogos(stages)


class AnyLogos:
    """Several logo stages at once: every brand any of them reports, once, at its highest score.

    Each stage has already applied its own calibrated threshold, so a brand one of them is sure of is
    reported even when the other is not (the union the logo benchmark measures as "OR-fusion").
    """

    def __init__(self, stages: Sequence[LogoStage]) -> None:
        if not stages:
            raise ValueError("AnyLogos needs at least one logo stage")
        self.stages = tuple(stages)
        self.name = "+".join(s.name for s in self.stages)
        self.reads_text = any(getattr(s, "reads_text", False) for s in self.stages)

    def load(self) -> None:
        """Load every stage now (``Detector.warm_up``)."""
        for stage in self.stages:
            stage.load()

    def find(self, image: Image.Image, texts: Sequence[TextSpan] = ()) -> list[LogoMatch]:
        best: dict[str, LogoMatch] = {}
        for stage in self.stages:
            for m in find_logos(stage, image, texts):
                if m.brand not in best or m.score > best[m.brand].score:
                    best[m.brand] = m
        return sorted(best.values(), key=lambda m: -m.score)
