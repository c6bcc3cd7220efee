"""Look-alike matching: which brand a piece of text names, spells wrong, or imitates, and how.

For every candidate (token, n-gram, spaced-out run; see ``tokens.py``) the matcher proposes brand
spellings cheaply and then judges each (candidate, spelling) pair with ``Matcher.compare``:

1. **exact / alias**: same folded letters (plurals and "NBC.com"-style glued words count too);
   letters split where the name has no space ("N I K E", "Ni-ke") are a look-alike, ``op="spaced"``.
2. **homoglyph / mixed_script**: same skeleton (``normalize.skeleton``): "NlKE", "N1KE", "Nіke".
3. **repetition**: same skeleton once letter runs are collapsed: "Nikee", "Adidasss", "Guci".
4. **edit**: optimal-string-alignment distance on collapsed skeletons within the budget for the name's
   length (omission, insertion, replacement, transposition, vowel swap, keyboard and bit-flip typos
   are all single edits): "Adibas", "Calvim Klain", "PolyStation", "Louis Button". Names of
   ``short_name_max_len`` letters or fewer only accept visual swaps (b/d, u/v, …) and interior
   transpositions; names of ≤ 3 letters only exact spellings and non-ASCII homoglyphs.
5. **visual**: names of ≥ 5 letters equal once mirror letters are merged (b/d/p/q, c/e, u/v): "Abibas".
6. **phonetic**: same Metaphone code and still similar in spelling ("Rebook"); weak, never blocks.

Proposals come from hash indexes (exact, skeleton, collapsed, Metaphone) and one vectorised
``rapidfuzz.process.cdist`` call per batch of texts for the edit-distance neighbours.

Dictionary words ("hike", "Mike") and phrases made only of common words ("red ball") are matched only
against brands the caller names as context (a logo in the photo, the declared brand): see README.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from detector.rules import knockoff
from detector.rules.config import LookalikeConfig
from detector.rules.dictionary import WordList
from detector.rules.knockoff import consonants, describe_edit, metaphone, short_ok
from detector.rules.lexicon import Entry, Lexicon
from detector.rules.match import Match, TextMatches, make, select
from detector.rules.normalize import fold, is_styled, visual_fold
from detector.rules.phrases import PhraseMatcher, holds_name
from detector.rules.tokens import Candidate, Token, ngrams, single, tokenize
from detector.types import Relation

# Words glued to a brand name that keep it a brand mention ("NikeStore", "adidasoriginals").
GLUE_WORDS = frozenset({"shop", "store", "official", "online", "outlet", "com", "www", "inc", "co", "ltd", "app"})
# Distance rows kept for strings already compared: 100,000 rows of one byte per catalog spelling plus
# dict overhead, ≈ 30 MB for the 216-spelling demo catalog.
NEAR_CACHE_SIZE = 100_000


def _shortest_word(e: Entry) -> int:
    """Letters in the shortest real word of a name: a one-letter or numeric part ("HyperX", "Formula 1")
    cannot be dropped by a typo unnoticed, so it does not cap the edit budget."""
    return min((len(w) for w in e.words if len(w) >= 2 and w.isalpha()), default=e.length)


class Matcher:
    """Finds brand names and their look-alikes in texts (see module docstring)."""

    def __init__(self, lexicon: Lexicon, words: WordList, config: LookalikeConfig, *, workers: int = 1) -> None:
        self.lex = lexicon
        self.cfg = config
        self.workers = workers
        # A brand's own spellings are brands, not ordinary words ("Nike" is in wamerican).
        # Parts of multi-word names stay ordinary words ("red", "bull" of Red Bull).
        self.words = words.without(e.key for e in lexicon.entries)
        # In a phrase, a brand that is also a word is a word again ("polo shirt", "apple pie").
        self.all_words = words
        self.phrases = PhraseMatcher(lexicon, words, config)
        self.fuzzy_entries = [e for e in lexicon.entries if not e.substring_only and e.length >= 4]
        self.fuzzy_choices = [e.skel for e in self.fuzzy_entries]
        # Per-spelling edit budget, so that only pairs ``compare`` may accept leave the vectorised step.
        self.fuzzy_budget = np.array([self._budget(e) for e in self.fuzzy_entries], dtype=np.uint8)
        self.max_edits = int(self.fuzzy_budget.max(initial=1))
        self._near: dict[str, np.ndarray] = {}
        self.glue_lengths = [n for n in lexicon.key_lengths if n >= 4]  # ascending
        self._edit_budget = {id(e): self._edits(e) for e in lexicon.entries}  # entries live as long as the lexicon
        lens = [len(c) for c in self.fuzzy_choices] or [0]
        self.query_len = (max(3, min(lens) - self.max_edits), max(lens) + self.max_edits)

    # -- public -------------------------------------------------------------------------------
    def match(self, text: str, context: Iterable[str] = ()) -> TextMatches:
        return self.match_many([text], context)[0]

    def match_many(self, texts: Sequence[str], context: Iterable[str] = ()) -> list[TextMatches]:
        """Matches for each of ``texts``; ``context`` names brands that the surroundings show."""
        ctx = frozenset(context)
        ctx_entries = [e for b in ctx for e in self.lex.by_brand.get(b, ()) if not e.substring_only]
        found: list[list[Match]] = []
        toks: list[list[Token]] = []
        queue: list[tuple[int, Candidate, list[Token]]] = []
        by_key, words = self.lex.by_key, self.words.words
        for ti, text in enumerate(texts):
            tokens = tokenize(text)
            toks.append(tokens)
            out: list[Match] = []
            found.append(out)
            for i, t in enumerate(tokens):
                # Most tokens are ordinary words or not Latin: settle those without building a candidate
                # (a plural or possessive of a name, "Nikes", still goes through).
                if (
                    t.key not in by_key
                    and not (t.key.endswith("s") and t.key[:-1] in by_key)
                    and (not t.latin or (not ctx and (t.word in words or t.stem in words)))
                ):
                    continue
                c = single(tokens, i)
                if self._quick(c, tokens, ctx, ctx_entries, out):
                    queue.append((ti, c, tokens))
            if len(tokens) > 1:
                kinds = [self._kind(t, bool(ctx)) for t in tokens]
                # A short piece ("Ni", "ke", the "t" of "t-shirt") starts a spaced-out name only next to
                # another short piece or a non-word; alone among words it is just a word.
                for k, t in enumerate(tokens):
                    if kinds[k] == 3:
                        near = [kinds[x] for x in (k - 1, k + 1) if 0 <= x < len(tokens)]
                        kinds[k] = 2 if 3 in near or 2 in near else 1
                if 2 in kinds or 1 in kinds or sum(len(t.key) == 1 for t in tokens) >= 3:
                    for c in ngrams(tokens, kinds, self.lex.max_words, self.lex.max_key_len, self.lex.word_prefixes):
                        if self._quick(c, tokens, ctx, ctx_entries, out):
                            queue.append((ti, c, tokens))
                self.phrases.find(tokens, out)
            if self.lex.substring_pattern is not None and not text.isascii():
                out.extend(self._substrings(text))
        if queue:
            self._fuzzy(queue, ctx, found)
        return [select(text, tokens, matches) for text, tokens, matches in zip(texts, toks, found)]

    def _kind(self, t: Token, context: bool) -> int:
        """A token's part in n-grams (see ``tokens.ngrams``): 0 if it is not letters (nor a word of a
        name, like the "1" of "Formula 1"); 2 if short, not an ordinary word, a word of some name, or
        any word when context names brands; 1 otherwise ("red ball" can only be an ordinary phrase)."""
        key = t.key
        if key in self.lex.words:
            # A proper noun of a name ("louis") may anchor a look-alike; a common one ("new") only
            # an exact spelling, found through the prefixes.
            return 2 if context or key not in self.words.common else 1
        if not t.latin:
            return 0
        if context:
            return 2
        if len(key) <= 2:
            return 3  # short: decided by its neighbours in ``match_many``
        return 2 if t.word not in self.words.words else 1

    # -- stage 1: hash lookups ------------------------------------------------------------------
    def _quick(
        self, c: Candidate, tokens: list[Token], ctx: frozenset[str], ctx_entries: list[Entry], out: list[Match]
    ) -> bool:
        """Exact, skeleton, collapsed, glued and context comparisons; True when ``c`` needs cdist."""
        if self._exact(c, tokens, out):
            return False
        multi = c.last - c.first > 1
        if multi:
            if not any(tokens[i].latin for i in range(c.first, c.last)):
                return False
            dict_word = False
        else:
            if not tokens[c.first].latin:
                return False
            dict_word = c.word in self.words.words or c.stem in self.words.words
            if dict_word and not ctx:
                return False
        proposals: dict[int, Entry] = {}
        for table, k in (
            (self.lex.by_skel, c.pskel),
            (self.lex.by_collapsed, c.collapsed),
            (self.lex.by_vskel, visual_fold(c.pskel)),
        ):
            for e in table.get(k, ()):
                proposals[id(e)] = e
        for e in ctx_entries:
            proposals[id(e)] = e
        if self._compare_all(c, proposals.values(), tokens, ctx, out) or dict_word:
            return False
        if not multi and self._glued(c, tokens, out):
            return False
        lo, hi = self.query_len
        if lo <= len(c.collapsed) <= hi:
            return True  # to the vectorised step; knockoff proposals follow it (``_fuzzy``)
        if not multi:
            self._knockoff_proposals(c, tokens, ctx, out)
        return False

    def _knockoff_proposals(self, c: Candidate, tokens: list[Token], ctx: frozenset[str], out: list[Match]) -> None:
        """Shuffled letters, the same consonants, a long piece of a name kept (knockoff.py): one-word
        knockoffs beyond any edit budget, proposed by hash; the matches go to ``out``."""
        key = c.key
        proposals: dict[int, Entry] = {}
        for table, k in (
            (self.lex.by_letters, "".join(sorted(key))),
            (self.lex.by_letters, "".join(sorted(key[:-1])) if key.endswith("s") else ""),  # "Nkies"
            (self.lex.by_consonants, consonants(key) if key.isalpha() and len(key) >= 4 else ""),
            (self.lex.by_prefix, key[:4]),
            (self.lex.by_suffix, key[-4:]),
        ):
            for e in table.get(k, ()):
                proposals[id(e)] = e
        if proposals:
            self._compare_all(c, proposals.values(), tokens, ctx, out)

    def _compare_all(
        self, c: Candidate, entries: Iterable[Entry], tokens: list[Token], ctx: frozenset[str], out: list[Match]
    ) -> bool:
        """``compare`` ``c`` with each of ``entries``; the matches go to ``out``; True if any."""
        hit = False
        for e in entries:
            m = self.compare(c, e, tokens, ctx)
            if m is not None:
                out.append(m)
                hit = True
        return hit

    def _exact(self, c: Candidate, tokens: list[Token], out: list[Match]) -> bool:
        hits = self.lex.by_key.get(c.key)
        op = None
        if hits is None and c.stem != c.word:
            hits, op = self.lex.by_key.get(c.key[:-1]), "plural"
        if hits is None and len(c.key) > 4 and c.key.endswith("s"):
            for stem in (c.key[:-1], c.key[:-2] if c.key.endswith("es") else ""):
                if len(stem) >= 4 and stem in self.lex.by_key:
                    hits, op = self.lex.by_key[stem], "plural"
                    break
        if not hits:
            return False
        styled = any(is_styled(tokens[i].text) for i in range(c.first, c.last))
        for e in hits:
            if styled:
                # The name's letters in mathematical bold, circled, … letters: no label prints a brand
                # that way; a listing does, to slip past keyword filters.
                out.append(make(c, tokens, e, Relation.HOMOGLYPH, 1.0, "styled", "styled Unicode letters", False))
            elif not c.splits or c.splits <= e.boundaries or (op == "plural" and c.splits - {len(c.key)} <= e.boundaries):
                rel = Relation.ALIAS if e.is_alias else Relation.EXACT
                out.append(make(c, tokens, e, rel, 1.0, op or rel.value, e.form, True))
            elif e.length >= 4 and self._gate(c, e, frozenset()) is not None:
                rel = Relation.MIXED_SCRIPT if c.mixed else Relation.LOOKALIKE
                out.append(make(c, tokens, e, rel, 1.0, "spaced", "letters split by spaces or punctuation", True))
        # The letters are a brand's: whether or not that was accepted, no other reading applies.
        return True

    def _glued(self, c: Candidate, tokens: list[Token], out: list[Match]) -> bool:
        """A brand name at the start or end of a longer word: "NikeStore", "adidas1", "Adidasz"."""
        key, by_key = c.key, self.lex.by_key
        for length in self.glue_lengths:
            if length >= len(key):
                break
            if key[:length] not in by_key and key[-length:] not in by_key:
                continue
            for part, rest in ((key[:length], key[length:]), (key[-length:], key[:-length])):
                entries = by_key.get(part)
                if not entries:
                    continue
                e = entries[0]
                if rest.isdigit() or (len(rest) >= 3 and (rest in self.words or rest in GLUE_WORDS)):
                    rel = Relation.ALIAS if e.is_alias else Relation.EXACT
                    out.append(make(c, tokens, e, rel, 1.0, "glued", f"{e.form} + {rest!r}", True))
                    return True
                if len(rest) <= 2 and rest.isalpha() and length >= 5 and part == key[:length]:
                    sim = OSA.normalized_similarity(c.skel, e.skel)
                    rel = Relation.MIXED_SCRIPT if c.mixed else Relation.LOOKALIKE
                    out.append(make(c, tokens, e, rel, sim, "addition", f"+{rest}", True))
                    return True
        return False

    def _substrings(self, text: str) -> list[Match]:
        folded = fold(text)
        if len(folded) != len(text):  # offsets would not line up; report on the folded text
            text = folded
        out = []
        for m in self.lex.substring_pattern.finditer(folded):  # type: ignore[union-attr]
            e = self.lex.substring_forms[m.group()]
            rel = Relation.ALIAS if e.is_alias else Relation.EXACT
            out.append(
                Match(m.start(), m.end(), text[m.start():m.end()], -1, -1, e.brand, e.form, rel, 1.0, rel.value,
                      e.form, True)
            )
        return out

    # -- stage 2: vectorised edit distance -------------------------------------------------------
    def _fuzzy(self, queue: list[tuple[int, Candidate, list[Token]]], ctx: frozenset[str], found: list[list[Match]]) -> None:
        """Edit-distance neighbours of the queued candidates: one ``cdist`` over the strings not yet seen.

        Both a candidate's skeleton and its collapsed form are compared with every spelling's skeleton;
        a pair's distance is the smaller. Neighbour lists are cached per string (marketplace text
        repeats its words), bounded by ``NEAR_CACHE_SIZE``.
        """
        near = self._near
        todo = list(dict.fromkeys(q for _, c, _ in queue for q in (c.skel, c.collapsed) if q not in near))
        if todo:
            dist = process.cdist(
                todo, self.fuzzy_choices, scorer=OSA.distance, score_cutoff=self.max_edits, dtype=np.uint8,
                workers=self.workers,
            )
            if len(near) + len(todo) > NEAR_CACHE_SIZE:
                near.clear()
            for q, row in zip(todo, dist):
                near[q] = row
        # One array operation for the whole queue: per-candidate numpy calls cost more than the cdist.
        dist = np.minimum(np.stack([near[c.skel] for _, c, _ in queue]), np.stack([near[c.collapsed] for _, c, _ in queue]))
        matched: set[int] = set()
        for qi, col in zip(*np.nonzero(dist <= self.fuzzy_budget)):
            ti, c, tokens = queue[qi]
            m = self.compare(c, self.fuzzy_entries[col], tokens, ctx, distance=int(dist[qi, col]))
            if m is not None:
                found[ti].append(m)
                matched.add(int(qi))
        # Knockoffs beyond any edit budget, for the one-word candidates nothing came near: after the
        # vectorised step, so that typos are not judged one pair at a time.
        for qi, (ti, c, tokens) in enumerate(queue):
            if qi not in matched and c.last - c.first == 1:
                self._knockoff_proposals(c, tokens, ctx, found[ti])

    # -- judging one pair ----------------------------------------------------------------------
    def compare(
        self, c: Candidate, e: Entry, tokens: list[Token], ctx: frozenset[str] = frozenset(), distance: int | None = None
    ) -> Match | None:
        """How ``c`` relates to the genuine spelling ``e``, or None when it does not look like it."""
        if c.last - c.first > 1 and holds_name(self.lex, c.first, c.last, tokens, e.brand):
            return None  # "iPhone X", "Nike iSPA": the genuine name and another word
        L = e.length
        relaxed = False
        look = Relation.MIXED_SCRIPT if c.mixed else Relation.LOOKALIKE
        in_ctx = e.brand in ctx
        if c.pskel == e.pskel:
            # ASCII glyph twins of 2-3 letter names are other abbreviations ("IG" for "LG", "0K");
            # three letters with a digit or symbol among them are written that way on purpose ("K1A").
            if (
                L <= 3
                and not in_ctx
                and all(tokens[i].text.isascii() for i in range(c.first, c.last))
                and not (L == 3 and any(tokens[i].leet for i in range(c.first, c.last)))
            ):
                return None
            rel = Relation.MIXED_SCRIPT if c.mixed else Relation.HOMOGLYPH
            op, sim, strong = rel.value, 1.0, True
        elif c.collapsed == e.collapsed:
            # Doubled letters of a 3-letter name need a 4+-letter word ("KFCC"; "Hmm" is not H&M).
            if L <= 2 or (L == 3 and len(c.skel) < 4):
                return None
            rel, op, strong = look, "repetition", True
            sim = OSA.normalized_similarity(c.skel, e.skel)
        else:
            d = self._distance(c, e) if distance is None else distance
            budget = self._edit_budget[id(e)]
            if len(c.words) > 1 and len(e.words) == 1:
                # A one-word name written in pieces: the pieces are letters, one slip at most.
                if not all(tokens[i].skel.isalpha() for i in range(c.first, c.last)):
                    return None
                budget = min(budget, 1)
            rel, sim = look, OSA.normalized_similarity(c.skel, e.skel)
            long_ok = L > self.cfg.short_name_max_len and 1 <= d <= budget and len(c.skel) >= 4
            short_fit = 4 <= L <= self.cfg.short_name_max_len and short_ok(c.skel, e.skel)
            if long_ok:
                op, strong = "edit", True
            elif short_fit:
                # Two letters swapped in a 4-letter name is also a typing slip: review (issue 10).
                op = "swap" if sorted(c.skel) == sorted(e.skel) else "edit"
                strong = op == "edit"
            elif L >= 5 and visual_fold(c.pskel) == visual_fold(e.pskel):
                op, strong = "visual", True  # mirror letters: "Abibas"
            elif (
                L >= self.cfg.phonetic_min_len
                and sim >= self.cfg.phonetic_min_similarity
                and metaphone(c.key) == metaphone(e.key) != ""
            ):
                op, strong = "phonetic", False
            elif in_ctx and self._context_edit(c, e, budget):
                # Only the context makes this a look-alike ("hike" beside a swoosh).
                op, strong, relaxed = "edit", True, True
            elif len(c.words) == 1 and e.form.isalnum() and (verdict := self._knockoff(c, e)) is not None:
                # More than a typo, in the ways counterfeiters change names (knockoff.py): review. Names
                # written as one word only ("PlayStation", not "Hugo Boss": its words are judged apart).
                gate = self._gate(c, e, ctx)
                if gate is None:
                    return None
                return make(c, tokens, e, rel, sim, verdict.op, verdict.detail, False, gate)
            else:
                return None
        gate = self._gate(c, e, ctx)
        if gate is None:
            return None
        return make(c, tokens, e, rel, sim, op, describe_edit(c.key, e.key), strong, gate or relaxed)

    def _edits(self, e: Entry) -> int:
        """Edits an edit-type look-alike of ``e`` may make (the config's row for its length)."""
        budget = self.cfg.edits_for(e.length)
        if len(e.words) > 1:
            # As many edits as the shortest word has letters can drop that word entirely
            # ("electronics" is not "LG Electronics", "Donalds" not "McDonald's").
            budget = min(budget, _shortest_word(e) - 1)
        return budget

    @staticmethod
    def _context_edit(c: Candidate, e: Entry, budget: int) -> bool:
        """Within an edit of a name the context shows: "hike" or "hikes" by a swoosh; a 3-letter name
        with one letter changed ("SFC" under a listing that declares KFC)."""
        skel = c.skel[:-1] if len(c.skel) > e.length and c.skel.endswith("s") else c.skel
        if e.length >= 4:
            return OSA.distance(skel, e.skel) <= max(1, budget)
        return e.length == 3 and len(c.key) == 3 and OSA.distance(c.key, e.key) == 1

    def _knockoff(self, c: Candidate, e: Entry) -> knockoff.Verdict | None:
        """``knockoff.judge`` on the letters as written (vowels kept apart from their look-alikes), or on
        the skeletons when the text has digits or symbols among its letters."""
        written, genuine = (c.key, e.key) if c.key.isalpha() and e.key.isalpha() else (c.skel, e.skel)
        verdict = knockoff.judge(written, genuine, self.cfg.short_name_max_len)
        if verdict is None and len(written) > 4 and written.endswith("s") and not genuine.endswith("s"):
            verdict = knockoff.judge(written[:-1], genuine, self.cfg.short_name_max_len)  # "Nkies"
        return verdict

    def _budget(self, e: Entry) -> int:
        """Most edits any candidate may be from ``e`` (phonetic matches may use 2; context, 1;
        ``knockoff`` multi-edits one more than their weighted budget, since cheap edits count half)."""
        if e.length <= self.cfg.short_name_max_len:
            return 1
        budget = max(self._edits(e), math.ceil(knockoff.multi_edit_budget(e.length)) + 1)
        if e.length >= self.cfg.phonetic_min_len:
            # Phonetic respellings ("Rebook") are at most two edits in practice; a wider net only
            # slows the vectorised step down.
            budget = max(budget, min(2, int((1.0 - self.cfg.phonetic_min_similarity) * e.length)))
        return max(1, budget)

    @staticmethod
    def _distance(c: Candidate, e: Entry) -> int:
        """Edits from ``c`` to ``e``, letting the text's doubled letters count once ("Addibas": 1)."""
        d = OSA.distance(c.skel, e.skel)
        return d if c.collapsed == c.skel else min(d, OSA.distance(c.collapsed, e.skel))

    def _gate(self, c: Candidate, e: Entry, ctx: frozenset[str]) -> bool | None:
        """The dictionary policy: None = not a look-alike; True = only because of context; False = on its own."""
        in_ctx = e.brand in ctx
        if len(c.words) == 1:
            if c.word in self.words or c.stem in self.words:
                return True if in_ctx else None
            return False
        plain = [len(w) > 2 and w in self.all_words for w in c.words]
        if len(e.words) >= 2:
            if len(c.words) != len(e.words):
                return True if in_ctx else None
            anchored = any(
                w == ew and w not in self.cfg.stopwords and len(w) >= self.cfg.anchor_min_len and w not in self.all_words.common
                for w, ew in zip(c.words, e.words)
            )
            if anchored or not all(plain):
                return False
            return True if in_ctx else None
        if not all(plain):
            return False
        return True if in_ctx else None
