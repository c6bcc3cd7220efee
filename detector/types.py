"""Result types shared by every stage: frozen, validated, model-agnostic.

Each type has ``to_dict()`` producing the JSONL contract of docs/DESIGN.md, so
a report serialises the same way from the library, the CLI and the HTTP hook.

>>> Box(10, 20, 50, 40).to_list()
[10.0, 20.0, 50.0, 40.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from detector.pathtext import clean_strings, path_bytes


class Decision(str, Enum):
    """What a marketplace should do with an image or listing."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return _DECISION_RANK[self]

    @classmethod
    def worst(cls, decisions: list[Decision] | tuple[Decision, ...]) -> Decision:
        """The most severe of ``decisions`` (``ALLOW`` when empty)."""
        return max(decisions, key=lambda d: d.rank, default=cls.ALLOW)


_DECISION_RANK = {Decision.ALLOW: 0, Decision.REVIEW: 1, Decision.BLOCK: 2}


class Severity(str, Enum):
    """How much weight a flag carries; ``info`` never changes a decision."""

    INFO = "info"
    REVIEW = "review"
    BLOCK = "block"


class Relation(str, Enum):
    """How a piece of text relates to a catalog brand."""

    EXACT = "exact"
    ALIAS = "alias"
    LOOKALIKE = "lookalike"
    HOMOGLYPH = "homoglyph"
    MIXED_SCRIPT = "mixed_script"


def _check_unit(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in original-image pixel coordinates (x1, y1) top-left, (x2, y2) bottom-right."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        coords = (self.x1, self.y1, self.x2, self.y2)
        if not all(isinstance(c, (int, float)) and math.isfinite(c) for c in coords):
            raise ValueError(f"box coordinates must be finite numbers, got {coords!r}")
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise ValueError(f"box must have x2 >= x1 and y2 >= y1, got {coords!r}")

    @classmethod
    def from_points(cls, points: list[tuple[float, float]] | list[list[float]]) -> Box:
        """The tight box around a polygon (e.g. EasyOCR's four corners)."""
        xs = [float(p[0]) for p in points]
        ys = [float(p[1]) for p in points]
        return cls(min(xs), min(ys), max(xs), max(ys))

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    def scale(self, factor: float) -> Box:
        return Box(self.x1 * factor, self.y1 * factor, self.x2 * factor, self.y2 * factor)

    def iou(self, other: Box) -> float:
        """Intersection over union with ``other`` (0 when either is empty)."""
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def to_list(self) -> list[float]:
        return [round(float(c), 1) for c in (self.x1, self.y1, self.x2, self.y2)]


@dataclass(frozen=True)
class TextSpan:
    """A piece of text read from an image, optionally tied to a catalog brand by the rules layer."""

    text: str
    confidence: float
    box: Box | None = None
    brand: str | None = None
    relation: Relation | None = None
    similarity: float | None = None
    # Other readings of the same place that disagreed with ``text`` (the OCR's second reading of a
    # doubtful span): a genuine "Adidas" read once as "Adias" is not a look-alike.
    alternatives: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_unit("TextSpan.confidence", self.confidence)
        if self.similarity is not None:
            _check_unit("TextSpan.similarity", self.similarity)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "box": self.box.to_list() if self.box else None,
            "brand": self.brand,
            "relation": self.relation.value if self.relation else None,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
        }
        if self.alternatives:
            out["alternatives"] = list(self.alternatives)
        return out


@dataclass(frozen=True)
class LogoMatch:
    """A region of an image that matched a reference mark of a catalog brand."""

    brand: str
    score: float
    box: Box
    mark: str

    def __post_init__(self) -> None:
        _check_unit("LogoMatch.score", self.score)

    def to_dict(self) -> dict[str, Any]:
        return {"brand": self.brand, "score": round(self.score, 4), "box": self.box.to_list(), "mark": self.mark}


@dataclass(frozen=True)
class Flag:
    """One reason to doubt an image or listing, with the evidence it rests on."""

    rule: str
    severity: Severity
    message: str
    brand: str | None = None
    evidence: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.rule:
            raise ValueError("Flag.rule must be a non-empty rule name")
        if not isinstance(self.severity, Severity):
            raise ValueError(f"Flag.severity must be a Severity, got {self.severity!r}")  # noqa: TRY004 - every check here is a ValueError

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "brand": self.brand,
            "message": self.message,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class BrandSighting:
    """A brand seen in an image, how sure, and which signals ("logo", "text") saw it."""

    name: str
    confidence: float
    evidence: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_unit("BrandSighting.confidence", self.confidence)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "confidence": round(self.confidence, 4), "evidence": list(self.evidence)}


@dataclass(frozen=True)
class Verdict:
    """What the rules stage concludes from the texts and logos of one image or listing."""

    texts: tuple[TextSpan, ...] = ()
    flags: tuple[Flag, ...] = ()
    brands: tuple[BrandSighting, ...] = ()
    risk: float = 0.0
    decision: Decision = Decision.ALLOW

    def __post_init__(self) -> None:
        _check_unit("Verdict.risk", self.risk)


@dataclass(frozen=True)
class ImageReport:
    """Everything the detector found in one image: the JSONL record of ``detector scan``."""

    path: str
    ok: bool
    error: str | None = None
    decision: Decision | None = None
    risk: float | None = None
    brands: tuple[BrandSighting, ...] = ()
    logos: tuple[LogoMatch, ...] = ()
    texts: tuple[TextSpan, ...] = ()
    flags: tuple[Flag, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    stages: dict[str, str] = field(default_factory=dict)
    sha256: str | None = None
    size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.ok and self.error is not None:
            raise ValueError("an ok report cannot carry an error")
        if not self.ok and not self.error:
            raise ValueError("a failed report must say why in `error`")
        if self.risk is not None:
            _check_unit("ImageReport.risk", self.risk)

    @classmethod
    def failed(cls, path: str, error: str, *, timings_ms: dict[str, float] | None = None) -> ImageReport:
        return cls(path=path, ok=False, error=error, timings_ms=dict(timings_ms or {}))

    @property
    def flagged(self) -> bool:
        return self.decision in (Decision.REVIEW, Decision.BLOCK)

    def to_dict(self) -> dict[str, Any]:
        """The JSONL record. Every string is valid UTF-8: a file name that is not gets ``\\xNN`` escapes
        in ``path`` and its exact bytes in ``path_bytes`` (hex), present only then (``detector.pathtext``)."""
        raw = path_bytes(self.path)
        record = {
            "path": self.path,
            **({"path_bytes": raw} if raw is not None else {}),
            "ok": self.ok,
            "error": self.error,
            "decision": self.decision.value if self.decision else None,
            "risk": None if self.risk is None else round(self.risk, 4),
            "brands": [b.to_dict() for b in sorted(self.brands, key=lambda b: -b.confidence)],
            "logos": [m.to_dict() for m in self.logos],
            "texts": [t.to_dict() for t in self.texts],
            "flags": [f.to_dict() for f in self.flags],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "stages": dict(self.stages),
            "sha256": self.sha256,
            "size": list(self.size) if self.size else None,
        }
        return clean_strings(record)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Listing:
    """A marketplace listing as the upload hook receives it; ``images`` are bytes or paths."""

    listing_id: str
    seller_id: str | None = None
    title: str = ""
    description: str = ""
    brand: str | None = None
    price: float | None = None
    images: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.listing_id, str) or not self.listing_id:
            raise ValueError(f"Listing.listing_id must be a non-empty string, got {self.listing_id!r}")
        if self.price is not None and not (isinstance(self.price, (int, float)) and math.isfinite(self.price)):
            raise ValueError(f"Listing.price must be a finite number or None, got {self.price!r}")


@dataclass(frozen=True)
class ListingDecision:
    """The hook's answer for one listing: the decision, why, and what made it."""

    listing_id: str
    decision: Decision
    risk: float
    brands: tuple[BrandSighting, ...] = ()
    flags: tuple[Flag, ...] = ()
    images: tuple[ImageReport, ...] = ()
    versions: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_unit("ListingDecision.risk", self.risk)

    def to_dict(self) -> dict[str, Any]:
        return {
            "listing_id": self.listing_id,
            "decision": self.decision.value,
            "risk": round(self.risk, 4),
            "brands": [b.to_dict() for b in sorted(self.brands, key=lambda b: -b.confidence)],
            "flags": [f.to_dict() for f in self.flags],
            "images": [r.to_dict() for r in self.images],
            "versions": dict(self.versions),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
