"""Text normalisation: the forms in which a piece of text is compared with brand names.

Two forms per token:

* ``fold``: NFKC + case folding, apostrophes dropped. Two spellings with the same fold are the same
  spelling ("NIKE", "Ｎｉｋｅ", "nike"); this is what an *exact* match means.
* ``skeleton``: what the token *looks like*. Diacritics are stripped, every non-ASCII character that
  the Unicode confusables data (UTS #39, shipped by the ``confusable-homoglyphs`` package) lists as
  confusable with an ASCII letter is replaced by it, leetspeak digits and symbols become letters, the
  glyph classes {i, l, 1, |, !} and {o, 0} become one letter each, and the ASCII pairs rn→m, cl→d,
  vv→w are merged. Two tokens with the same skeleton look the same ("NlKE", "N1KE", "Nіke" with a
  Cyrillic і, "nike" all have the skeleton "nlke").

Mixed scripts (Latin letters next to Cyrillic or Greek ones inside one word) are reported by
``scripts_of`` as a signal in themselves.

>>> fold("ＮＩＫＥ"), skeleton("N1KE"), skeleton("Nіke")
('nike', 'nlke', 'nlke')
>>> collapse_runs("adidasss")
'adidas'
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from importlib import resources
from itertools import groupby

# Leetspeak from the issue (0→o, 1→l/i, 3→e, 4→a, 5→s, $→s, @→a) plus the glyphs of i/l (! |).
# 1, i and l are one glyph class in the skeleton, so "1→l or i" is a single mapping.
_LEET = {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "$": "s", "@": "a", "!": "l", "|": "l"}
# Glyph classes after leetspeak: i and l (and 1) look alike in most sans-serif print.
_GLYPH_CLASS = {"i": "l", "ı": "l"}
# ASCII multi-letter homoglyphs, as dnstwist's ``glyphs_ascii`` lists them (rn/m, cl/d, vv/w, lc/k, nn/m).
ASCII_PAIRS = (("rn", "m"), ("cl", "d"), ("vv", "w"), ("lc", "k"), ("nn", "m"))
_APOSTROPHES = str.maketrans("", "", "'’`´")
SKELETON_ASCII = str.maketrans({**_LEET, **_GLYPH_CLASS})
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")

# Scripts whose letters are confused with Latin ones (UTS #39 "mixed-script confusables").
CONFUSABLE_SCRIPTS = frozenset({"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"})


def fold(text: str) -> str:
    """NFKC, case-folded, apostrophes removed: the exact-match form of a token."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)


def strip_accents(text: str) -> str:
    """Drop combining marks ("Hermès" → "Hermes", "Škoda" → "Skoda")."""
    if text.isascii():  # most words; NFKD of ASCII is itself (this is the dictionary's start-up path)
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def confusables_to_ascii() -> dict[int, str]:
    """A ``str.translate`` table: each non-ASCII character confusable with an ASCII letter → that letter.

    Built from ``confusable_homoglyphs/confusables.json`` (the Unicode confusables data). A character
    whose listed confusables contain no ASCII letter is followed one more step through the graph
    (e.g. Greek τ → Cyrillic т → T), which is how UTS #39 skeletons chain prototypes too.
    """
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))

    def ascii_targets(ch: str) -> list[str]:
        out = []
        for entry in data.get(ch, ()):
            target = entry["c"].strip("\u200e\u200f")
            if len(target) == 1 and target.isascii() and (target.isalpha() or target in "01"):
                out.append(target.lower())
        return out

    table: dict[int, str] = {}
    for ch in data:
        if len(ch) != 1 or ch.isascii():
            continue
        targets = ascii_targets(ch)
        if targets:
            # Prefer a letter over a digit (О → o, not 0); sort for a deterministic choice.
            letters = sorted(t for t in targets if t.isalpha())
            table[ord(ch)] = (letters or sorted(targets))[0]
    # Latin letters with a stroke, hook or small-capital form are not all in the confusables data and
    # do not decompose (ƶ, ɇ, ɢ, ʙ, ʉ); the Unicode name says which letter they are drawn from.
    for start, end in _LATIN_BLOCKS:
        for cp in range(start, end):
            if cp not in table:
                m = _LATIN_NAME.match(unicodedata.name(chr(cp), ""))
                if m:
                    table[cp] = m.group(1).lower()
    # One step further through the confusables graph (Greek τ → Cyrillic т → ᴛ → t), as UTS #39
    # chains prototypes.
    for _ in range(2):
        for ch, entries in data.items():
            if len(ch) != 1 or ch.isascii() or ord(ch) in table:
                continue
            for entry in entries:
                step = entry["c"].strip("\u200e\u200f")
                if len(step) == 1 and ord(step) in table and table[ord(step)].isalpha():
                    table[ord(ch)] = table[ord(step)]
                    break
    return table


# Latin-1 Supplement … Latin Extended-B, IPA, phonetic extensions, Latin Extended Additional/C/D/E.
_LATIN_BLOCKS = ((0x00C0, 0x0250), (0x0250, 0x02B0), (0x1D00, 0x1DC0), (0x1E00, 0x1F00), (0x2C60, 0x2C80),
                 (0xA720, 0xA800), (0xAB30, 0xAB70))
_LATIN_NAME = re.compile(
    r"LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL )?([A-Z])(?: (?:WITH|BAR|STROKE|HOOK|TAIL|BELT)\b.*)?$"
)


def skeleton(text: str, pairs: bool = True) -> str:
    """What ``text`` looks like, reduced to lowercase ASCII where a confusable exists (see module doc).

    ``pairs=False`` leaves the multi-letter pairs (rn, cl, vv, …) alone: that form is the one edit
    distances are measured on, since merging "cl" into "d" would put "Moncler" three edits from its
    own transpositions.
    """
    s = unicodedata.normalize("NFKC", text)
    if not s.isascii():
        s = strip_accents(s).translate(confusables_to_ascii())
    s = s.casefold().translate(_APOSTROPHES)
    if pairs:
        # Pairs first, on the letters as written: "gucci" must not become "guccl" → "gucd".
        s = merge_ascii_pairs(s)
    return s.translate(SKELETON_ASCII)


def fold_and_skeletons(text: str) -> tuple[str, str, str]:
    """``(fold(text), skeleton(text, pairs=False), skeleton(text))`` in one pass (the tokenizer's hot path)."""
    nfkc = unicodedata.normalize("NFKC", text)
    folded = nfkc.casefold().translate(_APOSTROPHES)
    base = folded if nfkc.isascii() else strip_accents(nfkc).translate(confusables_to_ascii()).casefold().translate(
        _APOSTROPHES
    )
    skel = base.translate(SKELETON_ASCII)
    paired = merge_ascii_pairs(base)
    return folded, skel, skel if paired is base else paired.translate(SKELETON_ASCII)


def merge_ascii_pairs(text: str) -> str:
    """``text`` with the ASCII multi-letter homoglyphs (rn→m, cl→d, …) merged, in ``ASCII_PAIRS`` order;
    ``text`` itself (the same object) when it has none."""
    for pair, single in ASCII_PAIRS:
        if pair in text:
            text = text.replace(pair, single)
    return text


# Mirror and near-mirror letters (dnstwist's ASCII glyph pairs b/d, p/q, c/e, u/v): "Abibas" is
# Adidas to a glance. Used for equality of names of ≥ 5 letters only; shorter ones would collide.
_VISUAL = str.maketrans({"b": "d", "p": "d", "q": "d", "c": "e", "u": "v"})


def visual_fold(skel: str) -> str:
    """A skeleton with mirror-image letters merged ("adlbas" → "adldas")."""
    return skel.translate(_VISUAL)


# Letters drawn in another style: Mathematical Alphanumeric Symbols (𝗖𝗘𝗟𝗜𝗡𝗘, 𝑪𝒉𝒂𝒏𝒆𝒍), circled (ⓝⓘⓚⓔ)
# and squared (🅽🅸🅺🅴) letters. NFKC folds them to plain letters; the choice of them is the signal.
_STYLED_RANGES = ((0x1D400, 0x1D800), (0x2460, 0x2500), (0x1F130, 0x1F18A))


def is_styled(text: str) -> bool:
    """True when ``text`` has letters in a styled Unicode block (bold, italic, circled, squared)."""
    return not text.isascii() and any(lo <= ord(ch) < hi for ch in text for lo, hi in _STYLED_RANGES)


def collapse_runs(text: str) -> str:
    """Each run of a repeated character reduced to one ("adidasss" → "adidas", "gucci" → "guci")."""
    return "".join(ch for ch, _ in groupby(text))


def letters_only(text: str) -> str:
    """Only the letters and digits of ``text`` ("Coca-Cola" → "CocaCola")."""
    return "".join(ch for ch in text if ch.isalnum())


def split_words(name: str) -> list[str]:
    """The words of a brand name: split at spaces, punctuation and camelCase ("PlayStation" → Play, Station)."""
    words: list[str] = []
    for part in re.split(r"[^\w'’]+|_", name):
        if part:
            words.extend(w for w in _CAMEL.split(part) if w)
    return words


def scripts_of(token: str) -> frozenset[str]:
    """The Unicode scripts of the letters of ``token`` (COMMON/INHERITED ignored)."""
    if token.isascii():
        return frozenset({"LATIN"}) if any(ch.isalpha() for ch in token) else frozenset()
    out = set()
    for ch in unicodedata.normalize("NFKC", token):
        if ch.isalpha():
            script = _script(ch)
            if script not in ("COMMON", "INHERITED", "Unknown"):
                out.add(script)
    return frozenset(out)


@lru_cache(maxsize=4096)
def _script(ch: str) -> str:
    """The Unicode script of a character, from the ``confusable-homoglyphs`` script data."""
    from confusable_homoglyphs import categories

    return categories.alias(ch)


def is_mixed_confusable_script(token: str) -> bool:
    """True when a word mixes Latin letters with letters of a script made of Latin look-alikes.

    "Nіke" (Cyrillic і) is; "Nike耐克" (Latin + Han) and "10μm" (one Greek letter, no look-alike use) are
    not, because only Cyrillic/Greek/… letters that the confusables data maps to a Latin letter count.
    """
    if token.isascii() or sum(ch.isascii() and ch.isalpha() for ch in token) < 2:
        return False
    scripts = scripts_of(token)
    if "LATIN" not in scripts or not (scripts & CONFUSABLE_SCRIPTS):
        return False
    table = confusables_to_ascii()
    return any(
        ch.isalpha() and _script(ch) in CONFUSABLE_SCRIPTS and ord(ch) in table
        for ch in unicodedata.normalize("NFKC", token)
    )
