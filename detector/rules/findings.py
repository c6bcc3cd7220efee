"""``Finding``: one thing the rules found in a piece of text, the result of ``check_text``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from detector.types import Relation, Severity


@dataclass(frozen=True)
class Finding:
    """A brand name, look-alike, mixed-script word or counterfeit phrase found in a text.

    ``rule`` is the flag it raises (``brand_text`` for a genuine spelling, severity ``info``);
    ``start``/``end`` are offsets of ``text`` in the checked string; ``detail`` says how the text
    differs from the genuine spelling ("d→b") or which phrase matched.
    """

    rule: str
    severity: Severity
    text: str
    start: int
    end: int
    message: str
    brand: str | None = None
    relation: Relation | None = None
    similarity: float | None = None
    detail: str = ""

    @property
    def flagged(self) -> bool:
        return self.severity is not Severity.INFO

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "brand": self.brand,
            "relation": self.relation.value if self.relation else None,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "detail": self.detail,
            "message": self.message,
        }
