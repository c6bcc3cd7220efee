"""The ``fused`` logo stage: every stage's evidence for a brand → one calibrated probability.

Keypoints (inlier count), shape (silhouette correlation, its margin over the runner-up brand) and the
trained CNN (similarity, its margin over the runner-up brand and over the background bank) each propose
candidates with no threshold; the OCR's spans near a candidate's box add how strongly they name its brand
(``text_evidence.py``; text naming another brand never counts against a logo: that is the logo/text
mismatch the rules report). For every brand any stage proposed, a logistic regression fitted on the
validation half of the logo protocol (``benchmarks/logo_fusion.py fit --write``) turns the seven numbers
into the probability that the brand is in the photo. One threshold on that probability decides what is reported; the box is the
keypoint stage's (located by geometry) when it has one, else the CNN's, else the shape stage's.

The model file (``detector/logos/data/fusion.json``) names the embedder it was fitted with: fusion is
only meaningful with the CNN scores it saw, so another embedder is a configuration error.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from detector.errors import ConfigError, CorruptModel
from detector.logos.candidate import LogoCandidate
from detector.logos.geometry import clamp_box
from detector.logos.text_evidence import BrandNames
from detector.types import LogoMatch, TextSpan

if TYPE_CHECKING:
    from PIL import Image

STAGE_VERSION = "v1"
MODEL_FILE = Path(__file__).resolve().parent / "data" / "fusion.json"
FEATURES = ("cnn_score", "cnn_margin", "cnn_background_margin", "keypoint_inliers", "shape_score", "shape_margin",
            "text_brand")
BOX_PREFERENCE = ("keypoints", "cnn", "shape")  # geometry locates best; the CNN's box is a window


class CandidateStage(Protocol):
    name: str

    def load(self) -> None: ...

    def candidates(self, image: Image.Image) -> list[LogoCandidate]: ...


def features(evidence: Mapping[str, Mapping[str, float | int | None]]) -> list[float]:
    """The fusion's inputs for one brand in one photo; 0 where a stage proposed nothing for it.

    ``evidence`` maps a stage kind ("cnn", "keypoints", "shape") to that stage's numbers for the brand
    (``score``, ``margin``, ``inliers``, ``background``), as ``LogoCandidate`` carries them, and "text" to
    ``same`` from ``BrandNames.evidence``.
    """
    c, k, s = evidence.get("cnn", {}), evidence.get("keypoints", {}), evidence.get("shape", {})
    t = evidence.get("text", {})
    cs = float(c.get("score") or 0.0)
    return [
        cs,
        float(c.get("margin") or 0.0),
        cs - float(c.get("background") or 0.0) if c else 0.0,
        math.log1p(float(k.get("inliers") or 0)),
        max(0.0, float(s.get("score") or 0.0)),
        float(s.get("margin") or 0.0),
        float(t.get("same") or 0.0),
    ]


@dataclass(frozen=True)
class FusionModel:
    """Logistic regression over ``FEATURES`` and the threshold on its probability.

    ``own_points``: the points (keypoints: inliers, shape: correlation) at which what a single stage is
    sure of is reported even when the fusion is not (``FusedLogos.own_points``), chosen with the threshold
    on validation; the stage is built the way the threshold was fitted.
    """

    embedder: str
    bias: float
    weights: tuple[float, ...]
    threshold: float
    own_points: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def probability(self, x: Sequence[float]) -> float:
        z = self.bias + sum(w * v for w, v in zip(self.weights, x))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> FusionModel:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if list(raw["features"]) != list(FEATURES):
                raise ValueError(f"features {raw['features']} are not {list(FEATURES)}")
            return cls(str(raw["embedder"]), float(raw["bias"]), tuple(float(w) for w in raw["weights"]),
                       float(raw["threshold"]), {str(k): float(v) for k, v in dict(raw.get("own_points") or {}).items()})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptModel(
                f"fusion model {path} is unreadable ({exc}): reinstall detector or refit it with "
                f"`python benchmarks/logo_fusion.py fit --write`"
            ) from exc


class FusedLogos:
    """Implements ``LogoStage``: the stages of ``stages`` (kind → stage) fused by ``model``.

    ``names`` (the catalog's brand names) lets OCR text near a box count; without it, or when ``find`` is
    given no texts, the text features are 0.
    """

    # Detector hands this stage the OCR's spans of the same image (``find(image, texts=...)``).
    reads_text = True

    def __init__(
        self,
        stages: Mapping[str, CandidateStage],
        model: FusionModel,
        *,
        threshold: float | None = None,
        own_points: Mapping[str, float] | None = None,
        names: BrandNames | None = None,
    ):
        unknown = set(stages) - set(BOX_PREFERENCE)
        if unknown:
            raise ConfigError(f"fusion knows the stages {list(BOX_PREFERENCE)}, not {sorted(unknown)}")
        self.stages = dict(stages)
        self.model = model
        self.threshold = model.threshold if threshold is None else threshold
        # A brand a stage is sure of on its own (keypoints: inliers, shape: correlation at that stage's shipped
        # operating point) is reported even when the fusion is not: nothing the single stages find is lost.
        self.own_points = dict(own_points or {})
        self.names = names
        self.name = f"logos.fused.{STAGE_VERSION}({'+'.join(s.name for s in self.stages.values())})"

    def load(self) -> None:
        for stage in self.stages.values():
            stage.load()

    def candidates(self, image: Image.Image, texts: Sequence[TextSpan] = ()) -> list[LogoCandidate]:
        """One candidate per brand any stage proposed; ``score`` is the fused probability."""
        return [c for c, _ in self.decide(self.propose(image), texts)]

    def propose(self, image: Image.Image) -> dict[str, dict[str, LogoCandidate]]:
        """Brand → each stage's candidate for it: the image work, which needs no text."""
        per_brand: dict[str, dict[str, LogoCandidate]] = {}
        for kind, stage in self.stages.items():
            for c in stage.candidates(image):
                per_brand.setdefault(c.brand, {})[kind] = c
        return per_brand

    def decide(
        self, per_brand: Mapping[str, Mapping[str, LogoCandidate]], texts: Sequence[TextSpan] = ()
    ) -> list[tuple[LogoCandidate, dict[str, LogoCandidate]]]:
        """(fused candidate, each stage's candidate for that brand), best first."""
        scored = [self.names.scores(t) for t in texts] if self.names is not None and texts else []
        out: list[tuple[LogoCandidate, dict[str, LogoCandidate]]] = []
        for brand, by_kind in per_brand.items():
            ev: dict[str, dict[str, float | int | None]] = {
                k: {"score": c.score, "margin": c.margin, "inliers": c.inliers, "background": c.background}
                for k, c in by_kind.items()
            }
            if scored and self.names is not None:
                ev["text"] = {"same": self.names.evidence(brand, [c.box for c in by_kind.values()], texts, scored)}
            p = self.model.probability(features(ev))
            where = next(by_kind[k] for k in BOX_PREFERENCE if k in by_kind)
            cnn = by_kind.get("cnn")
            kp = by_kind.get("keypoints")
            fused = LogoCandidate(
                brand=brand, mark=where.mark, box=where.box, score=round(p, 4), stage=self.name,
                margin=cnn.margin if cnn else None, background=cnn.background if cnn else None,
                inliers=kp.inliers if kp else None, matches=kp.matches if kp else None,
            )
            out.append((fused, dict(by_kind)))
        return sorted(out, key=lambda t: -t[0].score)

    def could_matter(self, text: str) -> bool:
        """Whether a span reading ``text`` could count as text evidence for some brand's mark."""
        return self.names is not None and bool(self.names.scores(TextSpan(text, 1.0)))

    def find(self, image: Image.Image, texts: Sequence[TextSpan] = ()) -> list[LogoMatch]:
        """Brands whose fused probability clears the threshold (or that a stage is sure of on its own), best
        first, boxes cut to the photo.

        The reported score is 0.5 at the threshold and rises linearly to 1 with the probability, the
        convention of the other stages (the rules ignore logos under ``mismatch.logo_min_score``, 0.5).
        """
        return self.find_proposed(self.propose(image), image.size, texts)

    def find_proposed(
        self, per_brand: Mapping[str, Mapping[str, LogoCandidate]], size: tuple[int, int],
        texts: Sequence[TextSpan] = (),
    ) -> list[LogoMatch]:
        """``find`` from what ``propose`` returned for an image of ``size``: ``Detector`` proposes while the
        OCR reads, then decides with its spans."""
        out: list[LogoMatch] = []
        for c, by_kind in self.decide(per_brand, texts):
            if (c.score >= self.threshold or self._sure(by_kind)) and (box := clamp_box(c.box, size)) is not None:
                scaled = 0.5 + 0.5 * max(0.0, c.score - self.threshold) / max(1e-9, 1.0 - self.threshold)
                out.append(dataclasses.replace(c.to_match(box), score=round(scaled, 4)))
        return sorted(out, key=lambda m: -m.score)

    def _sure(self, by_kind: Mapping[str, LogoCandidate]) -> bool:
        kp, shape = self.own_points.get("keypoints"), self.own_points.get("shape")
        k, sh = by_kind.get("keypoints"), by_kind.get("shape")
        return bool(
            (kp is not None and k is not None and (k.inliers or 0) >= kp)
            or (shape is not None and sh is not None and sh.score >= shape)
        )
