"""From flags to a risk score and an allow | review | block decision.

Each flag adds the weight of its severity (``weights`` in the rules YAML); weights combine as
independent evidence, ``risk = 1 - prod(1 - weight)``. The decision is the risk's band under the
thresholds, but never worse than the worst flag: many ``review`` flags raise the risk (and rank the
item higher in a review queue) without ever blocking, so a photo full of low-confidence OCR noise
is reviewed, not blocked.

>>> from detector.config import Thresholds
>>> from detector.rules.config import Weights
>>> from detector.types import Flag, Severity
>>> w, th = Weights(block=0.9, review=0.5, info=0.0), Thresholds(review=0.4, block=0.8)
>>> flags = [Flag("x", Severity.REVIEW, "m"), Flag("y", Severity.REVIEW, "m"), Flag("z", Severity.REVIEW, "m")]
>>> r = risk(flags, w); round(r, 3), decide(r, flags, th).value
(0.875, 'review')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from detector.config import Thresholds
from detector.rules.config import Weights
from detector.types import BrandSighting, Decision, Flag, Severity

_CAP = {Severity.INFO: Decision.ALLOW, Severity.REVIEW: Decision.REVIEW, Severity.BLOCK: Decision.BLOCK}


def risk(flags: Iterable[Flag], weights: Weights) -> float:
    """``1 - prod(1 - weight(flag))`` over ``flags``; 0 with no flag."""
    keep = 1.0
    for f in flags:
        keep *= 1.0 - weights.of(f.severity)
    return min(1.0, max(0.0, 1.0 - keep))


def decide(score: float, flags: Sequence[Flag], thresholds: Thresholds) -> Decision:
    """The band of ``score``, capped at the most severe flag's own decision."""
    if score >= thresholds.block:
        band = Decision.BLOCK
    elif score >= thresholds.review:
        band = Decision.REVIEW
    else:
        band = Decision.ALLOW
    cap = Decision.worst([_CAP[f.severity] for f in flags])
    return band if band.rank <= cap.rank else cap


def cap_severity(severity: Severity, ceiling: Severity) -> Severity:
    """The milder of ``severity`` and ``ceiling``."""
    order = (Severity.INFO, Severity.REVIEW, Severity.BLOCK)
    return order[min(order.index(severity), order.index(ceiling))]


def sightings(observations: Iterable[tuple[str, float, str]]) -> tuple[BrandSighting, ...]:
    """Brands from (brand, confidence, signal) observations, highest confidence first.

    Independent signals raise the confidence: a logo at 0.9 and text at 0.8 give 0.98; several readings
    from one signal count once, at their best.
    """
    best: dict[str, dict[str, float]] = {}
    for brand, conf, signal in observations:
        per = best.setdefault(brand, {})
        per[signal] = max(per.get(signal, 0.0), conf)
    out = []
    for brand, per in best.items():
        keep = 1.0
        for conf in per.values():
            keep *= 1.0 - conf
        out.append(BrandSighting(brand, round(min(1.0, 1.0 - keep), 4), tuple(sorted(per))))
    out.sort(key=lambda b: (-b.confidence, b.name))
    return tuple(out)
