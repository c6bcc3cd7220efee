"""The three stage protocols ``Detector`` wires together, and pass-through stand-ins.

A stage has a ``name`` (it goes into every report, so a reader knows which
model or rule set produced a result) and one method. Stages never call each
other: ``Detector`` hands each one's output to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from detector.types import LogoMatch, TextSpan, Verdict

if TYPE_CHECKING:
    from PIL import Image

    from detector.types import Listing


@runtime_checkable
class OcrBackend(Protocol):
    """Reads text from an RGB image; boxes are in that image's pixel coordinates."""

    name: str

    def read(self, image: Image.Image) -> list[TextSpan]: ...


@runtime_checkable
class LogoStage(Protocol):
    """Finds catalog brands' marks in an RGB image."""

    name: str

    def find(self, image: Image.Image) -> list[LogoMatch]: ...


@runtime_checkable
class RulesStage(Protocol):
    """Turns texts and logos (plus the listing, when there is one) into flags and a decision."""

    name: str

    def evaluate(
        self,
        texts: Sequence[TextSpan],
        logos: Sequence[LogoMatch],
        listing: Listing | None = None,
        *,
        listing_text: bool = False,
    ) -> Verdict:
        """``listing_text``: ``texts`` are the listing's title and description, not text from a photo."""
        ...


class NoOcr:
    """Reads nothing; for scans that only want logos."""

    name = "none"

    def read(self, image: Image.Image) -> list[TextSpan]:
        return []


class NoLogos:
    """Finds no logos; stands in until a logo stage is configured."""

    name = "none"

    def find(self, image: Image.Image) -> list[LogoMatch]:
        return []


class NoRules:
    """Flags nothing and allows everything; the texts pass through unchanged."""

    name = "none"

    def evaluate(
        self,
        texts: Sequence[TextSpan],
        logos: Sequence[LogoMatch],
        listing: Listing | None = None,
        *,
        listing_text: bool = False,
    ) -> Verdict:
        return Verdict(texts=tuple(texts))
