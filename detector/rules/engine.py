"""``Rules``: the rules stage. Texts and logos (and the listing) in, a ``Verdict`` with reasons out.

>>> from types import SimpleNamespace as B
>>> rules = Rules([B(name="Adidas", aliases=(), authorized_sellers=())])
>>> [(f.rule, f.severity.value, f.brand) for f in rules.check_text("Adibas 1:1 mirror quality")]
[('lookalike_brand_text', 'block', 'Adidas'), ('counterfeit_vocabulary', 'block', None)]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.config import Thresholds
from detector.rules.config import RulesConfig, load_rules_config
from detector.rules.dictionary import WordList, load_word_list
from detector.rules.findings import Finding
from detector.rules.keywords import Vocabulary
from detector.rules.lexicon import BrandLike, Lexicon
from detector.rules.lookalike import Matcher
from detector.rules.match import Match, TextMatches
from detector.rules.mismatch import (
    declared_brand_mismatch,
    logo_text_mismatch,
    official_photo_reuse,
    price_below_reference,
    quote_logo,
    quote_span,
    unauthorized_seller,
)
from detector.rules.normalize import scripts_of
from detector.rules.scoring import cap_severity, decide, risk, sightings
from detector.types import Flag, Listing, LogoMatch, Relation, Severity, TextSpan, Verdict

if TYPE_CHECKING:
    from detector.link.official import OfficialMatch

RULE_OF = {
    Relation.LOOKALIKE: "lookalike_brand_text",
    Relation.HOMOGLYPH: "homoglyph_brand_text",
    Relation.MIXED_SCRIPT: "mixed_script_brand_text",
}
_SEVERITY_ORDER = {Severity.INFO: 0, Severity.REVIEW: 1, Severity.BLOCK: 2}
# How a look-alike differs from the name, by ``Match.op``; every other op is an edit.
_WHAT = {
    "spaced": "is the brand name {form!r} with its letters split apart",
    "homoglyph": "imitates the brand name {form!r} with look-alike characters ({detail})",
    "mixed_script": "mixes scripts to imitate the brand name {form!r} ({detail})",
    "repetition": "is the brand name {form!r} with letters doubled or dropped ({detail})",
    "phonetic": "sounds like the brand name {form!r} ({detail})",
    # The knockoff kinds (knockoff.py, phrases.py), all review.
    "styled": "is the brand name {form!r} written in styled Unicode letters, a way past keyword filters",
    "shuffle": "is the brand name {form!r} with its letters shuffled ({detail})",
    "swap": "is the short brand name {form!r} with two letters swapped ({detail})",
    "multi_edit": "looks like the brand name {form!r} with several letters changed ({detail}; similarity {similarity:.2f})",
    "short_edit": "is the short brand name {form!r} with a look-alike letter ({detail})",
    "inside": "is the brand name {form!r} with letters added around it ({detail})",
    "pun": "plays on the brand name {form!r}: it {detail}",
    "rotation": "is the brand name {form!r} with its halves swapped ({detail})",
    "words": "imitates the brand name {form!r} word by word ({detail})",
    "reordered": "is the brand name {form!r} with its words in another order ({detail})",
}
# Why a weak match (``Match.strong`` False) asks for review instead of blocking.
_WEAK = {
    "phonetic": "a phonetic match only",
    "styled": "a listing trick, not a misprint",
    "swap": "a swap in a short name, which a typing slip makes too",
}
_WHAT_EDITED = "looks like the brand name {form!r} ({detail}; similarity {similarity:.2f})"

def _brands(catalog: Any) -> Iterable[BrandLike]:
    if catalog is None or isinstance(catalog, (str, Path)):
        from detector.catalog import load_catalog

        return load_catalog(catalog, check_images=False)
    return catalog


class Rules:
    """The rules stage (``RulesStage`` protocol): look-alikes, vocabulary, mismatches → flags → decision.

    ``catalog``: a ``Catalog``, a catalog directory, any iterable of brand-like objects, or None for
    the bundled demo catalog. ``config``: a ``RulesConfig``, a YAML path merged over the defaults, or
    None. ``thresholds`` (e.g. ``Config().thresholds``) overrides the config's. ``words`` replaces the
    dictionary word list. ``workers`` is rapidfuzz's thread count for batched matching.
    """

    name = "rules.v1"

    def __init__(
        self,
        catalog: Any = None,
        config: RulesConfig | str | Path | None = None,
        *,
        thresholds: Thresholds | None = None,
        words: WordList | Iterable[str] | None = None,
        workers: int = 1,
    ) -> None:
        cfg = config if isinstance(config, RulesConfig) else load_rules_config(config)
        if thresholds is not None:
            cfg = dataclasses.replace(cfg, thresholds=thresholds)
        self.config = cfg
        brands = _brands(catalog)
        self.lexicon = Lexicon.build(brands)
        if words is None:
            word_list = load_word_list(cfg.dictionary.path)
        elif isinstance(words, WordList):
            word_list = words
        else:
            word_list = WordList.from_words(words)
        if cfg.dictionary.extra_words:
            word_list = word_list.plus(cfg.dictionary.extra_words)
        self.matcher = Matcher(self.lexicon, word_list, cfg.lookalike, workers=workers)
        self.vocabulary = Vocabulary(cfg.vocabulary)

    def load(self) -> None:
        """Nothing to load: the lexicon, word list and vocabulary are built with the stage."""

    # -- text only ------------------------------------------------------------------------------
    def check_text(self, text: str, *, confidence: float = 1.0, context: Iterable[str] = ()) -> list[Finding]:
        """Brand names, look-alikes, mixed-script words and counterfeit phrases in ``text``.

        ``confidence`` is the OCR confidence of the text (1.0 for typed text); ``context`` names brands
        the surroundings show (dictionary words become look-alikes of those only).
        """
        return self._findings(self.matcher.match(text, context), confidence)

    def could_matter(self, text: str) -> bool:
        """Whether ``text`` read from a photo could bear on a decision: it names or imitates a brand in any
        context (every brand taken as shown nearby), mixes scripts, or holds counterfeit vocabulary. The
        OCR reads only such doubtful spans a second time (``Detector`` wires it)."""
        tm = self.matcher.match(text, self.lexicon.brands)
        return bool(tm.matches or tm.mixed_script or self.vocabulary.find(text))

    def check_texts(self, texts: Sequence[str]) -> list[list[Finding]]:
        """``check_text`` for many texts at once (one vectorised distance computation)."""
        return [self._findings(tm, 1.0) for tm in self.matcher.match_many(texts)]

    def _findings(self, tm: TextMatches, confidence: float) -> list[Finding]:
        out = [self._match_finding(m, confidence) for m in tm.matches]
        for tok in tm.mixed_script:
            scripts = "/".join(sorted(scripts_of(tok.text) - {"LATIN"})).title()
            out.append(
                Finding(
                    rule="mixed_script_text",
                    severity=self._ocr_cap(self.config.mixed_script_severity, confidence)[0],
                    text=tok.text,
                    start=tok.start,
                    end=tok.end,
                    message=f"{tok.text!r} mixes Latin letters with {scripts} look-alike letters",
                    relation=Relation.MIXED_SCRIPT,
                    detail=scripts,
                )
            )
        for hit in self.vocabulary.find(tm.text):
            severity, why = self._ocr_cap(hit.term.severity, confidence)
            out.append(
                Finding(
                    rule="counterfeit_vocabulary",
                    severity=severity,
                    text=hit.text,
                    start=hit.start,
                    end=hit.end,
                    message=f"counterfeit vocabulary {hit.text!r}" + (f" ({why})" if why else ""),
                    detail=hit.term.term,
                )
            )
        out.sort(key=lambda f: (f.start, f.end))
        return out

    def _ocr_cap(self, severity: Severity, confidence: float) -> tuple[Severity, str]:
        limit = self.config.ocr_block_min_confidence
        if severity is Severity.BLOCK and confidence < limit:
            return Severity.REVIEW, f"review, not block: OCR confidence {confidence:.2f} < {limit:.2f}, may be OCR noise"
        return severity, ""

    def _match_finding(self, m: Match, confidence: float) -> Finding:
        if not m.is_lookalike:
            how = {"glued": " inside a longer word", "plural": " (plural)"}.get(m.op, "")
            kind = "an alias of" if m.relation is Relation.ALIAS else "the brand name"
            return Finding(
                rule="brand_text", severity=Severity.INFO, text=m.text, start=m.start, end=m.end, brand=m.brand,
                relation=m.relation, similarity=m.similarity, detail=m.op, message=f"{m.text!r} is {kind} {m.brand}{how}",
            )
        cfg = self.config
        severity = Severity.BLOCK if m.strong else Severity.REVIEW
        reasons: list[str] = []
        if m.op == "spaced":
            severity = cfg.lookalike.spaced_severity
        if not m.strong:
            reasons.append(_WEAK.get(m.op, "more than a typo, so a person should look"))
        if m.needs_context:
            severity = cap_severity(severity, cfg.dictionary.context_severity)
            reasons.append(f"an ordinary word, flagged because the photo or listing shows {m.brand}")
        severity, why = self._ocr_cap(severity, confidence)
        if why:
            reasons.append(why)
        what = _WHAT.get(m.op, _WHAT_EDITED).format(form=m.form, detail=m.detail, similarity=m.similarity)
        if m.relation is Relation.MIXED_SCRIPT and m.op != "mixed_script":
            what += "; it mixes Latin letters with look-alikes from another script"
        message = f"{m.text!r} {what}" + (f"; {'; '.join(reasons)}" if reasons else "")
        return Finding(
            rule=RULE_OF[m.relation], severity=severity, text=m.text, start=m.start, end=m.end, brand=m.brand,
            relation=m.relation, similarity=m.similarity, detail=m.detail, message=message,
        )

    # -- the stage ------------------------------------------------------------------------------
    def evaluate(
        self,
        texts: Sequence[TextSpan],
        logos: Sequence[LogoMatch],
        listing: Listing | None = None,
        *,
        listing_text: bool = False,
        official: Sequence[OfficialMatch] = (),
    ) -> Verdict:
        """Flags, brands seen, risk and decision for one image's texts and logos (and its listing).

        ``listing_text``: ``texts`` are the listing's own title and description, not text read from a
        photo; the listing then gives them no context (prose is full of ordinary words: "a boot for a hike").
        ``official``: the catalog's official photos this photo copies (``detector.link.official``).
        """
        cfg = self.config
        logos = [lg for lg in logos if lg.score >= cfg.mismatch.logo_min_score]
        declared = None
        if listing is not None and listing.brand and listing.brand.strip():
            declared = self.lexicon.resolve(listing.brand)
        listing_flags, named = self._listing_text(listing) if listing is not None else ([], set())
        context = {lg.brand for lg in logos}
        if not listing_text:
            # What the listing names (declared brand, a brand in its title) is context for the photo's text.
            context |= ({declared} if declared else set()) | named
        matched = self.matcher.match_many([t.text for t in texts], context)
        # A doubtful reading of a name that the photo also shows spelled right (another span, or the
        # OCR's second reading of the same place) is a misreading, not a look-alike.
        read_right = {m.brand for tm in matched for m in tm.matches if not m.is_lookalike}
        alternatives = [a for t in texts for a in t.alternatives]
        if alternatives:
            read_right |= {m.brand for tm in self.matcher.match_many(alternatives) for m in tm.matches
                           if not m.is_lookalike}

        flags: list[Flag] = []
        annotated: list[TextSpan] = []
        observations: list[tuple[str, float, str]] = []
        seen: list[tuple[str, str]] = []  # (brand, evidence) from the photo, any relation
        exact_seen: list[tuple[str, str]] = []  # exact/alias text and logos: what a seller check rests on
        exact_texts: list[tuple[TextSpan, Match]] = []

        for span, tm in zip(texts, matched):
            findings = self._findings(tm, span.confidence)
            for f in findings:
                misread = f.brand in read_right and span.confidence < cfg.ocr_block_min_confidence
                if f.flagged and not (misread and f.relation in RULE_OF):
                    flags.append(self._flag(f, quote_span(span, f.text)))
            for m in tm.matches:
                evidence = quote_span(span, m.text)
                conf = span.confidence * (1.0 if not m.is_lookalike else m.similarity)
                observations.append((m.brand, conf, "text"))
                seen.append((m.brand, evidence))
                if not m.is_lookalike:
                    exact_seen.append((m.brand, evidence))
                    exact_texts.append((span, m))
            annotated.append(_annotate(span, findings))

        for lg in logos:
            observations.append((lg.brand, lg.score, "logo"))
            seen.append((lg.brand, quote_logo(lg)))
            exact_seen.append((lg.brand, quote_logo(lg)))

        if listing is not None:
            flags.extend(listing_flags)
            if declared is not None:
                exact_seen.append((declared, f"listing brand {listing.brand!r}"))

        flags.extend(logo_text_mismatch(exact_texts, logos, cfg))
        flags.extend(declared_brand_mismatch(listing, declared, seen, cfg))
        flags.extend(unauthorized_seller(listing, exact_seen, self.lexicon, cfg))
        flags.extend(official_photo_reuse(listing, official, self.lexicon, cfg))
        priced = ([declared] if declared else []) + [brand for brand, _ in seen]
        flags.extend(price_below_reference(listing, priced, self.lexicon, cfg))
        flags = _dedupe(flags)
        score = risk(flags, cfg.weights)
        return Verdict(
            texts=tuple(annotated),
            flags=tuple(flags),
            brands=sightings(observations),
            risk=round(score, 6),
            decision=decide(score, flags, cfg.thresholds),
        )

    def _listing_text(self, listing: Listing) -> tuple[list[Flag], set[str]]:
        """Look-alikes and vocabulary in the seller's own words, and the brands they name as written
        ("Nike running tee"). No context: prose is full of ordinary words ("a boot for a hike"), so
        dictionary words never count here."""
        fields = [("title", listing.title), ("description", listing.description), ("brand", listing.brand or "")]
        fields = [(name, value) for name, value in fields if value and value.strip()]
        out, named = [], set()
        for (name, value), tm in zip(fields, self.matcher.match_many([v for _, v in fields])):
            if name != "brand":
                named.update(m.brand for m in tm.matches if not m.is_lookalike)
            for f in self._findings(tm, 1.0):
                if f.flagged and not (name == "brand" and f.rule == "counterfeit_vocabulary"):
                    out.append(self._flag(f, f"listing {name}: {f.text!r} in {_clip(value)!r}"))
        return out, named

    @staticmethod
    def _flag(f: Finding, evidence: str) -> Flag:
        return Flag(rule=f.rule, severity=f.severity, message=f.message, brand=f.brand, evidence=(evidence,))


def _annotate(span: TextSpan, findings: list[Finding]) -> TextSpan:
    """The span tied to its most telling brand finding: a flagged look-alike over a genuine spelling."""
    branded = [f for f in findings if f.brand is not None]
    if not branded:
        return span
    best = max(branded, key=lambda f: (_SEVERITY_ORDER[f.severity], f.flagged, f.similarity or 0.0, f.end - f.start))
    return dataclasses.replace(span, brand=best.brand, relation=best.relation, similarity=best.similarity)


def _dedupe(flags: list[Flag]) -> list[Flag]:
    out, keys = [], set()
    for f in flags:
        key = (f.rule, f.brand, f.message, f.evidence)
        if key not in keys:
            keys.add(key)
            out.append(f)
    return out


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=8)
def _cached_rules(catalog: Any, config: Any) -> Rules:
    return Rules(catalog, config)


def _cache_key(value: Any) -> Any:
    if isinstance(value, (str, Path)):
        return str(Path(value).expanduser().resolve())
    try:
        hash(value)
    except TypeError:
        return None
    return value


def check_text(
    text: str, catalog: Any = None, *, config: RulesConfig | str | Path | None = None, confidence: float = 1.0
) -> list[Finding]:
    """Brand names, look-alikes and counterfeit phrases in ``text``, without images.

    ``catalog``: a catalog directory, a ``Catalog``, or None for the bundled demo catalog. The
    ``Rules`` built for a catalog and config is cached, so repeated calls are cheap.

    >>> [f.to_dict()["relation"] for f in check_text("NlKE Air, 1:1 mirror quality")]  # doctest: +SKIP
    ['homoglyph', None]
    """
    cat_key, cfg_key = _cache_key(catalog), _cache_key(config)
    if (catalog is not None and cat_key is None) or (config is not None and cfg_key is None):
        rules = Rules(catalog, config)  # unhashable arguments: build, do not cache
    else:
        rules = _cached_rules(cat_key, cfg_key)
    return rules.check_text(text, confidence=confidence)
