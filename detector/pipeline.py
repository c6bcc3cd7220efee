"""``Detector``: owns the stages and passes each one's output to the next.

    load ──> ocr ──────┐
        ├──> logos ────┤
        └──> official ─┴──> rules ──> ImageReport

``official`` (the catalog's official photos, ``detector.link.official``) exists only for a catalog that
lists some; it is built on the first image, so every other catalog pays nothing for it.

>>> from detector import Detector
>>> report = Detector().scan_image("examples/misspelled_adibas.jpg")  # doctest: +SKIP
>>> report.decision.value, [f.rule for f in report.flags]  # doctest: +SKIP
('block', ['lookalike_brand_text'])
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from detector.config import Config
from detector.errors import DetectorError, ModelError
from detector.io import ImageSource, LoadedImage, load_image
from detector.stages import LogoStage, NoLogos, OcrBackend, OfficialStage, RulesStage, find_logos
from detector.types import Box, Decision, ImageReport, Listing, LogoMatch, TextSpan

if TYPE_CHECKING:
    from PIL import Image

    from detector.catalog import Catalog

log = logging.getLogger(__name__)


class Detector:
    """Runs OCR, logo matching and rules on images.

    Stages are injected; any left out is built from ``config`` and the catalog. ``catalog`` is a
    catalog directory (or its ``catalog.yaml``), an already loaded ``Catalog``, or None for the
    bundled demo catalog.

    The detector owns the loaded catalog (``catalog``) and its content hash (``catalog_hash``, which
    reports and the upload hook's versions name). The stages it builds are given the catalog when they
    are built, from one load; nothing hands it to a stage afterwards. When every stage that reads the
    catalog is injected, nothing is loaded up front: ``catalog`` loads it on first use (without opening
    the mark images). Pass the catalog injected stages were built from, so that versions name it.
    """

    def __init__(
        self,
        *,
        ocr: OcrBackend | None = None,
        logos: LogoStage | None = None,
        rules: RulesStage | None = None,
        config: Config | None = None,
        catalog: str | Path | Catalog | None = None,
        official: OfficialStage | None = None,
    ) -> None:
        self.config = config or Config()
        self._official: OfficialStage | None = official
        self._official_ready = official is not None
        self._catalog_lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._catalog_hash: str | None = None
        if catalog is None or isinstance(catalog, (str, os.PathLike)):
            self.catalog_path: str | Path | None = catalog
        else:
            self._catalog = catalog
            self.catalog_path = catalog.root
        if ocr is None:
            from detector.ocr import create_ocr

            ocr = create_ocr(self.config.ocr)
        self.ocr: OcrBackend = ocr
        want_logos = logos is None and self.config.logos.backend != "none"
        if (want_logos or rules is None) and self._catalog is None:
            from detector.catalog import load_catalog

            # One load for every stage that reads the catalog; the logo stages need its images readable.
            self._catalog = load_catalog(self.catalog_path, check_images=want_logos)
        if logos is None:
            from detector.logos import build_logo_stage

            logos = build_logo_stage(self.config.logos, self._catalog) if want_logos else NoLogos()
        self.logos: LogoStage = logos
        if rules is None:
            from detector.rules import Rules

            rules = Rules(self._catalog, thresholds=self.config.thresholds)
        self.rules: RulesStage = rules
        if hasattr(self.ocr, "reread_if") and self.ocr.reread_if is None:
            self.ocr.reread_if = reread_filter(self.rules, self.logos)

    @property
    def catalog(self) -> Catalog:
        """The loaded catalog the stages were built from (loaded now, once, if no stage needed it yet)."""
        if self._catalog is None:
            with self._catalog_lock:
                if self._catalog is None:
                    from detector.catalog import load_catalog

                    self._catalog = load_catalog(self.catalog_path, check_images=False)
        return self._catalog

    @property
    def catalog_hash(self) -> str:
        """``catalog.content_hash()``, computed once: it reads every mark file."""
        if self._catalog_hash is None:
            catalog = self.catalog
            with self._catalog_lock:
                if self._catalog_hash is None:
                    self._catalog_hash = catalog.content_hash()
        return self._catalog_hash

    @property
    def stages(self) -> dict[str, str]:
        """Which implementation ran each stage; copied into every report."""
        out = {"ocr": self.ocr.name, "logos": self.logos.name, "rules": self.rules.name}
        if self._official is not None:
            out["official"] = self._official.name
        return out

    @property
    def official(self) -> OfficialStage | None:
        """The official-photo stage: injected, or built (once) when the catalog lists official photos.

        A catalog given by path or object is read for them; with every stage injected and no catalog given,
        the bundled demo catalog (which has none) is not loaded just to find that out.
        """
        if not self._official_ready:
            with self._catalog_lock:
                known = self._catalog
            if known is None and self.catalog_path is not None:
                known = self.catalog
            with self._catalog_lock:
                if not self._official_ready:
                    if known is not None and getattr(known, "has_official_photos", False):
                        from detector.link.official import OfficialPhotos

                        self._official = OfficialPhotos(known, self.config.link, limits=self.config.limits)
                    self._official_ready = True
        return self._official

    def warm_up(self) -> None:
        """Load every model now instead of on the first image (for services and benchmarks)."""
        for stage in (self.ocr, self.logos, self.rules):
            stage.load()
        if self.official is not None:
            self.official.load()

    def scan_image(
        self, source: ImageSource, *, name: str | None = None, listing: Listing | None = None
    ) -> ImageReport:
        """Report on one image. A bad image gives ``ok=False`` with the reason; it never raises for bad input.

        Raises ``ModelError`` when a model is missing: that is a setup problem, not the image's.
        """
        label = name or (str(source) if isinstance(source, (str, Path)) else "<image>")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        try:
            loaded = load_image(source, self.config.limits, name=label)
        except DetectorError as exc:
            timings["load"] = _ms(t0)
            return ImageReport.failed(label, str(exc), timings_ms=timings)
        timings["load"] = _ms(t0)
        try:
            return self._analyse(loaded, label, listing, timings)
        except ModelError:
            raise
        except DetectorError as exc:
            return ImageReport.failed(label, str(exc), timings_ms=timings)
        except Exception as exc:
            log.exception("internal error while analysing %s", label)
            return ImageReport.failed(label, f"internal error: {type(exc).__name__}: {exc}", timings_ms=timings)

    def scan_paths(self, paths: Iterable[str | Path]) -> Iterator[ImageReport]:
        """Reports for image files, in order (see ``detector.io.FolderWalk`` to expand folders)."""
        for path in paths:
            yield self.scan_image(path, name=str(path))

    def _can_overlap(self) -> bool:
        """``logos.overlap_ocr`` is on and the stage has image work that needs no text (a stage that reads
        text without ``propose`` needs the spans before it starts: nothing to overlap)."""
        stage = self.logos
        return (self.config.logos.overlap_ocr and not isinstance(stage, NoLogos)
                and (not getattr(stage, "reads_text", False) or hasattr(stage, "propose")))

    def _ocr_beside_logos(self, image: Image.Image, timings: dict[str, float]) -> tuple[list[TextSpan], list[LogoMatch]]:
        """OCR in this thread while the logo stage works on the image in another (``logos.overlap_ocr``).

        A stage that weighs text (``reads_text``) does its image work (``propose``) beside the OCR and
        decides with the spans afterwards (``find_proposed``); one that does not runs ``find`` whole.
        ``_can_overlap`` says which stages can.
        """
        stage = self.logos
        propose = getattr(stage, "propose", None) if getattr(stage, "reads_text", False) else None

        def image_work() -> tuple[object, float]:
            t0 = time.perf_counter()
            return (propose(image) if propose is not None else stage.find(image)), _ms(t0)

        future = _overlap_pool().submit(image_work)
        t = time.perf_counter()
        try:
            read = self.ocr.read(image)
        finally:
            timings["ocr"] = _ms(t)
            proposal, logo_ms = future.result()  # also when OCR failed: no stray work left running
        t = time.perf_counter()
        found = stage.find_proposed(proposal, image.size, read) if propose is not None else proposal  # type: ignore[attr-defined]
        timings["logos"] = logo_ms + _ms(t)
        return read, found  # type: ignore[return-value]

    def _analyse(
        self, loaded: LoadedImage, label: str, listing: Listing | None, timings: dict[str, float]
    ) -> ImageReport:
        image, scale = loaded.image, loaded.scale

        if self._can_overlap():
            read, found = self._ocr_beside_logos(image, timings)
        else:
            t = time.perf_counter()
            read = self.ocr.read(image)
            timings["ocr"] = _ms(t)
            t = time.perf_counter()
            # A stage that weighs text near a logo (the fused stage) gets the spans in the image's coordinates.
            found = find_logos(self.logos, image, read)
            timings["logos"] = _ms(t)
        texts = [_rescale_text(s, scale) for s in read]
        logos = [_rescale_logo(m, scale) for m in found]

        extra: dict[str, object] = {}
        official = self.official
        if official is not None:
            t = time.perf_counter()
            reused = official.find(image)
            timings["official"] = _ms(t)
            if reused:  # handed over only when there is something: a rules stage without the keyword still works
                extra["official"] = reused

        t = time.perf_counter()
        verdict = self.rules.evaluate(texts, logos, listing, **extra)  # type: ignore[arg-type]
        timings["rules"] = _ms(t)

        return ImageReport(
            path=label,
            ok=True,
            decision=verdict.decision,
            risk=verdict.risk,
            brands=verdict.brands,
            logos=tuple(logos),
            texts=verdict.texts,
            flags=verdict.flags,
            timings_ms=timings,
            stages=self.stages,
            sha256=loaded.sha256,
            size=loaded.original_size,
        )


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _overlap_pool() -> ThreadPoolExecutor:
    """The threads logo stages run in beside the OCR (made on first use: no import-time threads)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="detector-logos")
        return _POOL


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _rescale_box(box: Box | None, scale: float) -> Box | None:
    return box.scale(scale) if box is not None and scale != 1.0 else box


def _rescale_text(span: TextSpan, scale: float) -> TextSpan:
    return dataclasses.replace(span, box=_rescale_box(span.box, scale)) if scale != 1.0 else span


def _rescale_logo(match: LogoMatch, scale: float) -> LogoMatch:
    return dataclasses.replace(match, box=match.box.scale(scale)) if scale != 1.0 else match


__all__ = ["Decision", "Detector"]


def reread_filter(rules: object, logos: object) -> Callable[[str], bool] | None:
    """The texts worth a second OCR reading: those the rules, or a logo stage that weighs text, could act
    on (each stage's ``could_matter``). None (reread every doubtful span) when a stage that uses the text
    cannot say."""
    checks = []
    for stage, uses_text in ((rules, True), (logos, getattr(logos, "reads_text", False))):
        if not uses_text:
            continue
        check = getattr(stage, "could_matter", None)
        if check is None:
            return None
        checks.append(check)
    return lambda text: any(check(text) for check in checks)
