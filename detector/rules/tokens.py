"""Tokens of a text and the candidate strings the look-alike matcher compares with brand names.

A token is a run of letters, digits and the leetspeak symbols ``$ @ ! |`` (so "N!KE" and "Adida$" stay
whole); every other character separates tokens, so brand names inside longer strings are found
("NBC.com" → NBC, com; "(intel)" → intel). Candidates are single tokens, n-grams of consecutive
tokens up to the lexicon's longest name (multi-word names, and names split by spacing or punctuation:
"Ni-ke", "Louis Button") and runs of single characters joined ("N I K E").

Tokens and candidates are named tuples: the matcher makes several per text, and a frozen dataclass
costs several times more to build (BENCHMARKS.md, "Rules layer", throughput).

>>> [t.text for t in tokenize("Genuine NIKE.com (intel) N!KE")]
['Genuine', 'NIKE', 'com', 'intel', 'N!KE']
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

from detector.rules.lexicon import CONNECTORS
from detector.rules.normalize import (
    SKELETON_ASCII,
    collapse_runs,
    fold_and_skeletons,
    is_mixed_confusable_script,
    merge_ascii_pairs,
)

_TOKEN = re.compile(r"(?:[^\W_]|[$@!|'’])+")
# The same on ASCII text, where ``[^\W_]`` is ``[A-Za-z0-9]``: a plain character set is ~1.7x faster to scan.
_TOKEN_ASCII = re.compile(r"[A-Za-z0-9$@!|']+")
_EDGE = "'’!|"
_LATIN = re.compile(r"[a-z]")
_NOT_ALNUM = re.compile(r"[\W_]+")
_DOUBLE = re.compile(r"(.)\1")
_LEETISH = re.compile(r"[0-9$@!|]")
_POSSESSIVE = ("'s", "’s", "'S", "’S")
_NO_SPLITS: frozenset[int] = frozenset()


class Forms(NamedTuple):
    """The comparison forms of one token string (cached per string)."""

    key: str  # folded letters and digits: the exact-match form
    skel: str  # skeleton without the multi-letter pairs: edit distances are measured on it
    mixed: bool  # mixes Latin with Cyrillic/Greek look-alikes
    latin: bool  # has a letter a-z once confusables are mapped (Cyrillic "ВМW" does, 安踏 not)
    stem: str  # folded word less a possessive "'s" ("Aida's" → "aida"), for dictionary look-ups
    collapsed: str  # skel with runs of a letter collapsed
    pskel: str  # skeleton with rn→m, cl→d, vv→w, … merged: equal pskels look the same
    word: str  # folded word as written, leetspeak symbols kept ("ant@" is not the word "ant")
    leet: bool  # has digits or leetspeak symbols among its letters ("N1KE", "Adida$")


class Token(NamedTuple):
    """One token of a text: where it is, and its comparison forms."""

    text: str
    start: int
    end: int
    key: str
    skel: str
    mixed: bool
    latin: bool
    stem: str
    collapsed: str
    pskel: str
    word: str
    leet: bool


class Candidate(NamedTuple):
    """A token or a sequence of tokens compared as one string with the brand lexicon."""

    first: int  # index of the first token
    last: int  # index one past the last token
    key: str
    skel: str
    collapsed: str
    splits: frozenset[int]  # offsets in ``key`` where the text had a token boundary
    mixed: bool
    words: tuple[str, ...]  # keys of the tokens
    stem: str  # the folded word less a possessive "'s", for the dictionary look-up
    pskel: str
    word: str


@lru_cache(maxsize=1 << 17)
def forms(raw: str) -> Forms:
    """Comparison forms of a token string."""
    return _ascii_forms(raw) if raw.isascii() else _unicode_forms(raw)


def _unicode_forms(raw: str) -> Forms:
    """``forms`` of any string: NFKC, confusables, leetspeak (``normalize.fold_and_skeletons``)."""
    word, skel, pskel = fold_and_skeletons(raw)
    key = _NOT_ALNUM.sub("", word)
    stem = word[:-1] if raw.endswith(_POSSESSIVE) else word
    collapsed = collapse_runs(skel) if _DOUBLE.search(skel) else skel
    # A letter as written, and a-z once mapped: "N1KE" and Cyrillic "ВМW" are Latin-looking; "100" (→ "loo")
    # and 安踏 are not.
    latin = _LATIN.search(skel) is not None and any(ch.isalpha() for ch in raw)
    leet = latin and _LEETISH.search(word) is not None
    return Forms(key, skel, is_mixed_confusable_script(raw), latin, stem, collapsed, pskel, word, leet)


def _ascii_forms(raw: str) -> Forms:
    """``_unicode_forms`` of an ASCII token, with str methods instead of NFKC and translate tables: the
    same result (tests/unit/test_rules_normalize.py), several times faster. Most tokens of marketplace
    text are ASCII, and this is the rules' hot path."""
    word = raw.lower()  # NFKC and casefold are lower() on ASCII
    if "'" in word:
        word = word.replace("'", "")
    if word.isalpha():  # no leetspeak symbols or digits: the skeleton only merges i into l
        key, skel, leet = word, word.replace("i", "l"), False
        paired = merge_ascii_pairs(word)
        pskel = skel if paired is word else paired.replace("i", "l")
        latin = True
    else:
        key = _NOT_ALNUM.sub("", word)
        skel = word.translate(SKELETON_ASCII)
        paired = merge_ascii_pairs(word)
        pskel = skel if paired is word else paired.translate(SKELETON_ASCII)
        # A letter as written ("100" → "loo" is not Latin; "N1KE" is).
        latin = raw.lower() != raw.upper()
        leet = latin and _LEETISH.search(word) is not None
    stem = word[:-1] if raw.endswith(_POSSESSIVE) else word
    collapsed = collapse_runs(skel) if _DOUBLE.search(skel) else skel
    return Forms(key, skel, False, latin, stem, collapsed, pskel, word, leet)


def tokenize(text: str, forms_of: Callable[[str], Forms] = forms) -> list[Token]:
    """The tokens of ``text`` with their offsets (see module docstring)."""
    out = []
    for m in (_TOKEN_ASCII if text.isascii() else _TOKEN).finditer(text):
        raw, start = m.group(), m.start()
        if raw[0] in _EDGE or raw[-1] in _EDGE:
            # Leading/trailing ! | ' are punctuation ("Wow!", "'Nike'"), not leetspeak.
            stripped = raw.strip(_EDGE)
            if not stripped:
                continue
            start += len(raw) - len(raw.lstrip(_EDGE))
            raw = stripped
        f = forms_of(raw)
        if f.key or f.skel:
            out.append(_new_token(Token, (raw, start, start + len(raw), *f)))
    return out


_new_token = tuple.__new__  # a Token from one tuple, without the keyword handling of Token(...)


def single(tokens: list[Token], i: int) -> Candidate:
    t = tokens[i]
    return Candidate(i, i + 1, t.key, t.skel, t.collapsed, _NO_SPLITS, t.mixed, (t.key,), t.stem, t.pskel, t.word)


def ngrams(
    tokens: list[Token], kinds: list[int], max_words: int, max_len: int, prefixes: frozenset[tuple[str, ...]]
) -> list[Candidate]:
    """N-grams of 2..``max_words`` tokens, and joined runs of single characters.

    ``kinds`` says per token: 0 = cannot be part of a name (breaks n-grams), 1 = may be part of one,
    2 = makes an n-gram worth comparing. An n-gram without a kind-2 token is kept only when its words
    start a multi-word name (``prefixes``: "new balance"). Connector tokens ("and") are skipped inside
    n-grams, as in brand names. N-grams longer than ``max_len`` + 3 characters cannot be within edit
    reach of any name and are left out.
    """
    out: list[Candidate] = []
    limit = max_len + 3
    n = len(tokens)
    for i in range(n - 1):
        if not kinds[i]:
            continue
        parts = [tokens[i]]
        useful = kinds[i] == 2
        length = len(tokens[i].key)
        j = i + 1
        while j < n and len(parts) < max_words and kinds[j]:
            tok = tokens[j]
            j += 1
            if tok.key in CONNECTORS:
                continue
            parts.append(tok)
            useful = useful or kinds[j - 1] == 2
            length += len(tok.key)
            if length > limit:
                break
            if useful or tuple(p.key for p in parts) in prefixes:
                out.append(join(parts, i, j))
    # "N I K E", "L.O.U.I.S V.U.I.T.T.O.N": runs of one-character tokens read as one word.
    i = 0
    while i < n:
        j = i
        while j < n and len(tokens[j].key) == 1:
            j += 1
        if j - i >= 3:
            out.append(join(tokens[i:j], i, j))
        i = max(j, i + 1)
    return out


def join(parts: list[Token], first: int, last: int) -> Candidate:
    key = "".join(p.key for p in parts)
    skel = "".join(p.skel for p in parts)
    pskel = "".join(p.pskel for p in parts)
    splits, pos = set(), 0
    for p in parts[:-1]:
        pos += len(p.key)
        splits.add(pos)
    return Candidate(
        first, last, key, skel, collapse_runs(skel) if _DOUBLE.search(skel) else skel, frozenset(splits), any(p.mixed for p in parts),
        tuple(p.key for p in parts), key, pskel, key,
    )
