"""``LogoCandidate``: what every logo stage proposes before its threshold, and how it becomes a ``LogoMatch``.

Each stage's ``candidates(image)`` returns these, at most one per brand, best first; its ``find(image)``
keeps the ones that clear its calibrated operating point and turns them into ``LogoMatch`` (the
benchmarks sweep thresholds over the candidates).

>>> from detector.types import Box
>>> c = LogoCandidate("Nike", "marks/nike.png", Box(1, 2, 30, 40), 0.91, "logos.shape.v1", margin=0.2)
>>> c.to_match()
LogoMatch(brand='Nike', score=0.91, box=Box(x1=1, y1=2, x2=30, y2=40), mark='marks/nike.png')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from detector.types import Box, LogoMatch


@dataclass(frozen=True)
class LogoCandidate:
    """A brand's best evidence in one photo, from one stage, before that stage's threshold.

    ``score`` is the stage's own measure: the CNN's verified cosine similarity in [0, 1], the shape
    stage's normalised cross-correlation in [-1, 1], the keypoint stage's ``inliers / (inliers +
    min_inliers)``. The optional fields are the evidence a stage has beyond the score; None where a
    stage has no such thing.
    """

    brand: str
    mark: str  # the catalog mark (path as in catalog.yaml) that matched best
    box: Box  # in the coordinates of the image given to ``candidates``; may reach past its edges
    score: float
    stage: str  # the ``name`` of the stage that proposed it
    margin: float | None = None  # score minus the runner-up brand's on the same region (cnn, shape)
    inliers: int | None = None  # distinct inlier positions of the geometric model (keypoints)
    matches: int | None = None  # tentative matches the model was fitted to (keypoints)
    background: float | None = None  # similarity to the nearest logo-free background patch (cnn)
    proposal_score: float | None = None  # the window's score before verification (cnn)

    def __post_init__(self) -> None:
        if not self.brand:
            raise ValueError("a logo candidate needs a brand name")
        if not (isinstance(self.score, (int, float)) and math.isfinite(self.score)):
            raise ValueError(f"score must be a finite number, got {self.score!r}")

    def to_match(self, box: Box | None = None) -> LogoMatch:
        """The ``LogoMatch`` a stage reports for this candidate: score clipped to [0, 1], ``box`` if given."""
        return LogoMatch(brand=self.brand, score=min(1.0, max(0.0, float(self.score))), box=box or self.box, mark=self.mark)
