"""The brand lexicon: every genuine spelling of every catalog brand, in the forms the matcher compares.

Built from a catalog (``detector.catalog.Catalog``) or any iterable of objects with ``name``,
``aliases`` and ``authorized_sellers``. Each name and alias becomes an ``Entry``; accented spellings
also get their accent-free form ("Hermès" → "Hermes"), which is how they are typed and what OCR reads.
Spellings in scripts without letter case and spaces (安踏, ユニクロ, 삼성) are matched as substrings.

>>> from types import SimpleNamespace as B
>>> lex = Lexicon.build([B(name="Coca-Cola", aliases=("Coke",), authorized_sellers=())])
>>> [(e.form, e.key, e.words) for e in lex.entries]
[('Coca-Cola', 'cocacola', ('coca', 'cola')), ('Coke', 'coke', ('coke',))]
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from detector.rules.knockoff import consonants
from detector.rules.normalize import collapse_runs, fold, skeleton, split_words, strip_accents, visual_fold

# Words that join the parts of a name and are read past ("Dolce & Gabbana" = "Dolce and Gabbana").
CONNECTORS = frozenset({"and", "&", "+", "und", "et"})


class BrandLike(Protocol):
    name: str
    aliases: tuple[str, ...]
    authorized_sellers: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """One genuine spelling of a brand, pre-normalised.

    ``key``: folded letters and digits of the spelling ("cocacola"); ``skel``: its skeleton without
    multi-letter pairs, ``pskel`` with them; ``collapsed``: ``skel`` with runs collapsed;
    ``words``: its folded words, connectors left out;
    ``boundaries``: offsets in ``key`` where a word starts (a space there is the brand's own).
    """

    brand: str
    form: str
    is_alias: bool
    key: str
    skel: str
    collapsed: str
    words: tuple[str, ...]
    boundaries: frozenset[int]
    substring_only: bool
    pskel: str = ""

    @property
    def length(self) -> int:
        return len(self.key)


def _is_caseless_script(text: str) -> bool:
    """True for spellings in scripts written without spaces between words (Han, kana, Hangul)."""
    return any(
        unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")) for ch in text if ch.isalpha()
    )


def _entry(brand: str, form: str, is_alias: bool) -> Entry | None:
    if _is_caseless_script(form):
        key = fold(form).replace(" ", "")
        return Entry(brand, form, is_alias, key, key, key, (key,), frozenset(), True, key)
    words = tuple(w for w in (fold(x) for x in split_words(form)) if w and w not in CONNECTORS)
    words = tuple("".join(ch for ch in w if ch.isalnum()) for w in words)
    words = tuple(w for w in words if w)
    key = "".join(words)
    if not key:
        return None
    boundaries, pos = set(), 0
    for w in words[:-1]:
        pos += len(w)
        boundaries.add(pos)
    skel = skeleton(key, pairs=False)
    return Entry(
        brand, form, is_alias, key, skel, collapse_runs(skel), words, frozenset(boundaries), False, skeleton(key)
    )


class Lexicon:
    """Indexes of every genuine spelling of every brand; see the module docstring."""

    def __init__(self, entries: Iterable[Entry], brands: dict[str, Any]) -> None:
        self.entries: tuple[Entry, ...] = tuple(entries)
        self.brands = brands
        self.by_key: dict[str, list[Entry]] = defaultdict(list)
        self.by_skel: dict[str, list[Entry]] = defaultdict(list)
        self.by_collapsed: dict[str, list[Entry]] = defaultdict(list)
        self.by_brand: dict[str, list[Entry]] = defaultdict(list)
        self.words: set[str] = set()
        substring_forms: dict[str, Entry] = {}
        for e in self.entries:
            self.by_brand[e.brand].append(e)
            if e.substring_only:
                substring_forms.setdefault(e.key, e)
                continue
            self.by_key[e.key].append(e)
            self.by_skel[e.pskel].append(e)
            self.by_collapsed[e.collapsed].append(e)
            self.words.update(e.words)
        self.substring_forms = substring_forms
        self.substring_pattern = (
            re.compile("|".join(re.escape(k) for k in sorted(substring_forms, key=len, reverse=True)))
            if substring_forms
            else None
        )
        latin = [e for e in self.entries if not e.substring_only]
        # Word sequences that start a multi-word spelling: an n-gram of ordinary words ("new balance")
        # is worth an exact look-up only if it is one of these.
        self.word_prefixes = frozenset(e.words[:n] for e in latin for n in range(2, len(e.words) + 1))
        self.by_vskel: dict[str, list[Entry]] = defaultdict(list)
        # Knockoff proposals (rules/knockoff.py): the letters sorted (shuffles), the consonants as they
        # sound, a name's first and last four letters (puns keep one of them), and each word of a
        # multi-word name with its place.
        self.by_letters: dict[str, list[Entry]] = defaultdict(list)
        self.by_prefix: dict[str, list[Entry]] = defaultdict(list)
        self.by_suffix: dict[str, list[Entry]] = defaultdict(list)
        self.by_consonants: dict[str, list[Entry]] = defaultdict(list)
        self.word_places: dict[str, list[tuple[Entry, int]]] = defaultdict(list)
        self.word_starts: dict[str, list[tuple[Entry, int]]] = defaultdict(list)
        self.word_ends: dict[str, list[tuple[Entry, int]]] = defaultdict(list)
        for e in latin:
            if e.length >= 5:
                self.by_vskel[visual_fold(e.pskel)].append(e)
            if e.length >= 4:
                self.by_letters["".join(sorted(e.key))].append(e)
            if e.length >= 5 and e.key.isalpha():
                self.by_consonants[consonants(e.key)].append(e)
            if e.length >= 6:
                self.by_prefix[e.key[:4]].append(e)
                self.by_suffix[e.key[-4:]].append(e)
            if len(e.words) >= 2:
                for place, word in enumerate(e.words):
                    if len(word) >= 2 and word not in CONNECTORS:
                        self.word_places[word].append((e, place))
                    if len(word) >= 4:
                        # A changed word that keeps the word's first or last three letters ("Timmy",
                        # "Worker") may still stand in its place.
                        self.word_starts[word[:3]].append((e, place))
                        self.word_ends[word[-3:]].append((e, place))
        self.max_words = max((len(e.words) for e in latin), default=1)
        self.max_key_len = max((e.length for e in latin), default=0)
        self.key_lengths = sorted({e.length for e in latin})
        # Freeze the indexes: a miss must not insert an empty list.
        for name in ("by_key", "by_skel", "by_collapsed", "by_brand", "by_vskel", "by_letters", "by_prefix", "by_suffix",
                     "by_consonants", "word_places", "word_starts", "word_ends"):
            setattr(self, name, dict(getattr(self, name)))

    @classmethod
    def build(cls, brands: Iterable[BrandLike]) -> Lexicon:
        """A lexicon of ``brands`` (a ``Catalog`` or any iterable of brand-like objects)."""
        entries: list[Entry] = []
        by_name: dict[str, Any] = {}
        for brand in brands:
            by_name[brand.name] = brand
            seen: set[str] = set()
            forms = [(brand.name, False)] + [(a, True) for a in getattr(brand, "aliases", ())]
            for form, is_alias in list(forms):
                plain = strip_accents(form)
                if plain != form:
                    forms.append((plain, True))
            for form, is_alias in forms:
                e = _entry(brand.name, form, is_alias)
                if e is not None and (e.key, e.substring_only) not in seen:
                    seen.add((e.key, e.substring_only))  # type: ignore[arg-type]
                    entries.append(e)
        return cls(entries, by_name)

    def __len__(self) -> int:
        return len(self.entries)

    def resolve(self, spelling: str) -> str | None:
        """The brand that ``spelling`` is a genuine name or alias of, or None."""
        e = _entry("", spelling, False)
        if e is None:
            return None
        table = self.substring_forms if e.substring_only else self.by_key
        hit = table.get(e.key)
        if hit is None:
            return None
        return hit.brand if isinstance(hit, Entry) else hit[0].brand

    def authorized_sellers(self, brand: str) -> tuple[str, ...]:
        b = self.brands.get(brand)
        return tuple(getattr(b, "authorized_sellers", ()) or ()) if b is not None else ()

    def min_prices(self, brand: str) -> tuple[tuple[str, float], ...]:
        """The brand's reference prices as ``(keyword, price)`` pairs ("" = the whole brand)."""
        b = self.brands.get(brand)
        return tuple(getattr(b, "min_price", ()) or ()) if b is not None else ()

    def genuine_spellings(self) -> list[str]:
        """Every name and alias as written, for tests and benchmarks."""
        return [e.form for e in self.entries]
