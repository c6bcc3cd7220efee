"""Knockoff judgements: the changes counterfeiters make to a brand name beyond a one-letter typo.

``Matcher.compare`` applies the strict rules first (exact, homoglyph, doubled letters, edits within the
typo budget, mirror letters, phonetic). A pair they reject gets a second look here, from the kinds of
change real knockoffs show (``benchmarks/data/knockoffs``, dev split; issue 10):

* ``shuffle``: the name's letters in another order ("Rloxe", "Upma").
* ``multi_edit``: more edits than the typo budget, each cheap for the eye or the ear: a vowel for a
  vowel, mirror or sound-alike letters, a doubled letter (``weighted_distance``): "Odidos"; or the
  same consonants as they sound (``consonants``): "Rolaks".
* ``short_edit``: one letter of a 4-letter name swapped for a look-alike, first letter kept ("Zari", "POLQ").
* ``inside``: the name with a letter or two added around it ("Eseikor").
* ``pun``: a long piece of a one-word name kept and the rest swapped for as many letters ("Adidux");
  ``rotation``: the name's two halves swapped ("Bucksstar").
* ``judge_words`` (used by ``phrases.py``): a multi-word name with a word kept and another changed,
  the others resembling ("Calvin Kwan", "Kansas Fried Chicken").

All of them are weaker evidence than a typo: the matcher reports them as ``review``. Words of the
dictionary never reach these rules without context (the dictionary policy, README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import NamedTuple

import jellyfish
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein

from detector.rules.normalize import collapse_runs

VOWELS = frozenset("aeiouy")
# Letter pairs a reader's eye or ear takes for each other: mirror letters, shapes that differ by a
# stroke, and letters that sound alike. A swap of one costs half an edit in ``weighted_distance``.
CHEAP_SWAPS = frozenset(
    frozenset(p)
    for p in ("bd", "pq", "bp", "dq", "ce", "cg", "oq", "mn", "nr", "uv", "vw", "hn", "ck", "kq", "sz", "cs", "fv", "lt")
)


# Single-letter ASCII homoglyphs that the skeleton keeps apart (dnstwist ``glyphs_ascii``; i/l/1 and
# o/0 are already one glyph class in the skeleton).
VISUAL_PAIRS = frozenset(frozenset(p) for p in ("bd", "ce", "gq", "mn", "nr", "uv", "pq"))


def describe_edit(written: str, genuine: str) -> str:
    """A short account of how ``written`` differs from ``genuine`` ("d→b", "+e", "swap ik").

    >>> describe_edit("adibas", "adidas"), describe_edit("nikee", "nike"), describe_edit("nkie", "nike")
    ('d→b', '+e', 'swap ik→ki')
    """
    if len(written) == len(genuine):
        diff = [i for i in range(len(written)) if written[i] != genuine[i]]
        if len(diff) == 2 and diff[1] == diff[0] + 1:
            i = diff[0]
            if written[i] == genuine[i + 1] and written[i + 1] == genuine[i]:
                return f"swap {genuine[i:i + 2]}→{written[i:i + 2]}"
    parts = []
    for op in Levenshtein.editops(genuine, written):
        if op.tag == "replace":
            parts.append(f"{genuine[op.src_pos]}→{written[op.dest_pos]}")
        elif op.tag == "insert":
            parts.append(f"+{written[op.dest_pos]}")
        else:
            parts.append(f"-{genuine[op.src_pos]}")
    return ", ".join(parts[:4]) + (", …" if len(parts) > 4 else "")


def short_ok(written: str, genuine: str) -> bool:
    """The only single edits of a short name still read as it: a visual swap or an interior transposition."""
    if len(written) != len(genuine):
        return False
    diff = [i for i in range(len(written)) if written[i] != genuine[i]]
    if len(diff) == 1:
        i = diff[0]
        return frozenset((written[i], genuine[i])) in VISUAL_PAIRS
    if len(diff) == 2 and diff[1] == diff[0] + 1 and 0 < diff[0] and diff[1] < len(genuine) - 1:
        i = diff[0]
        return written[i] == genuine[i + 1] and written[i + 1] == genuine[i]
    return False


@lru_cache(maxsize=65536)
def metaphone(key: str) -> str:
    return jellyfish.metaphone(key) if key.isalpha() else ""


class Verdict(NamedTuple):
    """How a written form imitates a name: the operation and a short account of it."""

    op: str
    detail: str


@lru_cache(maxsize=1 << 15)
def weighted_distance(a: str, b: str) -> float:
    """Edit distance with the changes a reader barely notices costing half an edit.

    Cheap: a vowel for a vowel, a ``CHEAP_SWAPS`` pair, and adding or dropping a letter next to the
    same letter (a doubled letter). Everything else, transpositions included, costs one.
    """
    n, m = len(a), len(b)
    prev2: list[float] = []
    prev = [float(j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [float(i)] + [0.0] * m
        ai = a[i - 1]
        for j in range(1, m + 1):
            bj = b[j - 1]
            if ai == bj:
                sub = 0.0
            elif (ai in VOWELS and bj in VOWELS) or frozenset((ai, bj)) in CHEAP_SWAPS:
                sub = 0.5
            else:
                sub = 1.0
            dele = 0.5 if (i >= 2 and a[i - 2] == ai) or (i < n and a[i] == ai) else 1.0
            ins = 0.5 if (j >= 2 and b[j - 2] == bj) or (j < m and b[j] == bj) else 1.0
            best = min(prev[j - 1] + sub, prev[j] + dele, cur[j - 1] + ins)
            if i > 1 and j > 1 and ai == b[j - 2] and a[i - 2] == bj:
                best = min(best, prev2[j - 2] + 1.0)
            cur[j] = best
        prev2, prev = prev, cur
    return prev[m]


def multi_edit_budget(length: int) -> float:
    """Weighted edits a ``multi_edit`` knockoff of a name of ``length`` letters may make: few on short
    names, where two cheap edits already make many ordinary words ("refer" is 1.5 from Razer)."""
    return 1.0 if length <= 6 else 2.0 if length <= 8 else 3.0 if length <= 11 else 3.5


def _cheap_swap(x: str, y: str) -> bool:
    """A vowel for a vowel, or a ``CHEAP_SWAPS`` pair."""
    return x == y or (x in VOWELS and y in VOWELS) or frozenset((x, y)) in CHEAP_SWAPS


_SOUNDS = (("ph", "f"), ("ck", "k"), ("x", "ks"), ("q", "k"), ("c", "k"), ("z", "s"))


@lru_cache(maxsize=1 << 15)
def consonants(word: str) -> str:
    """The consonant skeleton of a word as it sounds: c/k/q one letter, x = ks, ph = f, z = s, no vowels,
    no doubled letters ("rolex" and "rolaks" are both "rlks")."""
    for a, b in _SOUNDS:
        word = word.replace(a, b)
    return collapse_runs("".join(ch for ch in word if ch not in VOWELS))


def judge(written: str, genuine: str, short_max: int) -> Verdict | None:
    """How the one-word form ``written`` imitates the name ``genuine`` (letters or skeletons), or
    None. Names of ``short_max`` letters or fewer only get the short-name rules."""
    L, n = len(genuine), len(written)
    if L < 4 or n < 3 or written == genuine:
        return None
    if sorted(written) == sorted(genuine) and (written[0] == genuine[0] or OSA.distance(written, genuine) == 1):
        return Verdict("shuffle", f"the letters of {genuine!r} in another order")
    if L <= short_max:
        return _judge_short(written, genuine)
    if L - 1 <= n <= L + 2 and (written[0] == genuine[0] or {written[0], genuine[0]} <= VOWELS):
        w = weighted_distance(written, genuine)
        if w > multi_edit_budget(L) and (collapsed := collapse_runs(written)) != written:
            w = min(w, weighted_distance(collapsed, genuine))  # "Grrrona": runs count once
        if w <= multi_edit_budget(L) and (written[-1] == genuine[-1] or JaroWinkler.similarity(written, genuine) >= 0.85):
            return Verdict("multi_edit", f"{w:g} weighted edits")
    key = consonants(genuine)
    if L - 2 <= n <= L + 2 and written[0] == genuine[0] and len(key) >= 4 and consonants(written) == key:
        return Verdict("multi_edit", f"the same consonants, {key!r}")  # "Rolaks": r-l-k-s
    start = written.find(genuine)
    if 1 <= n - L <= 2 and start >= 0:
        return Verdict("inside", f"{written[:start]!r} + {genuine!r} + {written[start + L:]!r}")
    if L >= 6:
        return _judge_pun(written, genuine)
    return None


def _judge_short(written: str, genuine: str) -> Verdict | None:
    """A 4-letter name with one letter after the first swapped for a look-alike (a vowel for a vowel
    only as the last letter). Its first letter changed ("Tuma") is as often another name ("Mega",
    "Jony", "Tata" in product titles): that needs the listing's or the photo's context."""
    if len(written) != len(genuine):
        return None
    diff = [i for i in range(len(written)) if written[i] != genuine[i]]
    if len(diff) != 1 or diff[0] == 0:
        return None
    i = diff[0]
    a, b = written[i], genuine[i]
    # A vowel for a vowel inside a short word makes another word ("Pima" cotton, not Puma); at the
    # end it is the knockoff's favourite ("Zare", "Ouye").
    if _cheap_swap(a, b) and (i == len(written) - 1 or not (a in VOWELS and b in VOWELS)):
        return Verdict("short_edit", f"{b}→{a}")
    return None


def _judge_pun(written: str, genuine: str) -> Verdict | None:
    """A long piece of the name kept, the rest swapped for a piece of similar length; or its halves swapped."""
    L, n = len(genuine), len(written)
    if abs(n - L) > 3:
        return None
    prefix = _common_prefix(written, genuine)
    suffix = _common_prefix(written[::-1], genuine[::-1])
    if max(prefix, suffix) >= n:
        return None
    # The piece swapped in is about as long as the piece it replaces ("Ferragamo" is not Ferrari).
    if prefix >= 4 and prefix * 3 >= 2 * L and abs((n - prefix) - (L - prefix)) <= 1:
        return Verdict("pun", f"keeps {genuine[:prefix]!r}, swaps {genuine[prefix:]!r} for {written[prefix:]!r}")
    if (
        suffix >= 4
        and ((suffix >= 5 and suffix * 3 >= 2 * L) or (suffix * 2 > L and written[0] == genuine[0]))
        and abs((n - suffix) - (L - suffix)) <= 1
    ):
        return Verdict(
            "pun", f"keeps {genuine[L - suffix:]!r}, swaps {genuine[:L - suffix]!r} for {written[:n - suffix]!r}"
        )
    for k in range(3, L - 2):
        if written == genuine[k:] + genuine[:k]:
            return Verdict("rotation", f"{genuine[:k]!r} and {genuine[k:]!r} swapped")
    return None


def _common_prefix(a: str, b: str) -> int:
    k = 0
    for x, y in zip(a, b):
        if x != y:
            break
        k += 1
    return k


# -- multi-word names ----------------------------------------------------------------------------------

INTACT_COMMON, INTACT_PROPER, INTACT_MINOR = 0.5, 1.0, 0.25
NEAR, RESEMBLES, LOOSE = 1.0, 0.5, 0.25


def word_relation(written: str, genuine: str) -> float:
    """How much one written word says it is the name's word: ``NEAR`` (a typo or sound-alike of it:
    one edit, or a weighted one, under 7 letters; two, or one and a half weighted, from 7),
    ``RESEMBLES`` (same first or last two letters, similar length and half its letters), ``LOOSE``
    (same first or last two letters, similar length), or 0."""
    if written == genuine:
        return NEAR
    n, m = len(written), len(genuine)
    if min(n, m) < 3 or abs(n - m) > 3:
        return 0.0
    edits, weighted = (1, 1.0) if max(n, m) < 7 else (2, 1.5)
    if OSA.distance(written, genuine) <= edits or weighted_distance(written, genuine) <= weighted:
        return NEAR
    if written[0] != genuine[0] and written[-2:] != genuine[-2:]:
        return 0.0
    return RESEMBLES if _overlap(written, genuine) * 2 >= max(n, m) else LOOSE


def _overlap(a: str, b: str) -> int:
    """Letters ``a`` and ``b`` share, counted with multiplicity."""
    rest = list(b)
    k = 0
    for ch in a:
        if ch in rest:
            rest.remove(ch)
            k += 1
    return k


def judge_words(
    written: Sequence[str], genuine: Sequence[str], weight: Callable[[str], float], is_common: Callable[[str], bool]
) -> Verdict | None:
    """A multi-word name imitated word by word (same number of words, same order), or None.

    Each word of the name kept as written scores ``weight(word)`` (a proper noun or made-up word 1, a
    common word 0.5, a number or two-letter word 0.25); a changed word scores what ``word_relation``
    says, a common word near another common word ("bass" for "boss") only 0.5. It is a knockoff when:
    half of the name's words that weigh something are kept or near; not every word written is a
    common word unless two are kept ("red ball" is a phrase, not Red Bull; "The North Fake" is not);
    and the score reaches 1.25, or 1.0 with a proper or made-up word kept or near and every changed
    word resembling the name's ("New Barlun", not "New Bedford").
    """
    if len(written) != len(genuine) or len(genuine) < 2:
        return None
    kept = sum(w == g for w, g in zip(written, genuine))
    if all(is_common(w) for w in written) and kept < 2:
        return None
    score, strong_anchor, changed, all_resemble = 0.0, False, [], True
    significant = held = 0
    for w, g in zip(written, genuine):
        value = weight(g)
        if value >= INTACT_COMMON:
            significant += 1
        if w == g:
            score += value
            held += value >= INTACT_COMMON
            strong_anchor = strong_anchor or value >= INTACT_PROPER
            continue
        rel = word_relation(w, g)
        if rel >= NEAR:
            held += 1
            if is_common(w) and is_common(g):
                rel = INTACT_COMMON
            else:
                strong_anchor = True
        changed.append(f"{g}→{w}")
        score += rel
        all_resemble = all_resemble and rel >= RESEMBLES
    if not changed or held == 0 or 2 * held < significant:
        return None
    if score >= 1.25 or (score >= 1.0 and strong_anchor and all_resemble):
        return Verdict("words", ", ".join(changed))
    return None
