"""Mismatch rules: what the photo shows against what else is known about it.

* ``logo_text_mismatch``: a logo of brand A with the exact name of brand B (a swoosh above "PUMA").
  ``review``; ``block`` when the text lies on or beside the logo and both are confidently read.
  A photo that also shows B's logo is a multi-brand photo (a shop shelf), not a mismatch.
* ``declared_brand_mismatch``: the listing declares brand A (or a non-catalog "generic" brand) while
  its photos show brand B.
* ``unauthorized_seller``: a brand seen (exact text or logo) or declared, whose catalog entry lists
  authorised sellers, sold by a seller not among them.
* ``official_photo_reuse``: a photo that copies one of a brand's ``official_photos`` (the rights-holder's
  catalogue pictures), posted by a seller not among the brand's authorised sellers. Without a listing (a
  plain scan) nobody vouches for the poster, so the copy is flagged too; a brand with no authorised sellers
  allows nobody to repost its pictures.
* ``price_below_reference``: a listing priced under a share of the reference price (``min_price``)
  of a brand it declares or shows; per product keyword when its title or description names one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from detector.rules.config import RulesConfig
from detector.rules.lexicon import Lexicon
from detector.rules.match import Match
from detector.rules.normalize import fold
from detector.types import Box, Flag, Listing, LogoMatch, TextSpan

if TYPE_CHECKING:
    from detector.link.official import OfficialMatch


def quote_span(span: TextSpan, text: str | None = None) -> str:
    """Evidence string for an OCR span: what it says, how sure, where."""
    where = f", box {span.box.to_list()}" if span.box else ""
    part = f" in {span.text!r}" if text is not None and text != span.text else ""
    return f"text {text or span.text!r}{part} (OCR confidence {span.confidence:.2f}{where})"


def quote_logo(logo: LogoMatch) -> str:
    return f"logo {logo.brand} (score {logo.score:.2f}, box {logo.box.to_list()}, mark {logo.mark})"


def _near(text_box: Box | None, logo_box: Box, factor: float) -> bool:
    if text_box is None:
        return False
    dx, dy = logo_box.width * factor, logo_box.height * factor
    grown = Box(logo_box.x1 - dx, logo_box.y1 - dy, logo_box.x2 + dx, logo_box.y2 + dy)
    return grown.iou(text_box) > 0.0


def logo_text_mismatch(
    exact_texts: Sequence[tuple[TextSpan, Match]], logos: Sequence[LogoMatch], config: RulesConfig
) -> list[Flag]:
    """Logo of one brand, exact name of another (see module docstring)."""
    cfg = config.mismatch
    logo_brands = {logo.brand for logo in logos}
    flags: list[Flag] = []
    seen: set[tuple[str, str]] = set()
    for span, m in exact_texts:
        if m.brand in logo_brands:
            continue
        for logo in logos:
            if (logo.brand, m.brand) in seen or logo.brand == m.brand:
                continue
            near = _near(span.box, logo.box, cfg.near_factor)
            confident = span.confidence >= config.ocr_block_min_confidence
            severity = cfg.logo_text_near_severity if near and confident else cfg.logo_text_severity
            where = "on or beside it" if near else "elsewhere in the photo"
            flags.append(
                Flag(
                    rule="logo_text_mismatch",
                    severity=severity,
                    brand=logo.brand,
                    message=(
                        f"{logo.brand} logo with the name of another brand, {m.brand} ({m.text!r}, {where}); "
                        f"no {m.brand} logo in the photo"
                    ),
                    evidence=(quote_logo(logo), quote_span(span, m.text)),
                )
            )
            seen.add((logo.brand, m.brand))
    return flags


def declared_brand_mismatch(
    listing: Listing | None, declared: str | None, seen: Iterable[tuple[str, str]], config: RulesConfig
) -> list[Flag]:
    """``declared`` is the catalog brand the listing names (None: not a catalog brand); ``seen`` is
    (brand, evidence) pairs from the photos."""
    if listing is None or not (listing.brand and listing.brand.strip()):
        return []
    by_brand: dict[str, list[str]] = {}
    for brand, evidence in seen:
        by_brand.setdefault(brand, []).append(evidence)
    if not by_brand or (declared is not None and declared in by_brand):
        return []
    label = declared if declared is not None else f"{listing.brand.strip()!r} (not a catalog brand)"
    return [
        Flag(
            rule="declared_brand_mismatch",
            severity=config.mismatch.declared_brand_severity,
            brand=brand,
            message=f"listing {listing.listing_id} declares brand {label} but its photos show {brand}",
            evidence=(f"listing brand {listing.brand!r}", *evidence[:3]),
        )
        for brand, evidence in sorted(by_brand.items())
    ]


def unauthorized_seller(
    listing: Listing | None, brands: Iterable[tuple[str, str]], lexicon: Lexicon, config: RulesConfig
) -> list[Flag]:
    """Flags each (brand, evidence) whose authorised-seller list is set and lacks the listing's seller."""
    if listing is None:
        return []
    seller = (listing.seller_id or "").strip()
    flags: list[Flag] = []
    done: set[str] = set()
    for brand, evidence in brands:
        if brand in done:
            continue
        allowed = lexicon.authorized_sellers(brand)
        if not allowed or seller.casefold() in {s.casefold() for s in allowed}:
            continue
        done.add(brand)
        who = f"seller {seller!r}" if seller else "a listing with no seller id"
        flags.append(
            Flag(
                rule="unauthorized_seller",
                severity=config.mismatch.unauthorized_seller_severity,
                brand=brand,
                message=f"{brand} sold by {who}, not among its {len(allowed)} authorised seller(s)",
                evidence=(evidence, f"listing seller_id {listing.seller_id!r}"),
            )
        )
    return flags


def official_photo_reuse(
    listing: Listing | None, matches: Sequence[OfficialMatch], lexicon: Lexicon, config: RulesConfig
) -> list[Flag]:
    """One flag per brand whose official photo this photo copies, unless the listing's seller is authorised."""
    seller = ((listing.seller_id if listing is not None else None) or "").strip()
    flags: list[Flag] = []
    by_brand: dict[str, list[OfficialMatch]] = {}
    for m in matches:
        by_brand.setdefault(m.brand, []).append(m)
    for brand, found in by_brand.items():
        allowed = lexicon.authorized_sellers(brand)
        if seller and seller.casefold() in {s.casefold() for s in allowed}:
            continue
        if listing is None:
            who = "a photo with no listing (no seller to check)"
        else:
            who = f"seller {seller!r}" if seller else "a listing with no seller id"
        among = f"not among its {len(allowed)} authorised seller(s)" if allowed else "and the brand authorises no one"
        best = max(found, key=lambda m: m.score)
        flags.append(
            Flag(
                rule="official_photo_reuse",
                severity=config.mismatch.official_photo_reuse_severity,
                brand=brand,
                message=f"copy of {brand}'s official photo {best.photo} posted by {who}, {among}",
                evidence=(*(m.quote() for m in found),
                          *((f"listing seller_id {listing.seller_id!r}",) if listing is not None else ())),
            )
        )
    return flags


def price_below_reference(
    listing: Listing | None, brands: Iterable[str], lexicon: Lexicon, config: RulesConfig
) -> list[Flag]:
    """One flag per brand (declared or seen) whose reference price the listing's price is far under.

    The reference is the brand's ``min_price`` for the longest product keyword found in the title or
    description ("air jordan" before "jordan"), else the brand's own ``min_price``.
    """
    if listing is None or listing.price is None:
        return []
    words = " " + " ".join(fold(f"{listing.title} {listing.description}").split()) + " "
    flags: list[Flag] = []
    for brand in dict.fromkeys(brands):
        prices = lexicon.min_prices(brand)
        if not prices:
            continue
        named = [(k, p) for k, p in prices if k and f" {k} " in words]
        keyword, reference = max(named, key=lambda kp: len(kp[0])) if named else ("", dict(prices).get(""))
        if reference is None or listing.price >= config.price.below_ratio * reference:
            continue
        what = f"{brand} {keyword!r}" if keyword else brand
        share = listing.price / reference
        flags.append(
            Flag(
                rule="price_below_reference",
                severity=config.price.severity,
                brand=brand,
                message=(
                    f"listing price {listing.price:.2f} is {share:.0%} of the reference price {reference:.2f} of "
                    f"{what} (flagged under {config.price.below_ratio:.0%})"
                ),
                evidence=(f"listing price {listing.price:g}", f"catalog min_price of {what}: {reference:g}"),
            )
        )
    return flags
