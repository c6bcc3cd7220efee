"""OCR text as logo evidence: how strongly the text read near a candidate's box names its brand.

A logo and its brand's name often sit together (a roundel with the name around it, a swoosh above
"NIKE"), and a partial reading ("STARBU", "Coca-Co") that the rules would not take as a brand on its own
still says a lot beside a weak logo candidate. The fused stage (``fusion.py``) weighs this number with
its other features; it is 0 when no text was read.

Text naming *another* brand never counts against a logo: a swoosh above "PUMA" is the counterfeit this
tool exists to report (the rules' logo/text mismatch), not a reason to doubt the swoosh. A fitted
"other brand nearby" feature did lower false sightings on the validation photos, and it hid exactly
that mismatch on ``examples/mismatch_swoosh_puma.jpg``; it was removed.

>>> names = BrandNames({"Starbucks": ["Starbucks"], "Nike": ["Nike"]})
>>> from detector.types import Box, TextSpan
>>> spans = [TextSpan("STARBU", 0.4, Box(10, 10, 60, 20))]
>>> names.evidence("Starbucks", [Box(0, 0, 80, 80)], spans)
0.5
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from detector.types import Box, TextSpan

# A reading this close to a name counts (0 below, 1 at an exact match); a ratio of 0.8 is "STARBU" for
# "starbucks" or one letter wrong in a 10-letter name, while unrelated words rarely pass 0.6.
SAME_FLOOR = 0.6
# Names this short match only as a whole word ("hp", "bmw"), never as a near miss.
SHORT_NAME = 3
# A span is near a box when its centre lies in the box grown by this share of the box's longer side.
NEAR_PAD = 0.5

_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Lower case, letters and digits only: how names and readings are compared."""
    return "".join(_WORD.findall(text.casefold()))


def readings(span: TextSpan) -> list[str]:
    """The strings one span offers: each word, runs of 2–3 neighbouring words, the whole span, for every
    reading the OCR kept (the first and any alternatives)."""
    out: list[str] = []
    for text in (span.text, *span.alternatives):
        words = _WORD.findall(text.casefold())
        for n in (1, 2, 3):
            out.extend("".join(words[i:i + n]) for i in range(len(words) - n + 1))
        out.append("".join(words))
    return [s for s in dict.fromkeys(out) if s]


def near(span: TextSpan, boxes: Iterable[Box]) -> bool:
    """Whether the span's centre lies in any box grown by ``NEAR_PAD`` (a span with no box is near)."""
    if span.box is None:
        return True
    cx, cy = (span.box.x1 + span.box.x2) / 2, (span.box.y1 + span.box.y2) / 2
    for b in boxes:
        pad = NEAR_PAD * max(b.width, b.height)
        if b.x1 - pad <= cx <= b.x2 + pad and b.y1 - pad <= cy <= b.y2 + pad:
            return True
    return False


class BrandNames:
    """Every catalog brand's names, folded, for scoring readings against them."""

    def __init__(self, names: Mapping[str, Sequence[str]]) -> None:
        self.names = {brand: tuple(dict.fromkeys(f for n in ns if (f := fold(n)))) for brand, ns in names.items()}
        # Short names are looked up whole; the rest go to one flat list that rapidfuzz scores in C.
        self._short: dict[str, list[str]] = {}
        self._long: list[str] = []
        self._long_brand: list[str] = []
        for brand, folded in self.names.items():
            for n in folded:
                if len(n) <= SHORT_NAME:
                    self._short.setdefault(n, []).append(brand)
                else:
                    self._long.append(n)
                    self._long_brand.append(brand)

    @classmethod
    def from_catalog(cls, catalog: object) -> BrandNames:
        """From a ``Catalog`` (its brands' names and aliases)."""
        return cls({b.name: b.all_names for b in getattr(catalog, "brands", ())})

    def scores(self, span: TextSpan) -> dict[str, float]:
        """Brand → best similarity of any of the span's readings to any of its names (only those ≥ ``SAME_FLOOR``)."""
        from rapidfuzz import fuzz, process

        out: dict[str, float] = {}
        for r in readings(span):
            for brand in self._short.get(r, ()):
                out[brand] = 1.0
            if len(r) <= SHORT_NAME or not self._long:
                continue
            for _, score, i in process.extract(r, self._long, scorer=fuzz.ratio, score_cutoff=100 * SAME_FLOOR,
                                               limit=None):
                brand = self._long_brand[i]
                out[brand] = max(out.get(brand, 0.0), score / 100.0)
        return out

    def evidence(self, brand: str, boxes: Sequence[Box], texts: Sequence[TextSpan],
                 scored: Sequence[dict[str, float]] | None = None) -> float:
        """How strongly text near the boxes names ``brand``, in [0, 1]: the best similarity rescaled so
        ``SAME_FLOOR`` → 0 and an exact reading → 1. ``scored`` is ``[self.scores(t) for t in texts]`` when
        the caller scores several brands of one photo (each span is scored once).
        """
        scored = [self.scores(t) for t in texts] if scored is None else scored
        same = 0.0
        for span, per in zip(texts, scored):
            if brand in per and near(span, boxes):
                same = max(same, _rescale(per[brand], SAME_FLOOR))
        return round(same, 4)


def _rescale(value: float, floor: float) -> float:
    return max(0.0, (value - floor) / (1.0 - floor))
