"""Ordinary words of the language: text that is a dictionary word is not a look-alike on its own.

"hike", "Mike" and "like" are one letter from "Nike", "button" is two from "Vuitton"; flagging them on
text alone would flag most listings. The policy (README.md beside this file) is that a dictionary word
becomes a look-alike only with context: a logo of that brand in the same photo, the listing's declared
brand, or the word standing in a brand's multi-word name next to that name's other words.

The bundled list is Debian's ``wamerican`` (SCOWL size 50, version 2020.12.07-2; possessives dropped),
gzipped; the SCOWL licence allows redistribution. Any one-word-per-line file (optionally ``.gz``) can
replace it through ``dictionary.path`` in the rules YAML.

>>> words = load_word_list()
>>> "hike" in words, "adibas" in words
(True, False)
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from detector.errors import ConfigError
from detector.rules.normalize import fold, strip_accents

BUNDLED = "american-english.txt.gz"


@dataclass(frozen=True)
class WordList:
    """A set of ordinary words, compared in folded, accent-free form.

    ``common`` are the words the list spells in lower case (common nouns, verbs: "red", "ball");
    the others are proper nouns ("Louis", "Mike"), which are ordinary words too but, next to the rest
    of a brand's name, mark the brand's place ("Louis Button").
    """

    words: frozenset[str]
    source: str
    common: frozenset[str] = frozenset()

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word in self.words

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def from_words(cls, words: Iterable[str], source: str = "<memory>") -> WordList:
        """A list from ``words`` as a dictionary file would spell them (lower case = common word)."""
        return _parse(words, source)

    def without(self, words: Iterable[str]) -> WordList:
        """This list less ``words`` (a brand's own name is a brand, not an ordinary word)."""
        drop = {_normal(w) for w in words}
        return WordList(self.words - drop, self.source, self.common - drop)

    def plus(self, words: Iterable[str]) -> WordList:
        """This list with ``words`` added as common words."""
        add = {_normal(w) for w in words if w.strip()}
        return WordList(self.words | add, self.source, self.common | add)


def _normal(word: str) -> str:
    return strip_accents(fold(word.strip()))


def load_word_list(path: str | Path | None = None) -> WordList:
    """The bundled word list (``path=None``) or a one-word-per-line file (``.gz`` allowed).

    Possessive forms ("Nike's") are dropped: the tokenizer reads them as the word itself.
    """
    if path is None:
        return _bundled()
    return _read(Path(path).expanduser())


@lru_cache(maxsize=1)
def _bundled() -> WordList:
    ref = resources.files("detector.rules").joinpath("data").joinpath(BUNDLED)
    with ref.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return _parse(fh, f"bundled {BUNDLED}")


@lru_cache(maxsize=4)
def _read(path: Path) -> WordList:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return _parse(fh, str(path))
        with path.open(encoding="utf-8") as fh:
            return _parse(fh, str(path))
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise ConfigError(
            f"cannot read the dictionary word list {path}: {exc}; expected a UTF-8 file with one word per line "
            "(or set dictionary.path to null for the bundled list)"
        ) from exc


def _parse(lines: Iterable[str], source: str) -> WordList:
    words, common = set(), set()
    for line in lines:
        word = line.strip()
        if word and not word.endswith(("'s", "’s")):
            normal = _normal(word)
            words.add(normal)
            if word[0].islower():
                common.add(normal)
    return WordList(frozenset(words), source, frozenset(common))
