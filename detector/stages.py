"""The three stage protocols ``Detector`` wires together, and pass-through stand-ins.

A stage has a ``name`` (it goes into every report, so a reader knows which
model or rule set produced a result), ``load()`` and one method. Stages never
call each other: ``Detector`` hands each one's output to the next. Whatever a
stage reads from the catalog it is given when it is built; nothing is set on a
stage afterwards.

``load()`` loads now what the stage would otherwise load on its first image
(models, search indexes), so that ``Detector.warm_up`` can pay for it before a
service takes requests. It is idempotent, and a no-op for a stage that loads
everything when it is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from detector.types import LogoMatch, TextSpan, Verdict

if TYPE_CHECKING:
    from PIL import Image

    from detector.types import Listing


@runtime_checkable
class OcrBackend(Protocol):
    """Reads text from an RGB image; boxes are in that image's pixel coordinates."""

    name: str

    def load(self) -> None: ...

    def read(self, image: Image.Image) -> list[TextSpan]: ...


@runtime_checkable
class LogoStage(Protocol):
    """Finds catalog brands' marks in an RGB image.

    A stage that weighs the text read near a mark (the fused stage) also sets ``reads_text = True`` and
    accepts ``find(image, texts=spans)``, the OCR's spans of the same image; ``find_logos`` calls it so.
    """

    name: str

    def load(self) -> None: ...

    def find(self, image: Image.Image) -> list[LogoMatch]: ...


@runtime_checkable
class RulesStage(Protocol):
    """Turns texts and logos (plus the listing, when there is one) into flags and a decision."""

    name: str

    def load(self) -> None: ...

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


@runtime_checkable
class OfficialStage(Protocol):
    """Finds the catalog's official photos that an image copies (``detector.link.official.OfficialPhotos``).

    Its matches go to the rules stage as ``evaluate(..., official=matches)``, only when there are some.
    """

    name: str

    def load(self) -> None: ...

    def find(self, image: Image.Image) -> list[Any]: ...


def find_logos(stage: LogoStage, image: Image.Image, texts: Sequence[TextSpan]) -> list[LogoMatch]:
    """``stage.find(image)``, handing it the OCR's spans when it weighs text (``reads_text``)."""
    if getattr(stage, "reads_text", False):
        return stage.find(image, texts=texts)  # type: ignore[call-arg]
    return stage.find(image)


class NoOcr:
    """Reads nothing; for scans that only want logos."""

    name = "none"

    def load(self) -> None:
        pass

    def read(self, image: Image.Image) -> list[TextSpan]:
        return []


class NoLogos:
    """Finds no logos; stands in until a logo stage is configured."""

    name = "none"

    def load(self) -> None:
        pass

    def find(self, image: Image.Image) -> list[LogoMatch]:
        return []


class NoRules:
    """Flags nothing and allows everything; the texts pass through unchanged."""

    name = "none"

    def load(self) -> None:
        pass

    def evaluate(
        self,
        texts: Sequence[TextSpan],
        logos: Sequence[LogoMatch],
        listing: Listing | None = None,
        *,
        listing_text: bool = False,
    ) -> Verdict:
        return Verdict(texts=tuple(texts))
