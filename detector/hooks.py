"""The listing upload hook: one call per uploaded listing, no web framework needed.

A marketplace calls ``on_listing_upload`` while the seller waits. Every image goes
through the ``Detector`` with the listing as context, the title and description go
through the same rules, and the worst of them is the listing's decision::

    >>> from detector.hooks import on_listing_upload
    >>> decision = on_listing_upload({                          # doctest: +SKIP
    ...     "listing_id": "L-1001", "seller_id": "s-42", "brand": "Gucci",
    ...     "title": "Gucci tee, 1:1 mirror quality", "price": 25.0,
    ...     "images": ["examples/replica_gucci.jpg"],
    ... })
    >>> decision.decision.value, [f.rule for f in decision.flags]  # doctest: +SKIP

Bad input raises (``ListingError`` for the listing's fields, ``ListingImageError`` for an
image that is not one or is over a limit, ``TimeBudgetExceeded`` when ``time_budget_s``
runs out); every image is checked before any model runs, so a bad listing costs milliseconds.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from detector.errors import DetectorError, ImageTooLarge, InvalidImage
from detector.io import LoadedImage, load_image
from detector.pipeline import Detector
from detector.types import (
    BrandSighting,
    Decision,
    Flag,
    ImageReport,
    Listing,
    ListingDecision,
    Severity,
    TextSpan,
)

__all__ = [
    "LISTING_FIELDS",
    "ListingError",
    "ListingImageError",
    "TimeBudgetExceeded",
    "default_detector",
    "listing_from_mapping",
    "on_listing_upload",
    "versions",
]

log = logging.getLogger(__name__)

#: The keys a listing mapping may have; ``listing_id`` is the only required one.
LISTING_FIELDS = ("listing_id", "seller_id", "title", "description", "brand", "price", "images")
# Ids and brand names end up in the audit log, logs and CLI output; 256 characters is far above any
# marketplace's ids and keeps a hostile value from bloating them.
MAX_ID_CHARS = 256
#: Evidence prefix naming where a listing-level flag came from.
TEXT_EVIDENCE = "listing_text"


class ListingError(DetectorError, ValueError):
    """A listing is malformed; ``field`` names the offending key (None for the listing as a whole)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ListingImageError(DetectorError, ValueError):
    """An image of a listing cannot be used; ``cause`` is the ``InvalidImage`` or ``ImageTooLarge``."""

    def __init__(self, message: str, *, index: int, name: str, cause: InvalidImage) -> None:
        super().__init__(message)
        self.index = index
        self.name = name
        self.cause = cause

    @property
    def too_large(self) -> bool:
        return isinstance(self.cause, ImageTooLarge)


class TimeBudgetExceeded(DetectorError):
    """The listing could not be decided within its time budget."""

    def __init__(self, message: str, *, budget_s: float) -> None:
        super().__init__(message)
        self.budget_s = budget_s


# -- the process-wide default detector -------------------------------------------------------------

_DEFAULT: Detector | None = None
_DEFAULT_LOCK = threading.Lock()


def default_detector() -> Detector:
    """The ``Detector()`` that hook calls without ``detector=`` share; built on first use, once per process."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Detector()
        return _DEFAULT


# -- validation -------------------------------------------------------------------------------------


def listing_from_mapping(data: Mapping[str, Any]) -> Listing:
    """Validate a mapping (e.g. parsed JSON) into a ``Listing``; unknown keys and wrong types raise ``ListingError``.

    >>> listing_from_mapping({"listing_id": "L-1", "price": 12}).price
    12.0
    >>> listing_from_mapping({"listing_id": ""})
    Traceback (most recent call last):
    ...
    detector.hooks.ListingError: listing.listing_id must be a non-empty string, got str ''
    """
    if not isinstance(data, Mapping):
        raise ListingError(f"a listing must be an object with a listing_id, got {_kind(data)}")
    unknown = sorted(str(k) for k in data if k not in LISTING_FIELDS)
    if unknown:
        # Strict on purpose: a typo such as "seller" for "seller_id" would silently switch off the
        # authorised-seller rule.
        raise ListingError(
            f"listing has unknown key(s) {unknown}; expected keys: {', '.join(LISTING_FIELDS)}",
            field=unknown[0],
        )
    if "listing_id" not in data:
        raise ListingError("listing is missing the required key 'listing_id' (a non-empty string)", field="listing_id")
    images = data.get("images", ())
    if images is None:
        images = ()
    if isinstance(images, (str, bytes, bytearray)) or not isinstance(images, Sequence):
        raise ListingError(
            f"listing.images must be a list of images (bytes or paths), got {_kind(images)}", field="images"
        )
    return Listing(
        listing_id=_identifier(data, "listing_id", required=True) or "",  # never empty: required=True raises
        seller_id=_identifier(data, "seller_id"),
        title=_text(data, "title"),
        description=_text(data, "description"),
        brand=_identifier(data, "brand"),
        price=_price(data.get("price")),
        images=_images(images),
    )


def _check_listing(listing: Listing) -> Listing:
    """Re-validate a ``Listing`` built by hand (its own checks cover only listing_id and price)."""
    fields = {f.name: getattr(listing, f.name) for f in dataclasses.fields(listing)}
    fields["images"] = list(fields["images"]) if isinstance(fields["images"], (list, tuple)) else fields["images"]
    return listing_from_mapping(fields)


def _identifier(data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        hint = (
            f' (send numbers as strings, e.g. "{value}")'
            if isinstance(value, int) and not isinstance(value, bool)
            else ""
        )
        need = "a non-empty string" if required else "a string or null"
        raise ListingError(f"listing.{key} must be {need}, got {_kind(value)}{hint}", field=key)
    if len(value) > MAX_ID_CHARS:
        raise ListingError(f"listing.{key} is {len(value)} characters long; the limit is {MAX_ID_CHARS}", field=key)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ListingError(f"listing.{key} must not contain control characters, got {value[:40]!r}", field=key)
    return _encodable(value, key)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ListingError(f"listing.{key} must be a string, got {_kind(value)}", field=key)
    return _encodable(value, key)


def _encodable(value: str, key: str) -> str:
    """``value`` if it is valid Unicode text; a lone surrogate (JSON ``"\\ud800"``) raises ``ListingError``.

    Every field ends up in UTF-8 somewhere (the audit log, JSON answers, logs); a lone surrogate
    cannot be encoded and would fail there, after the models ran, instead of here.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ListingError(
            f"listing.{key} is not valid Unicode text: a lone surrogate {value[exc.start]!r} at character "
            f"{exc.start}; send text that encodes as UTF-8 (surrogates only in pairs)",
            field=key,
        ) from None
    return value


def _price(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ListingError(f"listing.price must be a number or null, got {_kind(value)}", field="price")
    try:
        price = float(value)
    except OverflowError:  # an int too big for a float
        raise ListingError(f"listing.price is out of range, got {str(value)[:40]}", field="price") from None
    if not math.isfinite(price) or price < 0:
        raise ListingError(f"listing.price must be a finite number >= 0, got {value!r}", field="price")
    return price


def _images(images: Sequence[Any]) -> tuple[Any, ...]:
    from PIL import Image

    for i, item in enumerate(images):
        if not isinstance(item, (bytes, bytearray, memoryview, str, os.PathLike, Image.Image)):
            raise ListingError(
                f"listing.images[{i}] must be image bytes, a path or a PIL image, got {_kind(item)}", field="images"
            )
    return tuple(images)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'…' if len(text) > 40 else ''}"


# -- the hook ---------------------------------------------------------------------------------------


def on_listing_upload(
    listing: Listing | Mapping[str, Any],
    *,
    detector: Detector | None = None,
    names: Sequence[str] | None = None,
    time_budget_s: float | None = None,
) -> ListingDecision:
    """Decide on one uploaded listing: allow, review or block, with the evidence and what made the decision.

    ``listing`` is a ``Listing`` or a mapping with the same keys (``LISTING_FIELDS``); its
    ``images`` are bytes, paths or PIL images. ``detector`` defaults to one ``Detector()``
    shared by the whole process. ``names`` label the images in the answer (default: the
    path, or ``images[i]``). ``time_budget_s`` bounds the wall time; checked between steps.

    Raises ``ListingError``, ``ListingImageError``, ``TimeBudgetExceeded``, or ``ModelError``
    when a model is not installed.
    """
    started = time.perf_counter()
    deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
    if isinstance(listing, Listing):
        listing = _check_listing(listing)
    elif isinstance(listing, Mapping):
        listing = listing_from_mapping(listing)
    else:
        raise ListingError(f"a listing must be a Listing or a mapping, got {_kind(listing)}")
    det = detector if detector is not None else default_detector()
    labels = _labels(listing.images, names)

    # Every image is decoded and checked before any model runs: a listing with a bomb as its
    # last photo is refused in milliseconds, not after OCR of the others.
    t = time.perf_counter()
    loaded: list[LoadedImage] = []
    load_ms: list[float] = []
    for i, (source, label) in enumerate(zip(listing.images, labels)):
        ti = time.perf_counter()
        try:
            loaded.append(load_image(source, det.config.limits, name=label))
        except InvalidImage as exc:
            raise ListingImageError(f"listing.images[{i}]: {exc}", index=i, name=label, cause=exc) from exc
        load_ms.append(_ms(ti))
    timings: dict[str, float] = {"load": _ms(t)}

    reports: list[ImageReport] = []
    for i, (image, label) in enumerate(zip(loaded, labels)):
        _check_deadline(deadline, time_budget_s, f"after {i} of {len(loaded)} images")
        reports.append(_scan(det, image, label, listing, load_ms[i]))
    loaded.clear()  # the decoded pixels are no longer needed; free them before the text rules run

    _check_deadline(deadline, time_budget_s, f"after all {len(reports)} images, before the listing text")
    t = time.perf_counter()
    spans = [TextSpan(text=text, confidence=1.0) for text in (listing.title, listing.description) if text.strip()]
    text_verdict = det.rules.evaluate(spans, [], listing, listing_text=True)
    timings["text_rules"] = _ms(t)

    for stage in ("ocr", "logos", "rules"):
        timings[stage] = sum(r.timings_ms.get(stage, 0.0) for r in reports)
    timings["total"] = _ms(started)
    return _combine(listing, det, reports, text_verdict, timings)


def _scan(det: Detector, image: LoadedImage, label: str, listing: Listing, load_ms: float) -> ImageReport:
    # The image is already decoded, oriented, RGB and within limits; scan_image's own load of a PIL
    # image is a no-op check, so the report gets the file's hash, size and boxes fixed up here.
    report = det.scan_image(image.image, name=label, listing=listing)
    timings = {**report.timings_ms, "load": load_ms}
    if not report.ok:
        return dataclasses.replace(report, timings_ms=timings)
    scale = image.scale
    texts, logos = report.texts, report.logos
    if scale != 1.0:
        texts = tuple(dataclasses.replace(s, box=s.box.scale(scale)) if s.box else s for s in texts)
        logos = tuple(dataclasses.replace(m, box=m.box.scale(scale)) for m in logos)
    return dataclasses.replace(
        report, texts=texts, logos=logos, sha256=image.sha256, size=image.original_size, timings_ms=timings
    )


def _combine(
    listing: Listing,
    det: Detector,
    reports: list[ImageReport],
    text_verdict: Any,
    timings: dict[str, float],
) -> ListingDecision:
    decisions = [text_verdict.decision]
    risk = text_verdict.risk
    brand_sets: list[tuple[BrandSighting, ...]] = []
    flag_sources: list[tuple[str, Flag]] = []
    for report in reports:
        where = f"image:{report.path}"
        if not report.ok:
            # Loaded fine but a stage failed on it: the listing cannot be cleared automatically.
            flag_sources.append(
                (
                    where,
                    Flag(
                        rule="image_not_analysed",
                        severity=Severity.REVIEW,
                        message=f"{report.path} could not be analysed ({report.error}); a person should look at it",
                    ),
                )
            )
            decisions.append(Decision.REVIEW)
            risk = max(risk, det.config.thresholds.review)
            continue
        decisions.append(report.decision or Decision.ALLOW)
        risk = max(risk, report.risk or 0.0)
        brand_sets.append(report.brands)
        flag_sources.extend((where, f) for f in report.flags)
    flag_sources.extend((TEXT_EVIDENCE, f) for f in text_verdict.flags)
    brand_sets.append(tuple(dataclasses.replace(b, evidence=(TEXT_EVIDENCE,)) for b in text_verdict.brands))
    return ListingDecision(
        listing_id=listing.listing_id,
        decision=Decision.worst(decisions),
        risk=min(max(risk, 0.0), 1.0),
        brands=_merge_brands(brand_sets),
        flags=_merge_flags(flag_sources),
        images=tuple(reports),
        versions=versions(det),
        timings_ms=timings,
    )


def _merge_brands(sets: list[tuple[BrandSighting, ...]]) -> tuple[BrandSighting, ...]:
    merged: dict[str, BrandSighting] = {}
    for sightings in sets:
        for b in sightings:
            old = merged.get(b.name)
            if old is None:
                merged[b.name] = b
            else:
                evidence = old.evidence + tuple(e for e in b.evidence if e not in old.evidence)
                merged[b.name] = BrandSighting(b.name, max(old.confidence, b.confidence), evidence)
    return tuple(sorted(merged.values(), key=lambda b: (-b.confidence, b.name)))


def _merge_flags(sources: list[tuple[str, Flag]]) -> tuple[Flag, ...]:
    """One flag per (rule, severity, brand, message); evidence says every place it came from, places first."""
    places: dict[tuple[Any, ...], list[str]] = {}
    extra: dict[tuple[Any, ...], list[str]] = {}
    first: dict[tuple[Any, ...], Flag] = {}
    for where, flag in sources:
        key = (flag.rule, flag.severity, flag.brand, flag.message)
        first.setdefault(key, flag)
        if where not in places.setdefault(key, []):
            places[key].append(where)
        bucket = extra.setdefault(key, [])
        bucket.extend(e for e in flag.evidence if e not in bucket)
    rank = {Severity.BLOCK: 0, Severity.REVIEW: 1, Severity.INFO: 2}
    out = [dataclasses.replace(f, evidence=tuple(places[k] + extra[k])) for k, f in first.items()]
    return tuple(sorted(out, key=lambda f: rank[f.severity]))


def _labels(images: Sequence[Any], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if isinstance(names, str) or len(names) != len(images):
            raise ListingError(
                f"names must be a list of {len(images)} labels, one per image, got {_kind(names)}", field="images"
            )
        return [str(n) for n in names]
    return [str(src) if isinstance(src, (str, os.PathLike)) else f"images[{i}]" for i, src in enumerate(images)]


def _check_deadline(deadline: float | None, budget: float | None, where: str) -> None:
    if deadline is not None and budget is not None and time.monotonic() > deadline:
        raise TimeBudgetExceeded(
            f"the listing's time budget of {budget:.1f} s ran out {where}: send fewer images or raise the budget",
            budget_s=budget,
        )


# -- versions ---------------------------------------------------------------------------------------

_CATALOG_HASHES: weakref.WeakKeyDictionary[Detector, str | None] = weakref.WeakKeyDictionary()
_CATALOG_LOCK = threading.Lock()


def versions(det: Detector) -> dict[str, str]:
    """What made a decision: the package version, each stage's name and the catalog's content hash."""
    from detector import __version__

    out = {"detector": __version__, **det.stages}
    catalog = _catalog_hash(det)
    if catalog:
        out["catalog"] = catalog
    return out


def _catalog_hash(det: Detector) -> str | None:
    with _CATALOG_LOCK:
        if det in _CATALOG_HASHES:
            return _CATALOG_HASHES[det]
        value = None
        # Only a stage that reads the catalog makes it part of the decision.
        if det.rules.name != "none" or det.logos.name != "none":
            try:
                value = det.catalog_hash
            except DetectorError as exc:
                log.warning("catalog version unavailable: %s", exc)
        _CATALOG_HASHES[det] = value
        return value


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
