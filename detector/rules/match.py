"""What the matcher reports: ``Match`` (a stretch of text tied to a brand, and how), ``TextMatches``
(everything found in one text), ``make`` (a match over tokens) and ``select`` (one reading per token
among overlapping matches: genuine spellings first, then strong look-alikes, longer and closer ones)."""

from __future__ import annotations

from typing import NamedTuple

from detector.rules.lexicon import Entry
from detector.rules.tokens import Candidate, Token
from detector.types import Relation

_RANK = {"exact": 0, "alias": 0, "glued": 0, "plural": 0, "homoglyph": 1, "mixed_script": 1}


class Match(NamedTuple):
    """A stretch of text tied to a catalog brand.

    ``op`` says how: exact, alias, plural, glued (brand inside a longer word), homoglyph, mixed_script,
    spaced, repetition, addition, edit, visual, phonetic. ``strong`` matches may block when read clearly;
    ``needs_context`` ones count only because the context named the brand (dictionary words).
    """

    start: int
    end: int
    text: str
    first: int
    last: int
    brand: str
    form: str
    relation: Relation
    similarity: float
    op: str
    detail: str
    strong: bool
    needs_context: bool = False

    @property
    def is_lookalike(self) -> bool:
        return self.relation is not Relation.EXACT and self.relation is not Relation.ALIAS


_new_match = tuple.__new__


class TextMatches(NamedTuple):
    """Everything the matcher found in one text (a named tuple: one is built per text checked)."""

    text: str
    matches: tuple[Match, ...]
    mixed_script: tuple[Token, ...]  # mixed-script words tied to no brand


def make(
    c: Candidate, tokens: list[Token], e: Entry, rel: Relation, sim: float, op: str, detail: str,
    strong: bool, needs_context: bool = False,
) -> Match:
    """A match of ``e`` over the tokens of ``c`` (``text`` is filled from the source in ``select``)."""
    start, end = tokens[c.first].start, tokens[c.last - 1].end
    return Match(start, end, "", c.first, c.last, e.brand, e.form, rel, round(sim, 4), op, detail, strong, needs_context)


def select(text: str, tokens: list[Token], matches: list[Match]) -> TextMatches:
    """The matches of ``text`` to report: one reading per token, genuine spellings first."""
    any_mixed = True in [t.mixed for t in tokens]
    if not matches and not any_mixed:
        return TextMatches(text, (), ())
    def rank(m: Match) -> tuple:
        r = _RANK.get(m.op, 2 if m.strong else 3)
        return (r, m.needs_context, -(m.end - m.start), -m.similarity)

    # A misspelled full name beats the genuine part of it it contains ("Yvves Saint Laurent" is not
    # just "Saint Laurent").
    looks = [m for m in matches if m.is_lookalike and m.first >= 0]
    if looks:
        matches = [
            m for m in matches
            if m.is_lookalike or m.first < 0 or not any(
                o.brand == m.brand and o.first <= m.first and m.last <= o.last and (o.last - o.first) > (m.last - m.first)
                for o in looks
            )
        ]
    chosen: list[Match] = []
    taken: set[int] = set()
    for m in sorted(matches, key=rank):
        if m.first < 0:  # substring match in a caseless script
            if not any(o.start < m.end and m.start < o.end for o in chosen):
                chosen.append(m)
            continue
        span = set(range(m.first, m.last))
        if any(o.first == m.first and o.last == m.last and o.brand == m.brand for o in chosen):
            continue
        # Overlapping a better match: dropped, unless it is the same tokens read as another brand
        # equally well (an ambiguous spelling keeps both).
        if span & taken and not any(
            o.first == m.first and o.last == m.last and rank(o)[:2] == rank(m)[:2] for o in chosen
        ):
            continue
        chosen.append(m)
        taken |= span
    if len(chosen) > 1:
        chosen.sort(key=lambda m: (m.start, m.end))
    mixed: tuple[Token, ...] = ()
    if any_mixed:
        covered = {i for m in chosen if m.first >= 0 for i in range(m.first, m.last)}
        mixed = tuple(
            t for i, t in enumerate(tokens)
            if t.mixed and i not in covered and sum(ch.isalpha() for ch in t.text) >= 3
        )
    # Source text quoting uses the original characters (``make`` left ``text`` empty; the
    # tuple is rebuilt directly, ``_replace`` costs several times more).
    quoted = tuple(m if m.first < 0 else _new_match(Match, (*m[:2], text[m.start:m.end], *m[3:])) for m in chosen)
    return TextMatches(text, quoted, mixed)
