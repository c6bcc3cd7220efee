"""Counterfeit vocabulary: "replica", "1:1 mirror quality", "super copy", 高仿, 复刻, A货, 原单 …

The phrases live in the rules YAML (``vocabulary`` / ``extra_vocabulary``), each with a severity and
the longer ordinary phrases that contain it without meaning a counterfeit (``unless``: "fake fur",
"AAA batteries"). Matching is on NFKC case-folded text ("１：１" is "1:1"), at word boundaries for
Latin letters and digits, anywhere for CJK; spaces inside a phrase match any run of spaces or hyphens.

>>> from detector.rules.config import RulesConfig
>>> vocab = Vocabulary(RulesConfig.default().vocabulary)
>>> [(h.text, h.term.severity.value) for h in vocab.find("1:1 mirror quality, fake fur")]
[('1:1 mirror', 'block')]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from detector.rules.config import Term

_ALNUM = "0-9a-z"


@dataclass(frozen=True)
class KeywordHit:
    """One occurrence of a vocabulary phrase in a text."""

    term: Term
    start: int
    end: int
    text: str


def _pattern(phrase: str, case_sensitive: bool) -> str:
    body = phrase if case_sensitive else unicodedata.normalize("NFKC", phrase).casefold()
    parts = [re.escape(p) for p in body.split()]
    core = r"[\s\-]+".join(parts)
    lead = rf"(?<![{_ALNUM}A-Z])" if body[:1].isascii() and body[:1].isalnum() else ""
    trail = rf"(?![{_ALNUM}A-Z])" if body[-1:].isascii() and body[-1:].isalnum() else ""
    return lead + core + trail


class Vocabulary:
    """Finds the configured counterfeit phrases in a text."""

    def __init__(self, terms: Sequence[Term]) -> None:
        self.terms = tuple(terms)
        self._by_text: dict[tuple[bool, str], Term] = {}
        self._regex: dict[bool, re.Pattern[str] | None] = {}
        self._unless: dict[Term, re.Pattern[str]] = {}
        for cs in (False, True):
            group = [t for t in self.terms if t.case_sensitive == cs]
            # Longest first, so "1:1 mirror" wins over "1:1" at the same place.
            group.sort(key=lambda t: len(t.term), reverse=True)
            alternatives = []
            for i, t in enumerate(group):
                alternatives.append(f"(?P<t{i}>{_pattern(t.term, cs)})")
                self._by_text[(cs, f"t{i}")] = t
            self._regex[cs] = re.compile("|".join(alternatives)) if alternatives else None
        # Cheap pre-check: the longest piece of every phrase, looked for with ``in`` on the folded
        # text; most texts contain none and skip the regexes.
        pieces = {max(unicodedata.normalize("NFKC", t.term).casefold().split(), key=len) for t in self.terms}
        # A piece containing another ("replicas", "replica") adds nothing to the pre-check, only an alternative to try.
        pieces = {p for p in pieces if not any(q != p and q in p for q in pieces)}
        self._pieces = re.compile("|".join(re.escape(p) for p in sorted(pieces))) if pieces else None
        for t in self.terms:
            if t.unless:
                flags = 0 if t.case_sensitive else re.IGNORECASE
                pats = [_pattern(u if t.case_sensitive else u.casefold(), t.case_sensitive) for u in t.unless]
                self._unless[t] = re.compile("|".join(pats), flags)

    def find(self, text: str) -> list[KeywordHit]:
        """Every phrase of the vocabulary in ``text``, in order; an ``unless`` phrase around a hit cancels it."""
        if not text:
            return []
        nfkc = unicodedata.normalize("NFKC", text)
        folded = nfkc.casefold()
        if self._pieces is None or self._pieces.search(folded) is None:
            return []
        hits: list[KeywordHit] = []
        for cs, haystack in ((False, folded), (True, nfkc)):
            regex = self._regex[cs]
            if regex is None:
                continue
            # Offsets refer to the NFKC text; quote it unless case folding changed its length (ß → ss).
            quote = nfkc if len(folded) == len(nfkc) else haystack
            for m in regex.finditer(haystack):
                term = self._by_text[(cs, m.lastgroup or "")]
                if self._cancelled(term, haystack, m.start(), m.end()):
                    continue
                hits.append(KeywordHit(term, m.start(), m.end(), quote[m.start():m.end()]))
        hits.sort(key=lambda h: (h.start, -h.end))
        # Drop a case-sensitive hit inside a case-folded one ("AAA" inside "AAA quality").
        out: list[KeywordHit] = []
        for h in hits:
            if out and h.start < out[-1].end:
                continue
            out.append(h)
        return out

    def _cancelled(self, term: Term, haystack: str, start: int, end: int) -> bool:
        unless = self._unless.get(term)
        if unless is None:
            return False
        lo, hi = max(0, start - 40), min(len(haystack), end + 40)
        return any(u.start() + lo <= start and end <= u.end() + lo for u in unless.finditer(haystack[lo:hi]))
